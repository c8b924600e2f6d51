/** The applications an application server can run, by the name the topology gives them. */
import type { KeyedOutboxOptions } from '@irsp/store';
import type { ApplicationFactory } from '../application.js';
import { gateway } from './gateway/index.js';
import { recorder } from './recorder/index.js';
import { smartlock } from './smartlock/index.js';

export function applicationFactories(outbox: KeyedOutboxOptions = {}): Record<string, ApplicationFactory> {
  return { recorder, gateway: gateway(outbox), smartlock: smartlock() };
}

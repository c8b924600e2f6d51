/**
 * The gateway to third-party servers (clause 8.8) as an application: what its server receives is queued as signed
 * webhooks for every third party that takes that message (outbox.ts, webhooks.ts), and third parties call in at
 * `/thirdparty/<name>/<push|exchange>` (route.ts, inbound.ts). Configured by the server's `gateway` section.
 */
import type { KeyedOutboxOptions } from '@irsp/store';
import type { ApplicationFactory } from '../../application.js';
import { gatewayOf } from './inbound.js';
import { GatewayOutbox } from './outbox.js';
import { thirdPartyRoute } from './route.js';
import { deliverWebhooks, enqueueWebhooks, webhookEvent } from './webhooks.js';

export function gateway(outboxOptions: KeyedOutboxOptions = {}): ApplicationFactory {
  return (ctx, config) => {
    const thirdParties = config.gateway?.thirdParties ?? [];
    const framework = ctx.framework;
    const outbox = new GatewayOutbox(
      ctx.db,
      ctx.logger.child({ module: 'gateway-outbox' }),
      deliverWebhooks(thirdParties, framework.signedClient, config.credentials.appid),
      outboxOptions,
    );
    return {
      name: 'gateway',
      routes(app) {
        thirdPartyRoute(app, framework, gatewayOf(thirdParties));
      },
      async receive({ message, params }, tx) {
        // A Message 14–15 that names a third party is for that one alone (an application's event for it).
        const takers = thirdParties.filter(
          (t) =>
            (t.forward as readonly number[]).includes(message.number) &&
            (params.thirdparty === undefined || params.thirdparty === t.name),
        );
        if (params.thirdparty !== undefined && !thirdParties.some((t) => t.name === params.thirdparty))
          ctx.logger.warn(
            { thirdParty: params.thirdparty, from: params.appid },
            'message for an unknown third party',
          );
        if (takers.length > 0) await enqueueWebhooks(tx, takers, webhookEvent(message.number, params));
      },
      committed: () => outbox.kick(),
      start: () => outbox.start(),
      stop: () => outbox.stop(),
    };
  };
}

/** What the smart-lock tests do alike: talk to the RAS as a RAC over XMPP, and load locks' factory records. */
import { request } from 'undici';
import { xml, type XmlElement } from '@xmpp/client';
import type { ApplicationServerConfig } from '@irsp/config';
import { buildRequest, type Operation, type RequestBody } from '@irsp/smartlock';
import { basicOf } from './default-app.js';
import type { TestClient } from './irsp.js';
import type { XmppInbox } from './xmpp.js';

/** A timestamp as 7.7 writes it: UTC, whole seconds. */
export const isoSeconds = (date: Date): string => date.toISOString().replace(/\.\d+Z$/, 'Z');
export const inSeconds = (s: number): string => isoSeconds(new Date(Date.now() + s * 1000));

/** A RAC as the tests drive it: one XMPP user, requests to the RAS (Message 8) and what comes back (Message 12). */
export class RacOverXmpp {
  private next = 0;

  constructor(
    readonly user: XmppInbox,
    private readonly ras: string,
  ) {}

  /** Sends a request and waits for its response. */
  async ask<O extends Operation>(operation: O, body: RequestBody<O>): Promise<Record<string, unknown>> {
    const id = `r${++this.next}`;
    const data = buildRequest({ id, operation, timestamp: isoSeconds(new Date()), body });
    await this.user.client.send(xml('message', { to: this.ras }, xml('body', {}, data)));
    return this.fromRas((m) => m.id === id);
  }

  /** The next message from the RAS whose JSON matches (a response or a Table 2 push). */
  async fromRas(match: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    const stanza = await this.user.next((s: XmlElement) => {
      if (!s.is('message') || s.attrs.from !== this.ras) return false;
      try {
        return match(JSON.parse(s.getChildText('body') ?? '') as Record<string, unknown>);
      } catch {
        return false;
      }
    }, 15_000);
    return JSON.parse(stanza.getChildText('body')!) as Record<string, unknown>;
  }
}

/** Locks as they leave the factory: their records imported at the RAS (model, activation code, key). */
export async function importFactoryRecords(
  http: TestClient,
  ras: ApplicationServerConfig,
  locks: { lockId: string; key: Buffer }[],
): Promise<{ status: number; body: string }> {
  const answer = await request(`${ras.url}/smartlock/factory-records`, {
    method: 'POST',
    dispatcher: http.agent,
    headers: { 'content-type': 'application/json', authorization: basicOf(ras) },
    body: JSON.stringify({
      records: locks.map(({ lockId, key }) => ({
        lockId,
        model: 'BSLD-1',
        firmware: '1.0.0',
        activationCode: 'K7Q2M9XW4P',
        keyId: 1,
        key: key.toString('hex'),
      })),
    }),
  });
  return { status: answer.statusCode, body: await answer.body.text() };
}

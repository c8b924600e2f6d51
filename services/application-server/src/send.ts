/** What an application of this server sends: Messages 12–13 (clause 8.3.3) and 14–15 (clauses 8.4, 8.6). */
import type { PeerConfig } from '@irsp/config';
import type { SendOutcome } from '@irsp/http';
import {
  message12,
  message13,
  message14,
  message14AcrossAs,
  message15,
  message15AcrossAs,
} from '@irsp/protocol';
import type { ApplicationServerContext, LocalApplicationServer } from './context.js';

/** Whom a message is about: a user or a device, by local part. */
export type Addressee = { userid: string } | { deviceid: string };

/** Messages 12–13 through the first reachable message server of the AS. */
export async function push(ctx: ApplicationServerContext, to: Addressee, data: string): Promise<SendOutcome> {
  const credentials = ctx.config.credentials;
  let outcome: SendOutcome = { kind: 'unreachable', reason: 'no message server configured' };
  for (const ms of ctx.messageServers) {
    const options = { serviceUri: ms.pushUri };
    outcome =
      'userid' in to
        ? await ctx.client.send(message12, ms.url, { userid: to.userid, data, ...credentials }, options)
        : await ctx.client.send(message13, ms.url, { deviceid: to.deviceid, data, ...credentials }, options);
    if (outcome.kind !== 'unreachable') break;
  }
  return outcome;
}

/** Message 14 or 15 to an application server of the AS, with this server's appid and token. */
export function exchangeInAs(
  ctx: ApplicationServerContext,
  server: LocalApplicationServer,
  to: Addressee,
  data: string,
): Promise<SendOutcome> {
  const credentials = ctx.config.credentials;
  const options = { serviceUri: server.exchangeUri };
  return 'userid' in to
    ? ctx.client.send(message14, server.url, { userid: to.userid, data, ...credentials }, options)
    : ctx.client.send(message15, server.url, { deviceid: to.deviceid, data, ...credentials }, options);
}

/** Message 14 or 15 to an application server of another AS, signed with the key shared with it. */
export function exchangeAcrossAs(
  ctx: ApplicationServerContext,
  peer: PeerConfig,
  to: Addressee,
  data: string,
): Promise<SendOutcome> {
  const own = { appid: ctx.config.credentials.appid, as: ctx.domain };
  const signed = ctx.signedClient;
  return 'userid' in to
    ? signed.sendOperation(
        message14AcrossAs,
        peer.url,
        peer.exchangeUri,
        { userid: to.userid, data, ...own },
        peer.key,
      )
    : signed.sendOperation(
        message15AcrossAs,
        peer.url,
        peer.exchangeUri,
        { deviceid: to.deviceid, data, ...own },
        peer.key,
      );
}

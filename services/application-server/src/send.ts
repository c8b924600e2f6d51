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

/**
 * An application server Messages 14–15 go to: by name, in this AS or (with `as`) in another. `thirdParty`, in the AS
 * only: the third party of the target's gateway the message is for, or (from the gateway) whose call it is.
 */
export interface ExchangeTarget {
  server: string;
  as?: string;
  thirdParty?: string;
}

/** Messages 12–13 through the first reachable message server of the AS. */
export async function push(
  ctx: ApplicationServerContext,
  to: Addressee,
  data: string,
  headers?: Record<string, string>,
): Promise<SendOutcome> {
  const credentials = ctx.config.credentials;
  let outcome: SendOutcome = { kind: 'unreachable', reason: 'no message server configured' };
  for (const ms of ctx.messageServers) {
    const options = { serviceUri: ms.pushUri, headers };
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
  { headers, thirdParty }: { headers?: Record<string, string>; thirdParty?: string } = {},
): Promise<SendOutcome> {
  const params = { data, ...ctx.config.credentials, thirdparty: thirdParty };
  const options = { serviceUri: server.exchangeUri, headers };
  return 'userid' in to
    ? ctx.client.send(message14, server.url, { userid: to.userid, ...params }, options)
    : ctx.client.send(message15, server.url, { deviceid: to.deviceid, ...params }, options);
}

/** Message 14 or 15 to an application server of another AS, signed with the key shared with it. */
export function exchangeAcrossAs(
  ctx: ApplicationServerContext,
  peer: PeerConfig,
  to: Addressee,
  data: string,
  headers?: Record<string, string>,
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
        headers,
      )
    : signed.sendOperation(
        message15AcrossAs,
        peer.url,
        peer.exchangeUri,
        { deviceid: to.deviceid, data, ...own },
        peer.key,
        headers,
      );
}

/**
 * Message 14 or 15 to `target`: an application server of this AS or a configured peer of another; undefined when
 * no such server is configured.
 */
export function exchangeWith(
  ctx: ApplicationServerContext,
  target: ExchangeTarget,
  to: Addressee,
  data: string,
  headers?: Record<string, string>,
): Promise<SendOutcome> | undefined {
  if (target.as === undefined || target.as === ctx.domain) {
    const server = ctx.localServers.find((s) => s.name === target.server);
    return server && exchangeInAs(ctx, server, to, data, { headers, thirdParty: target.thirdParty });
  }
  const peer = ctx.peers.find((p) => p.name === target.server && p.as === target.as);
  return peer && exchangeAcrossAs(ctx, peer, to, data, headers);
}

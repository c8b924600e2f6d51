/**
 * Messages 8–11 (clause 8.3.1–8.3.2, from the message server) and 14–15 (clause 8.4, from application servers of
 * the AS) on the configured service URIs, answered with Tables 5 and 7. Operations sharing a URI (10/11 on the
 * status URI, 14/15 on the exchange URI, or any the configuration puts together) are told apart by their
 * parameters. Callers authenticate with `appid`/`token` (our addition): the message server presents this
 * application server's own pair, application servers of the AS their own. Messages 14–15 from application
 * servers of other ASs (clause 8.6) come signed to a service URI of their own (across-as.ts).
 */
import { DEFAULT_PEER_EXCHANGE_URI } from '@irsp/config';
import { tokenMatches } from '@irsp/credentials';
import { operationRoute, type ServedRoute } from '@irsp/http';
import {
  SIGNATURE_HEADER,
  message10,
  message11,
  message14,
  message14AcrossAs,
  message15,
  message15AcrossAs,
  message8,
  message9,
  readDeliveryMark,
  type MessageDef,
} from '@irsp/protocol';
import type { FastifyRequest } from 'fastify';
import { authenticatePeer, receiveFromPeer } from '../across-as.js';
import type { ApplicationServerContext } from '../context.js';
import { receive } from '../receive.js';

/** The form as it was sent, for checking its signature. */
function signedForm(request: FastifyRequest) {
  const q = request.url.indexOf('?');
  const path = q === -1 ? request.url : request.url.slice(0, q);
  const payload =
    request.method === 'GET'
      ? q === -1
        ? ''
        : request.url.slice(q + 1)
      : typeof request.body === 'string'
        ? request.body
        : '';
  return { method: request.method, path, payload, signature: request.headers[SIGNATURE_HEADER] };
}

export function messageRoutes(ctx: ApplicationServerContext): ServedRoute[] {
  const uris = ctx.config.serviceUris;
  const byPath = new Map<string, MessageDef[]>();
  for (const [path, operations] of [
    [uris.userUpload, [message8]],
    [uris.deviceUpload, [message9]],
    [uris.deviceStatus, [message10, message11]],
    [uris.exchange, [message14, message15]],
  ] as const) {
    byPath.set(path, [...(byPath.get(path) ?? []), ...operations]);
  }
  const inAs = [...byPath].map(([path, operations]) =>
    operationRoute({
      path,
      operations,
      authenticate: (fields) => {
        const appid = fields.get('appid');
        const token = fields.get('token');
        const caller = ctx.callers.find((c) => c.appid === appid);
        return caller && token !== undefined && tokenMatches(token, caller.tokenDigest) ? undefined : 401;
      },
      handle: async ({ operation, params }, request) => {
        const fields = params as unknown as Record<string, string>;
        // Messages 8–11 come only from the message server, which presents this server's own pair.
        if (operation.from === 'messageServer' && fields.appid !== ctx.config.credentials.appid) return 403;
        return receive(ctx, operation, fields, readDeliveryMark(request.headers));
      },
    }),
  );
  const acrossAs = operationRoute({
    path: uris.peerExchange ?? DEFAULT_PEER_EXCHANGE_URI,
    operations: [message14AcrossAs, message15AcrossAs],
    authenticate: (fields, request) => authenticatePeer(ctx, fields, signedForm(request)),
    handle: ({ operation, params }) =>
      receiveFromPeer(ctx, operation, params as unknown as Record<string, string>),
  });
  return [...inAs, acrossAs];
}

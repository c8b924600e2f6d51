/**
 * Messages 8–11 (clause 8.3.1–8.3.2, from the message server) and 14–15 (clause 8.4, from application servers of
 * the AS) on the configured service URIs, answered with Tables 5 and 7. Operations sharing a URI (10/11 on the
 * status URI, 14/15 on the exchange URI, or any the configuration puts together) are told apart by their
 * parameters. Callers authenticate with `appid`/`token` (our addition): the message server presents this
 * application server's own pair, application servers of the AS their own.
 */
import { tokenMatches } from '@irsp/credentials';
import { operationRoute, type ServedRoute } from '@irsp/http';
import {
  message10,
  message11,
  message14,
  message15,
  message8,
  message9,
  type MessageDef,
} from '@irsp/protocol';
import type { ApplicationServerContext } from '../context.js';
import { record } from '../received.js';

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
  return [...byPath].map(([path, operations]) =>
    operationRoute({
      path,
      operations,
      authenticate: (fields) => {
        const appid = fields.get('appid');
        const token = fields.get('token');
        const caller = ctx.callers.find((c) => c.appid === appid);
        return caller && token !== undefined && tokenMatches(token, caller.tokenDigest) ? undefined : 401;
      },
      handle: async ({ operation, params }) => {
        const fields = params as unknown as Record<string, string>;
        // Messages 8–11 come only from the message server, which presents this server's own pair.
        if (operation.from === 'messageServer' && fields.appid !== ctx.config.credentials.appid) return 403;
        return record(ctx.db, operation.number, operation.name, fields);
      },
    }),
  );
}

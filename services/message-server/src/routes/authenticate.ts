import { tokenMatches } from '@irsp/credentials';
import type { FormFields } from '@irsp/protocol';
import type { MessageServerContext } from '../context.js';

/** Messages 1–6 carry the `appid` and `token` the message server pre-assigned to the account server. */
export function authenticateAccountServer(ctx: MessageServerContext) {
  return (fields: FormFields): 401 | undefined => {
    const appid = fields.get('appid');
    const token = fields.get('token');
    if (appid !== ctx.config.credentials.accountServer.appid || token === undefined) return 401;
    return tokenMatches(token, ctx.accountServerTokenDigest) ? undefined : 401;
  };
}

/**
 * Messages 12–13 carry the `appid` and `token` of an application server of this AS (our addition); an
 * application server of another AS is not in the list, so clause 8.7's ban holds: it gets 401.
 */
export function authenticateApplicationServer(ctx: MessageServerContext) {
  return (fields: FormFields): 401 | undefined => {
    const appid = fields.get('appid');
    const token = fields.get('token');
    const server = ctx.applicationServers.find((a) => a.appid === appid);
    if (!server || token === undefined) return 401;
    return tokenMatches(token, server.tokenDigest) ? undefined : 401;
  };
}

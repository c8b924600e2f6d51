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

// Message 7 (modifyVerifyCode), clause 8.2.4: answered with the codes of Table 4 (401/403 our additions).
import { operationRoute, type ServedRoute } from '@irsp/http';
import { message7 } from '@irsp/protocol';
import type { AccountServerContext } from '../context.js';
import { storeVerifyCode } from '../verify-code.js';

export function message7Route(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: message7.path!,
    operations: [message7],
    authenticate: (fields) =>
      ctx.directory.caller(fields.get('appid'), fields.get('token')) ? undefined : 401,
    handle: async ({ params }) => {
      const caller = ctx.directory.caller(params.appid, params.token);
      return caller ? storeVerifyCode(ctx, caller, params.deviceid, params.verifycode) : 401;
    },
  });
}

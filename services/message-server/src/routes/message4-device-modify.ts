// Message 4 (deviceModify), clause 8.2.2: answered with the codes of Table 2.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { message4 } from '@irsp/protocol';
import { modifyAccount } from '../accounts.js';
import type { MessageServerContext } from '../context.js';
import { authenticateAccountServer } from './authenticate.js';

export function message4Route(ctx: MessageServerContext): ServedRoute {
  return operationRoute({
    path: message4.path!,
    operations: [message4],
    authenticate: authenticateAccountServer(ctx),
    handle: ({ params, extra }) =>
      modifyAccount(
        ctx.db,
        ctx.credentials,
        'device',
        params.name,
        params.password,
        params,
        extra,
        ctx.shareKeyIterations,
      ),
  });
}

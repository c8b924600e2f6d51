// Message 2 (deviceRegister), clause 8.2.1: answered with the codes of Table 1.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { message2 } from '@irsp/protocol';
import { createAccount } from '../accounts.js';
import type { MessageServerContext } from '../context.js';
import { authenticateAccountServer } from './authenticate.js';

export function message2Route(ctx: MessageServerContext): ServedRoute {
  return operationRoute({
    path: message2.path!,
    operations: [message2],
    authenticate: authenticateAccountServer(ctx),
    handle: ({ params, extra }) =>
      createAccount(ctx.db, 'device', params.name, params.password, params, extra, ctx.shareKeyIterations),
  });
}

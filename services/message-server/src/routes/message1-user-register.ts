// Message 1 (userRegister), clause 8.2.1: answered with the codes of Table 1.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { message1 } from '@irsp/protocol';
import { createAccount } from '../accounts.js';
import type { MessageServerContext } from '../context.js';
import { authenticateAccountServer } from './authenticate.js';

export function message1Route(ctx: MessageServerContext): ServedRoute {
  return operationRoute({
    path: message1.path!,
    operations: [message1],
    authenticate: authenticateAccountServer(ctx),
    handle: ({ params }) => createAccount(ctx.db, 'user', params.name, params.password),
  });
}

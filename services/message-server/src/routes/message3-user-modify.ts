// Message 3 (userModify), clause 8.2.2: answered with the codes of Table 2.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { message3 } from '@irsp/protocol';
import { modifyAccount } from '../accounts.js';
import type { MessageServerContext } from '../context.js';
import { authenticateAccountServer } from './authenticate.js';

export function message3Route(ctx: MessageServerContext): ServedRoute {
  return operationRoute({
    path: message3.path!,
    operations: [message3],
    authenticate: authenticateAccountServer(ctx),
    handle: ({ params }) => modifyAccount(ctx.db, ctx.credentials, 'user', params.name, params.password),
  });
}

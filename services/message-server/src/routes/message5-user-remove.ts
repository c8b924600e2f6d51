// Message 5 (userRemove), clause 8.2.3: answered with the codes of Table 3.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { message5 } from '@irsp/protocol';
import { removeAccount } from '../accounts.js';
import type { MessageServerContext } from '../context.js';
import { authenticateAccountServer } from './authenticate.js';

export function message5Route(ctx: MessageServerContext): ServedRoute {
  return operationRoute({
    path: message5.path!,
    operations: [message5],
    authenticate: authenticateAccountServer(ctx),
    handle: async ({ params }) => {
      const status = await removeAccount(ctx.db, 'user', params.name);
      // A removed account is logged out everywhere at once and disappears from every roster.
      if (status === 200) await ctx.router.accountRemoved(params.name);
      return status;
    },
  });
}

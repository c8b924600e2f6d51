// Message 6 (deviceRemove), clause 8.2.3: answered with the codes of Table 3.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { message6 } from '@irsp/protocol';
import { removeAccount } from '../accounts.js';
import type { MessageServerContext } from '../context.js';
import { authenticateAccountServer } from './authenticate.js';

export function message6Route(ctx: MessageServerContext): ServedRoute {
  return operationRoute({
    path: message6.path!,
    operations: [message6],
    authenticate: authenticateAccountServer(ctx),
    handle: async ({ params }) => {
      const status = await removeAccount(ctx.db, 'device', params.name);
      // A removed account is logged out everywhere at once and disappears from every roster.
      if (status === 200) await ctx.router.accountRemoved(params.name);
      return status;
    },
  });
}

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
      // Its relationships with other ASs are read first: removal takes its roster with it.
      const related = await ctx.router.roster.relatedContacts(params.name);
      const status = await removeAccount(ctx.db, ctx.credentials, 'user', params.name);
      // A removed account is logged out everywhere at once and disappears from every roster, here and elsewhere.
      if (status === 200) await ctx.router.accountRemoved(params.name, related);
      return status;
    },
  });
}

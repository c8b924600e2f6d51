// Messages 12 (pushToUser) and 13 (pushToDevice), clause 8.3.3: one push service URI, answered with Table 6.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { message12, message13 } from '@irsp/protocol';
import type { MessageServerContext } from '../context.js';
import { authenticateApplicationServer } from './authenticate.js';

export function message12and13Route(ctx: MessageServerContext): ServedRoute {
  return operationRoute({
    path: ctx.config.pushUri,
    operations: [message12, message13],
    authenticate: authenticateApplicationServer(ctx),
    handle: async ({ params }) => {
      const sender = ctx.applicationServers.find((a) => a.appid === params.appid)!;
      const local = 'userid' in params ? params.userid : params.deviceid;
      // An OSAP device gets it on its operation channel: its DAS connection is one of its sessions (decision 0027).
      const outcome = await ctx.router.push(sender.jid, local, params.data);
      if (outcome === 'unknown') return 422;
      // Stored offline counts as accepted; a recipient whose offline storage is full cannot take it now.
      return outcome === 'full' ? 500 : 200;
    },
  });
}

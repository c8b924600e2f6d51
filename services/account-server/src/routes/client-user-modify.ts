// Client account API: clientUserModify (docs/protocol.md), answered with the codes of its table plus 401.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientUserModify } from '@irsp/protocol';
import { modify } from '../accounts.js';
import type { AccountServerContext } from '../context.js';

export function clientUserModifyRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientUserModify.path!,
    operations: [clientUserModify],
    methods: ['POST'],
    handle: ({ params }) => modify(ctx, params.userid, params.password, params),
  });
}

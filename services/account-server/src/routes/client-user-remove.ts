// Client account API: clientUserRemove (docs/protocol.md), answered with the codes of its table plus 401.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientUserRemove } from '@irsp/protocol';
import { remove } from '../accounts.js';
import type { AccountServerContext } from '../context.js';

export function clientUserRemoveRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientUserRemove.path!,
    operations: [clientUserRemove],
    methods: ['POST'],
    handle: ({ params }) => remove(ctx, params.userid, params.password),
  });
}

// Client account API: clientUserRemove (docs/protocol.md), answered with the codes of its table plus 401 and 429.
import { addressSource } from '@irsp/credentials';
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientUserRemove } from '@irsp/protocol';
import { remove } from '../accounts.js';
import { answer } from './answer.js';
import type { AccountServerContext } from '../context.js';

export function clientUserRemoveRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientUserRemove.path!,
    operations: [clientUserRemove],
    methods: ['POST'],
    handle: async ({ params }, request) =>
      answer(await remove(ctx, addressSource(request.ip), params.userid, params.password)),
  });
}

// Client account API: clientUserModify (docs/protocol.md), answered with the codes of its table plus 401 and 429.
import { addressSource } from '@irsp/credentials';
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientUserModify } from '@irsp/protocol';
import { modify } from '../accounts.js';
import { answer } from './answer.js';
import type { AccountServerContext } from '../context.js';

export function clientUserModifyRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientUserModify.path!,
    operations: [clientUserModify],
    methods: ['POST'],
    handle: async ({ params }, request) =>
      answer(await modify(ctx, addressSource(request.ip), params.userid, params.password, params)),
  });
}

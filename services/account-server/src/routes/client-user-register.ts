// Client account API: clientUserRegister (docs/protocol.md), answered with the codes of its table plus 401.
import { addressSource } from '@irsp/credentials';
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientUserRegister } from '@irsp/protocol';
import { register } from '../accounts.js';
import type { AccountServerContext } from '../context.js';

export function clientUserRegisterRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientUserRegister.path!,
    operations: [clientUserRegister],
    methods: ['POST'],
    handle: ({ params }, request) => register(ctx, addressSource(request.ip), params.userid, params.password),
  });
}

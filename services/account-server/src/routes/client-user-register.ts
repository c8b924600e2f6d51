// Client account API: clientUserRegister (docs/protocol.md), answered with the codes of its table plus 401.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientUserRegister } from '@irsp/protocol';
import { register } from '../accounts.js';
import type { AccountServerContext } from '../context.js';

export function clientUserRegisterRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientUserRegister.path!,
    operations: [clientUserRegister],
    methods: ['POST'],
    handle: ({ params }) => register(ctx, params.userid, params.password),
  });
}

// Client account API: clientDeviceModify (docs/protocol.md), answered with the codes of its table plus 401.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientDeviceModify } from '@irsp/protocol';
import { modify } from '../accounts.js';
import type { AccountServerContext } from '../context.js';

export function clientDeviceModifyRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientDeviceModify.path!,
    operations: [clientDeviceModify],
    methods: ['POST'],
    handle: ({ params, extra }) => modify(ctx, params.deviceid, params.password, params, extra),
  });
}

// Client account API: clientDeviceRemove (docs/protocol.md), answered with the codes of its table plus 401.
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientDeviceRemove } from '@irsp/protocol';
import { remove } from '../accounts.js';
import type { AccountServerContext } from '../context.js';

export function clientDeviceRemoveRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientDeviceRemove.path!,
    operations: [clientDeviceRemove],
    methods: ['POST'],
    handle: ({ params }) => remove(ctx, params.deviceid, params.password),
  });
}

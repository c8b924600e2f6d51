// Client account API: clientDeviceRegister (docs/protocol.md), answered with the codes of its table plus 401.
import { addressSource } from '@irsp/credentials';
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientDeviceRegister } from '@irsp/protocol';
import { register } from '../accounts.js';
import type { AccountServerContext } from '../context.js';

export function clientDeviceRegisterRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientDeviceRegister.path!,
    operations: [clientDeviceRegister],
    methods: ['POST'],
    handle: ({ params, extra }, request) =>
      register(ctx, addressSource(request.ip), params.deviceid, params.password, params, extra),
  });
}

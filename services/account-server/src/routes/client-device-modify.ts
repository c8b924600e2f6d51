// Client account API: clientDeviceModify (docs/protocol.md), answered with the codes of its table plus 401 and 429.
import { addressSource } from '@irsp/credentials';
import { operationRoute, type ServedRoute } from '@irsp/http';
import { clientDeviceModify } from '@irsp/protocol';
import { modify } from '../accounts.js';
import { answer } from './answer.js';
import type { AccountServerContext } from '../context.js';

export function clientDeviceModifyRoute(ctx: AccountServerContext): ServedRoute {
  return operationRoute({
    path: clientDeviceModify.path!,
    operations: [clientDeviceModify],
    methods: ['POST'],
    handle: async ({ params, extra }, request) =>
      answer(await modify(ctx, addressSource(request.ip), params.deviceid, params.password, params, extra)),
  });
}

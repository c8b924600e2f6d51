/** `POST /thirdparty/<name>/<push|exchange>` (clause 8.8, Table 8): a thin route over inbound.ts. */
import type { FastifyInstance } from 'fastify';
import { sendStatus } from '@irsp/http';
import {
  MAX_THIRD_PARTY_BODY_BYTES,
  SIGNATURE_HEADER,
  THIRD_PARTY_OPERATIONS,
  THIRD_PARTY_ROUTE,
  type ThirdPartyOperation,
} from '@irsp/protocol';
import type { ApplicationServerContext } from '../../context.js';
import { admit, handleInbound, type Gateway } from './inbound.js';

interface Route {
  Params: { name: string; operation: string };
}

export function thirdPartyRoute(app: FastifyInstance, ctx: ApplicationServerContext, gateway: Gateway): void {
  void app.register(async (scope) => {
    // The signature covers the body's bytes, so it is kept raw; JSON is parsed after the address check.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) =>
      done(null, body),
    );
    scope.post<Route>(THIRD_PARTY_ROUTE, {
      bodyLimit: MAX_THIRD_PARTY_BODY_BYTES,
      config: { operation: 'thirdParty' },
      onRequest: async (request, reply) => {
        const admitted = admit(gateway, request.params.name, request.ip);
        if (typeof admitted === 'number') {
          request.log.warn({ thirdParty: request.params.name, status: admitted }, 'third party refused');
          return sendStatus(reply, admitted);
        }
        if (!(THIRD_PARTY_OPERATIONS as readonly string[]).includes(request.params.operation))
          return sendStatus(reply, 404);
      },
      handler: async (request, reply) => {
        // Admitted by onRequest; asked again (it is a map lookup) rather than carried on the request.
        const thirdParty = admit(gateway, request.params.name, request.ip);
        if (typeof thirdParty === 'number') return sendStatus(reply, thirdParty);
        const path = request.url.split('?')[0]!;
        const status = await handleInbound(
          ctx,
          thirdParty.config,
          request.params.operation as ThirdPartyOperation,
          {
            method: request.method,
            path,
            body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
            signature: request.headers[SIGNATURE_HEADER],
          },
        );
        if (status !== 200)
          request.log.info({ thirdParty: request.params.name, status }, 'third party refused');
        return sendStatus(reply, status);
      },
    });
  });
}

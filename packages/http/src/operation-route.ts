/**
 * Serving one form operation (a message of clause 8 or a client API call) on a path, as GET with a query
 * string and as POST with a form body. Order of checks: decodable → authenticated → valid → handled, so an
 * unauthenticated caller learns nothing about parameters.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  decodeForm,
  parseAnyFields,
  type FormFields,
  type Operation,
  type ParseResult,
  type Status,
} from '@irsp/protocol';
import { sendStatus } from './server.js';

export type Method = 'GET' | 'POST';

type Refused = Refusal | Refusal['status'];

/** A status with why (IRSP-Reason) and response headers of its own (e.g. Retry-After with a 429). */
export interface StatusAnswer {
  status: Status;
  reason?: string;
  headers?: Record<string, string>;
}

/** A caller refused by `authenticate`, with why (never which part of its credentials was wrong). */
export interface Refusal {
  status: 401 | 403;
  reason: string;
}

const REFUSED: Record<Refusal['status'], string> = {
  401: 'credentials missing or not accepted',
  403: 'caller not allowed this operation',
};

export interface OperationRoute<O extends Operation> {
  path: string;
  /** Operations served on this path; several only where the standard shares a URI (Messages 10/11, 12/13…). */
  operations: readonly O[];
  methods?: readonly Method[];
  /** Checks the caller from the decoded fields: undefined to go on, or 401/403 (with a reason or not). */
  authenticate?: (
    fields: FormFields,
    request: FastifyRequest,
  ) => Refused | undefined | Promise<Refused | undefined>;
  handle: (
    parsed: Extract<ParseResult<O>, { ok: true }>,
    request: FastifyRequest,
  ) => Promise<Status | StatusAnswer>;
}

function rawForm(request: FastifyRequest): string | undefined {
  if (request.method === 'GET') {
    const q = request.url.indexOf('?');
    return q === -1 ? '' : request.url.slice(q + 1);
  }
  const type = request.headers['content-type'] ?? '';
  const isForm = /^application\/x-www-form-urlencoded\s*(;|$)/i.test(type);
  return isForm && typeof request.body === 'string' ? request.body : undefined;
}

/** A route ready to be registered, with what OpenAPI needs to describe it. */
export interface ServedRoute {
  path: string;
  operations: readonly Operation[];
  methods: readonly Method[];
  register(app: FastifyInstance): void;
}

export function operationRoute<O extends Operation>(route: OperationRoute<O>): ServedRoute {
  return {
    path: route.path,
    operations: route.operations,
    methods: route.methods ?? ['GET', 'POST'],
    register: (app) => serveOperation(app, route),
  };
}

/** The OpenAPI entries of served routes. */
export function describeRoutes(routes: readonly ServedRoute[]) {
  return routes.flatMap((r) =>
    r.operations.map((operation) => ({
      operation,
      path: r.path,
      methods: r.methods.map((m) => m.toLowerCase() as 'get' | 'post'),
    })),
  );
}

export function serveOperation<O extends Operation>(app: FastifyInstance, route: OperationRoute<O>): void {
  const operationName =
    route.operations.length === 1 ? route.operations[0]!.name : route.operations.map((o) => o.name).join('|');
  const methods = route.methods ?? ['GET', 'POST'];
  const refused = (['GET', 'POST'] as const).filter((m) => !methods.includes(m));
  if (refused.length > 0) {
    // Secrets must not travel in URLs where only POST is served: say so rather than "not found".
    app.route({
      method: refused,
      url: route.path,
      config: { operation: operationName },
      handler: async (_request, reply) =>
        sendStatus(reply.header('allow', methods.join(', ')), 405, `only ${methods.join(', ')} on this path`),
    });
  }
  app.route({
    method: [...methods],
    url: route.path,
    config: { operation: operationName },
    handler: async (request, reply) => {
      const raw = rawForm(request);
      // A POST without a form body is the 415 of HTTP, in clause 8's body shape.
      // Each refusal's reason reaches the log in the request's line (server.ts), not in one of its own.
      if (raw === undefined)
        return request.body === undefined
          ? sendStatus(reply, 400, 'no form body')
          : sendStatus(reply, 415, 'body is not application/x-www-form-urlencoded');
      const decoded = decodeForm(raw);
      if (!decoded.ok) return sendStatus(reply, 400, decoded.reason);
      const verdict = route.authenticate ? await route.authenticate(decoded.fields, request) : undefined;
      if (verdict) {
        const refused = typeof verdict === 'number' ? { status: verdict, reason: REFUSED[verdict] } : verdict;
        request.log.warn({ status: refused.status }, 'caller refused');
        return sendStatus(reply, refused.status, refused.reason);
      }
      const parsed = parseAnyFields(route.operations, decoded.fields);
      if (!parsed.ok) return sendStatus(reply, 400, parsed.reason);
      const answer = await route.handle(parsed, request);
      const { status, reason, headers } = typeof answer === 'number' ? { status: answer } : answer;
      request.log.debug({ operation: parsed.operation.name, status }, 'handled');
      return sendStatus(headers ? reply.headers(headers) : reply, status, reason);
    },
  });
}

/** OpenAPI 3.1 description of the form operations a server serves, generated from their zod schemas. */
import { z } from 'zod';
import type { AdminCall } from './admin.js';
import type { Operation } from './operation.js';
import { allowedStatuses } from './response.js';
import { STATUS_DETAILS, XML_CONTENT_TYPE, errorBody, type ErrorStatus } from './status.js';

export interface ServedOperation {
  operation: Operation;
  /** The path it is served on (the fixed path, or the configured service URI). */
  path: string;
  methods: readonly ('get' | 'post')[];
  description?: string;
}

function parameterSchemas(operation: Operation): Record<string, unknown> {
  const json = z.toJSONSchema(operation.schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return { properties: json.properties ?? {}, required: json.required ?? [] };
}

function responses(operation: Operation): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const status of allowedStatuses(operation)) {
    out[String(status)] =
      status === 200 ? { description: 'Successful (empty body)' } : errorResponse(status as ErrorStatus);
  }
  return out;
}

function errorResponse(status: ErrorStatus) {
  return {
    description: STATUS_DETAILS[status],
    content: { [XML_CONTENT_TYPE]: { example: errorBody(status) } },
  };
}

/** The admin API's calls (admin.ts): JSON answers, HTTP Basic of an operator, clause 8 bodies on refusal. */
function adminPaths(calls: readonly AdminCall[], paths: Record<string, Record<string, unknown>>): void {
  for (const call of calls) {
    const schema = (s: z.ZodType, io: 'input' | 'output') =>
      z.toJSONSchema(s, { io, unrepresentable: 'any' }) as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
    const parameters = (['path', 'query'] as const).flatMap((where) => {
      const json = schema(where === 'path' ? call.params : call.query, 'input');
      return Object.entries(json.properties ?? {}).map(([name, s]) => ({
        name,
        in: where,
        required: where === 'path' || (json.required ?? []).includes(name),
        schema: s,
      }));
    });
    const refusals = [400, 401, ...(call.refusals ?? [])] as const;
    (paths[call.path] ??= {})[call.method.toLowerCase()] = {
      operationId: call.name,
      summary: call.title,
      security: [{ operator: [] }],
      parameters,
      responses: {
        '200': {
          description: 'OK',
          content: { 'application/json': { schema: schema(call.response, 'output') } },
        },
        ...Object.fromEntries(refusals.map((status) => [String(status), errorResponse(status)])),
      },
    };
  }
}

export function openApiDocument(
  info: { title: string; version: string },
  served: readonly ServedOperation[],
  admin: readonly AdminCall[] = [],
) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { operation, path, methods, description } of served) {
    const { properties, required } = parameterSchemas(operation) as {
      properties: Record<string, unknown>;
      required: string[];
    };
    const item = (paths[path] ??= {});
    const common = {
      summary: operation.title,
      description: [description, operation.extras ? 'Additional parameters are carried through.' : undefined]
        .filter(Boolean)
        .join(' '),
      responses: responses(operation),
    };
    for (const method of methods) {
      item[method] =
        method === 'get'
          ? {
              ...common,
              operationId: `${operation.name}Get`,
              parameters: Object.entries(properties).map(([name, schema]) => ({
                name,
                in: 'query',
                required: required.includes(name),
                schema,
              })),
            }
          : {
              ...common,
              operationId: operation.name,
              requestBody: {
                required: true,
                content: {
                  'application/x-www-form-urlencoded': {
                    schema: { type: 'object', properties, required, additionalProperties: operation.extras },
                  },
                },
              },
            };
    }
  }
  adminPaths(admin, paths);
  return {
    openapi: '3.1.0',
    info,
    paths,
    ...(admin.length > 0
      ? { components: { securitySchemes: { operator: { type: 'http', scheme: 'basic' } } } }
      : {}),
  };
}

/** OpenAPI 3.1 description of the form operations a server serves, generated from their zod schemas. */
import { z } from 'zod';
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
      status === 200
        ? { description: 'Successful (empty body)' }
        : {
            description: STATUS_DETAILS[status as ErrorStatus],
            content: { [XML_CONTENT_TYPE]: { example: errorBody(status as ErrorStatus) } },
          };
  }
  return out;
}

export function openApiDocument(
  info: { title: string; version: string },
  served: readonly ServedOperation[],
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
  return { openapi: '3.1.0', info, paths };
}

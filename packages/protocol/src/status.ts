/**
 * Response status codes and their XML bodies: Tables 1–7 of clause 8, plus the codes we add for
 * authentication and transport errors (401, 403, 404, 405, 413, 415, 429) in the same body shape.
 * A 200 has an empty body ("When the Status code is 200, the Message content is empty").
 */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { z } from 'zod';

export const STATUS_DETAILS = {
  400: 'bad request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not found',
  405: 'method not allowed',
  413: 'payload too large',
  415: 'unsupported media type',
  421: 'id existed',
  422: 'id not existed',
  429: 'too many requests',
  500: 'server internal error',
} as const;

export type ErrorStatus = keyof typeof STATUS_DETAILS;
export type Status = 200 | ErrorStatus;

/** The codes each table of clause 8 lets a receiver answer (401/403 are our authentication additions). */
export const TABLES = {
  table1: [200, 400, 421, 500],
  table2: [200, 400, 422, 500],
  table3: [200, 400, 422, 500],
  table4: [200, 400, 422, 500],
  table5: [200, 400, 500],
  table6: [200, 400, 422, 500],
  table7: [200, 400, 500],
} as const satisfies Record<string, readonly Status[]>;

export type TableName = keyof typeof TABLES;

/** Codes we add to every table: the caller could not be authenticated (401) or may not ask this (403). */
export const AUTH_STATUSES = [401, 403] as const;

export const XML_CONTENT_TYPE = 'application/xml; charset=utf-8';

const builder = new XMLBuilder({ processEntities: true });

/** `<error><code>421</code><detail>id existed</detail></error>` — the exact bytes every server sends. */
export function errorBody(status: ErrorStatus): string {
  return builder.build({ error: { code: status, detail: STATUS_DETAILS[status] } }) as string;
}

const parser = new XMLParser({
  processEntities: false,
  ignoreDeclaration: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
});

const errorBodySchema = z.object({
  error: z.object({
    code: z
      .string()
      .regex(/^\d{3}$/)
      .transform(Number),
    detail: z.string(),
  }),
});

export interface ErrorBody {
  code: number;
  detail: string;
}

/** Parses an error body a peer sent; undefined when it is not the clause 8 shape. */
export function parseErrorBody(xml: string): ErrorBody | undefined {
  if (xml.length > 4096 || /<!DOCTYPE|<!ENTITY/i.test(xml)) return undefined;
  let tree: unknown;
  try {
    tree = parser.parse(xml, true);
  } catch {
    return undefined;
  }
  const parsed = errorBodySchema.safeParse(tree);
  return parsed.success ? parsed.data.error : undefined;
}

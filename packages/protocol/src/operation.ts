/**
 * A form operation: one HTTP interface whose parameters travel as a query string (GET) or a form body (POST).
 * Messages 1–15 and the client account API are all operations; this module builds and parses them, so no
 * other code in the IRSP touches their parameter strings.
 */
import type { z } from 'zod';
import { decodeForm, encodeForm, type FormFields } from './form.js';
import { MAX_EXTRA_PARAMETERS, EXTRA_NAME, extraValueSchema } from './params.js';
import type { TableName } from './status.js';

export interface Operation<S extends z.ZodObject = z.ZodObject> {
  /** Stable name, used in logs, metrics and OpenAPI operation ids. */
  readonly name: string;
  readonly title: string;
  /** The fixed path, or undefined when the path is a configured service URI (Messages 8–15). */
  readonly path: string | undefined;
  readonly schema: S;
  /** Whether unknown parameters are additional registration parameters to carry through (Messages 2, 4). */
  readonly extras: boolean;
  readonly table: TableName;
  /** Parameters that identify this operation among others served on the same URI (Messages 10/11, 12/13…). */
  readonly discriminator?: { readonly param: string; readonly value?: string };
  /**
   * Checks an account's password (client API): answered 429 with Retry-After when the guessing throttle refuses
   * the caller (docs/decisions/0010-guessing-throttle.md).
   */
  readonly passwordChecked?: true;
}

export type Params<O extends Operation> = z.output<O['schema']>;
export type ParamsIn<O extends Operation> = z.input<O['schema']>;
export type Extras = Record<string, string>;

export type ParseResult<O extends Operation> =
  { ok: true; operation: O; params: Params<O>; extra: Extras } | { ok: false; status: 400; reason: string };

/** Parameters in the order the standard prints them, then the extras. */
export function operationFields<O extends Operation>(
  operation: O,
  params: ParamsIn<O>,
  extra: Extras = {},
): [string, string][] {
  const fields: [string, string][] = [];
  const values = params as Record<string, string | undefined>;
  for (const name of Object.keys(operation.schema.shape)) {
    const value = values[name];
    if (value !== undefined) fields.push([name, value]);
  }
  if (operation.extras) {
    for (const [name, value] of Object.entries(extra)) {
      if (!Object.hasOwn(operation.schema.shape, name)) fields.push([name, value]);
    }
  }
  return fields;
}

/** The form body (or query string, without `?`) of an operation. */
export function buildForm<O extends Operation>(operation: O, params: ParamsIn<O>, extra?: Extras): string {
  return encodeForm(operationFields(operation, params, extra));
}

/** The full URL of a GET request: base URL of the receiver + path (fixed or configured) + query. */
export function buildUrl<O extends Operation>(
  operation: O,
  base: string,
  params: ParamsIn<O>,
  extra?: Extras,
  serviceUri?: string,
): string {
  const path = operation.path ?? serviceUri;
  if (path === undefined) throw new Error(`${operation.name} needs a configured service URI`);
  // The path is appended to the base URL's own path, so a server behind a path prefix can be named.
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = buildForm(operation, params, extra);
  return url.toString();
}

export function parseFields<O extends Operation>(operation: O, fields: FormFields): ParseResult<O> {
  const known: Record<string, string> = {};
  const extra: Extras = {};
  for (const [name, value] of fields) {
    // Own keys only: `constructor` or `toString` is an extra, not a parameter inherited from Object.prototype.
    if (Object.hasOwn(operation.schema.shape, name)) known[name] = value;
    else if (operation.extras) {
      if (!EXTRA_NAME.test(name)) return { ok: false, status: 400, reason: `bad parameter name ${name}` };
      if (!extraValueSchema.safeParse(value).success)
        return { ok: false, status: 400, reason: `bad ${name}` };
      extra[name] = value;
    }
  }
  if (Object.keys(extra).length > MAX_EXTRA_PARAMETERS) {
    return { ok: false, status: 400, reason: 'too many additional parameters' };
  }
  const parsed = operation.schema.safeParse(known);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, status: 400, reason: `${issue?.path.join('.') || 'parameters'}: ${issue?.message}` };
  }
  return { ok: true, operation, params: parsed.data as Params<O>, extra };
}

/** Parses a query string or form body (raw, without `?`) for one operation; failures are the table's 400. */
export function parseForm<O extends Operation>(operation: O, raw: string): ParseResult<O> {
  const decoded = decodeForm(raw);
  if (!decoded.ok) return { ok: false, status: 400, reason: decoded.reason };
  return parseFields(operation, decoded.fields);
}

/**
 * Parses a request to a URI that serves several operations (e.g. Messages 12 and 13 on the push URI),
 * choosing by the discriminating parameter; exactly one operation must match.
 */
export function parseAnyForm<O extends Operation>(operations: readonly O[], raw: string): ParseResult<O> {
  const decoded = decodeForm(raw);
  if (!decoded.ok) return { ok: false, status: 400, reason: decoded.reason };
  return parseAnyFields(operations, decoded.fields);
}

/** As parseAnyForm, from fields already decoded (a server decodes once to authenticate, then parses). */
export function parseAnyFields<O extends Operation>(
  operations: readonly O[],
  fields: FormFields,
): ParseResult<O> {
  const matching = operations.filter((operation) => {
    const d = operation.discriminator;
    if (!d) return true;
    const value = fields.get(d.param);
    return value !== undefined && (d.value === undefined || d.value === value);
  });
  if (matching.length !== 1) {
    const names = operations.map((o) => o.discriminator?.param).filter(Boolean);
    return { ok: false, status: 400, reason: `exactly one of ${[...new Set(names)].join(', ')} expected` };
  }
  return parseFields(matching[0]!, fields);
}

/**
 * The `application/x-www-form-urlencoded` syntax that carries every message, in a query string (GET) or a
 * form body (POST). Unlike URLSearchParams this decoder is strict: malformed percent-encoding, invalid UTF-8
 * and a repeated parameter are errors, because a lenient decoder would let two servers read one request
 * differently.
 */

export type FormFields = Map<string, string>;
export type FormResult = { ok: true; fields: FormFields } | { ok: false; reason: string };

export function encodeFormComponent(value: string): string {
  return encodeURIComponent(value);
}

/** Encodes fields in the given order; `#`, `&`, `=`, `+`, spaces and non-ASCII are percent-encoded. */
export function encodeForm(fields: Iterable<readonly [string, string]>): string {
  const parts: string[] = [];
  for (const [name, value] of fields)
    parts.push(`${encodeFormComponent(name)}=${encodeFormComponent(value)}`);
  return parts.join('&');
}

function decodeComponent(raw: string): string | undefined {
  // Names and most ids and tokens have nothing to decode, and decodeURIComponent would return them unchanged.
  const plus = raw.indexOf('+') !== -1;
  if (!plus && raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(plus ? raw.replace(/\+/g, ' ') : raw);
  } catch {
    return undefined;
  }
}

export function decodeForm(raw: string, maxFields = 64): FormResult {
  const fields: FormFields = new Map();
  if (raw.length === 0) return { ok: true, fields };
  const pairs = raw.split('&');
  if (pairs.length > maxFields) return { ok: false, reason: 'too many parameters' };
  for (const pair of pairs) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = decodeComponent(eq === -1 ? '' : pair.slice(eq + 1));
    if (name === undefined || value === undefined) return { ok: false, reason: 'malformed percent-encoding' };
    if (fields.has(name)) return { ok: false, reason: `parameter ${name} repeated` };
    fields.set(name, value);
  }
  return { ok: true, fields };
}

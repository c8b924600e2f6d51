/** Errors are values: every refusal of this package is an OsapError with a code from one union and a reason. */

export type OsapErrorCode =
  /** The bytes end before the frame does; a stream reader waits for more. */
  | 'truncated'
  /** The bytes are not what the draft (or our reading of it, docs/osap.md) lays out. */
  | 'malformed'
  /** Longer than the limit of the field or frame. */
  | 'too-long'
  /** A control message type that Table 3 does not define (0x0, 0xC–0xF). */
  | 'unknown-type'
  /** A control message type that Table 3 reserves (0x3, 0x5). */
  | 'reserved-type'
  /** A PROTOCOL-VERSION (Table 2) whose FORM_VERSION or HIGH_TYPE_VERSION we do not speak. */
  | 'unsupported-version'
  /** Control flag Bit1 is 0: the "original mode" of section 6, which the draft never describes. */
  | 'unsupported-mode'
  /** A well-formed message that is not the one the exchange expects now. */
  | 'unexpected-message'
  /** An AES-128-GCM tag that does not verify: wrong key, or bytes changed on the way. */
  | 'integrity'
  /** A business payload whose counter is not above the last one accepted. */
  | 'replay'
  /** The two sides share no protocol type and group (section 6, negotiation case 2). */
  | 'negotiation-failed'
  /** A key of the wrong size or curve. */
  | 'invalid-key'
  /** A builder was given values outside their schema: a bug of the caller. */
  | 'invalid-input';

export class OsapError extends Error {
  override readonly name = 'OsapError';
  constructor(
    readonly code: OsapErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

export type OsapResult<T> = { ok: true; value: T } | { ok: false; error: OsapError };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const fail = (code: OsapErrorCode, detail: string): { ok: false; error: OsapError } => ({
  ok: false,
  error: new OsapError(code, detail),
});

/** The first zod issue as one line, for an error's detail. */
export function describeIssue(error: {
  issues: readonly { path: PropertyKey[]; message: string }[];
}): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

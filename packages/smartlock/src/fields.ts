/**
 * Field schemas shared by the RAC↔RAS messages (7.7), the push data (Table 2) and the frames (clause 8): user and
 * device IDs of ISO/IEC 14543-5-9, lock IDs and timestamps.
 *
 * IDs must arrive canonical (lower case, NFC) rather than being canonicalised here: the RAS and the lock then
 * compare IDs byte for byte, and what a parser returns is exactly what was sent.
 */
import { z } from 'zod';

export const MAX_LOCAL_PART_CHARS = 64;
/** The XMPP localpart exclusions (RFC 7622) that 14543-5-9 local parts follow, plus invisible characters. */
const FORBIDDEN_IN_LOCAL_PART = /["&'/:<>@\s\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const LONE_SURROGATE = /\p{Cs}/u;
const CONTROL = /[\p{Cc}\p{Cs}]/u;

function localPartProblem(local: string): string | undefined {
  const chars = [...local].length;
  if (chars < 1 || chars > MAX_LOCAL_PART_CHARS)
    return `local part must be 1–${MAX_LOCAL_PART_CHARS} characters`;
  if (FORBIDDEN_IN_LOCAL_PART.test(local)) return 'forbidden character in local part';
  if (local !== local.toLowerCase().normalize('NFC')) return 'local part not canonical (lower case NFC)';
  return undefined;
}

export function isDomainName(domain: string): boolean {
  return domain.length <= 253 && domain.split('.').every((label) => DOMAIN_LABEL.test(label));
}

/** Why the text is not a user ID (local part, or `local@domain` for a user of another AS), else undefined. */
export function userIdProblem(id: string): string | undefined {
  const at = id.indexOf('@');
  const local = at < 0 ? id : id.slice(0, at);
  if (at >= 0 && !isDomainName(id.slice(at + 1))) return 'invalid domain name';
  if (local.startsWith('#')) return 'a user ID must not start with # (that is a device ID)';
  return localPartProblem(local);
}

const problemSchema = (problem: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const found = problem(value);
    if (found) ctx.addIssue({ code: 'custom', message: found });
  });

export const userIdSchema = problemSchema(userIdProblem);

/** A device ID's local part: `#` and at least one more character; the BGW is a device of the RAS's own AS. */
export const deviceIdSchema = problemSchema((id) =>
  !id.startsWith('#') || id.length === 1 ? 'a device ID is # and a local part' : localPartProblem(id),
);

/** A BSLD's factory identity: 8 bytes, as 16 lower-case hex digits in JSON and raw in frames. */
export const LOCK_ID_BYTES = 8;
export const lockIdSchema = z.string().regex(/^[0-9a-f]{16}$/, 'lock ID must be 16 lower-case hex digits');

/** A TPSP's name (clause 6.6): the name the IRSP gateway's topology gives that third party. */
export const thirdPartyNameSchema = z
  .string()
  .regex(/^[a-z0-9-]{1,32}$/, 'third party must be 1–32 of a-z 0-9 -');

export const lockActionSchema = z.enum(['lock', 'unlock']);
export const boltStateSchema = z.enum(['locked', 'unlocked', 'jammed']);
/** Percent of charge left. */
export const batterySchema = z.number().int().min(0).max(100);

/** Free text for people (a display name, a lock's name): no control characters, well-formed Unicode. */
export const nameSchema = z
  .string()
  .refine((s) => !CONTROL.test(s) && !LONE_SURROGATE.test(s), 'control character or lone surrogate')
  .refine((s) => [...s].length >= 1 && [...s].length <= 64, 'must be 1–64 characters');

/** The frames carry deadlines as uint32 Unix seconds, so every timestamp stays in that range. */
export const MAX_UNIX_SECONDS = 0xffff_ffff;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

function isTimestamp(text: string): boolean {
  if (!ISO_UTC.test(text)) return false;
  const ms = Date.parse(text);
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_UNIX_SECONDS * 1000) return false;
  // Date.parse accepts 2026-02-30; the round trip refuses any date that does not exist.
  const again = new Date(ms).toISOString();
  return again === text || again === text.replace('Z', '.000Z');
}

/** ISO 8601 in UTC only (`2026-12-07T18:00:00Z`, optional milliseconds): one spelling per instant, no zones. */
export const timestampSchema = z
  .string()
  .refine(isTimestamp, 'timestamp must be YYYY-MM-DDTHH:MM:SS[.sss]Z between 1970 and 2106');

/** Whole Unix seconds of a valid timestamp, rounded down: a deadline never moves later. */
export function unixSeconds(timestamp: string): number {
  return Math.floor(Date.parse(timestamp) / 1000);
}

/** The first zod issue as `path: message`; zod's messages name keys and rules, never the refused value. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * Identifiers of ISO/IEC 14543-5-9 clause 3: user ID (3.1.12), device ID (3.1.3, local part starting with `#`)
 * and server address (3.1.11, `domain name of server:port`).
 *
 * Local parts are XMPP localparts (the message server logs users and devices in over XMPP), so they follow
 * RFC 7622: at most 1023 octets, none of `"&'/:<>@`, no spaces or control characters, and compared
 * case-insensitively. We canonicalise to NFC lower case at every boundary so that global uniqueness
 * (clause 7.1 b) cannot be dodged with `Alice` versus `alice`.
 */
import { z } from 'zod';

export const MAX_LOCAL_PART_OCTETS = 1023;
// \p{Cs}: a lone surrogate (with the u flag a pair is one code point), which is no character at all.
const FORBIDDEN_IN_LOCAL_PART = /["&'/:<>@\s\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export type IdKind = 'user' | 'device';

export interface AccountId {
  kind: IdKind;
  /** Canonical local part; for a device it starts with `#`. */
  local: string;
  domain: string;
}

export type IdResult = { ok: true; id: AccountId } | { ok: false; reason: string };

/** Lower case, then NFC (the order of RFC 8265 3.4.4): the other order is not idempotent (`T\u0308`). */
export function canonicalLocalPart(raw: string): string {
  return raw.toLowerCase().normalize('NFC');
}

/** Why a canonical local part is not acceptable for the given kind, or undefined when it is. */
export function localPartProblem(local: string, kind: IdKind): string | undefined {
  if (local.length === 0) return 'empty local part';
  // A UTF-16 code unit is at most 3 octets of UTF-8, so only long parts need encoding (TextEncoder: browsers too).
  if (
    local.length * 3 > MAX_LOCAL_PART_OCTETS &&
    new TextEncoder().encode(local).length > MAX_LOCAL_PART_OCTETS
  )
    return 'local part longer than 1023 octets';
  if (FORBIDDEN_IN_LOCAL_PART.test(local)) return 'forbidden character in local part';
  if (kind === 'device') {
    if (!local.startsWith('#')) return 'device local part must start with #';
    if (local.length === 1) return 'device local part has nothing after #';
  } else if (local.startsWith('#')) {
    return 'user local part must not start with #';
  }
  return undefined;
}

export function isDomainName(domain: string): boolean {
  if (domain.length === 0 || domain.length > 253) return false;
  return domain.split('.').every((label) => DOMAIN_LABEL.test(label));
}

/** Parses `local@domain` (a user ID) or `#local@domain` (a device ID) into its canonical parts. */
export function parseAccountId(raw: string, kind: IdKind): IdResult {
  const at = raw.lastIndexOf('@');
  if (at <= 0) return { ok: false, reason: 'ID must be local part @ domain' };
  const local = canonicalLocalPart(raw.slice(0, at));
  const domain = raw.slice(at + 1).toLowerCase();
  const problem = localPartProblem(local, kind);
  if (problem) return { ok: false, reason: problem };
  if (!isDomainName(domain)) return { ok: false, reason: 'invalid domain name' };
  return { ok: true, id: { kind, local, domain } };
}

export function formatAccountId(id: Pick<AccountId, 'local' | 'domain'>): string {
  return `${id.local}@${id.domain}`;
}

/** zod schema of a canonical local part of the given kind (used by Messages 1–15). */
export function localPartSchema(kind: IdKind) {
  return z
    .string()
    .transform(canonicalLocalPart)
    .superRefine((local, ctx) => {
      const problem = localPartProblem(local, kind);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
}

/** zod schema of a full user or device ID, giving the parsed AccountId. */
export function accountIdSchema(kind: IdKind) {
  return z.string().transform((raw, ctx) => {
    const result = parseAccountId(raw, kind);
    if (!result.ok) {
      ctx.addIssue({ code: 'custom', message: result.reason });
      return z.NEVER;
    }
    return result.id;
  });
}

export interface ServerAddress {
  host: string;
  port: number;
}

/** Parses a server address `domain name of server:port` (clause 3.1.11); IPv6 hosts go in brackets. */
export function parseServerAddress(raw: string): ServerAddress | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(raw);
  if (!match) return undefined;
  const host = match[1]!.replace(/^\[|\]$/g, '').toLowerCase();
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  if (!host.includes(':') && !isDomainName(host) && !/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return undefined;
  return { host, port };
}

export function formatServerAddress(address: ServerAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

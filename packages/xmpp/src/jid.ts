/**
 * JIDs (RFC 7622): `local@domain/resource`. Parts are checked and canonicalised here because @xmpp/jid does
 * neither (docs/xmpp-engine-notes.md, pitfall 10): localpart NFC lower case without `"&'/:<>@`, spaces or controls; domainpart a
 * lower-case DNS name or IP literal; resourcepart the OpaqueString profile (below); each at most 1023 octets.
 */
export interface Jid {
  local: string | undefined;
  domain: string;
  resource: string | undefined;
}

const MAX_PART_OCTETS = 1023;
const FORBIDDEN_IN_LOCAL = /["&'/:<>@\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const DNS_NAME =
  /^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

const tooLong = (s: string) => Buffer.byteLength(s, 'utf8') > MAX_PART_OCTETS;

export function canonicalLocal(raw: string): string | undefined {
  const local = raw.toLowerCase().normalize('NFC');
  return local.length === 0 || tooLong(local) || FORBIDDEN_IN_LOCAL.test(local) ? undefined : local;
}

export function canonicalDomain(raw: string): string | undefined {
  const domain = raw.replace(/\.$/, '').toLowerCase();
  if (/^\[[0-9a-f:.]+\]$/.test(domain)) return domain;
  return DNS_NAME.test(domain) || IPV4.test(domain) ? domain : undefined;
}

/** Non-ASCII spaces, mapped to U+0020 by the OpaqueString profile (RFC 8265 §4.2.2 step 2). */
const NON_ASCII_SPACE = /(?!\u0020)\p{Zs}/gu;
/**
 * Code points the PRECIS FreeformClass disallows (RFC 8264 §9): controls (Cc), default-ignorable code points and
 * noncharacters (§9.13, e.g. U+200B ZERO WIDTH SPACE, U+FEFF), old Hangul jamo (§9.9), unassigned code points
 * (Cn), lone surrogates (Cs), and the "other" categories no rule makes valid: format (Cf: U+200C/U+200D are
 * handled below), private use (Co), line and paragraph separators (Zl, Zp).
 */
const DISALLOWED_IN_RESOURCE =
  /[\p{Cc}\p{Cn}\p{Co}\p{Cs}\p{Zl}\p{Zp}\p{Noncharacter_Code_Point}\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]|(?![\u200c\u200d])[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
/**
 * ZERO WIDTH NON-JOINER and JOINER are CONTEXTJ (RFC 5892 Appendix A.1, A.2): valid right after a virama. Their
 * other context (ZWNJ between Arabic joining letters) is not recognised here: refused, stricter than the RFC.
 */
const JOINER = /[\u200c\u200d]/gu;
const VIRAMA =
  /[\u094d\u09cd\u0a4d\u0acd\u0b4d\u0bcd\u0c4d\u0ccd\u0d3b\u0d3c\u0d4d\u0dca\u0e3a\u0eba\u0f84\u1039\u103a\u1714\u1715\u1734\u17d2\u1a60\u1b44\u1baa\u1bab\u1bf2\u1bf3\u2d7f\ua806\ua82c\ua8c4\ua953\ua9c0\uaaf6\uabed]$/u;

/**
 * The resourcepart as RFC 7622 §3.4 enforces it (the OpaqueString profile of RFC 8265 §4.2): non-ASCII spaces to
 * U+0020, NFC, no code point the FreeformClass disallows, 1–1023 octets. Case and spaces are kept (`foo bar` is a
 * resourcepart, RFC 7622 §3.5); undefined when the result is not a resourcepart.
 */
export function canonicalResource(raw: string): string | undefined {
  const resource = raw.replace(NON_ASCII_SPACE, ' ').normalize('NFC');
  if (resource.length === 0 || tooLong(resource) || DISALLOWED_IN_RESOURCE.test(resource)) return undefined;
  for (const joiner of resource.matchAll(JOINER)) {
    if (!VIRAMA.test(resource.slice(0, joiner.index))) return undefined;
  }
  return resource;
}

/**
 * Valid JIDs already parsed, by their text: every stanza names a `from` and a `to`, and on a busy server they are the
 * same few thousand addresses (canonicalising was ≈ 8 % of the CPU of routing messages). Only short texts are kept
 * and the map is emptied when full, so hostile input costs a parse, never memory. Kept JIDs are frozen: they are
 * shared.
 */
const parsed = new Map<string, Jid>();
const MAX_PARSED = 10_000;
const MAX_PARSED_LENGTH = 256;

/** Parses and canonicalises a JID; undefined when any part is invalid (the caller answers jid-malformed). */
export function parseJid(raw: string): Jid | undefined {
  const known = parsed.get(raw);
  if (known !== undefined) return known;
  const jid = parseJidText(raw);
  if (jid !== undefined && raw.length <= MAX_PARSED_LENGTH) {
    if (parsed.size >= MAX_PARSED) parsed.clear();
    parsed.set(raw, Object.freeze(jid));
  }
  return jid;
}

function parseJidText(raw: string): Jid | undefined {
  const slash = raw.indexOf('/');
  const bareText = slash === -1 ? raw : raw.slice(0, slash);
  const at = bareText.indexOf('@');
  const local = at === -1 ? undefined : canonicalLocal(bareText.slice(0, at));
  if (at !== -1 && local === undefined) return undefined;
  const domain = canonicalDomain(at === -1 ? bareText : bareText.slice(at + 1));
  if (domain === undefined) return undefined;
  const resource = slash === -1 ? undefined : canonicalResource(raw.slice(slash + 1));
  if (slash !== -1 && resource === undefined) return undefined;
  return { local, domain, resource };
}

export function bareJid(jid: Jid): Jid {
  return { local: jid.local, domain: jid.domain, resource: undefined };
}

export function jidToString(jid: Jid): string {
  const bare = jid.local === undefined ? jid.domain : `${jid.local}@${jid.domain}`;
  return jid.resource === undefined ? bare : `${bare}/${jid.resource}`;
}

export function bareString(jid: Jid): string {
  return jid.local === undefined ? jid.domain : `${jid.local}@${jid.domain}`;
}

export function sameBare(a: Jid, b: Jid): boolean {
  return a.local === b.local && a.domain === b.domain;
}

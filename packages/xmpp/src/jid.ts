/**
 * JIDs (RFC 7622): `local@domain/resource`. Parts are checked and canonicalised here because @xmpp/jid does
 * neither (xmpp-notes pitfall 10): localpart NFC lower case without `"&'/:<>@`, spaces or controls; domainpart a
 * lower-case DNS name or IP literal; resourcepart NFC without controls; each at most 1023 octets.
 */
export interface Jid {
  local: string | undefined;
  domain: string;
  resource: string | undefined;
}

const MAX_PART_OCTETS = 1023;
const FORBIDDEN_IN_LOCAL = /["&'/:<>@\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;
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

export function canonicalResource(raw: string): string | undefined {
  const resource = raw.normalize('NFC');
  return resource.length === 0 || tooLong(resource) || CONTROL.test(resource) ? undefined : resource;
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

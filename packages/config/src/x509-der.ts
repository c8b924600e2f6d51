/**
 * DER encoding of the two X.509 v3 certificate shapes the local CA issues (RFC 5280 §4.1), and the little DER
 * reading needed to check existing ones. node:crypto signs and parses certificates but cannot build them;
 * docs/decisions/0002 says why no X.509 library is used.
 */
import { createHash, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIPv4 } from 'node:net';

export const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
} as const;

/** KeyUsage BIT STRING keyCertSign(5) | cRLSign(6): 1 unused bit, 0b0000_0110. */
export const KEY_USAGE_CA = der(0x03, Buffer.from([0x01, 0x06]));
/** KeyUsage BIT STRING digitalSignature(0) | keyEncipherment(2): 5 unused bits, 0b1010_0000. */
export const KEY_USAGE_SERVER = der(0x03, Buffer.from([0x05, 0xa0]));

export interface TbsParams {
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: Buffer[];
}

/** Builds the TBSCertificate, signs it with ECDSA/SHA-256 and returns the certificate PEM. */
export function issue(signingKey: KeyObject, p: TbsParams): string {
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([0x02]))), // version v3
    der(0x02, randomSerial()),
    algorithm,
    p.issuer,
    seq(time(p.notBefore), time(p.notAfter)),
    p.subject,
    p.spki,
    der(0xa3, seq(...p.extensions)),
  );
  const signature = sign('sha256', tbs, { key: signingKey, dsaEncoding: 'der' });
  const body = seq(tbs, algorithm, der(0x03, Buffer.from([0x00]), signature)).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${body.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

/** 16 random bytes, most significant bit cleared and next one set: a positive, minimal 16-octet INTEGER. */
export function randomSerial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes;
}

export function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const length: number[] = [];
  for (let n = body.length; n > 0; n = Math.floor(n / 256)) length.unshift(n % 256);
  const header = body.length < 0x80 ? [tag, body.length] : [tag, 0x80 | length.length, ...length];
  return Buffer.concat([Buffer.from(header), body]);
}

export function seq(...content: Buffer[]): Buffer {
  return der(0x30, ...content);
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const values = [(arcs[0] ?? 0) * 40 + (arcs[1] ?? 0), ...arcs.slice(2)];
  const bytes: number[] = [];
  for (const value of values) {
    const base128 = [value & 0x7f];
    for (let v = Math.floor(value / 128); v > 0; v = Math.floor(v / 128)) base128.unshift((v & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return der(0x06, Buffer.from(bytes));
}

/** Name with a single CN attribute as UTF8String. */
export function name(commonName: string): Buffer {
  return seq(der(0x31, seq(oid(OID.commonName), der(0x0c, Buffer.from(commonName, 'utf8')))));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  const year = date.getUTCFullYear();
  return year < 2050
    ? der(0x17, Buffer.from(digits.slice(2), 'ascii'))
    : der(0x18, Buffer.from(digits, 'ascii'));
}

export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? seq(oid(id), der(0x01, Buffer.from([0xff])), der(0x04, value))
    : seq(oid(id), der(0x04, value));
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, subjectPublicKey] = children(spki, readTlv(spki, 0));
  if (subjectPublicKey === undefined) throw new Error('malformed SubjectPublicKeyInfo');
  return createHash('sha1')
    .update(spki.subarray(subjectPublicKey.contentStart + 1, subjectPublicKey.end))
    .digest();
}

export function ipBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  // `address` is in URL canonical form: lower-case hex groups, at most one "::", no dotted IPv4 tail.
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

export function readTlv(buf: Buffer, offset: number): Tlv {
  const tag = buf[offset];
  let length = buf[offset + 1];
  let contentStart = offset + 2;
  if (tag === undefined || length === undefined) throw new Error('truncated DER');
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[contentStart + i] ?? 0);
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > buf.length) throw new Error('truncated DER');
  return { tag, start: offset, contentStart, end };
}

export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let offset = parent.contentStart; offset < parent.end;) {
    const child = readTlv(buf, offset);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/** The subject Name (DER, byte for byte) and subject key identifier of a certificate OpenSSL has parsed. */
export function certificateFields(raw: Buffer): { subject: Buffer; subjectKeyId: Buffer | undefined } {
  const [tbsTlv] = children(raw, readTlv(raw, 0));
  if (tbsTlv === undefined) throw new Error('malformed certificate');
  const fields = children(raw, tbsTlv);
  const first = fields[0]?.tag === 0xa0 ? 1 : 0; // optional [0] version
  const subjectTlv = fields[first + 4];
  if (subjectTlv === undefined) throw new Error('malformed certificate');
  const subject = raw.subarray(subjectTlv.start, subjectTlv.end);
  const skiOid = oid(OID.subjectKeyIdentifier);
  const extensionsTlv = fields.find((f) => f.tag === 0xa3);
  const list = extensionsTlv === undefined ? undefined : children(raw, extensionsTlv)[0];
  for (const ext of list === undefined ? [] : children(raw, list)) {
    const parts = children(raw, ext);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (id === undefined || value === undefined || !raw.subarray(id.start, id.end).equals(skiOid)) continue;
    const keyId = readTlv(raw, value.contentStart);
    return { subject, subjectKeyId: raw.subarray(keyId.contentStart, keyId.end) };
  }
  return { subject, subjectKeyId: undefined };
}

/**
 * TLS material of the IRSP: every HTTP server speaks HTTPS (RFC 2818, TLS 1.2+) and the XMPP servers do STARTTLS
 * (c2s and s2s) with the same certificates.
 *
 * - Embedded default: a local CA (`ca.pem`, `ca-key.pem`) and server certificates (`<name>.pem`, `<name>-key.pem`)
 *   are created on first start under a directory (default `.irsp/tls/`) and reused afterwards.
 * - Production: certificate paths from the configuration, read with {@link loadTlsFiles}.
 *
 * Keys are ECDSA P-256, signatures ECDSA with SHA-256, private keys PKCS#8 PEM. Certificates (RFC 5280) are
 * encoded here in DER with node:crypto only: @peculiar/x509 2.x cannot be loaded without a global Reflect
 * metadata polyfill (its tsyringe dependency throws at import), and the two certificate shapes we issue are small.
 * Every certificate is checked by OpenSSL (node:crypto's X509Certificate) before it is used or reused.
 *
 * Concurrency (several processes starting at once on the same directory): private key files are written once and
 * never replaced — a new key is written to a temporary file and hard-linked to its final name, which fails if
 * another process got there first, in which case that process's key is read and used. Certificates are derived
 * from those keys: a missing certificate is created the same way, and an unusable one (wrong SANs, expiring,
 * other CA) is replaced atomically by rename. Every process therefore ends with a key and certificate that match,
 * and no reader ever sees a half-written file.
 */
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  OID,
  KEY_USAGE_CA,
  KEY_USAGE_SERVER,
  issue,
  der,
  seq,
  oid,
  name,
  extension,
  keyIdentifier,
  ipBytes,
  certificateFields,
} from './x509-der.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** PEM strings; `cert` may be a chain (leaf first). `ca` is empty when no private CA is configured. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

/** Subject alternative names of a server certificate. */
export interface ServerSans {
  dns: string[];
  ip: string[];
}

const CA_CERT_FILE = 'ca.pem';
const CA_KEY_FILE = 'ca-key.pem';
const CA_SUBJECT = 'IRSP local CA';
const DAY_MS = 24 * 60 * 60 * 1000;
const CA_VALIDITY_MS = 3652 * DAY_MS; // 10 years
const SERVER_VALIDITY_MS = 825 * DAY_MS;
/** Certificates are renewed when they expire within this margin. */
const RENEW_MARGIN_MS = 30 * DAY_MS;
/** notBefore is set this far in the past so that peers with a slightly late clock accept a fresh certificate. */
const BACKDATE_MS = 60 * 60 * 1000;
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const PRIVATE_KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const DIR_MODE = 0o700;

interface EcKey {
  pem: string;
  privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
}

interface LocalCa {
  certPem: string;
  cert: X509Certificate;
  key: EcKey;
}

/** Creates (once) a local CA in dir (ca.pem, ca-key.pem; key file mode 0600) and returns its PEMs; reuses existing files. */
export async function ensureLocalCa(dir: string): Promise<{ cert: string; key: string }> {
  const ca = await loadOrCreateCa(dir);
  return { cert: ca.certPem, key: ca.key.pem };
}

/**
 * Creates (once) `<dir>/<name>.pem` + `<name>-key.pem` signed by the local CA with the given DNS names and IP
 * addresses as SANs; regenerates the certificate when the existing one is missing a requested SAN, expires within
 * 30 days, was not signed by the current CA or does not match the key. The private key is kept across
 * regenerations (see the module comment). Returns the material including the CA cert.
 */
export async function ensureServerCert(dir: string, name: string, sans: ServerSans): Promise<TlsMaterial> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name === 'ca') {
    throw new TypeError(`invalid TLS certificate name ${JSON.stringify(name)}`);
  }
  const wanted = normaliseSans(sans);
  const ca = await loadOrCreateCa(dir);
  const certPath = join(dir, `${name}.pem`);
  const key = await loadOrCreateKey(join(dir, `${name}-key.pem`));

  const create = (): string => createServerCert(ca, key, wanted);
  const usable = (pem: string): boolean => serverCertUsable(pem, key.privateKey, ca.cert, wanted);
  const certPem = await loadOrCreateCert(certPath, create, usable);
  return { cert: certPem, key: key.pem, ca: ca.certPem };
}

/** Production: reads PEM files from paths (errors name the missing or invalid file). */
export async function loadTlsFiles(paths: { cert: string; key: string; ca?: string }): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    readTlsFile(paths.cert, 'certificate'),
    readTlsFile(paths.key, 'private key'),
    paths.ca === undefined ? Promise.resolve('') : readTlsFile(paths.ca, 'CA certificate'),
  ]);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`TLS certificate file ${paths.cert} does not hold a PEM certificate`, { cause: err });
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch (err) {
    throw new Error(`TLS private key file ${paths.key} does not hold an unencrypted PEM private key`, {
      cause: err,
    });
  }
  if (!leaf.checkPrivateKey(keyObject)) {
    throw new Error(`TLS private key file ${paths.key} does not match certificate file ${paths.cert}`);
  }
  if (paths.ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw new Error(`TLS CA certificate file ${paths.ca} does not hold a PEM certificate`, { cause: err });
    }
  }
  return { cert, key, ca };
}

/**
 * Node tls/https server options for this material: minVersion 'TLSv1.2', cert, key, ca. An empty `ca` makes Node
 * use its default root certificates.
 */
export function serverTlsOptions(m: TlsMaterial): {
  cert: string;
  key: string;
  ca: string;
  minVersion: 'TLSv1.2';
} {
  return { cert: m.cert, key: m.key, ca: m.ca, minVersion: 'TLSv1.2' };
}

// ---------------------------------------------------------------------------------------------------------------

async function loadOrCreateCa(dir: string): Promise<LocalCa> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const key = await loadOrCreateKey(join(dir, CA_KEY_FILE));
  const certPem = await loadOrCreateCert(
    join(dir, CA_CERT_FILE),
    () => createCaCert(key),
    (pem) => caCertUsable(pem, key.privateKey),
  );
  return { certPem, cert: new X509Certificate(certPem), key };
}

/** Reads the private key at path, or creates it exclusively (another process's key wins a race). */
async function loadOrCreateKey(path: string): Promise<EcKey> {
  let pem = await readOptional(path);
  if (pem === undefined) {
    const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    const created = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    pem = (await writeExclusive(path, created, PRIVATE_KEY_MODE)) ? created : await readRequired(path);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`TLS private key file ${path} does not hold a PEM private key`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`TLS private key file ${path} does not hold an ECDSA P-256 key`);
  }
  return { pem, privateKey, spki: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }) };
}

/** Reads the certificate at path, creating it exclusively when missing and replacing it when not usable. */
async function loadOrCreateCert(
  path: string,
  create: () => string,
  usable: (pem: string) => boolean,
): Promise<string> {
  let pem = await readOptional(path);
  if (pem === undefined) {
    const created = create();
    pem = (await writeExclusive(path, created, CERT_MODE)) ? created : await readRequired(path);
  }
  if (!usable(pem)) {
    pem = create();
    await writeReplace(path, pem, CERT_MODE);
  }
  return pem;
}

function createCaCert(key: EcKey): string {
  const now = Date.now();
  const subject = name(CA_SUBJECT);
  return issue(key.privateKey, {
    issuer: subject,
    subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_VALIDITY_MS),
    spki: key.spki,
    extensions: [
      extension(OID.basicConstraints, true, seq(der(0x01, Buffer.from([0xff])))),
      extension(OID.keyUsage, true, KEY_USAGE_CA),
      extension(OID.subjectKeyIdentifier, false, der(0x04, keyIdentifier(key.spki))),
    ],
  });
}

function createServerCert(ca: LocalCa, key: EcKey, sans: ServerSans): string {
  const now = Date.now();
  const caFields = certificateFields(ca.cert.raw);
  const caKeyId = caFields.subjectKeyId ?? keyIdentifier(ca.key.spki);
  const generalNames = [
    ...sans.dns.map((dnsName) => der(0x82, Buffer.from(dnsName, 'ascii'))),
    ...sans.ip.map((address) => der(0x87, ipBytes(address))),
  ];
  return issue(ca.key.privateKey, {
    issuer: caFields.subject,
    subject: name(sans.dns[0] ?? sans.ip[0] ?? ''),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + SERVER_VALIDITY_MS),
    spki: key.spki,
    extensions: [
      extension(OID.basicConstraints, true, seq()),
      extension(OID.keyUsage, true, KEY_USAGE_SERVER),
      extension(OID.extKeyUsage, false, seq(oid(EKU_SERVER_AUTH), oid(EKU_CLIENT_AUTH))),
      extension(OID.subjectAltName, false, seq(...generalNames)),
      extension(OID.authorityKeyIdentifier, false, seq(der(0x80, caKeyId))),
      extension(OID.subjectKeyIdentifier, false, der(0x04, keyIdentifier(key.spki))),
    ],
  });
}

// --- checks of existing certificates ------------------------------------------------------------------------------

function caCertUsable(pem: string, key: KeyObject): boolean {
  const cert = parseCert(pem);
  return (
    cert !== undefined &&
    cert.ca &&
    cert.checkPrivateKey(key) &&
    cert.checkIssued(cert) &&
    cert.verify(cert.publicKey) &&
    currentlyValid(cert)
  );
}

function serverCertUsable(pem: string, key: KeyObject, ca: X509Certificate, sans: ServerSans): boolean {
  const cert = parseCert(pem);
  if (cert === undefined || cert.ca || !cert.checkPrivateKey(key)) return false;
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey) || !currentlyValid(cert)) return false;
  const eku = cert.keyUsage ?? [];
  if (!eku.includes(EKU_SERVER_AUTH) || !eku.includes(EKU_CLIENT_AUTH)) return false;
  const dnsNames = new Set(
    (cert.subjectAltName ?? '')
      .split(', ')
      .filter((entry) => entry.startsWith('DNS:'))
      .map((entry) => entry.slice('DNS:'.length).toLowerCase()),
  );
  return (
    sans.dns.every((name) => dnsNames.has(name)) && sans.ip.every((ip) => cert.checkIP(ip) !== undefined)
  );
}

/** Valid now and for more than the renewal margin. */
function currentlyValid(cert: X509Certificate): boolean {
  const now = Date.now();
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  return notBefore <= now && notAfter - now > RENEW_MARGIN_MS;
}

function parseCert(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function normaliseSans(sans: ServerSans): ServerSans {
  const dns = [...new Set(sans.dns.map((name) => name.toLowerCase()))];
  for (const name of dns) {
    if (name.length > 253 || !DNS_NAME.test(name)) {
      throw new TypeError(`invalid DNS name for a TLS certificate: ${JSON.stringify(name)}`);
    }
  }
  const ip = [
    ...new Set(
      sans.ip.map((address) => {
        if (isIPv4(address)) return address;
        if (isIPv6(address) && !address.includes('%'))
          return new URL(`http://[${address}]/`).hostname.slice(1, -1);
        throw new TypeError(`invalid IP address for a TLS certificate: ${JSON.stringify(address)}`);
      }),
    ),
  ];
  if (dns.length === 0 && ip.length === 0) {
    throw new TypeError('a TLS server certificate needs at least one DNS name or IP address');
  }
  return { dns, ip };
}

// ---------------------------------------------------------------------------------------------------------------

async function readTlsFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? String(err)})`;
    throw new Error(`TLS ${what} file ${path} ${reason}`, { cause: err });
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function readRequired(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

function tempPath(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
}

/** Creates path with data unless it exists; returns whether this call created it. */
async function writeExclusive(path: string, data: string, mode: number): Promise<boolean> {
  const tmp = tempPath(path);
  await writeFile(tmp, data, { mode, flag: 'wx' });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    // File system without hard links: exclusive create (a concurrent reader may see the file before it is full).
    try {
      await writeFile(path, data, { mode, flag: 'wx' });
      return true;
    } catch (err2) {
      if ((err2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err2;
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Replaces path with data atomically. */
async function writeReplace(path: string, data: string, mode: number): Promise<void> {
  const tmp = tempPath(path);
  await writeFile(tmp, data, { mode, flag: 'wx' });
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureVersion, TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureLocalCa, ensureServerCert, loadTlsFiles, serverTlsOptions } from '../src/tls.js';
import type { TlsMaterial } from '../src/tls.js';

const AS1_SANS = { dns: ['as1.irsp.test', 'localhost'], ip: ['127.0.0.1'] };
const DAY_MS = 24 * 60 * 60 * 1000;
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'irsp-tls-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
afterEach(() => {
  vi.useRealTimers();
});

let counter = 0;
/** A fresh, not yet existing directory below the temp root (nested, to check created directories' mode). */
function freshDir(): string {
  counter += 1;
  return join(root, `case-${counter}`, '.irsp', 'tls');
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('ensureLocalCa', () => {
  it('creates a P-256 CA with PKCS#8 key, 0600 key file and 0700 directories, then reuses it', async () => {
    const dir = freshDir();
    const ca = await ensureLocalCa(dir);

    expect(ca.key.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    expect(ca.cert.startsWith('-----BEGIN CERTIFICATE-----\n')).toBe(true);
    const cert = new X509Certificate(ca.cert);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=IRSP local CA');
    expect(cert.issuer).toBe('CN=IRSP local CA');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(ca.key))).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * DAY_MS);
    expect(Math.round(years)).toBe(10);
    expect(Date.parse(cert.validFrom)).toBeLessThanOrEqual(Date.now());

    expect((await readdir(dir)).sort()).toEqual(['ca-key.pem', 'ca.pem']);
    expect(await mode(join(dir, 'ca-key.pem'))).toBe(0o600);
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(join(dir, '..'))).toBe(0o700);

    expect(await ensureLocalCa(dir)).toEqual(ca);
  });

  it('gives every concurrent caller the same CA and leaves no temporary files', async () => {
    const dir = freshDir();
    const results = await Promise.all([ensureLocalCa(dir), ensureLocalCa(dir), ensureLocalCa(dir)]);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    expect(await ensureLocalCa(dir)).toEqual(results[0]);
    expect((await readdir(dir)).sort()).toEqual(['ca-key.pem', 'ca.pem']);
  });

  it('re-issues the CA certificate for the kept key when ca.pem does not match ca-key.pem', async () => {
    const dir = freshDir();
    const first = await ensureLocalCa(dir);
    const other = await ensureLocalCa(freshDir());
    await writeFile(join(dir, 'ca.pem'), other.cert);

    const again = await ensureLocalCa(dir);
    expect(again.key).toBe(first.key);
    expect(again.cert).not.toBe(first.cert);
    expect(again.cert).not.toBe(other.cert);
    expect(new X509Certificate(again.cert).checkPrivateKey(createPrivateKey(first.key))).toBe(true);
  });
});

describe('ensureServerCert', () => {
  let dir: string;
  let m: TlsMaterial;
  beforeAll(async () => {
    dir = freshDir();
    await ensureLocalCa(dir);
    m = await ensureServerCert(dir, 'as1', AS1_SANS);
  });

  it('issues a server certificate signed by the local CA with the requested SANs', async () => {
    const ca = new X509Certificate(m.ca);
    const cert = new X509Certificate(m.cert);
    expect(m.ca).toBe((await ensureLocalCa(dir)).cert);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(m.key))).toBe(true);
    expect(m.key.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);

    expect(cert.subject).toBe('CN=as1.irsp.test');
    expect(cert.issuer).toBe('CN=IRSP local CA');
    expect(cert.subjectAltName).toBe('DNS:as1.irsp.test, DNS:localhost, IP Address:127.0.0.1');
    expect(cert.checkHost('as1.irsp.test')).toBe('as1.irsp.test');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('other.test')).toBeUndefined();
    expect(cert.checkIP('127.0.0.2')).toBeUndefined();
    expect([...(cert.keyUsage ?? [])].sort()).toEqual([EKU_SERVER_AUTH, EKU_CLIENT_AUTH]);
    expect(cert.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / DAY_MS;
    expect(Math.round(days)).toBe(825);
  });

  it('writes the files with 0600 for the key', async () => {
    expect((await readdir(dir)).sort()).toEqual(['as1-key.pem', 'as1.pem', 'ca-key.pem', 'ca.pem']);
    expect(await mode(join(dir, 'as1-key.pem'))).toBe(0o600);
    expect(await mode(join(dir, 'ca-key.pem'))).toBe(0o600);
    expect(await mode(join(dir, 'as1.pem'))).toBe(0o644);
  });

  it('returns the same certificate on a second call', async () => {
    expect(await ensureServerCert(dir, 'as1', AS1_SANS)).toEqual(m);
    expect(await ensureServerCert(dir, 'as1', { dns: ['LOCALHOST'], ip: [] })).toEqual(m);
  });

  it('regenerates the certificate when a SAN is missing', async () => {
    const d = freshDir();
    const before = await ensureServerCert(d, 'as1', AS1_SANS);
    const after = await ensureServerCert(d, 'as1', {
      dns: [...AS1_SANS.dns, 'xmpp.as1.irsp.test'],
      ip: ['127.0.0.1', '::1'],
    });
    expect(after.cert).not.toBe(before.cert);
    expect(after.key).toBe(before.key);
    expect(after.ca).toBe(before.ca);
    const cert = new X509Certificate(after.cert);
    expect(cert.subjectAltName).toBe(
      'DNS:as1.irsp.test, DNS:localhost, DNS:xmpp.as1.irsp.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(cert.checkIssued(new X509Certificate(after.ca))).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(after.key))).toBe(true);
    expect(await ensureServerCert(d, 'as1', AS1_SANS)).toEqual(after);
  });

  it('regenerates the certificate when it expires within 30 days', async () => {
    const d = freshDir();
    const before = await ensureServerCert(d, 'as1', AS1_SANS);
    const validTo = Date.parse(new X509Certificate(before.cert).validTo);

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(validTo - 31 * DAY_MS);
    expect(await ensureServerCert(d, 'as1', AS1_SANS)).toEqual(before);
    vi.setSystemTime(validTo - 29 * DAY_MS);
    const after = await ensureServerCert(d, 'as1', AS1_SANS);
    expect(after.cert).not.toBe(before.cert);
    expect(Date.parse(new X509Certificate(after.cert).validTo)).toBeGreaterThan(validTo + 700 * DAY_MS);
  });

  it('regenerates the certificate when the CA was replaced', async () => {
    const d = freshDir();
    const before = await ensureServerCert(d, 'as1', AS1_SANS);
    await unlink(join(d, 'ca.pem'));
    await unlink(join(d, 'ca-key.pem'));

    const after = await ensureServerCert(d, 'as1', AS1_SANS);
    expect(after.ca).not.toBe(before.ca);
    expect(after.cert).not.toBe(before.cert);
    const cert = new X509Certificate(after.cert);
    const ca = new X509Certificate(after.ca);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.verify(new X509Certificate(before.ca).publicKey)).toBe(false);
  });

  it('gives concurrent callers one consistent key and certificate', async () => {
    const d = freshDir();
    const results = await Promise.all([1, 2, 3, 4].map(() => ensureServerCert(d, 'as1', AS1_SANS)));
    for (const r of results) expect(r).toEqual(results[0]);
    expect((await readdir(d)).sort()).toEqual(['as1-key.pem', 'as1.pem', 'ca-key.pem', 'ca.pem']);
    expect(
      await loadTlsFiles({ cert: join(d, 'as1.pem'), key: join(d, 'as1-key.pem'), ca: join(d, 'ca.pem') }),
    ).toEqual(results[0]);
  });

  it('rejects bad names and SANs', async () => {
    const d = freshDir();
    await expect(ensureServerCert(d, '../as1', AS1_SANS)).rejects.toThrow(
      'invalid TLS certificate name "../as1"',
    );
    await expect(ensureServerCert(d, 'ca', AS1_SANS)).rejects.toThrow('invalid TLS certificate name "ca"');
    await expect(ensureServerCert(d, 'as1', { dns: ['a b.test'], ip: [] })).rejects.toThrow(
      'invalid DNS name for a TLS certificate: "a b.test"',
    );
    await expect(ensureServerCert(d, 'as1', { dns: ['as1.irsp.test'], ip: ['127.0.0.256'] })).rejects.toThrow(
      'invalid IP address for a TLS certificate: "127.0.0.256"',
    );
    await expect(ensureServerCert(d, 'as1', { dns: [], ip: [] })).rejects.toThrow(
      'a TLS server certificate needs at least one DNS name or IP address',
    );
  });
});

describe('loadTlsFiles', () => {
  let dir: string;
  let m: TlsMaterial;
  beforeAll(async () => {
    dir = freshDir();
    m = await ensureServerCert(dir, 'as1', AS1_SANS);
  });

  it('reads the PEM files', async () => {
    const paths = { cert: join(dir, 'as1.pem'), key: join(dir, 'as1-key.pem'), ca: join(dir, 'ca.pem') };
    expect(await loadTlsFiles(paths)).toEqual(m);
    expect(await loadTlsFiles({ cert: paths.cert, key: paths.key })).toEqual({
      cert: m.cert,
      key: m.key,
      ca: '',
    });
  });

  it('names the missing file', async () => {
    const missing = join(dir, 'nope', 'missing.pem');
    const cert = join(dir, 'as1.pem');
    const key = join(dir, 'as1-key.pem');
    await expect(loadTlsFiles({ cert: missing, key })).rejects.toThrow(
      `TLS certificate file ${missing} not found`,
    );
    await expect(loadTlsFiles({ cert, key: missing })).rejects.toThrow(
      `TLS private key file ${missing} not found`,
    );
    await expect(loadTlsFiles({ cert, key, ca: missing })).rejects.toThrow(
      `TLS CA certificate file ${missing} not found`,
    );
  });

  it('names the file with bad content and a key that does not match', async () => {
    const cert = join(dir, 'as1.pem');
    const key = join(dir, 'as1-key.pem');
    const caKey = join(dir, 'ca-key.pem');
    await expect(loadTlsFiles({ cert: key, key })).rejects.toThrow(
      `TLS certificate file ${key} does not hold a PEM certificate`,
    );
    await expect(loadTlsFiles({ cert, key: cert })).rejects.toThrow(
      `TLS private key file ${cert} does not hold an unencrypted PEM private key`,
    );
    await expect(loadTlsFiles({ cert, key: caKey })).rejects.toThrow(
      `TLS private key file ${caKey} does not match certificate file ${cert}`,
    );
  });
});

describe('HTTPS with the material', () => {
  let dir: string;
  let m: TlsMaterial;
  let server: https.Server;
  let port: number;

  beforeAll(async () => {
    dir = freshDir();
    m = await ensureServerCert(dir, 'as1', AS1_SANS);
    server = https.createServer(serverTlsOptions(m), (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(`ok ${peer.subject?.CN ?? '-'}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function get(options: https.RequestOptions): Promise<{ status: number; body: string; protocol: string }> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port, path: '/', method: 'GET', agent: false, ...options },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => {
            const protocol = (res.socket as TLSSocket).getProtocol() ?? '';
            resolve({ status: res.statusCode ?? 0, body, protocol });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('serves serverTlsOptions exactly', () => {
    expect(serverTlsOptions(m)).toEqual({ cert: m.cert, key: m.key, ca: m.ca, minVersion: 'TLSv1.2' });
  });

  it('completes a request from a client trusting the CA', async () => {
    const res = await get({ ca: m.ca, servername: 'as1.irsp.test' });
    expect(res).toEqual({ status: 200, body: 'ok -', protocol: 'TLSv1.3' });
    const tls12 = await get({ ca: m.ca, servername: 'as1.irsp.test', maxVersion: 'TLSv1.2' });
    expect(tls12).toEqual({ status: 200, body: 'ok -', protocol: 'TLSv1.2' });
  });

  it('refuses a TLS 1.1 client (with the protocol_version alert from the server)', async () => {
    const tls11Client = {
      ca: m.ca,
      servername: 'as1.irsp.test',
      minVersion: 'TLSv1' as SecureVersion,
      maxVersion: 'TLSv1.1' as SecureVersion,
      ciphers: 'DEFAULT@SECLEVEL=0',
    };
    const err = await get(tls11Client).then(
      () => undefined,
      (e: unknown) => e as NodeJS.ErrnoException,
    );
    expect(err?.code).toBe('EPROTO');
    expect(err?.message).toMatch(/tlsv1 alert protocol version.*SSL alert number 70/s);

    // Control: the same client does speak TLS 1.1 to a server that allows it.
    const legacy = https.createServer(
      { ...serverTlsOptions(m), minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' },
      (_req, res) => res.end('legacy'),
    );
    await new Promise<void>((resolve) => legacy.listen(0, '127.0.0.1', resolve));
    try {
      const legacyPort = (legacy.address() as AddressInfo).port;
      expect(await get({ ...tls11Client, port: legacyPort })).toEqual({
        status: 200,
        body: 'legacy',
        protocol: 'TLSv1.1',
      });
    } finally {
      await new Promise<void>((resolve) => legacy.close(() => resolve()));
    }
  });

  it('fails verification for a client without the CA', async () => {
    await expect(get({ servername: 'as1.irsp.test' })).rejects.toMatchObject({
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
  });

  it('authenticates another server as a TLS client (clientAuth, for XMPP s2s)', async () => {
    const as2 = await ensureServerCert(dir, 'as2', { dns: ['as2.irsp.test'], ip: [] });
    const mutual = https.createServer(
      { ...serverTlsOptions(m), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.end(`peer ${peer.subject?.CN ?? '-'}`);
      },
    );
    await new Promise<void>((resolve) => mutual.listen(0, '127.0.0.1', resolve));
    try {
      const mutualPort = (mutual.address() as AddressInfo).port;
      const client = { ca: m.ca, servername: 'as1.irsp.test', port: mutualPort };
      expect(await get({ ...client, cert: as2.cert, key: as2.key })).toEqual({
        status: 200,
        body: 'peer as2.irsp.test',
        protocol: 'TLSv1.3',
      });
      await expect(get(client)).rejects.toMatchObject({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    } finally {
      await new Promise<void>((resolve) => mutual.close(() => resolve()));
    }
  });

  it('accepts an empty ca (production without a private CA): no CA certificate is sent', async () => {
    const noCa = https.createServer(serverTlsOptions({ ...m, ca: '' }), (_req, res) => res.end('no ca'));
    await new Promise<void>((resolve) => noCa.listen(0, '127.0.0.1', resolve));
    try {
      const noCaPort = (noCa.address() as AddressInfo).port;
      expect(await get({ ca: m.ca, servername: 'as1.irsp.test', port: noCaPort })).toMatchObject({
        status: 200,
        body: 'no ca',
      });
      await expect(get({ servername: 'as1.irsp.test', port: noCaPort })).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
    } finally {
      await new Promise<void>((resolve) => noCa.close(() => resolve()));
    }
  });

  it('fails the host check for another name', async () => {
    await expect(get({ ca: m.ca, servername: 'other.test' })).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });
});

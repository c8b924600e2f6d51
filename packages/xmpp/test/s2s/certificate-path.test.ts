/**
 * The certificate path behind SASL EXTERNAL on incoming s2s streams (RFC 6120 §13.7.2, XEP-0178; issue 12 item
 * 10): chains built here with the project's own DER encoder (packages/config x509-der.ts) — intermediates, expiry,
 * key usage, extended key usage, basic constraints and name constraints — presented by a real TLS client to a
 * server-side STARTTLS socket made the way the incoming stream makes it.
 */
import { generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { connect as tlsConnect, createSecureContext, TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustedCas } from '../../src/s2s/certificates.js';
import { OID, der, extension, issue, keyIdentifier, name, oid, seq } from '../../../config/src/x509-der.js';

const DAY = 86_400_000;
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const NAME_CONSTRAINTS = '2.5.29.30';

interface Key {
  privateKey: KeyObject;
  spki: Buffer;
  pem: string;
}
interface Cert {
  pem: string;
  key: Key;
  subject: Buffer;
}

function newKey(): Key {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKey,
    spki: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }),
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** KeyUsage BIT STRING from bit numbers (RFC 5280 §4.2.1.3): digitalSignature 0, keyCertSign 5, cRLSign 6. */
function keyUsage(...bits: number[]): Buffer {
  let byte = 0;
  for (const bit of bits) byte |= 0x80 >> bit;
  const unused = byte === 0 ? 7 : Math.min(...[0, 1, 2, 3, 4, 5, 6, 7].filter((b) => byte & (1 << b)));
  return der(0x03, Buffer.from([unused, byte]));
}

interface CertOptions {
  cn: string;
  issuer?: Cert; // self-signed when absent
  ca?: boolean | { pathLen: number };
  keyUsage?: Buffer | null;
  eku?: string[] | null;
  dns?: string[];
  permitted?: string[];
  notBefore?: number;
  notAfter?: number;
}

function makeCert(o: CertOptions): Cert {
  const key = newKey();
  const subject = name(o.cn);
  const extensions: Buffer[] = [];
  if (o.ca) {
    const pathLen = typeof o.ca === 'object' ? [der(0x02, Buffer.from([o.ca.pathLen]))] : [];
    extensions.push(extension(OID.basicConstraints, true, seq(der(0x01, Buffer.from([0xff])), ...pathLen)));
  } else {
    extensions.push(extension(OID.basicConstraints, true, seq()));
  }
  const usage = o.keyUsage === undefined ? (o.ca ? keyUsage(5, 6) : keyUsage(0)) : o.keyUsage;
  if (usage !== null) extensions.push(extension(OID.keyUsage, true, usage));
  const eku = o.eku === undefined ? (o.ca ? null : [EKU_SERVER_AUTH, EKU_CLIENT_AUTH]) : o.eku;
  if (eku !== null) extensions.push(extension(OID.extKeyUsage, false, seq(...eku.map((e) => oid(e)))));
  if (o.dns) {
    const names = o.dns.map((d) => der(0x82, Buffer.from(d, 'ascii')));
    extensions.push(extension(OID.subjectAltName, false, seq(...names)));
  }
  if (o.permitted) {
    const subtrees = o.permitted.map((d) => seq(der(0x82, Buffer.from(d, 'ascii'))));
    extensions.push(extension(NAME_CONSTRAINTS, true, seq(der(0xa0, ...subtrees))));
  }
  extensions.push(extension(OID.subjectKeyIdentifier, false, der(0x04, keyIdentifier(key.spki))));
  if (o.issuer) {
    const aki = seq(der(0x80, keyIdentifier(o.issuer.key.spki)));
    extensions.push(extension(OID.authorityKeyIdentifier, false, aki));
  }
  const now = Date.now();
  const pem = issue((o.issuer?.key ?? key).privateKey, {
    issuer: o.issuer?.subject ?? subject,
    subject,
    notBefore: new Date(now + (o.notBefore ?? -DAY)),
    notAfter: new Date(now + (o.notAfter ?? 30 * DAY)),
    spki: key.spki,
    extensions,
  });
  return { pem, key, subject };
}

let root: Cert;
let serverCert: Cert;
let listener: Server;
let trusted: TrustedCas;
/** What the next server-side socket decides for the domain it is asked about. */
let pending: ((verdict: boolean) => void) | undefined;
let askedDomain = 'peer.test';

beforeAll(async () => {
  root = makeCert({ cn: 'Test Root', ca: true });
  serverCert = makeCert({ cn: 'us.test', issuer: root, dns: ['us.test'] });
  trusted = new TrustedCas();
  const secureContext = createSecureContext({ cert: serverCert.pem, key: serverCert.key.pem, ca: root.pem });
  listener = createServer((raw) => {
    // As IncomingStream does after <proceed/>: a server-side TLSSocket outside a tls.Server.
    const socket = new TLSSocket(raw, {
      isServer: true,
      secureContext,
      requestCert: true,
      rejectUnauthorized: false,
    });
    socket.on('error', () => undefined);
    socket.on('secure', () => {
      pending?.(trusted.clientCertificateValidFor(socket, askedDomain));
      pending = undefined;
      socket.destroy();
    });
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
});

afterAll(() => {
  listener?.close();
});

/** Whether a peer presenting `chain` (leaf first) with `key` is authenticated as `domain`. */
async function verdict(chain: Cert[] | 'none', domain = 'peer.test'): Promise<boolean> {
  askedDomain = domain;
  const decided = new Promise<boolean>((resolve) => (pending = resolve));
  const port = (listener.address() as AddressInfo).port;
  const client = tlsConnect({
    port,
    host: '127.0.0.1',
    servername: 'us.test',
    ca: root.pem,
    ...(chain === 'none' ? {} : { cert: chain.map((c) => c.pem).join(''), key: chain[0]!.key.pem }),
  });
  client.on('error', () => undefined);
  try {
    return await decided;
  } finally {
    client.destroy();
  }
}

describe('SASL EXTERNAL certificate path', () => {
  it('accepts a leaf issued by the trusted root for the domain', async () => {
    const leaf = makeCert({ cn: 'peer.test', issuer: root, dns: ['peer.test'] });
    expect(await verdict([leaf])).toBe(true);
    expect(await verdict([leaf], 'other.test')).toBe(false);
  });

  it('refuses a peer that presents no certificate', async () => {
    expect(await verdict('none')).toBe(false);
  });

  it('refuses a self-signed leaf and one from another root', async () => {
    const self = makeCert({ cn: 'peer.test', dns: ['peer.test'], eku: [EKU_CLIENT_AUTH] });
    expect(await verdict([self])).toBe(false);
    const otherRoot = makeCert({ cn: 'Other Root', ca: true });
    expect(await verdict([makeCert({ cn: 'peer.test', issuer: otherRoot, dns: ['peer.test'] })])).toBe(false);
  });

  describe('intermediates', () => {
    it('accepts a leaf through an intermediate CA the peer sends', async () => {
      const intermediate = makeCert({ cn: 'Intermediate', issuer: root, ca: true });
      const leaf = makeCert({ cn: 'peer.test', issuer: intermediate, dns: ['peer.test'] });
      expect(await verdict([leaf, intermediate])).toBe(true);
    });

    it('refuses a leaf whose intermediate is not sent', async () => {
      const intermediate = makeCert({ cn: 'Intermediate', issuer: root, ca: true });
      const leaf = makeCert({ cn: 'peer.test', issuer: intermediate, dns: ['peer.test'] });
      expect(await verdict([leaf])).toBe(false);
    });

    it('refuses an "intermediate" that is not a CA (basicConstraints cA false)', async () => {
      const notCa = makeCert({ cn: 'Not A CA', issuer: root, keyUsage: keyUsage(0, 5) });
      const leaf = makeCert({ cn: 'peer.test', issuer: notCa, dns: ['peer.test'] });
      expect(await verdict([leaf, notCa])).toBe(false);
    });

    it('refuses a chain longer than an intermediate’s pathLenConstraint', async () => {
      const first = makeCert({ cn: 'Intermediate 1', issuer: root, ca: { pathLen: 0 } });
      const second = makeCert({ cn: 'Intermediate 2', issuer: first, ca: true });
      const leaf = makeCert({ cn: 'peer.test', issuer: second, dns: ['peer.test'] });
      expect(await verdict([leaf, second, first])).toBe(false);
    });

    it('refuses an intermediate CA without keyCertSign in its key usage', async () => {
      const intermediate = makeCert({ cn: 'Intermediate', issuer: root, ca: true, keyUsage: keyUsage(0) });
      const leaf = makeCert({ cn: 'peer.test', issuer: intermediate, dns: ['peer.test'] });
      expect(await verdict([leaf, intermediate])).toBe(false);
    });
  });

  describe('expiry', () => {
    it('refuses an expired leaf and one not valid yet', async () => {
      const expired = makeCert({ cn: 'peer.test', issuer: root, dns: ['peer.test'], notAfter: -DAY / 2 });
      expect(await verdict([expired])).toBe(false);
      const future = makeCert({ cn: 'peer.test', issuer: root, dns: ['peer.test'], notBefore: DAY });
      expect(await verdict([future])).toBe(false);
    });

    it('refuses a leaf under an expired intermediate', async () => {
      const intermediate = makeCert({ cn: 'Intermediate', issuer: root, ca: true, notAfter: -DAY / 2 });
      const leaf = makeCert({ cn: 'peer.test', issuer: intermediate, dns: ['peer.test'] });
      expect(await verdict([leaf, intermediate])).toBe(false);
    });
  });

  describe('key usage of the leaf', () => {
    it('refuses a leaf for server authentication only (no clientAuth in its extended key usage)', async () => {
      const leaf = makeCert({ cn: 'peer.test', issuer: root, dns: ['peer.test'], eku: [EKU_SERVER_AUTH] });
      expect(await verdict([leaf])).toBe(false);
    });

    it('refuses a leaf whose key usage does not allow signatures', async () => {
      const leaf = makeCert({ cn: 'peer.test', issuer: root, dns: ['peer.test'], keyUsage: keyUsage(5) });
      expect(await verdict([leaf])).toBe(false);
    });

    it('accepts a leaf without key usage extensions (no restriction)', async () => {
      const leaf = makeCert({ cn: 'peer.test', issuer: root, dns: ['peer.test'], keyUsage: null, eku: null });
      expect(await verdict([leaf])).toBe(true);
    });
  });

  describe('name constraints', () => {
    it('accepts a name inside an intermediate’s permitted subtree and refuses one outside it', async () => {
      const constrained = makeCert({ cn: 'Constrained', issuer: root, ca: true, permitted: ['peer.test'] });
      const inside = makeCert({ cn: 'x.peer.test', issuer: constrained, dns: ['x.peer.test'] });
      expect(await verdict([inside, constrained], 'x.peer.test')).toBe(true);
      const outside = makeCert({ cn: 'evil.test', issuer: constrained, dns: ['evil.test'] });
      expect(await verdict([outside, constrained], 'evil.test')).toBe(false);
    });
  });
});

/** Whether a peer's certificate authenticates a domain (RFC 6120 §13.7.2, RFC 6125 DNS-ID, XEP-0178). */
import { X509Certificate } from 'node:crypto';
import {
  checkServerIdentity,
  rootCertificates,
  type DetailedPeerCertificate,
  type TLSSocket,
} from 'node:tls';

const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const EKU_ANY = '2.5.29.37.0';
const MAX_CHAIN = 8;

/** Outgoing side: Node has checked the chain against our CAs (`authorized`); a subjectAltName must match. */
export function serverCertificateValidFor(socket: TLSSocket, domain: string): boolean {
  if (!socket.authorized) return false;
  const cert = socket.getPeerCertificate();
  return Object.keys(cert).length > 0 && checkServerIdentity(domain, cert) === undefined;
}

/**
 * Incoming side. A server-side TLSSocket made for STARTTLS outside a tls.Server never sets `authorized` (Node does
 * that only in tls.Server's connection listener), so the chain the peer sent is checked here with X509Certificate:
 * every certificate current, each signed by the next (a CA), ending at one we trust; the leaf usable for client
 * authentication; a subjectAltName matching the domain.
 */
export class TrustedCas {
  private readonly cas: X509Certificate[];

  constructor(ca: string | string[] | undefined) {
    const pems = ca === undefined ? [...rootCertificates] : (Array.isArray(ca) ? ca : [ca]).flatMap(splitPem);
    this.cas = pems.map((pem) => new X509Certificate(pem));
  }

  clientCertificateValidFor(socket: TLSSocket, domain: string): boolean {
    const leaf = socket.getPeerCertificate(true);
    if (Object.keys(leaf).length === 0 || !leaf.raw) return false;
    if (checkServerIdentity(domain, leaf) !== undefined) return false;
    const first = new X509Certificate(leaf.raw);
    const eku = first.keyUsage;
    if (eku !== undefined && !eku.includes(EKU_CLIENT_AUTH) && !eku.includes(EKU_ANY)) return false;
    return this.chainTrusted(first, leaf);
  }

  private chainTrusted(leaf: X509Certificate, detailed: DetailedPeerCertificate): boolean {
    let cert = leaf;
    let node = detailed;
    for (let depth = 0; depth < MAX_CHAIN; depth++) {
      if (!current(cert)) return false;
      if (this.cas.some((ca) => current(ca) && cert.checkIssued(ca) && cert.verify(ca.publicKey)))
        return true;
      const next = node.issuerCertificate;
      if (next === undefined || next === node || !next.raw) return false;
      const issuer = new X509Certificate(next.raw);
      if (!issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return false;
      cert = issuer;
      node = next;
    }
    return false;
  }
}

function current(cert: X509Certificate): boolean {
  const now = Date.now();
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Whether a peer's certificate authenticates a domain (RFC 6120 §13.7.2, RFC 6125 DNS-ID, XEP-0178). Both sides
 * leave the certificate path to OpenSSL, which validates it as RFC 5280 §6 says (signatures, validity periods,
 * basic constraints and path length, key usage, extended key usage for the purpose, name constraints) against the
 * CAs of the TLS context; the name is checked here. docs/decisions/0011-connection-limits-and-edges.md says why.
 */
import { checkServerIdentity, type TLSSocket } from 'node:tls';

/** Outgoing side: Node has checked the chain against our CAs (`authorized`); a subjectAltName must match. */
export function serverCertificateValidFor(socket: TLSSocket, domain: string): boolean {
  if (!socket.authorized) return false;
  const cert = socket.getPeerCertificate();
  return Object.keys(cert).length > 0 && checkServerIdentity(domain, cert) === undefined;
}

/** The native TLS handle of a socket: what tls.Server itself asks for the verdict on a client's chain. */
interface NativeTlsHandle {
  verifyError(): Error | null;
}

/**
 * Incoming side. A server-side TLSSocket made for STARTTLS outside a tls.Server never sets `authorized` (Node does
 * that only in tls.Server's connection listener, from `_handle.verifyError()`), so the same verdict is read here:
 * OpenSSL verified the chain the peer sent during the handshake against the secure context's CAs (`ca` of the
 * S2sServer, else Node's roots) for the TLS-client purpose (extended key usage clientAuth when the leaf names
 * any). The leaf must then name the domain in a subjectAltName.
 */
export class TrustedCas {
  clientCertificateValidFor(socket: TLSSocket, domain: string): boolean {
    const handle = (socket as unknown as { _handle?: NativeTlsHandle | null })._handle;
    if (!handle || typeof handle.verifyError !== 'function') return false;
    // Null when the chain verified; an error (e.g. UNABLE_TO_GET_ISSUER_CERT_LOCALLY, CERT_HAS_EXPIRED) otherwise,
    // and also when the peer sent no certificate.
    if (handle.verifyError() !== null) return false;
    const leaf = socket.getPeerCertificate();
    return Object.keys(leaf).length > 0 && checkServerIdentity(domain, leaf) === undefined;
  }
}

/** The TLS material of one server of the topology: from the local CA, or from its certificate files. */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ensureLocalCa, ensureServerCert, loadTlsFiles, type TlsMaterial } from './tls.js';
import type { Topology } from './topology.js';

export interface ServerIdentity {
  /** File stem under the local CA directory, e.g. `message-server-as1.irsp.test-ms1`. */
  name: string;
  /** Its public base URL and listen host; their host names and IPs go into the certificate. */
  url: string;
  listenHost: string;
  /** Further DNS names, e.g. the AS domain for XMPP. */
  dnsNames?: string[];
  tls?: { cert: string; key: string } | undefined;
}

export async function serverTls(topology: Topology, server: ServerIdentity): Promise<TlsMaterial> {
  if (topology.tls.mode === 'files') {
    if (!server.tls)
      throw new Error(`${server.name}: tls.cert and tls.key are required when tls.mode is files`);
    return loadTlsFiles({ ...server.tls, ca: topology.tls.ca });
  }
  const hosts = [
    new URL(server.url).hostname.replace(/^\[|\]$/g, ''),
    server.listenHost,
    'localhost',
    '127.0.0.1',
  ];
  const dns = new Set(server.dnsNames ?? []);
  const ip = new Set<string>();
  for (const host of hosts) {
    if (isIP(host)) ip.add(host);
    else if (host !== '0.0.0.0' && host !== '::') dns.add(host);
  }
  return ensureServerCert(topology.tls.dir, server.name, { dns: [...dns], ip: [...ip] });
}

/** The CA certificate servers use to check their peers (HTTPS clients, later XMPP s2s). */
export async function trustedCa(topology: Topology): Promise<string> {
  if (topology.tls.mode === 'files') return readFile(topology.tls.ca, 'utf8');
  return (await ensureLocalCa(topology.tls.dir)).cert;
}

/** Path of the CA certificate clients are given (the manifest's `caCert`). */
export function caCertPath(topology: Topology): string {
  return topology.tls.mode === 'local' ? join(topology.tls.dir, 'ca.pem') : topology.tls.ca;
}

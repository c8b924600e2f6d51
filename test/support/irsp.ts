/**
 * Test support: real servers on loopback ports chosen at run time, over HTTPS with a throwaway local CA, on
 * the embedded database (or on DATABASE_URL in schemas of their own).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import {
  ensureLocalCa,
  ensureServerCert,
  parseTopology,
  type TlsMaterial,
  type Topology,
} from '@irsp/config';
import { createLogger, type Logger } from '@irsp/http';
import { randomSecret } from '@irsp/credentials';
import { openDb } from '@irsp/store';

export async function tempDir(prefix = 'irsp-test-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A logger whose every line is kept, to assert what was (and was not) logged. */
export function captureLogger(name = 'test'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger({ name, level: 'debug' }, sink), lines };
}

export async function serverTlsFor(dir: string, name: string, dns: string[]): Promise<TlsMaterial> {
  await ensureLocalCa(dir);
  return ensureServerCert(dir, name, { dns: [...dns, 'localhost'], ip: ['127.0.0.1'] });
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A plain HTTPS client for asserting exact answers (no protocol package in between). */
export class TestClient {
  readonly agent: Agent;
  constructor(ca: string) {
    this.agent = new Agent({ connect: { ca } });
  }
  async get(url: string): Promise<HttpAnswer> {
    const r = await request(url, { dispatcher: this.agent });
    return { status: r.statusCode, body: await r.body.text(), headers: r.headers };
  }
  async post(
    url: string,
    body: string,
    contentType = 'application/x-www-form-urlencoded',
  ): Promise<HttpAnswer> {
    const r = await request(url, {
      method: 'POST',
      dispatcher: this.agent,
      body,
      headers: { 'content-type': contentType },
    });
    return { status: r.statusCode, body: await r.body.text(), headers: r.headers };
  }
  close(): Promise<void> {
    return this.agent.close();
  }
}

/** Form encoding as a client would write it (percent-encoding by encodeURIComponent). */
export function form(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

/**
 * Free loopback ports for topologies whose URLs must name real ports: checked by binding, then released. They are
 * drawn below the kernel's ephemeral range (32768–60999), where a port released here could be taken as the source
 * port of any outgoing connection before its server binds it (seen in CI as EADDRINUSE), and from a block of
 * 1 000 ports per vitest worker, so that parallel test files do not draw the same one.
 */
export async function freePorts(count: number): Promise<number[]> {
  const worker = Number(process.env['VITEST_POOL_ID'] ?? process.pid) % 12;
  const base = 20_000 + worker * 1_000;
  const ports: number[] = [];
  while (ports.length < count) {
    const candidate = base + Math.floor(Math.random() * 1_000);
    if (ports.includes(candidate) || !(await bindable(candidate))) continue;
    ports.push(candidate);
  }
  return ports;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** XMPP ports of one message server (c2s STARTTLS; s2s to federate with the other AS, clause 8.5). */
export interface XmppPorts {
  c2sPort: number;
  s2sPort?: number;
  /** XMPP over WebSocket (RFC 7395), for browsers. */
  websocketPort?: number;
  /** Where XMPP listens (default 127.0.0.1). */
  host?: string;
}

/** A two-AS topology on the given ports (as `pnpm start` has, but on free ports and a temporary TLS dir). */
export function twoAsTopology(options: {
  tlsDir: string;
  dataDir: string;
  ports: { accountServer: number; ms1: number; ms2: number; app1: number; app2: number };
  requestTimeoutMs?: number;
  /** XMPP of the message servers of AS1 and AS2; without it they serve only their HTTPS admin API. */
  xmpp?: { ms1?: XmppPorts; ms2?: XmppPorts };
  /** The topology's `federation` section (routes to other XMPP domains, bounce timeout). */
  federation?: { routes?: Record<string, { host: string; port: number }[]>; bounceTimeoutMs?: number };
}): Topology {
  const { ports } = options;
  const ms = (tag: string, port: number, xmpp?: XmppPorts) => ({
    id: 'ms1',
    url: `https://127.0.0.1:${port}`,
    listen: { host: '127.0.0.1', port },
    ...(xmpp ? { xmpp: { ...xmpp, host: xmpp.host ?? '127.0.0.1' } } : {}),
    credentials: {
      accountServer: { appid: `account-server-at-${tag}`, token: randomSecret() },
      toAccountServer: { appid: `message-server-${tag}`, token: randomSecret() },
    },
  });
  const app = (tag: string, domain: string, port: number) => ({
    name: 'default',
    url: `https://127.0.0.1:${port}`,
    listen: { host: '127.0.0.1', port },
    jid: `default.${domain}`,
    credentials: { appid: `default-${tag}`, token: randomSecret() },
    serviceUris: {},
  });
  // On a shared PostgreSQL every run gets schemas of its own (dropped by dropTopologySchemas).
  const prefix = `t${randomSecret(6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')}`;
  return parseTopology(
    {
      tls: { mode: 'local', dir: options.tlsDir },
      database: { dataDir: options.dataDir },
      http: { connectTimeoutMs: 2_000, requestTimeoutMs: options.requestTimeoutMs ?? 5_000 },
      accountServer: {
        url: `https://127.0.0.1:${ports.accountServer}`,
        listen: { host: '127.0.0.1', port: ports.accountServer },
        database: { schema: `${prefix}_account` },
      },
      autonomousSystems: [
        {
          domain: 'as1.irsp.test',
          database: { schema: `${prefix}_ms_as1` },
          messageServers: [ms('as1', ports.ms1, options.xmpp?.ms1)],
          applicationServers: [
            { ...app('as1', 'as1.irsp.test', ports.app1), database: { schema: `${prefix}_app_as1` } },
          ],
        },
        {
          domain: 'as2.irsp.test',
          database: { schema: `${prefix}_ms_as2` },
          messageServers: [ms('as2', ports.ms2, options.xmpp?.ms2)],
          applicationServers: [
            { ...app('as2', 'as2.irsp.test', ports.app2), database: { schema: `${prefix}_app_as2` } },
          ],
        },
      ],
      ...(options.federation ? { federation: options.federation } : {}),
    },
    { DATABASE_URL: process.env.DATABASE_URL },
  );
}

/** Drops the schemas a test topology used on DATABASE_URL (the embedded databases live in a temp dir). */
export async function dropTopologySchemas(topology: Topology): Promise<void> {
  const url = topology.database.url;
  if (!url) return;
  const schemas = [
    topology.accountServer.database.schema,
    ...topology.autonomousSystems.flatMap((as) => [
      as.database?.schema,
      ...as.applicationServers.map((a) => a.database?.schema),
    ]),
  ].filter((s): s is string => s !== undefined);
  for (const schema of schemas) {
    const db = await openDb({ url, schema, dropSchemaOnClose: true });
    await db.close();
  }
}

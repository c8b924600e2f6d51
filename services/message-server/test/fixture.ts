/**
 * A message server of `as1.irsp.test` with XMPP on loopback ports chosen at run time, HTTPS from a throwaway CA,
 * a test database, accounts made through its own admin API (Messages 1–2), and @xmpp/client trusting the CA.
 */
import type { OsapConfig } from '@irsp/config';
import { buildMessageServer, type MessageServer, type MessageServerOptions } from '@irsp/message-server';
import { openTestDb, type Db } from '@irsp/store';
import { captureLogger, form, serverTlsFor, tempDir, TestClient } from '../../../test/support/irsp.js';
import { trustCaForXmppClients } from '../../../test/support/xmpp.js';

export const DOMAIN = 'as1.irsp.test';
export const credentials = {
  accountServer: { appid: 'account-server', token: 'account-server-token-0123456789' },
  toAccountServer: { appid: 'ms-as1', token: 'message-server-token-0123456789' },
};
/** Messages 1–6 authentication as the account server presents it. */
export const accountServerAuth = { version: '1', ...credentials.accountServer };

export interface XmppFixture {
  domain: string;
  /** Where XMPP listens (c2s and s2s). */
  xmppHost: string;
  server: MessageServer;
  db: Db;
  /** Base URL of the HTTPS admin API. */
  base: string;
  c2sPort: number;
  /** The OSAP LBS and DAS, when `osap` was given. */
  lbsPort: number | undefined;
  dasPort: number | undefined;
  directTlsPort: number | undefined;
  /** XMPP over WebSocket (RFC 7395): `wss://127.0.0.1:<port>/xmpp-websocket`. */
  websocketPort: number | undefined;
  ca: string;
  /** An HTTPS client trusting the CA. */
  http: TestClient;
  log: ReturnType<typeof captureLogger>;
  /** Registers a user (`alice`) or a device (`#lock1`) through Message 1 or 2; extra fields go with it. */
  register(name: string, password: string, extra?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export async function startXmppMessageServer(
  options: Partial<
    Pick<
      MessageServerOptions,
      | 'applicationServers'
      | 'c2sLimits'
      | 'offline'
      | 'guessing'
      | 'now'
      | 'federation'
      | 'onlineSessions'
      | 'operators'
      | 'cluster'
    >
  > & {
    directTls?: boolean;
    websocket?: boolean;
    /** Another AS than as1 (federation tests). */
    domain?: string;
    /** XMPP s2s port (clause 8.5); federation tests pick it before starting, so peers can route to it. */
    s2sPort?: number;
    /** A folder whose CA issues this server's certificate; shared by federating servers. */
    tlsDir?: string;
    /** A loopback address of its own for XMPP (a Prosody peer dials port 5269 at the domain's address). */
    xmppHost?: string;
    /** What the server gets instead of the test database (a wrapper that records or holds statements). */
    wrapDb?: (db: Db) => Db;
    /** A database shared with another message server of the same AS (left open at close). */
    db?: Db;
    /** The message server's id in its AS (default ms1). */
    id?: string;
    /** OSAP device access (the LBS, and the DAS with `dasListener`). */
    osap?: OsapConfig;
  } = {},
): Promise<XmppFixture> {
  const {
    directTls,
    websocket,
    domain = DOMAIN,
    s2sPort,
    tlsDir,
    xmppHost = '127.0.0.1',
    wrapDb = (db: Db) => db,
    db: sharedDb,
    id = 'ms1',
    osap,
    ...rest
  } = options;
  const dir = tlsDir ? undefined : await tempDir();
  const tls = await serverTlsFor(tlsDir ?? dir!.path, `ms-${domain}`, [domain]);
  const untrust = trustCaForXmppClients(tls.ca);
  const db = sharedDb ?? (await openTestDb('msx'));
  const log = captureLogger('message-server');
  const server = await buildMessageServer({
    domain,
    config: {
      id,
      url: 'https://127.0.0.1:1',
      listen: { host: '127.0.0.1', port: 0 },
      pushUri: '/push',
      xmpp: {
        host: xmppHost,
        c2sPort: 0,
        ...(directTls ? { directTlsPort: 0 } : {}),
        ...(websocket ? { websocketPort: 0 } : {}),
        ...(s2sPort !== undefined ? { s2sPort } : {}),
      },
      credentials,
      ...(osap ? { osap } : {}),
    },
    accountServerUrl: 'https://127.0.0.1:1',
    db: wrapDb(db),
    logger: log.logger,
    tls,
    ca: tls.ca,
    outbox: { pollMs: 60_000 },
    ...rest,
  });
  const ports = await server.listen({ host: '127.0.0.1', port: 0 });
  const base = `https://127.0.0.1:${ports.http}`;
  const http = new TestClient(tls.ca);
  return {
    domain,
    xmppHost,
    server,
    db,
    base,
    c2sPort: ports.c2s!,
    lbsPort: ports.lbs,
    dasPort: ports.das,
    directTlsPort: ports.directTls,
    websocketPort: ports.websocket,
    ca: tls.ca,
    http,
    log,
    async register(name, password, extra = {}) {
      const path = name.startsWith('#') ? '/device/register' : '/user/register.xml';
      const answer = await http.post(
        `${base}${path}`,
        form({ ...accountServerAuth, name, password, ...extra }),
      );
      if (answer.status !== 200) throw new Error(`registering ${name}: ${answer.status} ${answer.body}`);
    },
    async close() {
      await http.close();
      await server.close();
      if (!sharedDb) await db.close();
      untrust();
      await dir?.remove();
    },
  };
}

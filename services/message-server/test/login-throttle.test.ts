/** Failed XMPP logins are throttled (per address and per account) and the rightful owner gets in soon after. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMessageServer, type MessageServer } from '@irsp/message-server';
import { openTestDb, type Db } from '@irsp/store';
import { captureLogger, form, serverTlsFor, tempDir, TestClient } from '../../../test/support/irsp.js';
import { trustCaForXmppClients, xmppLogin } from '../../../test/support/xmpp.js';

const DOMAIN = 'as1.irsp.test';
const credentials = {
  accountServer: { appid: 'account-server', token: 'account-server-token-0123456789' },
  toAccountServer: { appid: 'ms-as1', token: 'message-server-token-0123456789' },
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let db: Db;
let server: MessageServer;
let c2sPort: number;
let untrust: () => void;

beforeAll(async () => {
  dir = await tempDir();
  const tls = await serverTlsFor(dir.path, 'ms', [DOMAIN]);
  untrust = trustCaForXmppClients(tls.ca);
  db = await openTestDb('msthr');
  server = await buildMessageServer({
    domain: DOMAIN,
    config: {
      id: 'ms1',
      url: 'https://127.0.0.1:1',
      listen: { host: '127.0.0.1', port: 0 },
      pushUri: '/push',
      xmpp: { host: '127.0.0.1', c2sPort: 0 },
      credentials,
    },
    accountServerUrl: 'https://127.0.0.1:1',
    db,
    logger: captureLogger().logger,
    tls,
    ca: tls.ca,
    outbox: { pollMs: 60_000 },
    loginThrottle: { freeFailures: 1, baseDelayMs: 800, maxDelayMs: 800 },
  });
  const ports = await server.listen({ host: '127.0.0.1', port: 0 });
  c2sPort = ports.c2s!;
  const admin = new TestClient(tls.ca);
  const answer = await admin.post(
    `https://127.0.0.1:${ports.http}/user/register.xml`,
    form({ version: '1', ...credentials.accountServer, name: 'alice', password: 'right' }),
  );
  expect(answer.status).toBe(200);
  await admin.close();
});

afterAll(async () => {
  await server?.close();
  await db?.close();
  untrust?.();
  await dir?.remove();
});

const attempt = (password: string) =>
  xmppLogin({ port: c2sPort, domain: DOMAIN, username: 'alice', password, resource: 'r' });

describe('login throttling', () => {
  it('after the free failure even the right password waits; once the delay is over it works', async () => {
    await expect(attempt('guess-1')).rejects.toThrow(/not-authorized/);
    await expect(attempt('guess-2')).rejects.toThrow(/not-authorized/);
    await expect(attempt('right')).rejects.toThrow(/temporary-auth-failure/);
    await new Promise((r) => setTimeout(r, 900));
    const alice = await attempt('right');
    expect(alice.jid?.toString()).toBe('alice@as1.irsp.test/r');
    await alice.stop();
  });
});

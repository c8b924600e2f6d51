/**
 * `xmpp.plainPort`: c2s without TLS for a TLS-terminating proxy in front of the message server. An account of
 * Message 1 logs in there with SCRAM-SHA-1 (@xmpp/client, no STARTTLS); PLAIN is neither offered nor accepted;
 * the STARTTLS port beside it is unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@xmpp/client';
import { buildMessageServer, type ListeningPorts, type MessageServer } from '@irsp/message-server';
import { openTestDb, type Db } from '@irsp/store';
import { captureLogger, form, serverTlsFor, tempDir, TestClient } from '../../../test/support/irsp.js';
import { RawXmpp, trustCaForXmppClients, xmppLogin } from '../../../test/support/xmpp.js';
import { DOMAIN, accountServerAuth, credentials } from './fixture.js';

const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';

let dir: Awaited<ReturnType<typeof tempDir>>;
let db: Db;
let server: MessageServer;
let ports: ListeningPorts;
let http: TestClient;
let untrust: () => void;
const clients: Client[] = [];

beforeAll(async () => {
  dir = await tempDir();
  const tls = await serverTlsFor(dir.path, `ms-${DOMAIN}`, [DOMAIN]);
  untrust = trustCaForXmppClients(tls.ca);
  db = await openTestDb('msplain');
  server = await buildMessageServer({
    domain: DOMAIN,
    config: {
      id: 'ms1',
      url: 'https://127.0.0.1:1',
      listen: { host: '127.0.0.1', port: 0 },
      pushUri: '/push',
      xmpp: { host: '127.0.0.1', c2sPort: 0, plainPort: 0 },
      credentials,
    },
    accountServerUrl: 'https://127.0.0.1:1',
    db,
    logger: captureLogger('message-server').logger,
    tls,
    ca: tls.ca,
    outbox: { pollMs: 60_000 },
  });
  ports = await server.listen({ host: '127.0.0.1', port: 0 });
  http = new TestClient(tls.ca);
  const answer = await http.post(
    `https://127.0.0.1:${ports.http}/user/register.xml`,
    form({ ...accountServerAuth, name: 'alice', password: 'alice secret' }),
  );
  expect(answer.status).toBe(200);
});

afterAll(async () => {
  for (const client of clients) await client.stop().catch(() => undefined);
  await http?.close();
  await server?.close();
  await db?.close();
  untrust?.();
  await dir?.remove();
});

/** The stream features the plain port answers a fresh stream with. */
async function plainFeatures(): Promise<{ raw: RawXmpp; features: string }> {
  const raw = await RawXmpp.connect(ports.plain!);
  raw.header(DOMAIN);
  const text = await raw.waitFor(/<\/stream:features>/);
  return { raw, features: /<stream:features>.*<\/stream:features>/.exec(text)![0] };
}

describe('the c2s port without TLS (xmpp.plainPort)', () => {
  it('listens beside the STARTTLS port', () => {
    expect(ports.plain).toBeGreaterThan(0);
    expect(ports.plain).not.toBe(ports.c2s);
  });

  it('offers SCRAM only: no STARTTLS, no PLAIN', async () => {
    const { raw, features } = await plainFeatures();
    expect(features).toBe(
      `<stream:features><mechanisms xmlns='${SASL}'><mechanism>SCRAM-SHA-256</mechanism>` +
        '<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>',
    );
    raw.destroy();
  });

  it('a user of Message 1 logs in with SCRAM-SHA-1 and binds', async () => {
    const alice = await xmppLogin({
      port: ports.plain!,
      domain: DOMAIN,
      username: 'alice',
      password: 'alice secret',
      resource: 'proxied',
      mechanism: 'SCRAM-SHA-1',
    });
    clients.push(alice);
    expect(alice.jid?.toString()).toBe('alice@as1.irsp.test/proxied');
  });

  it('refuses PLAIN, which would carry the password in clear from the proxy', async () => {
    const { raw } = await plainFeatures();
    raw.write(
      `<auth xmlns='${SASL}' mechanism='PLAIN'>${Buffer.from('\0alice\0alice secret').toString('base64')}</auth>`,
    );
    await raw.waitFor(new RegExp(`<failure xmlns='${SASL}'><invalid-mechanism/></failure>$`));
    raw.destroy();
  });

  it('leaves the STARTTLS port requiring TLS', async () => {
    const raw = await RawXmpp.connect(ports.c2s!);
    raw.header(DOMAIN);
    await raw.waitFor(
      /<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required\/><\/starttls><\/stream:features>$/,
    );
    raw.destroy();
  });
});

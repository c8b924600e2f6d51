/**
 * The message server's limits from its configuration (issue 12 items 7 and 11b): one connection budget for the
 * XMPP listeners and the admin API together (`xmpp.maxConnections`), and `xmpp.maxResourcesPerAccount`.
 */
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMessageServer, type ListeningPorts, type MessageServer } from '@irsp/message-server';
import { openTestDb, type Db } from '@irsp/store';
import { captureLogger, form, serverTlsFor, tempDir, TestClient } from '../../../test/support/irsp.js';
import { RawXmpp } from '../../../test/support/xmpp.js';
import { DOMAIN, accountServerAuth, credentials } from './fixture.js';

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
let dir: Awaited<ReturnType<typeof tempDir>>;
let tls: { cert: string; key: string; ca: string };
let db: Db;
let server: MessageServer;
let ports: ListeningPorts;
const sockets: Socket[] = [];

beforeAll(async () => {
  dir = await tempDir();
  tls = await serverTlsFor(dir.path, `ms-${DOMAIN}`, [DOMAIN]);
  db = await openTestDb('mslimits');
  server = await buildMessageServer({
    domain: DOMAIN,
    config: {
      id: 'ms1',
      url: 'https://127.0.0.1:1',
      listen: { host: '127.0.0.1', port: 0 },
      pushUri: '/push',
      xmpp: {
        host: '127.0.0.1',
        c2sPort: 0,
        maxConnections: 4,
        handshakeTimeoutMs: 5_000,
        maxResourcesPerAccount: 1,
      },
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
  const http = new TestClient(tls.ca);
  const answer = await http.post(
    `https://127.0.0.1:${ports.http}/user/register.xml`,
    form({ ...accountServerAuth, name: 'alice', password: 'alice secret' }),
  );
  expect(answer.status).toBe(200);
  await http.close();
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await server?.close();
  await db?.close();
  await dir?.remove();
});

async function open(port: number): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
  const socket = netConnect(port, '127.0.0.1');
  sockets.push(socket);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  return { socket, text: () => text, closed };
}

/** STARTTLS, PLAIN as alice, restart, bind `resource`: the bind answer. */
async function bindAs(resource: string): Promise<string> {
  const raw = await RawXmpp.connect(ports.c2s!);
  raw.header(DOMAIN);
  await raw.waitFor(/<\/stream:features>$/);
  raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  await raw.waitFor(/<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'\/>$/);
  await raw.startTls({ servername: DOMAIN, ca: tls.ca });
  raw.header(DOMAIN);
  await raw.waitFor(/<\/stream:features>$/);
  raw.write(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${btoa('\0alice\0alice secret')}</auth>`,
  );
  await raw.waitFor(/<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'\/>$/);
  raw.header(DOMAIN);
  await raw.waitFor(/<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'\/>[\s\S]*<\/stream:features>$/);
  await raw.take(/[\s\S]*/);
  raw.write(
    `<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
  );
  const [answer] = await raw.take(/<iq [^>]*id='b1'[\s\S]*?<\/iq>/);
  return answer;
}

describe('xmpp.maxConnections', () => {
  it('is one budget for the admin API and the XMPP listeners', async () => {
    // One socket on the admin API (in its TLS handshake) and three on c2s take the four slots.
    await open(ports.http);
    const held = [await open(ports.c2s!), await open(ports.c2s!), await open(ports.c2s!)];
    const refused = await open(ports.c2s!);
    await refused.closed;
    expect(refused.text()).toContain(
      "<stream:error><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
    );
    const refusedHttps = await open(ports.http);
    await refusedHttps.closed;
    expect(refusedHttps.text()).toBe('');
    for (const c of held) c.socket.destroy();
    for (const socket of sockets) socket.destroy();
  });
});

describe('xmpp.maxResourcesPerAccount', () => {
  it('refuses a second resource of alice with resource-constraint', async () => {
    await new Promise((r) => setTimeout(r, 200)); // the sockets of the test before are gone
    expect(await bindAs('phone')).toBe(
      `<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@${DOMAIN}/phone</jid></bind></iq>`,
    );
    expect(await bindAs('laptop')).toBe(
      `<iq id='b1' type='error'><error type='wait'><resource-constraint xmlns='${STANZAS}'/>` +
        `<text xmlns='${STANZAS}' xml:lang='en'>too many resources for this account (at most 1)</text></error></iq>`,
    );
  });
});

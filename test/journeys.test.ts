/**
 * A whole IRSP on loopback, the user journeys end to end: the account server, and for AS1 and AS2 a message server
 * with XMPP c2s and s2s (federating, clause 8.5) and the `default` application server, the two application
 * servers peers of each other (clause 8.6). A user of AS1 and a device of AS2 are registered at the account
 * server (Messages 1/2), bind across the ASs with the device's verification code, and talk through both ASs'
 * servers; then what happens when the peer AS is down or hung, when an application server of the wrong AS pushes
 * (clause 8.7), and when a server forges dialback.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { DefaultApplication } from './support/default-app.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { accountServerFromTopology, type AccountServer } from '@irsp/account-server';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { trustedCa, type ApplicationServerConfig, type Topology } from '@irsp/config';
import { messageServerFromTopology, type MessageServer } from '@irsp/message-server';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  tempDir,
  TestClient,
  twoAsTopology,
} from './support/irsp.js';
import { RawXmpp, trustCaForXmppClients, XmppInbox, xmppLogin } from './support/xmpp.js';

const AS1 = 'as1.irsp.test';
const AS2 = 'as2.irsp.test';
const ALICE = `alice@${AS1}`;
const CAM = `#cam@${AS2}`;
const ACCESS = 'urn:irsp:access:0';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
/** How long a stanza to another AS may wait for its stream (topology `federation.bounceTimeoutMs`). */
const BOUNCE_TIMEOUT_MS = 4_000;
const KEY = randomBytes(32).toString('base64url');
const OK = { status: 200, body: '' };
const SENT = { status: 200, body: '{"outcome":"status","status":200}' };

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let ca: string;
let http: TestClient;
let apps: DefaultApplication;
let untrust: () => void;
let accountServer: AccountServer;
let ms1: MessageServer;
let ms2: MessageServer | undefined;
let app1: ApplicationServer;
let app2: ApplicationServer;
let c2s1: number;
let c2s2: number;
let s2s1: number;
let s2s2: number;
const clients: Client[] = [];
const log = captureLogger('irsp');
const log1 = captureLogger('ms-as1');

const as1 = () => topology.autonomousSystems[0]!;
const as2 = () => topology.autonomousSystems[1]!;
const default1 = () => as1().applicationServers[0]!;
const default2 = () => as2().applicationServers[0]!;

async function startMessageServer2(): Promise<MessageServer> {
  const server = await messageServerFromTopology(
    topology,
    as2(),
    as2().messageServers[0]!,
    log.logger.child({ service: 'ms-as2' }),
  );
  await server.listen();
  return server;
}

/** The client account API of the account server (POST, form body). */
async function clientApi(path: string, fields: Record<string, string>) {
  const answer = await http.post(`${topology.accountServer.url}${path}`, form(fields));
  return { status: answer.status, body: answer.body };
}

const send = (server: ApplicationServerConfig, body: object) => apps.send(server, body);
const received = (server: ApplicationServerConfig) => apps.receivedPairs(server);

async function login(port: number, domain: string, username: string, resource: string) {
  const client = await xmppLogin({ port, domain, username, password: `${username} pw`, resource });
  clients.push(client);
  return new XmppInbox(client);
}

const chat = (to: string, body: string, id?: string) =>
  xml('message', { to, type: 'chat', id }, xml('body', {}, body));
const withBody = (body: string) => (s: XmlElement) => s.is('message') && s.getChildText('body') === body;
const withId = (id: string) => (s: XmlElement) => s.attrs.id === id;

/** A message of `from` to `to` as the receiving client reads it (@xmpp/client serialises with `"`). */
const chatAsReceived = (from: string, to: string, body: string) =>
  `<message to="${to}" type="chat" from="${from}"><body>${body}</body></message>`;
/** The bounce of alice's message `id` to #cam (RFC 6120 §8.3): addresses swapped, the condition, no payload. */
const bounceOf = (id: string, condition: string, type = 'cancel') =>
  `<message from="${CAM}" to="${ALICE}/phone" id="${id}" type="error"><error type="${type}">` +
  `<${condition} xmlns="${STANZAS}"/></error></message>`;

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The header AS1's s2s engine answers with (RFC 6120 §4.7), as a pattern: its stream id is random. */
const streamHeader = (from: string, to: string | undefined) =>
  '^' +
  escapeRe(
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' " +
      "xmlns:db='jabber:server:dialback' id='",
  ) +
  '[0-9a-f]{24}' +
  escapeRe(`' from='${from}'${to === undefined ? '' : ` to='${to}'`} version='1.0' xml:lang='en'>`);

/** The structured log lines of AS1's message server with this message. */
const log1Lines = (msg: string) =>
  log1.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

async function rows<T>(server: MessageServer | AccountServer, sql: string): Promise<T[]> {
  return (await server.context.db.query<T & Record<string, unknown>>(sql)).rows;
}

let alice: XmppInbox;
let cam: XmppInbox;

beforeAll(async () => {
  dir = await tempDir();
  const ports = await freePorts(10);
  const [accountServerPort, ms1Port, ms2Port, app1Port, app2Port] = ports;
  [c2s1, s2s1, c2s2, s2s2] = ports.slice(5, 9) as [number, number, number, number];
  const nobody = ports[9]!;
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: {
      accountServer: accountServerPort!,
      ms1: ms1Port!,
      ms2: ms2Port!,
      app1: app1Port!,
      app2: app2Port!,
    },
    xmpp: { ms1: { c2sPort: c2s1, s2sPort: s2s1 }, ms2: { c2sPort: c2s2, s2sPort: s2s2 } },
    federation: {
      // A domain whose server is not there: verifying its dialback keys fails at once (connection refused).
      routes: { 'evil.example': [{ host: '127.0.0.1', port: nobody }] },
      bounceTimeoutMs: BOUNCE_TIMEOUT_MS,
    },
  });
  const peer = (of: ApplicationServerConfig, as: string, push: boolean) => ({
    name: of.name,
    as,
    url: of.url,
    exchangeUri: '/peer/exchange',
    appid: of.credentials.appid,
    key: KEY,
    push,
  });
  // AS1 pushes what AS2 sends on to its users (clause 8.7's path); AS2 only records what AS1 sends.
  default1().peers = [peer(default2(), AS2, true)];
  default2().peers = [peer(default1(), AS1, false)];
  ca = await trustedCa(topology);
  untrust = trustCaForXmppClients(ca);
  http = new TestClient(ca);
  apps = new DefaultApplication(http);
  // Each service opens its own database (an embedded one takes seconds): all five start at once.
  await Promise.all([
    (async () => {
      accountServer = await accountServerFromTopology(
        topology,
        log.logger.child({ service: 'account-server' }),
      );
      await accountServer.listen(topology.accountServer.listen);
    })(),
    (async () => {
      ms1 = await messageServerFromTopology(topology, as1(), as1().messageServers[0]!, log1.logger);
      await ms1.listen();
    })(),
    (async () => {
      ms2 = await startMessageServer2();
    })(),
    (async () => {
      app1 = await applicationServerFromTopology(
        topology,
        as1(),
        default1(),
        log.logger.child({ service: 'app1' }),
      );
      await app1.listen();
    })(),
    (async () => {
      app2 = await applicationServerFromTopology(
        topology,
        as2(),
        default2(),
        log.logger.child({ service: 'app2' }),
      );
      await app2.listen();
    })(),
  ]);
}, 60_000);

afterAll(async () => {
  for (const client of clients) await client.stop().catch(() => undefined);
  await app2?.close();
  await app1?.close();
  await ms2?.close();
  await ms1?.close();
  await accountServer?.close();
  await http?.close();
  untrust?.();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('the journeys of a user of AS1 and a device of AS2', () => {
  it('1. both register at the account server, which provisions them at their own AS (Messages 1/2)', async () => {
    expect(await clientApi('/user/register.xml', { userid: ALICE, password: 'alice pw' })).toEqual(OK);
    expect(
      await clientApi('/device/register', { deviceid: CAM, password: '#cam pw', verifycode: 'cam-code' }),
    ).toEqual(OK);
    const registered = await rows<{ local_part: string }>(
      accountServer,
      'SELECT local_part, kind, domain, state FROM accounts',
    );
    expect(registered.sort((a, b) => a.local_part.localeCompare(b.local_part))).toEqual([
      { local_part: '#cam', kind: 'device', domain: AS2, state: 'active' },
      { local_part: 'alice', kind: 'user', domain: AS1, state: 'active' },
    ]);
    expect(
      await rows(ms1, 'SELECT local_part, kind, verify_code_hash IS NOT NULL AS code FROM accounts'),
    ).toEqual([{ local_part: 'alice', kind: 'user', code: false }]);
    expect(
      await rows(ms2!, 'SELECT local_part, kind, verify_code_hash IS NOT NULL AS code FROM accounts'),
    ).toEqual([{ local_part: '#cam', kind: 'device', code: true }]);
  });

  it('2. alice logs in to AS1, binds #cam of AS2 with its verification code and is its owner', async () => {
    alice = await login(c2s1, AS1, 'alice', 'phone');
    expect(alice.client.jid?.toString()).toBe(`${ALICE}/phone`);
    await alice.client.send(xml('presence'));
    await alice.client.send(
      xml(
        'presence',
        { to: CAM, type: 'subscribe' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'cam-code'),
      ),
    );
    // AS1 records the request, AS2 checks the code and relates at once, AS1 follows.
    expect(await alice.rosterPush(CAM)).toEqual({ jid: CAM, subscription: 'none', ask: 'subscribe' });
    expect(await alice.rosterPush(CAM)).toEqual({ jid: CAM, subscription: 'both' });
    expect(await rows(ms1, 'SELECT owner, contact, subscription, ask FROM roster')).toEqual([
      { owner: 'alice', contact: CAM, subscription: 'both', ask: false },
    ]);
    expect(await rows(ms2!, 'SELECT owner, contact, subscription, ask FROM roster')).toEqual([
      { owner: '#cam', contact: ALICE, subscription: 'both', ask: false },
    ]);
    expect(await rows(ms2!, 'SELECT device, owner FROM device_owners')).toEqual([
      { device: '#cam', owner: ALICE },
    ]);
    const access = await alice.client.iqCaller.request(
      xml('iq', { type: 'get', to: CAM }, xml('access', { xmlns: ACCESS })),
    );
    expect(access.toString()).toBe(
      `<iq type="result" id="${access.attrs.id}" from="${CAM}" to="${ALICE}/phone">` +
        `<access xmlns="${ACCESS}" device="${CAM}" owner="${ALICE}"/></iq>`,
    );
  });

  it('3. #cam logs in to AS2 (Message 10); AS2’s application server reaches alice through AS1’s (8.6, 8.7); #cam uploads (Message 9)', async () => {
    cam = await login(c2s2, AS2, '#cam', 'lens');
    await cam.client.send(xml('presence'));
    await expect.poll(() => received(default2())).toEqual([[10, { deviceid: '#cam', type: 'online' }]]);
    // alice sees the device come online across the boundary (§13).
    const online = await alice.next((s) => s.is('presence') && s.attrs.from === `${CAM}/lens`);
    expect(online.attrs.type).toBeUndefined();

    expect(
      await send(default2(), { message: 14, id: 'alice', data: 'cam online: 1080p', to: 'default', as: AS1 }),
    ).toEqual(SENT);
    expect(await received(default1())).toEqual([
      [14, { userid: 'alice', data: 'cam online: 1080p', as: AS2 }],
    ]);
    const pushed = await alice.next(withBody('cam online: 1080p'));
    expect(pushed.attrs.id).toMatch(/^push-\d+$/);
    expect(pushed.toString()).toBe(
      `<message from="default.${AS1}" to="${ALICE}" type="normal" id="${pushed.attrs.id}">` +
        `<body>cam online: 1080p</body></message>`,
    );

    await cam.client.send(xml('message', { to: `default.${AS2}` }, xml('body', {}, 'snapshot 0001.jpg')));
    await expect
      .poll(() => received(default2()))
      .toEqual([
        [10, { deviceid: '#cam', type: 'online' }],
        [9, { deviceid: '#cam', data: 'snapshot 0001.jpg' }],
      ]);
  });

  it('4. messages pass both ways over s2s, and the device’s p2mp report reaches alice', async () => {
    await alice.client.send(chat(CAM, 'start recording'));
    const command = await cam.next(withBody('start recording'));
    expect(command.toString()).toBe(chatAsReceived(`${ALICE}/phone`, CAM, 'start recording'));

    await cam.client.send(chat(ALICE, 'recording started'));
    const answer = await alice.next(withBody('recording started'));
    expect(answer.toString()).toBe(chatAsReceived(`${CAM}/lens`, ALICE, 'recording started'));

    // Point-to-multipoint (§11): the device writes to its own bare JID; each related account gets a copy.
    await cam.client.send(chat(CAM, 'motion detected'));
    const report = await alice.next(withBody('motion detected'));
    expect(report.toString()).toBe(chatAsReceived(`${CAM}/lens`, ALICE, 'motion detected'));
  });
});

describe('5. failure paths', () => {
  it('(a) AS2’s message server down: bounced at once when refused, after the bounce timeout when hung; back up, a new message is stored for #cam and delivered at its login', async () => {
    const shutdowns = log1Lines('s2s outgoing stream: stream error from the peer').length;
    const camGone = new Promise<void>((resolve) => cam.client.once('disconnect', () => resolve()));
    await ms2!.close();
    ms2 = undefined;
    await camGone;
    // AS1 has seen its stream to AS2 end (system-shutdown) before alice writes again.
    await expect
      .poll(() => log1Lines('s2s outgoing stream: stream error from the peer').slice(shutdowns))
      .toMatchObject([{ remote: AS2, condition: 'system-shutdown' }]);

    // Nobody listens at AS2's s2s port: the connection is refused and the message bounces at once.
    let since = Date.now();
    await alice.client.send(chat(CAM, 'are you there?', 'down-1'));
    const refused = await alice.next(withId('down-1'));
    expect(Date.now() - since).toBeLessThan(BOUNCE_TIMEOUT_MS);
    expect(refused.toString()).toBe(bounceOf('down-1', 'remote-server-not-found'));

    // AS2's port accepts connections but nothing answers: the message waits for its stream, then bounces.
    const accepted = new Set<Socket>();
    const hung: Server = createServer((socket) => accepted.add(socket));
    await new Promise<void>((resolve) => hung.listen(s2s2, '127.0.0.1', resolve));
    since = Date.now();
    await alice.client.send(chat(CAM, 'still there?', 'down-2'));
    const late = await alice.next(withId('down-2'), BOUNCE_TIMEOUT_MS + 5_000);
    expect(Date.now() - since).toBeGreaterThanOrEqual(BOUNCE_TIMEOUT_MS - 50);
    expect(accepted.size).toBe(1);
    expect(late.toString()).toBe(bounceOf('down-2', 'remote-server-timeout', 'wait'));
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => hung.close(resolve));

    // AS2's message server again, from the same topology and database: a new message arrives and, #cam being
    // offline, is stored there (written before it is acknowledged) …
    ms2 = await startMessageServer2();
    since = Date.now();
    await alice.client.send(chat(CAM, 'welcome back', 'up-1'));
    // (What #cam had not acknowledged when AS2 stopped was stored too, XEP-0198: only this one is looked for.)
    await expect
      .poll(async () => rows(ms2!, "SELECT owner FROM offline_messages WHERE stanza LIKE '%up-1%'"), {
        timeout: BOUNCE_TIMEOUT_MS,
      })
      .toEqual([{ owner: '#cam' }]);
    expect(alice.has(withId('up-1'))).toBe(false);
    // … and delivered at #cam's next login, stamped by AS2's offline storage.
    cam = await login(c2s2, AS2, '#cam', 'lens');
    await cam.client.send(xml('presence'));
    const stored = await cam.next(withBody('welcome back'));
    const stamp = stored.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp ?? '';
    expect(Date.parse(stamp)).toBeGreaterThanOrEqual(since);
    expect(stored.toString()).toBe(
      `<message to="${CAM}" type="chat" id="up-1" from="${ALICE}/phone"><body>welcome back</body>` +
        `<delay xmlns="urn:xmpp:delay" from="${AS2}" stamp="${stamp}">Offline Storage</delay></message>`,
    );
    await expect.poll(async () => rows(ms2!, 'SELECT owner FROM offline_messages')).toEqual([]);
    // AS2's application server lost nothing of the device's status across the restart (Messages 11, 10).
    await expect
      .poll(async () => (await received(default2())).slice(2))
      .toEqual([
        [11, { deviceid: '#cam', type: 'offline' }],
        [10, { deviceid: '#cam', type: 'online' }],
      ]);
    // And the route works both ways again.
    await cam.client.send(chat(ALICE, 'back online'));
    expect((await alice.next(withBody('back online'))).toString()).toBe(
      chatAsReceived(`${CAM}/lens`, ALICE, 'back online'),
    );
  });

  it('(b) AS2’s application server credentials at AS1’s push URI: 401 with the exact body (clause 8.7)', async () => {
    const ms = as1().messageServers[0]!;
    const answer = await http.post(
      `${ms.url}${ms.pushUri}`,
      form({ userid: 'alice', data: 'straight in', ...default2().credentials }),
    );
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 401,
      body: '<error><code>401</code><detail>unauthorized</detail></error>',
    });
    // AS1's own application server is let through; its push is the next thing alice gets from it.
    expect(await send(default1(), { message: 12, id: 'alice', data: 'through the front door' })).toEqual(
      SENT,
    );
    const next = await alice.next((s) => s.is('message') && s.attrs.from === `default.${AS1}`);
    expect(next.toString()).toBe(
      `<message from="default.${AS1}" to="${ALICE}" type="normal" id="${next.attrs.id}">` +
        `<body>through the front door</body></message>`,
    );
    expect(alice.has(withBody('straight in'))).toBe(false);
  });

  it('(c) a forged dialback is refused and nothing sent on that stream reaches alice', async () => {
    for (const [claimed, verdict, sender] of [
      // A domain with no server to ask: the key cannot be checked.
      [
        'evil.example',
        `<db:result from='${AS1}' to='evil.example' type='error'><error type='cancel'>` +
          `<remote-server-not-found xmlns='${STANZAS}'/></error></db:result>`,
        'mallory@evil.example',
      ],
      // AS2, impersonated: AS2 says the key is not one it gave.
      [AS2, `<db:result from='${AS1}' to='${AS2}' type='invalid'/>`, CAM],
    ] as const) {
      const raw = await RawXmpp.connect(s2s1);
      const header = (from?: string) =>
        raw.write(
          `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' ` +
            `xmlns:db='jabber:server:dialback'${from ? ` from='${from}'` : ''} to='${AS1}' version='1.0'>`,
        );
      header();
      await raw.waitFor(/<\/stream:features>/);
      expect(raw.text).toMatch(
        new RegExp(
          `${streamHeader(AS1, undefined)}` +
            escapeRe(
              "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
            ) +
            '$',
        ),
      );
      raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
      await raw.waitFor(/<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'\/>/);
      await raw.startTls({ servername: AS1, ca });
      header(claimed);
      await raw.waitFor(/<\/stream:features>/);
      // No certificate of ours: dialback is the only way in (no SASL EXTERNAL offered).
      expect(raw.text).toMatch(
        new RegExp(
          streamHeader(AS1, claimed) +
            escapeRe(
              "<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback><sm xmlns='urn:xmpp:sm:3'/></stream:features>",
            ) +
            '$',
        ),
      );
      raw.write(`<db:result from='${claimed}' to='${AS1}'>forged-key</db:result>`);
      await raw.waitFor(/<\/db:result>|<db:result [^>]*\/>/);
      expect(raw.text.slice(raw.text.indexOf('</stream:features>') + '</stream:features>'.length)).toBe(
        verdict,
      );
      raw.write(
        `<message from='${sender}' to='${ALICE}' type='chat'><body>forged from ${claimed}</body></message>`,
      );
      // Nothing authenticated on this stream: the stanza ends it (RFC 6120 §4.9.3.12), unrouted.
      await raw.closed;
      expect(raw.text.slice(raw.text.indexOf('</stream:features>') + '</stream:features>'.length)).toBe(
        verdict +
          "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>" +
          '</stream:stream>',
      );
    }
    // What alice receives next from #cam is what #cam really sent; nothing forged came before it.
    await cam.client.send(chat(ALICE, 'the real #cam'));
    await alice.next(withBody('the real #cam'));
    expect(alice.has((s) => s.getChildText('body')?.startsWith('forged') === true)).toBe(false);
  });
});

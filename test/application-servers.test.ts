/**
 * Messages 8–11 from the message server to the application server of the same AS (clause 8.3), through the
 * durable outbox: device online/offline and uploads arrive in order, also when the application server was down
 * and the message server restarted meanwhile; and the application server's own interface (Tables 5 and 7).
 */
import { request } from 'undici';
import { DefaultApplication, basicOf } from './support/default-app.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client } from '@xmpp/client';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { trustedCa, type Topology } from '@irsp/config';
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
import { trustCaForXmppClients, xmppLogin } from './support/xmpp.js';

const DOMAIN = 'as1.irsp.test';
let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let messageServer: MessageServer | undefined;
let applicationServer: ApplicationServer | undefined;
let billingServer: ApplicationServer | undefined;
let http: TestClient;
let apps: DefaultApplication;
let untrust: () => void;
let c2sPort: number;
let billing: number;
const log = captureLogger('irsp');

const as1 = () => topology.autonomousSystems[0]!;
const app = () => as1().applicationServers[0]!;
const ms = () => as1().messageServers[0]!;

async function startMessageServer() {
  messageServer = await messageServerFromTopology(topology, as1(), ms(), log.logger.child({ service: 'ms' }));
  await messageServer.listen();
}
async function startApplicationServer() {
  applicationServer = await applicationServerFromTopology(
    topology,
    as1(),
    app(),
    log.logger.child({ service: 'app' }),
  );
  await applicationServer.listen();
}

const received = (server = app()) => apps.received(server);
/** A delivery id of the message server's outbox: the table, the row id, the database's origin. */
const OUTBOX_ID = /^outbox\/[0-9]+@[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const send = (body: object, authorization = basicOf(app())) => apps.send(app(), body, authorization);

async function login(username: string, resource: string): Promise<Client> {
  return xmppLogin({ port: c2sPort, domain: DOMAIN, username, password: 'pw', resource });
}

beforeAll(async () => {
  dir = await tempDir();
  const [accountServer, ms1, ms2, app1, app2, c2s, billingPort] = await freePorts(7);
  billing = billingPort!;
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: accountServer!, ms1: ms1!, ms2: ms2!, app1: app1!, app2: app2! },
  });
  c2sPort = c2s!;
  ms().xmpp = { host: '127.0.0.1', c2sPort };
  const ca = await trustedCa(topology);
  untrust = trustCaForXmppClients(ca);
  http = new TestClient(ca);
  apps = new DefaultApplication(http);
  await startMessageServer();
  await startApplicationServer();
  const auth = { version: '1', ...ms().credentials.accountServer };
  for (const [path, name] of [
    ['/user/register.xml', 'alice'],
    ['/device/register', '#lock1'],
  ] as const) {
    expect((await http.post(`${ms().url}${path}`, form({ ...auth, name, password: 'pw' }))).status).toBe(200);
  }
}, 60_000);

afterAll(async () => {
  await billingServer?.close();
  await messageServer?.close();
  await applicationServer?.close();
  await http?.close();
  untrust?.();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('Messages 8–11 (clause 8.3)', () => {
  it('a device online, uploading and offline arrives as Messages 10, 9 and 11, in order', async () => {
    const lock = await login('#lock1', 'main');
    await expect.poll(async () => (await received()).map((r) => r.message)).toEqual([10]);
    await lock.send(xml('message', { to: 'default.as1.irsp.test' }, xml('body', {}, 'battery 80% & rising')));
    await lock.stop();
    await expect
      .poll(async () => (await received()).map((r) => [r.message, r.params]))
      .toEqual([
        [10, { deviceid: '#lock1', type: 'online' }],
        [9, { deviceid: '#lock1', data: 'battery 80% & rising' }],
        [11, { deviceid: '#lock1', type: 'offline' }],
      ]);
    // Each came marked over HTTPS (docs/protocol.md "Delivery marks"): its own delivery id, a first attempt.
    const marks = (await received()).map((r) => r.delivery);
    expect(marks).toEqual(
      [1, 2, 3].map(() => ({ id: expect.stringMatching(OUTBOX_ID) as string, attempt: 1 })),
    );
    expect(new Set(marks.map((m) => m!.id)).size).toBe(3);
  });

  it("a user's message to the application server is Message 8; one without a body is refused", async () => {
    const alice = await login('alice', 'phone');
    await alice.send(xml('message', { to: 'default.as1.irsp.test' }, xml('body', {}, 'subscribe me')));
    const refusal = new Promise<string>((resolve) =>
      alice.on('stanza', (s) => {
        if (s.is('message') && s.attrs.id === 'nobody') resolve(s.getChild('error')!.toString());
      }),
    );
    await alice.send(xml('message', { to: 'default.as1.irsp.test', id: 'nobody' }));
    expect(await refusal).toContain('bad-request');
    await expect
      .poll(async () => (await received()).at(-1)?.params)
      .toEqual({ userid: 'alice', data: 'subscribe me' });
    await alice.stop();
  });

  it('with the application server down, and the message server restarted meanwhile, nothing is lost or reordered', async () => {
    await applicationServer!.close();
    for (const round of [1, 2]) {
      const lock = await login('#lock1', `round-${round}`);
      await lock.send(xml('message', { to: 'default.as1.irsp.test' }, xml('body', {}, `reading ${round}`)));
      await lock.stop();
    }
    await expect
      .poll(
        async () =>
          (await messageServer!.context.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox'))
            .rows[0]!.n,
      )
      .toBe(6);
    await messageServer!.close();
    await startMessageServer();
    await startApplicationServer();
    const expected = [1, 2].flatMap((round) => [
      [10, { deviceid: '#lock1', type: 'online' }],
      [9, { deviceid: '#lock1', data: `reading ${round}` }],
      [11, { deviceid: '#lock1', type: 'offline' }],
    ]);
    await expect
      .poll(async () => (await received()).slice(4).map((r) => [r.message, r.params]), {
        timeout: 30_000,
        interval: 250,
      })
      .toEqual(expected);
    // The first was sent while the application server was down (the head of its key, retried); the others
    // waited behind it and went once. GET /received shows which is which.
    const marks = (await received()).slice(4).map((r) => r.delivery!);
    expect(marks[0]!.attempt).toBeGreaterThan(1);
    expect(marks.slice(1).map((m) => m.attempt)).toEqual([1, 1, 1, 1, 1]);
    expect(marks.every((m) => OUTBOX_ID.test(m.id))).toBe(true);
    expect(new Set(marks.map((m) => m.id)).size).toBe(6);
  }, 60_000);
});

describe("the application server's interface (Tables 5 and 7)", () => {
  const credentials = () => app().credentials;

  it('answers 401 to wrong credentials, 403 to Messages 8–11 not presented with its own pair, 400 to bad parameters', async () => {
    const url = `${app().url}/device/status`;
    const answer = await http.post(
      url,
      form({ deviceid: '#x', type: 'online', appid: credentials().appid, token: 'not-the-token-at-all' }),
    );
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 401,
      body: '<error><code>401</code><detail>unauthorized</detail></error>',
    });
    const bad = await http.post(url, form({ deviceid: '#x', type: 'sideways', ...credentials() }));
    expect({ status: bad.status, body: bad.body }).toEqual({
      status: 400,
      body: '<error><code>400</code><detail>bad request</detail></error>',
    });
    const noData = await http.get(`${app().url}/device/upload?${form({ deviceid: '#x', ...credentials() })}`);
    expect(noData.status).toBe(400);
  });

  it('takes Message 14 from an application server of the AS (Table 7: 200, empty body)', async () => {
    const answer = await http.post(
      `${app().url}/exchange`,
      form({ userid: 'alice', data: 'hello peer', ...credentials() }),
    );
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: '' });
    expect((await received()).at(-1)).toMatchObject({
      message: 14,
      operation: 'exchangeUser',
      params: { userid: 'alice', data: 'hello peer' },
      delivery: null,
    });
  });

  it('keeps the delivery mark a message came with, and takes a message whose mark is malformed without it', async () => {
    const post = async (headers: Record<string, string>, data: string) => {
      const r = await request(`${app().url}/device/upload`, {
        method: 'POST',
        dispatcher: http.agent,
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ deviceid: '#mark', data, ...credentials() }),
      });
      return { status: r.statusCode, body: await r.body.text() };
    };
    const ok = { status: 200, body: '' };
    expect(
      await post({ 'irsp-delivery-id': 'outbox/7@origin-a', 'irsp-delivery-attempt': '3' }, 'a'),
    ).toEqual(ok);
    expect(
      await post({ 'irsp-delivery-id': 'outbox/8@origin-a', 'irsp-delivery-attempt': '0' }, 'b'),
    ).toEqual(ok);
    expect(await post({ 'irsp-delivery-id': 'has space', 'irsp-delivery-attempt': '1' }, 'c')).toEqual(ok);
    expect(await post({ 'irsp-delivery-attempt': '1' }, 'd')).toEqual(ok);
    expect((await received()).slice(-4).map((r) => [r.params.data, r.delivery])).toEqual([
      ['a', { id: 'outbox/7@origin-a', attempt: 3 }],
      ['b', null],
      ['c', null],
      ['d', null],
    ]);
  });

  it("GET /received needs the application server's own credentials", async () => {
    const answer = await http.get(`${app().url}/received`);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 401,
      body: '<error><code>401</code><detail>unauthorized</detail></error>',
    });
  });

  it('no token reaches the log', () => {
    const text = log.lines.join('\n');
    expect(text).not.toContain(credentials().token);
    expect(text).not.toContain(ms().credentials.accountServer.token);
  });
});

describe('the default application sends on request (POST /send: Messages 12–15)', () => {
  it('exchanges with another application server of the AS (Messages 14 and 15, Table 7)', async () => {
    as1().applicationServers.push({
      name: 'billing',
      url: `https://127.0.0.1:${billing}`,
      listen: { host: '127.0.0.1', port: billing },
      jid: 'billing.as1.irsp.test',
      credentials: { appid: 'billing-as1', token: 'billing-as1-token-0123456789' },
      deviceStatus: true,
      serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/exchange' },
      database: { schema: `${as1().applicationServers[0]!.database!.schema}_billing` },
    });
    const billingConfig = as1().applicationServers[1]!;
    billingServer = await applicationServerFromTopology(
      topology,
      as1(),
      billingConfig,
      log.logger.child({ service: 'billing' }),
    );
    await billingServer.listen();
    await applicationServer!.close();
    await startApplicationServer(); // now knows its peer
    expect(await send({ message: 14, id: 'alice', data: 'invoice 42', to: 'billing' })).toEqual({
      status: 200,
      body: '{"outcome":"status","status":200}',
    });
    expect(await send({ message: 15, id: '#lock1', data: 'meter 7', to: 'billing' })).toEqual({
      status: 200,
      body: '{"outcome":"status","status":200}',
    });
    expect((await received(billingConfig)).map((r) => [r.message, r.params])).toEqual([
      [14, { userid: 'alice', data: 'invoice 42' }],
      [15, { deviceid: '#lock1', data: 'meter 7' }],
    ]);
  });

  it('pushes through the message server (Messages 12 and 13, Table 6), and reports its refusals', async () => {
    expect(await send({ message: 12, id: 'alice', data: 'your door is open' })).toEqual({
      status: 200,
      body: '{"outcome":"status","status":200}',
    });
    const stored = await messageServer!.context.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM offline_messages WHERE owner = 'alice'",
    );
    expect(stored.rows[0]!.n).toBe(1);
    expect(await send({ message: 13, id: '#nolock', data: 'x' })).toEqual({
      status: 502,
      body: '{"outcome":"status","status":422,"detail":"id not existed"}',
    });
  });

  /** A refusal of `POST /send`: JSON with the reason, which IRSP-Reason repeats. */
  const refused = (status: number, reason: string) => ({
    status,
    body: JSON.stringify({ outcome: 'refused', status, reason }),
    contentType: 'application/json; charset=utf-8',
    reason,
  });
  const sendRaw = async (body: string, contentType = 'application/json', authorization = basicOf(app())) => {
    const {
      status,
      body: text,
      contentType: type,
      reason,
    } = await apps.sendRaw(app(), body, contentType, authorization);
    return { status, body: text, contentType: type, reason };
  };

  it.each([
    ['a body that is not JSON', 'message=12', 'application/json', 'body is not JSON'],
    ['a body of another content type', '<send/>', 'application/xml', 'body is not JSON'],
    ['JSON that is not an object', '[12]', 'application/json', 'body is not a JSON object'],
    [
      'an unknown message',
      '{"message":16,"id":"alice","data":"x"}',
      'application/json',
      'unknown message: must be 12, 13, 14 or 15',
    ],
    [
      'a missing field',
      '{"message":12,"id":"alice"}',
      'application/json',
      'data: Invalid input: expected string, received undefined',
    ],
  ])('refuses %s (400, JSON, with the reason)', async (_label, body, contentType, reason) => {
    expect(await sendRaw(body, contentType)).toEqual(refused(400, reason));
  });

  it('refuses Messages 14–15 to a name that is not another application server of the AS (400)', async () => {
    for (const to of ['nobody', 'default']) {
      expect(await sendRaw(JSON.stringify({ message: 14, id: 'alice', data: 'x', to }))).toEqual(
        refused(400, 'to is not another application server of this AS'),
      );
    }
    expect(
      await sendRaw(JSON.stringify({ message: 15, id: '#lock1', data: 'x', to: 'nobody', as: DOMAIN })),
    ).toEqual(refused(400, 'to is not another application server of this AS'));
  });

  it('refuses a caller without its credentials (401 with WWW-Authenticate), before reading the body', async () => {
    const reason = 'operator credentials (HTTP Basic appid:token) missing or not accepted';
    for (const authorization of [basicOf(as1().applicationServers[1]!), 'Bearer x', '']) {
      expect(await apps.sendRaw(app(), 'not json', 'application/json', authorization)).toEqual({
        ...refused(401, reason),
        authenticate: 'Basic realm="irsp"',
      });
    }
    const line = log.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request completed' && (l.req as { url: string }).url === '/send')
      .at(-1);
    expect(line).toMatchObject({ level: 30, res: { statusCode: 401 }, reason });
  });
});

/**
 * The third-party gateway (clause 8.8, Table 8 our definition): a third party's signed JSON becomes Message 12
 * through our message server or Message 14 to an application server of the AS, and every refusal has its exact
 * code and body; what the gateway receives (Messages 9 and 14 here) reaches the third party's webhook as signed
 * JSON, durably, retried until a 2xx.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { trustedCa, type ApplicationServerConfig, type Topology } from '@irsp/config';
import { messageServerFromTopology, type MessageServer } from '@irsp/message-server';
import { SIGNATURE_HEADER, newNonce, nowSeconds, signatureMatches, webhookSchema } from '@irsp/protocol';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  serverTlsFor,
  tempDir,
  TestClient,
  twoAsTopology,
} from './support/irsp.js';
import { callGateway, type ThirdPartyCall } from './support/third-party.js';

const KEY = randomBytes(32).toString('base64url');
const FAR_KEY = randomBytes(32).toString('base64url');
const error = (code: number, detail: string) => ({
  status: code,
  body: `<error><code>${code}</code><detail>${detail}</detail></error>`,
});
const OK = { status: 200, body: '' };
const BAD_REQUEST = error(400, 'bad request');
const UNAUTHORIZED = error(401, 'unauthorized');
const FORBIDDEN = error(403, 'forbidden');

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let http: TestClient;
let messageServer: MessageServer;
let gatewayServer: ApplicationServer;
let defaultServer: ApplicationServer;
let hooks: Server;
const log = captureLogger('irsp');

interface Hook {
  path: string;
  signature: string | string[] | undefined;
  body: string;
}
const delivered: Hook[] = [];
/** Statuses the third party answers its next webhooks with (then 200). */
const answers: number[] = [];

const as1 = () => topology.autonomousSystems[0]!;
const byName = (name: string) => as1().applicationServers.find((a) => a.name === name)!;

const basicOf = (server: ApplicationServerConfig) =>
  `Basic ${Buffer.from(`${server.credentials.appid}:${server.credentials.token}`).toString('base64')}`;

/** A Table 8 request from the third party `acme` (or as told), signed over the body's bytes. */
const thirdParty = (fields: Record<string, unknown>, call: Partial<ThirdPartyCall> = {}) =>
  callGateway(http, byName('gateway'), { name: 'acme', appid: 'acme', key: KEY, ...call, fields });

async function received(server: ApplicationServerConfig) {
  const r = await request(`${server.url}/received`, {
    dispatcher: http.agent,
    headers: { authorization: basicOf(server) },
  });
  return ((await r.body.json()) as { received: { message: number; params: object }[] }).received.map((m) => [
    m.message,
    m.params,
  ]);
}

async function offlineFor(owner: string): Promise<string[]> {
  const r = await messageServer.context.db.query<{ stanza: string }>(
    'SELECT stanza FROM offline_messages WHERE owner = $1 ORDER BY id',
    [owner],
  );
  return r.rows.map((row) => row.stanza);
}

beforeAll(async () => {
  dir = await tempDir();
  const [accountServer, ms1, ms2, app1, app2, gatewayPort, hookPort] = await freePorts(7);
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: accountServer!, ms1: ms1!, ms2: ms2!, app1: app1!, app2: app2! },
  });
  as1().applicationServers.push({
    name: 'gateway',
    url: `https://127.0.0.1:${gatewayPort}`,
    listen: { host: '127.0.0.1', port: gatewayPort! },
    jid: 'gateway.as1.irsp.test',
    credentials: { appid: 'gateway-as1', token: randomBytes(24).toString('base64url') },
    deviceStatus: false,
    serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/exchange' },
    database: { schema: `${byName('default').database!.schema}_gateway` },
    gateway: {
      thirdParties: [
        {
          name: 'acme',
          appid: 'acme',
          key: KEY,
          webhookUrl: `https://127.0.0.1:${hookPort}/hooks/irsp`,
          allow: { addresses: ['127.0.0.0/8'], messages: [12, 14], targets: ['default'] },
          forward: [9, 14],
        },
        {
          name: 'far',
          appid: 'far',
          key: FAR_KEY,
          webhookUrl: `https://127.0.0.1:${hookPort}/hooks/far`,
          allow: { addresses: ['10.0.0.0/8', '::1'], messages: [12], targets: [] },
          forward: [],
        },
      ],
    },
  });
  const tls = await serverTlsFor(`${dir.path}/tls`, 'acme-hooks', []);
  hooks = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      delivered.push({
        path: req.url!,
        signature: req.headers[SIGNATURE_HEADER],
        body: Buffer.concat(chunks).toString(),
      });
      res.statusCode = answers.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => hooks.listen(hookPort, '127.0.0.1', resolve));
  http = new TestClient(await trustedCa(topology));
  messageServer = await messageServerFromTopology(topology, as1(), as1().messageServers[0]!, log.logger);
  await messageServer.listen();
  gatewayServer = await applicationServerFromTopology(topology, as1(), byName('gateway'), log.logger);
  await gatewayServer.listen();
  defaultServer = await applicationServerFromTopology(topology, as1(), byName('default'), log.logger);
  await defaultServer.listen();
  const ms = as1().messageServers[0]!;
  const registered = await http.post(
    `${ms.url}/user/register.xml`,
    form({ version: '1', ...ms.credentials.accountServer, name: 'alice', password: 'pw' }),
  );
  expect(registered.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await defaultServer?.close();
  await gatewayServer?.close();
  await messageServer?.close();
  await new Promise((resolve) => hooks?.close(resolve));
  await http?.close();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('inbound: a third party sends in (Table 8)', () => {
  it('a push becomes Message 12 through our message server', async () => {
    expect(await thirdParty({ userid: 'Alice', data: 'parcel at the door' })).toEqual(OK);
    const stored = await offlineFor('alice');
    expect(stored).toHaveLength(1);
    expect(stored[0]).toContain("from='gateway.as1.irsp.test'");
    expect(stored[0]).toContain('parcel at the door');
  });

  it('an exchange becomes Message 14 to an allowed application server of the AS, naming the third party', async () => {
    expect(
      await thirdParty({ userid: 'bob', data: 'invoice 42', to: 'default' }, { operation: 'exchange' }),
    ).toEqual(OK);
    expect((await received(byName('default'))).at(-1)).toEqual([
      14,
      { userid: 'bob', data: 'invoice 42', thirdparty: 'acme' },
    ]);
  });

  it('passes on the message server’s 422 for a user we do not have', async () => {
    expect(await thirdParty({ userid: 'nobody', data: 'x' })).toEqual(error(422, 'id not existed'));
  });

  it('refuses a missing or bad signature, a stale or future timestamp, a replayed nonce and an unknown appid (401)', async () => {
    const push = { userid: 'alice', data: 'x' };
    expect(await thirdParty(push, { signature: null })).toEqual(UNAUTHORIZED);
    expect(await thirdParty(push, { signature: '0'.repeat(64) })).toEqual(UNAUTHORIZED);
    expect(await thirdParty(push, { key: FAR_KEY })).toEqual(UNAUTHORIZED);
    expect(await thirdParty(push, { timestamp: nowSeconds() - 301 })).toEqual(UNAUTHORIZED);
    expect(await thirdParty(push, { timestamp: nowSeconds() + 301 })).toEqual(UNAUTHORIZED);
    const once = { nonce: newNonce(), timestamp: nowSeconds() };
    expect(await thirdParty(push, once)).toEqual(OK);
    expect(await thirdParty(push, once)).toEqual(UNAUTHORIZED);
    expect(await thirdParty({ ...push, appid: 'far' })).toEqual(UNAUTHORIZED);
    expect(await thirdParty(push, { name: 'nobody' })).toEqual(UNAUTHORIZED);
    expect(await thirdParty({ ...push, nonce: 'short' })).toEqual(UNAUTHORIZED);
    expect(await thirdParty({ ...push, timestamp: String(nowSeconds()) })).toEqual(UNAUTHORIZED);
  });

  it('refuses an address, a message or a target not allowed (403)', async () => {
    // `far` may call only from 10.0.0.0/8 and ::1; the test calls from 127.0.0.1.
    expect(await thirdParty({ userid: 'alice', data: 'x' }, { name: 'far', key: FAR_KEY })).toEqual(
      FORBIDDEN,
    );
    expect(await thirdParty({ deviceid: '#lock', data: 'x' })).toEqual(FORBIDDEN);
    expect(
      await thirdParty({ deviceid: '#lock', data: 'x', to: 'default' }, { operation: 'exchange' }),
    ).toEqual(FORBIDDEN);
    expect(await thirdParty({ userid: 'bob', data: 'x', to: 'gateway' }, { operation: 'exchange' })).toEqual(
      FORBIDDEN,
    );
    expect(await thirdParty({ userid: 'bob', data: 'x', to: 'billing' }, { operation: 'exchange' })).toEqual(
      FORBIDDEN,
    );
  });

  it('refuses missing, extra and oversized parameters (400), malformed JSON (400), a body over 512 KiB (413)', async () => {
    expect(await thirdParty({ userid: 'alice' })).toEqual(BAD_REQUEST);
    expect(await thirdParty({ userid: 'alice', data: 'x', version: undefined })).toEqual(BAD_REQUEST);
    expect(await thirdParty({ userid: 'alice', data: 'x', version: '2' })).toEqual(BAD_REQUEST);
    expect(await thirdParty({ userid: 'alice', deviceid: '#lock', data: 'x' })).toEqual(BAD_REQUEST);
    expect(await thirdParty({ userid: 'alice', data: 'x', colour: 'red' })).toEqual(BAD_REQUEST);
    expect(await thirdParty({ userid: 'al/ice', data: 'x' })).toEqual(BAD_REQUEST);
    expect(await thirdParty({ userid: 'alice', data: 'x'.repeat(65_537) })).toEqual(BAD_REQUEST);
    expect(await thirdParty({ userid: 'bob', data: 'x' }, { operation: 'exchange' })).toEqual(BAD_REQUEST);
    expect(await thirdParty({}, { raw: '{"version":"1",' })).toEqual(BAD_REQUEST);
    expect(await thirdParty({}, { raw: '' })).toEqual(BAD_REQUEST);
    expect(await thirdParty({}, { raw: `{"data":"${'x'.repeat(512 * 1024)}"}` })).toEqual(
      error(413, 'payload too large'),
    );
  });

  it('refuses another media type (415) and an unknown operation (404)', async () => {
    expect(
      await thirdParty({ userid: 'alice', data: 'x' }, { contentType: 'application/x-www-form-urlencoded' }),
    ).toEqual(error(415, 'unsupported media type'));
    expect(await thirdParty({ userid: 'alice', data: 'x' }, { operation: 'remove' })).toEqual(
      error(404, 'not found'),
    );
  });
});

describe('outbound: the gateway posts what it receives to the webhook', () => {
  const webhooks = () => delivered.filter((h) => h.path === '/hooks/irsp');

  it('Message 9 addressed to the gateway reaches the third party signed, retried until a 2xx', async () => {
    answers.push(503, 500);
    const gateway = byName('gateway');
    const upload = await http.post(
      `${gateway.url}/d`,
      form({ deviceid: '#lock1', data: 'battery 5%', ...gateway.credentials }),
    );
    expect({ status: upload.status, body: upload.body }).toEqual(OK);
    await expect.poll(() => webhooks().length, { timeout: 15_000, interval: 100 }).toBe(3);
    await expect
      .poll(async () => (await gatewayServer.context.db.query('SELECT 1 FROM gateway_outbox')).rowCount)
      .toBe(0);
    const bodies = webhooks().map((h) => JSON.parse(h.body) as Record<string, unknown>);
    for (const [i, hook] of webhooks().entries()) {
      const body = webhookSchema.parse(bodies[i]);
      const parts = {
        method: 'POST',
        path: hook.path,
        timestamp: body.timestamp,
        nonce: body.nonce,
        payload: hook.body,
      };
      expect(signatureMatches(KEY, parts, hook.signature)).toBe(true);
    }
    expect(bodies[2]).toEqual({
      version: '1',
      timestamp: expect.any(Number),
      nonce: expect.any(String),
      appid: 'gateway-as1',
      id: bodies[0]!.id,
      message: 9,
      deviceid: '#lock1',
      data: 'battery 5%',
    });
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    expect(new Set(bodies.map((b) => b.nonce)).size).toBe(3);
    expect((await received(gateway)).at(-1)).toEqual([9, { deviceid: '#lock1', data: 'battery 5%' }]);
  });

  it('Message 14 from an application server of the AS is forwarded with its sender; Message 8 is not taken', async () => {
    const before = webhooks().length;
    const gateway = byName('gateway');
    const user = await http.post(
      `${gateway.url}/u`,
      form({ userid: 'alice', data: 'not forwarded', ...gateway.credentials }),
    );
    expect(user.status).toBe(200);
    const r = await request(`${byName('default').url}/send`, {
      method: 'POST',
      dispatcher: http.agent,
      headers: { authorization: basicOf(byName('default')), 'content-type': 'application/json' },
      body: JSON.stringify({ message: 14, id: 'alice', data: 'meter 7', to: 'gateway' }),
    });
    expect({ status: r.statusCode, body: await r.body.text() }).toEqual({
      status: 200,
      body: '{"outcome":"status","status":200}',
    });
    await expect.poll(() => webhooks().length, { timeout: 10_000, interval: 100 }).toBe(before + 1);
    expect(JSON.parse(webhooks().at(-1)!.body)).toMatchObject({
      message: 14,
      userid: 'alice',
      data: 'meter 7',
      from: 'default-as1',
    });
  });

  it('a refusal that can never succeed (400) goes to gateway_dead_letters', async () => {
    answers.push(400);
    const gateway = byName('gateway');
    const upload = await http.post(
      `${gateway.url}/d`,
      form({ deviceid: '#lock1', data: 'doomed', ...gateway.credentials }),
    );
    expect(upload.status).toBe(200);
    await expect
      .poll(
        async () =>
          (
            await gatewayServer.context.db.query<{ status: number; event: { data: string } }>(
              'SELECT status, event FROM gateway_dead_letters',
            )
          ).rows,
        { timeout: 10_000, interval: 100 },
      )
      .toEqual([{ status: 400, event: { message: 9, deviceid: '#lock1', data: 'doomed' } }]);
  });
});

describe('secrets', () => {
  it('no key, token or signature reaches the log', () => {
    const text = log.lines.join('\n');
    for (const secret of [KEY, FAR_KEY, byName('gateway').credentials.token])
      expect(text).not.toContain(secret);
    expect(text).not.toMatch(/[0-9a-f]{64}/);
  });
});

/**
 * Application servers of different ASs (clause 8.6, our arrangement: docs/decisions/0006-cross-as-exchange.md):
 * Messages 14–15 signed with a key per pair of peers, refused with exact codes and bodies when the signature,
 * timestamp, nonce, peer or AS is wrong; and clause 8.7: an application server of another AS reaches our users
 * only through our application server, which pushes through our message server.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { DefaultApplication } from './support/default-app.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { trustedCa, type ApplicationServerConfig, type Topology } from '@irsp/config';
import { messageServerFromTopology, type MessageServer } from '@irsp/message-server';
import { SIGNATURE_HEADER, newNonce, nowSeconds, sign } from '@irsp/protocol';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  tempDir,
  TestClient,
  twoAsTopology,
} from './support/irsp.js';

const KEY = randomBytes(32).toString('base64url');
const OTHER_KEY = randomBytes(32).toString('base64url');
const UNAUTHORIZED = { status: 401, body: '<error><code>401</code><detail>unauthorized</detail></error>' };
const FORBIDDEN = { status: 403, body: '<error><code>403</code><detail>forbidden</detail></error>' };
const BAD_REQUEST = { status: 400, body: '<error><code>400</code><detail>bad request</detail></error>' };
const OK = { status: 200, body: '' };

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let http: TestClient;
let apps: DefaultApplication;
let messageServer1: MessageServer;
let app1: ApplicationServer;
let app2: ApplicationServer;
const log = captureLogger('irsp');

const as1 = () => topology.autonomousSystems[0]!;
const as2 = () => topology.autonomousSystems[1]!;
const default1 = () => as1().applicationServers[0]!;
const default2 = () => as2().applicationServers[0]!;

const send = (server: ApplicationServerConfig, body: object) => apps.send(server, body);
const received = (server: ApplicationServerConfig) => apps.receivedPairs(server);

interface Signed {
  key?: string;
  method?: 'POST' | 'GET';
  timestamp?: number;
  nonce?: string;
  /** Replaces the computed signature; null sends none. */
  signature?: string | null;
}

/** A Message 14/15 to AS1's peer exchange URI, signed as AS2's default application server would. */
async function toPeerExchange(fields: Record<string, string>, options: Signed = {}) {
  const timestamp = options.timestamp ?? nowSeconds();
  const nonce = options.nonce ?? newNonce();
  const encoded = form({
    appid: 'default-as2',
    as: 'as2.irsp.test',
    ...fields,
    timestamp: String(timestamp),
    nonce,
  });
  const method = options.method ?? 'POST';
  const url = new URL(`${default1().url}/peer/exchange`);
  if (method === 'GET') url.search = encoded;
  // What goes on the wire is signed: the URL serialiser percent-encodes more than the form encoder (').
  const payload = method === 'GET' ? url.search.slice(1) : encoded;
  const signature =
    options.signature === undefined
      ? sign(options.key ?? KEY, { method, path: url.pathname, timestamp, nonce, payload })
      : options.signature;
  const r = await request(url, {
    method,
    dispatcher: http.agent,
    headers: {
      ...(signature === null ? {} : { [SIGNATURE_HEADER]: signature }),
      ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(method === 'POST' ? { body: payload } : {}),
  });
  return { status: r.statusCode, body: await r.body.text() };
}

beforeAll(async () => {
  dir = await tempDir();
  const [accountServer, ms1, ms2, a1, a2] = await freePorts(5);
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: accountServer!, ms1: ms1!, ms2: ms2!, app1: a1!, app2: a2! },
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
  // AS1 pushes on what AS2 sends (clause 8.7's path); AS2 only records what AS1 sends.
  default1().peers = [peer(default2(), 'as2.irsp.test', true)];
  default2().peers = [peer(default1(), 'as1.irsp.test', false)];
  http = new TestClient(await trustedCa(topology));
  apps = new DefaultApplication(http);
  messageServer1 = await messageServerFromTopology(topology, as1(), as1().messageServers[0]!, log.logger);
  await messageServer1.listen();
  app1 = await applicationServerFromTopology(
    topology,
    as1(),
    default1(),
    log.logger.child({ service: 'app1' }),
  );
  await app1.listen();
  app2 = await applicationServerFromTopology(
    topology,
    as2(),
    default2(),
    log.logger.child({ service: 'app2' }),
  );
  await app2.listen();
  const ms = as1().messageServers[0]!;
  const registered = await http.post(
    `${ms.url}/user/register.xml`,
    form({ version: '1', ...ms.credentials.accountServer, name: 'alice', password: 'pw' }),
  );
  expect(registered.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await app2?.close();
  await app1?.close();
  await messageServer1?.close();
  await http?.close();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('Messages 14–15 between application servers of different ASs (clause 8.6)', () => {
  it('AS1 exchanges with AS2, signed; AS2 records them with the sender’s AS', async () => {
    const ok = { status: 200, body: '{"outcome":"status","status":200}' };
    expect(
      await send(default1(), {
        message: 14,
        id: 'bob',
        data: 'invoice 42',
        to: 'default',
        as: 'as2.irsp.test',
      }),
    ).toEqual(ok);
    expect(
      await send(default1(), {
        message: 15,
        id: '#meter',
        data: 'read 7',
        to: 'default',
        as: 'as2.irsp.test',
      }),
    ).toEqual(ok);
    expect(await received(default2())).toEqual([
      [14, { userid: 'bob', data: 'invoice 42', as: 'as1.irsp.test' }],
      [15, { deviceid: '#meter', data: 'read 7', as: 'as1.irsp.test' }],
    ]);
  });

  it('AS2 → AS1’s application server → AS1’s message server: Message 12 reaches the user (clause 8.7)', async () => {
    expect(
      await send(default2(), {
        message: 14,
        id: 'alice',
        data: 'door open',
        to: 'default',
        as: 'as1.irsp.test',
      }),
    ).toEqual({
      status: 200,
      body: '{"outcome":"status","status":200}',
    });
    expect((await received(default1())).at(-1)).toEqual([
      14,
      { userid: 'alice', data: 'door open', as: 'as2.irsp.test' },
    ]);
    const stored = await messageServer1.context.db.query<{ stanza: string }>(
      "SELECT stanza FROM offline_messages WHERE owner = 'alice'",
    );
    expect(stored.rows.map((r) => r.stanza)).toHaveLength(1);
    expect(stored.rows[0]!.stanza).toContain("from='default.as1.irsp.test'");
    expect(stored.rows[0]!.stanza).toContain('door open');
    // A user AS1 does not have: Table 7 has no 422, so AS1 answers 400.
    expect(
      await send(default2(), { message: 14, id: 'nobody', data: 'x', to: 'default', as: 'as1.irsp.test' }),
    ).toEqual({
      status: 502,
      body: '{"outcome":"status","status":400,"detail":"bad request"}',
    });
  });

  it('accepts a signed POST and GET (the query string is what is signed)', async () => {
    expect(await toPeerExchange({ userid: 'alice', data: 'a+b=c & ü' })).toEqual(OK);
    expect(await toPeerExchange({ userid: 'alice', data: "it's (GET)" }, { method: 'GET' })).toEqual(OK);
    expect((await received(default1())).slice(-2)).toEqual([
      [14, { userid: 'alice', data: 'a+b=c & ü', as: 'as2.irsp.test' }],
      [14, { userid: 'alice', data: "it's (GET)", as: 'as2.irsp.test' }],
    ]);
  });

  it('refuses a missing or bad signature, a stale or future timestamp and a replayed nonce (401)', async () => {
    const fields = { userid: 'alice', data: 'x' };
    expect(await toPeerExchange(fields, { signature: null })).toEqual(UNAUTHORIZED);
    expect(await toPeerExchange(fields, { signature: 'ab'.repeat(32) })).toEqual(UNAUTHORIZED);
    expect(await toPeerExchange(fields, { signature: 'not hex' })).toEqual(UNAUTHORIZED);
    expect(await toPeerExchange(fields, { key: OTHER_KEY })).toEqual(UNAUTHORIZED);
    expect(await toPeerExchange(fields, { timestamp: nowSeconds() - 301 })).toEqual(UNAUTHORIZED);
    expect(await toPeerExchange(fields, { timestamp: nowSeconds() + 301 })).toEqual(UNAUTHORIZED);
    expect(await toPeerExchange(fields, { nonce: 'short' })).toEqual(UNAUTHORIZED);
    const once = { nonce: newNonce(), timestamp: nowSeconds() };
    expect(await toPeerExchange(fields, once)).toEqual(OK);
    expect(await toPeerExchange(fields, once)).toEqual(UNAUTHORIZED);
    // A replay as GET is the same request to the nonce store.
    expect(await toPeerExchange(fields, { ...once, method: 'GET' })).toEqual(UNAUTHORIZED);
  });

  it('refuses an unknown peer (401) and a peer claiming another AS (403)', async () => {
    expect(await toPeerExchange({ userid: 'alice', data: 'x', appid: 'stranger' })).toEqual(UNAUTHORIZED);
    expect(await toPeerExchange({ userid: 'alice', data: 'x', as: 'as3.irsp.test' })).toEqual(FORBIDDEN);
    expect(await toPeerExchange({ userid: 'alice', data: 'x', as: 'as1.irsp.test' })).toEqual(FORBIDDEN);
  });

  it('refuses same-AS credentials used across ASs (401), and checks parameters only after authentication (400)', async () => {
    const own2 = default2().credentials;
    // AS2's appid and token are not callers of AS1's exchange URI…
    expect(
      await http.post(`${default1().url}/exchange`, form({ userid: 'alice', data: 'x', ...own2 })),
    ).toMatchObject(UNAUTHORIZED);
    // …nor is AS1's own token accepted on the peer exchange URI, which takes only signed requests.
    const own1 = default1().credentials;
    const unsigned = form({
      userid: 'alice',
      data: 'x',
      ...own1,
      as: 'as1.irsp.test',
      timestamp: String(nowSeconds()),
    });
    expect(await http.post(`${default1().url}/peer/exchange`, unsigned)).toMatchObject(UNAUTHORIZED);
    expect(await toPeerExchange({ userid: 'Al/ice', data: 'x' })).toEqual(BAD_REQUEST);
    expect(await toPeerExchange({ userid: 'alice', deviceid: '#x', data: 'x' })).toEqual(BAD_REQUEST);
  });

  it('POST /send refuses a peer that is not configured for that AS (400, JSON, with the reason)', async () => {
    const noPeer = {
      status: 400,
      body: '{"outcome":"refused","status":400,"reason":"to and as name no configured peer"}',
    };
    expect(
      await send(default1(), { message: 14, id: 'bob', data: 'x', to: 'default', as: 'as3.irsp.test' }),
    ).toEqual(noPeer);
    expect(
      await send(default1(), { message: 14, id: 'bob', data: 'x', to: 'billing', as: 'as2.irsp.test' }),
    ).toEqual(noPeer);
  });
});

describe('clause 8.7: no Messages 12–13 from an application server of another AS', () => {
  it("AS2's application server credentials are refused at AS1's push URI, with the exact body", async () => {
    const ms = as1().messageServers[0]!;
    const answer = await http.post(
      `${ms.url}${ms.pushUri}`,
      form({ userid: 'alice', data: 'straight in', ...default2().credentials }),
    );
    expect({ status: answer.status, body: answer.body }).toEqual(UNAUTHORIZED);
    const stored = await messageServer1.context.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM offline_messages WHERE owner = 'alice' AND stanza LIKE '%straight in%'",
    );
    expect(stored.rows[0]!.n).toBe(0);
  });
});

describe('secrets', () => {
  it('no key, token or signature reaches the log', () => {
    const text = log.lines.join('\n');
    for (const secret of [KEY, OTHER_KEY, default1().credentials.token, default2().credentials.token])
      expect(text).not.toContain(secret);
    expect(text).not.toMatch(/[0-9a-f]{64}/);
  });
});

/**
 * The message server's admin API (Messages 1–6, clause 8.2) over real HTTPS on loopback with a real database:
 * every row of Tables 1–3, for GET and POST, with the exact bytes of every answer.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword, verifyScramPassword, type ScramCredential } from '@irsp/credentials';
import { openTestDb, type Db } from '@irsp/store';
import { buildMessageServer, type MessageServer } from '@irsp/message-server';
import {
  captureLogger,
  form,
  serverTlsFor,
  tempDir,
  TestClient,
  type HttpAnswer,
} from '../../../test/support/irsp.js';

const BODY = {
  400: '<error><code>400</code><detail>bad request</detail></error>',
  401: '<error><code>401</code><detail>unauthorized</detail></error>',
  405: '<error><code>405</code><detail>method not allowed</detail></error>',
  415: '<error><code>415</code><detail>unsupported media type</detail></error>',
  421: '<error><code>421</code><detail>id existed</detail></error>',
  422: '<error><code>422</code><detail>id not existed</detail></error>',
  500: '<error><code>500</code><detail>server internal error</detail></error>',
} as const;

const credentials = {
  accountServer: { appid: 'account-server', token: 'account-server-token-0123456789' },
  toAccountServer: { appid: 'ms-as1', token: 'message-server-token-0123456789' },
};
const auth = { version: '1', appid: credentials.accountServer.appid, token: credentials.accountServer.token };

let dir: Awaited<ReturnType<typeof tempDir>>;
let db: Db;
let server: MessageServer;
let base: string;
let client: TestClient;
const log = captureLogger('message-server');

beforeAll(async () => {
  dir = await tempDir();
  const tls = await serverTlsFor(dir.path, 'ms', ['as1.irsp.test']);
  db = await openTestDb('ms');
  server = await buildMessageServer({
    domain: 'as1.irsp.test',
    config: {
      id: 'ms1',
      url: 'https://127.0.0.1:1',
      listen: { host: '127.0.0.1', port: 0 },
      pushUri: '/push',
      credentials,
    },
    accountServerUrl: 'https://127.0.0.1:1',
    db,
    logger: log.logger,
    tls,
    ca: tls.ca,
    outbox: { pollMs: 60_000 },
  });
  const { http } = await server.listen({ host: '127.0.0.1', port: 0 });
  base = `https://127.0.0.1:${http}`;
  client = new TestClient(tls.ca);
});

afterAll(async () => {
  await client?.close();
  await server?.close();
  await db?.close();
  await dir?.remove();
});

async function fetchRaw(method: string, path: string, body?: Buffer, contentType?: string) {
  const r = await request(`${base}${path}`, {
    method: method as 'POST',
    dispatcher: client.agent,
    ...(body ? { body, headers: { 'content-type': contentType ?? '' } } : {}),
  });
  return { status: r.statusCode, body: await r.body.text() };
}

type Send = (path: string, fields: Record<string, string>) => Promise<HttpAnswer>;
const methods: [string, Send][] = [
  ['GET', (path, fields) => client.get(`${base}${path}?${form(fields)}`)],
  ['POST', (path, fields) => client.post(`${base}${path}`, form(fields))],
];

async function account(local: string) {
  const r = await db.query<{
    kind: string;
    scram_sha1: ScramCredential;
    scram_sha256: ScramCredential;
    verify_code_hash: string | null;
    device_type: string | null;
    vendor: string | null;
    model: string | null;
    extra: Record<string, string>;
  }>(
    'SELECT kind, scram_sha1, scram_sha256, verify_code_hash, device_type, vendor, model, extra FROM accounts WHERE local_part = $1',
    [local],
  );
  return r.rows[0];
}

function expectStatus(answer: HttpAnswer, status: keyof typeof BODY | 200) {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status,
    body: status === 200 ? '' : BODY[status],
  });
  expect(answer.headers['content-type']).toBe('application/xml; charset=utf-8');
}

describe.each(methods)('Messages 1–6 as %s', (method, send) => {
  const user = `alice-${method.toLowerCase()}`;
  const device = `#lock-${method.toLowerCase()}`;

  it('Message 1 registers a user (200, empty body) keeping SCRAM keys, not the password', async () => {
    expectStatus(await send('/user/register.xml', { ...auth, name: user, password: 'pw & = + #1 é' }), 200);
    const row = await account(user);
    expect(row?.kind).toBe('user');
    expect(await verifyScramPassword('pw & = + #1 é', row!.scram_sha1, 'sha1')).toBe(true);
    expect(await verifyScramPassword('pw & = + #1 é', row!.scram_sha256, 'sha256')).toBe(true);
    expect(JSON.stringify(row)).not.toContain('pw & = + #1 é');
  });

  it('Message 1 again with the same name: 421 id existed', async () => {
    expectStatus(await send('/user/register.xml', { ...auth, name: user, password: 'other' }), 421);
    expectStatus(
      await send('/user/register.xml', { ...auth, name: user.toUpperCase(), password: 'other' }),
      421,
    );
  });

  it.each(['version', 'name', 'password'])('Message 1 without %s: 400', async (missing) => {
    const fields: Record<string, string> = { ...auth, name: `${user}-x`, password: 'pw' };
    delete fields[missing];
    expectStatus(await send('/user/register.xml', fields), 400);
  });

  it.each(['2', '01', '1.0', ''])('Message 1 with version=%j: 400', async (version) => {
    expectStatus(
      await send('/user/register.xml', { ...auth, version, name: `${user}-v`, password: 'pw' }),
      400,
    );
  });

  it.each([
    ['no appid', { appid: undefined }],
    ['no token', { token: undefined }],
    ['wrong token', { token: 'account-server-token-wrong' }],
    ['wrong appid', { appid: 'someone-else' }],
  ])('Message 1 with %s: 401 and nothing created', async (_label, change) => {
    const fields = Object.fromEntries(
      Object.entries({ ...auth, name: `${user}-auth`, password: 'pw', ...change }).filter(
        ([, v]) => v !== undefined,
      ),
    ) as Record<string, string>;
    expectStatus(await send('/user/register.xml', fields), 401);
    expect(await account(`${user}-auth`)).toBeUndefined();
  });

  it('Message 1 with a user name starting with #: 400', async () => {
    expectStatus(await send('/user/register.xml', { ...auth, name: '#notauser', password: 'pw' }), 400);
  });

  it('Message 2 registers a device with its optional and additional parameters', async () => {
    const fields = {
      ...auth,
      name: device,
      password: 'pw',
      verifycode: '1234',
      type: 'lock',
      vendor: 'ACME',
      model: 'L1',
      color: 'red é',
      'x.y': '&=',
    };
    expectStatus(await send('/device/register', fields), 200);
    const row = await account(device);
    expect(row).toMatchObject({
      kind: 'device',
      device_type: 'lock',
      vendor: 'ACME',
      model: 'L1',
      extra: { color: 'red é', 'x.y': '&=' },
    });
    expect(await verifyPassword('1234', row!.verify_code_hash!)).toBe(true);
  });

  it('Message 2 with a device name not starting with #: 400', async () => {
    expectStatus(await send('/device/register', { ...auth, name: 'lock', password: 'pw' }), 400);
  });

  it('Message 2 again: 421', async () => {
    expectStatus(await send('/device/register', { ...auth, name: device, password: 'pw' }), 421);
  });

  it('Message 3 changes the password; unknown user 422; missing password 400', async () => {
    expectStatus(await send('/user/modify', { ...auth, name: user, password: 'new secret' }), 200);
    expect(await verifyScramPassword('new secret', (await account(user))!.scram_sha256, 'sha256')).toBe(true);
    expectStatus(await send('/user/modify', { ...auth, name: 'nobody', password: 'x' }), 422);
    expectStatus(await send('/user/modify', { ...auth, name: user }), 400);
    expectStatus(await send('/user/modify', { ...auth, version: '2', name: user, password: 'x' }), 400);
    expectStatus(
      await send('/user/modify', { ...auth, token: 'bad-token-bad-token', name: user, password: 'x' }),
      401,
    );
  });

  it('Message 4 replaces what it carries and keeps the rest; unknown device 422', async () => {
    expectStatus(
      await send('/device/modify', { ...auth, name: device, password: 'pw2', model: 'L2', size: 'xl' }),
      200,
    );
    const row = await account(device);
    expect(row).toMatchObject({
      device_type: 'lock',
      vendor: 'ACME',
      model: 'L2',
      extra: { color: 'red é', 'x.y': '&=', size: 'xl' },
    });
    expect(await verifyPassword('1234', row!.verify_code_hash!)).toBe(true);
    expectStatus(
      await send('/device/modify', { ...auth, name: device, password: 'pw2', verifycode: '' }),
      200,
    );
    expect((await account(device))!.verify_code_hash).toBeNull();
    expectStatus(await send('/device/modify', { ...auth, name: '#ghost', password: 'x' }), 422);
    expectStatus(await send('/device/modify', { ...auth, name: 'ghost', password: 'x' }), 400);
  });

  it('Messages 5 and 6 delete; a second time 422; a user name on the device path 400', async () => {
    expectStatus(await send('/device/remove', { ...auth, name: user }), 400);
    expectStatus(await send('/user/remove', { ...auth, name: user }), 200);
    expect(await account(user)).toBeUndefined();
    expectStatus(await send('/user/remove', { ...auth, name: user }), 422);
    expectStatus(await send('/device/remove', { ...auth, name: device }), 200);
    expectStatus(await send('/device/remove', { ...auth, name: device }), 422);
    expectStatus(await send('/device/remove', { ...auth }), 400);
    expectStatus(await send('/user/remove', { ...auth, version: '3', name: 'x' }), 400);
  });
});

describe('hostile and malformed requests', () => {
  it('malformed percent-encoding and repeated parameters: 400', async () => {
    expectStatus(
      await client.get(
        `${base}/user/register.xml?version=1&appid=account-server&token=x&name=%FF&password=p`,
      ),
      400,
    );
    expectStatus(
      await client.post(
        `${base}/user/register.xml`,
        `${form({ ...auth, name: 'dup', password: 'p' })}&name=dup2`,
      ),
      400,
    );
    expect(await account('dup')).toBeUndefined();
  });

  it('a form body that is not UTF-8: 400', async () => {
    const bytes = Buffer.concat([
      Buffer.from(`${form({ ...auth, password: 'p' })}&name=`),
      Buffer.from([0xff, 0xfe]),
    ]);
    const answer = await fetchRaw('POST', '/user/register.xml', bytes, 'application/x-www-form-urlencoded');
    expect(answer).toEqual({ status: 400, body: BODY[400] });
  });

  it('HEAD on a message path: 404, not a GET without parameters', async () => {
    expect((await fetchRaw('HEAD', '/user/register.xml')).status).toBe(404);
  });

  it('a POST of text/plain carrying form syntax: 415', async () => {
    expectStatus(
      await client.post(
        `${base}/user/register.xml`,
        form({ ...auth, name: 'plain', password: 'p' }),
        'text/plain',
      ),
      415,
    );
    expect(await account('plain')).toBeUndefined();
  });

  it('a POST that is not a form: 415', async () => {
    expectStatus(
      await client.post(
        `${base}/user/register.xml`,
        JSON.stringify({ ...auth, name: 'j', password: 'p' }),
        'application/json',
      ),
      415,
    );
  });

  it('an unknown path: 404 in the same body shape', async () => {
    const answer = await client.get(`${base}/user/unknown`);
    expect(answer).toMatchObject({
      status: 404,
      body: '<error><code>404</code><detail>not found</detail></error>',
    });
  });

  it('a body over the limit: 413', async () => {
    const answer = await client.post(
      `${base}/user/register.xml`,
      form({ ...auth, name: 'big', password: 'x'.repeat(1_100_000) }),
    );
    expect(answer).toMatchObject({
      status: 413,
      body: '<error><code>413</code><detail>payload too large</detail></error>',
    });
  });

  it('secrets never reach the log, not even inside a logged URL', async () => {
    await client.get(
      `${base}/user/register.xml?${form({ ...auth, name: 'logged', password: 'hunter2-secret' })}`,
    );
    await client.get(
      `${base}/user/modify?version=1&appid=account-server&TOKEN=upper-case-token-secret&name=logged&password=another-secret-pw`,
    );
    await client.get(
      `${base}/user/register.xml?version=1&appid=a&%74oken=encoded-name-secret&name=x&password=p`,
    );
    const text = log.lines.join('\n');
    expect(text).toContain('/user/register.xml?');
    for (const secret of [
      credentials.accountServer.token,
      'hunter2-secret',
      'upper-case-token-secret',
      'another-secret-pw',
      'encoded-name-secret',
    ]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(encodeURIComponent(secret));
    }
  });
});

describe('operations', () => {
  it('serves /healthz, /readyz, /metrics and an OpenAPI description of Messages 1–6', async () => {
    expect(await client.get(`${base}/healthz`)).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect(await client.get(`${base}/readyz`)).toMatchObject({ status: 200, body: '{"status":"ready"}' });
    const metrics = await client.get(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/irsp_requests_total\{operation="userRegister",status="421"\} \d+/);
    expect(metrics.body).toMatch(/irsp_request_duration_seconds_count\{operation="deviceRegister"\} \d+/);
    const openapi = JSON.parse((await client.get(`${base}/openapi.json`)).body) as {
      paths: Record<string, object>;
    };
    expect(Object.keys(openapi.paths).sort()).toEqual([
      '/admin/accounts/{id}/relations',
      '/admin/failed-logins',
      '/admin/health',
      '/admin/outbox',
      '/admin/s2s',
      '/admin/sessions',
      '/admin/sessions/{jid}',
      '/device/modify',
      '/device/register',
      '/device/remove',
      '/push',
      '/user/modify',
      '/user/register.xml',
      '/user/remove',
    ]);
  });

  it('answers 500 without details when its database fails, for every message as GET and POST (Tables 1–3)', async () => {
    const failing = await openTestDb('msfail');
    const broken = await buildMessageServer({
      domain: 'as1.irsp.test',
      config: {
        id: 'ms1',
        url: 'https://127.0.0.1:1',
        listen: { host: '127.0.0.1', port: 0 },
        pushUri: '/push',
        credentials,
      },
      accountServerUrl: 'https://127.0.0.1:1',
      db: failing,
      logger: captureLogger().logger,
      ca: 'unused: this server sends nothing',
    });
    await failing.close();
    const requests: [string, Record<string, string>][] = [
      ['/user/register.xml', { ...auth, name: 'z', password: 'p' }],
      ['/device/register', { ...auth, name: '#z', password: 'p' }],
      ['/user/modify', { ...auth, name: 'z', password: 'p' }],
      ['/device/modify', { ...auth, name: '#z', password: 'p' }],
      ['/user/remove', { ...auth, name: 'z' }],
      ['/device/remove', { ...auth, name: '#z' }],
    ];
    for (const [url, fields] of requests) {
      const viaPost = await broken.app.inject({
        method: 'POST',
        url,
        payload: form(fields),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      const viaGet = await broken.app.inject({ method: 'GET', url: `${url}?${form(fields)}` });
      for (const answer of [viaPost, viaGet]) {
        expect({ url, status: answer.statusCode, body: answer.body }).toEqual({
          url,
          status: 500,
          body: BODY[500],
        });
      }
    }
    await broken.close();
  });
});

/**
 * The account lifecycle across the account server and the message servers of two ASs (clause 7.1, 8.2):
 * client account API → Messages 1–6 → Tables 1–3, Message 7 back, and what happens when a message server
 * is down, refuses, or has drifted from the account server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword, verifyScramPassword, type ScramCredential } from '@irsp/credentials';
import { accountServerFromTopology, reconcileOnce, type AccountServer } from '@irsp/account-server';
import { messageServerFromTopology, resetVerifyCode, type MessageServer } from '@irsp/message-server';
import { trustedCa, type Topology } from '@irsp/config';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  tempDir,
  TestClient,
  twoAsTopology,
  type HttpAnswer,
} from './support/irsp.js';

const BODY = {
  400: '<error><code>400</code><detail>bad request</detail></error>',
  401: '<error><code>401</code><detail>unauthorized</detail></error>',
  403: '<error><code>403</code><detail>forbidden</detail></error>',
  405: '<error><code>405</code><detail>method not allowed</detail></error>',
  421: '<error><code>421</code><detail>id existed</detail></error>',
  422: '<error><code>422</code><detail>id not existed</detail></error>',
  500: '<error><code>500</code><detail>server internal error</detail></error>',
} as const;

function expectStatus(answer: HttpAnswer, status: keyof typeof BODY | 200) {
  expect({ status: answer.status, body: answer.body }).toEqual({
    status,
    body: status === 200 ? '' : BODY[status],
  });
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let accountServer: AccountServer;
const messageServers = new Map<string, MessageServer>();
let client: TestClient;
let base: string;
const log = captureLogger('irsp');

async function startMessageServer(domain: string): Promise<MessageServer> {
  const as = topology.autonomousSystems.find((a) => a.domain === domain)!;
  const server = await messageServerFromTopology(
    topology,
    as,
    as.messageServers[0]!,
    log.logger.child({ domain }),
  );
  await server.listen();
  messageServers.set(domain, server);
  return server;
}

async function stopMessageServer(domain: string): Promise<void> {
  await messageServers.get(domain)?.close();
  messageServers.delete(domain);
}

async function startAccountServer(): Promise<void> {
  accountServer = await accountServerFromTopology(topology, log.logger.child({ service: 'account-server' }));
  await accountServer.listen(topology.accountServer.listen);
}

const ms = (domain: string) => messageServers.get(domain)!;

async function msAccount(domain: string, local: string) {
  const r = await ms(domain).context.db.query<{
    scram_sha256: ScramCredential;
    extra: Record<string, string>;
    vendor: string | null;
  }>('SELECT scram_sha256, extra, vendor FROM accounts WHERE local_part = $1', [local]);
  return r.rows[0];
}

async function asAccount(local: string) {
  const r = await accountServer.context.db.query<{
    state: string;
    domain: string;
    verify_code_hash: string | null;
    password_hash: string;
  }>('SELECT state, domain, verify_code_hash, password_hash FROM accounts WHERE local_part = $1', [local]);
  return r.rows[0];
}

const call = (path: string, fields: Record<string, string>) => client.post(`${base}${path}`, form(fields));

beforeAll(async () => {
  dir = await tempDir();
  const [accountServerPort, ms1, ms2, app1, app2] = await freePorts(5);
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: accountServerPort!, ms1: ms1!, ms2: ms2!, app1: app1!, app2: app2! },
    requestTimeoutMs: 3_000,
  });
  await startAccountServer();
  await startMessageServer('as1.irsp.test');
  await startMessageServer('as2.irsp.test');
  client = new TestClient(await trustedCa(topology));
  base = topology.accountServer.url;
});

afterAll(async () => {
  await client?.close();
  for (const domain of [...messageServers.keys()]) await stopMessageServer(domain);
  await accountServer?.close();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('operations', () => {
  it('the account server describes the client API, Message 7 and its admin API in OpenAPI, and counts them in /metrics', async () => {
    const openapi = JSON.parse((await client.get(`${base}/openapi.json`)).body) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    expect(
      Object.fromEntries(
        Object.entries(openapi.paths).map(([path, item]) => [path, Object.keys(item).sort()]),
      ),
    ).toEqual({
      '/user/register.xml': ['post'],
      '/device/register': ['post'],
      '/user/modify': ['post'],
      '/device/modify': ['post'],
      '/user/remove': ['post'],
      '/device/remove': ['post'],
      '/modifyVerifyCode.xml': ['get', 'post'],
      // The operators' admin API (docs/protocol.md "The admin API").
      '/admin/health': ['get'],
      '/admin/accounts': ['get'],
      '/admin/accounts/{id}': ['delete', 'get'],
      '/admin/failed-logins': ['get'],
      // What the operator console shows, in one call.
      '/admin/console': ['get'],
    });
    await call('/user/register.xml', { userid: 'metrics@as9.irsp.test', password: 'x' });
    expect((await client.get(`${base}/metrics`)).body).toMatch(
      /irsp_requests_total\{operation="clientUserRegister",status="400"\} 1/,
    );
  });
});

describe('registration (client API → Message 1/2, Table 1)', () => {
  it('registers a user in AS1: the account server and the message server of AS1 both have it', async () => {
    expectStatus(
      await call('/user/register.xml', { userid: 'alice@as1.irsp.test', password: 'alice pw #1' }),
      200,
    );
    expect(await asAccount('alice')).toMatchObject({ state: 'active', domain: 'as1.irsp.test' });
    expect(
      await verifyScramPassword(
        'alice pw #1',
        (await msAccount('as1.irsp.test', 'alice'))!.scram_sha256,
        'sha256',
      ),
    ).toBe(true);
    expect(await msAccount('as2.irsp.test', 'alice')).toBeUndefined();
  });

  it('refuses the same local part in the other AS (global uniqueness, clause 7.1 b): 421', async () => {
    expectStatus(await call('/user/register.xml', { userid: 'alice@as2.irsp.test', password: 'x' }), 421);
    expectStatus(await call('/user/register.xml', { userid: 'ALICE@as1.irsp.test', password: 'x' }), 421);
    expect(await msAccount('as2.irsp.test', 'alice')).toBeUndefined();
  });

  it('registers a #device in AS2 with its information and additional parameters carried to the message server', async () => {
    const answer = await call('/device/register', {
      deviceid: '#lock1@as2.irsp.test',
      password: 'lock pw',
      verifycode: 'vc-2468-zero',
      type: 'smartlock',
      vendor: 'ACME & Sons',
      model: 'L1',
      firmware: '1.2.3',
    });
    expectStatus(answer, 200);
    expect(await msAccount('as2.irsp.test', '#lock1')).toMatchObject({
      vendor: 'ACME & Sons',
      extra: { firmware: '1.2.3' },
    });
    expect(await verifyPassword('vc-2468-zero', (await asAccount('#lock1'))!.verify_code_hash!)).toBe(true);
  });

  it.each([
    ['unknown domain', '/user/register.xml', { userid: 'bob@as9.irsp.test', password: 'x' }],
    ['no domain', '/user/register.xml', { userid: 'bob', password: 'x' }],
    ['missing password', '/user/register.xml', { userid: 'bob@as1.irsp.test' }],
    ['user ID with #', '/user/register.xml', { userid: '#bob@as1.irsp.test', password: 'x' }],
    ['device ID without #', '/device/register', { deviceid: 'lock9@as1.irsp.test', password: 'x' }],
    ['forbidden character', '/user/register.xml', { userid: 'b<b@as1.irsp.test', password: 'x' }],
  ])('%s: 400', async (_label, path, fields) => {
    expectStatus(await call(path, fields), 400);
  });

  it('takes POST only: GET (secrets in the URL) is 405', async () => {
    const answer = await client.get(
      `${base}/user/register.xml?${form({ userid: 'g@as1.irsp.test', password: 'x' })}`,
    );
    expect(answer).toMatchObject({ status: 405, body: BODY[405] });
    expect(answer.headers.allow).toBe('POST');
  });
});

describe('modification and removal (Messages 3–6, Tables 2–3)', () => {
  it('changes a password on both sides; the old one stops working', async () => {
    expectStatus(
      await call('/user/modify', { userid: 'alice@as1.irsp.test', password: 'wrong', newpassword: 'n' }),
      401,
    );
    expectStatus(
      await call('/user/modify', {
        userid: 'alice@as1.irsp.test',
        password: 'alice pw #1',
        newpassword: 'alice pw #2',
      }),
      200,
    );
    expect(
      await verifyScramPassword(
        'alice pw #2',
        (await msAccount('as1.irsp.test', 'alice'))!.scram_sha256,
        'sha256',
      ),
    ).toBe(true);
    expectStatus(
      await call('/user/modify', {
        userid: 'alice@as1.irsp.test',
        password: 'alice pw #1',
        newpassword: 'x',
      }),
      401,
    );
    expectStatus(
      await call('/user/modify', { userid: 'nobody@as1.irsp.test', password: 'x', newpassword: 'y' }),
      422,
    );
    expectStatus(
      await call('/user/modify', {
        userid: 'alice@as2.irsp.test',
        password: 'alice pw #2',
        newpassword: 'y',
      }),
      422,
    );
  });

  it('changes device information, keeping the additional parameters it registered with', async () => {
    expectStatus(
      await call('/device/modify', {
        deviceid: '#lock1@as2.irsp.test',
        password: 'lock pw',
        model: 'L2',
        colour: 'red',
      }),
      200,
    );
    expect(await msAccount('as2.irsp.test', '#lock1')).toMatchObject({
      vendor: 'ACME & Sons',
      extra: { firmware: '1.2.3', colour: 'red' },
    });
  });

  it('removes accounts on both sides; a wrong password 401, unknown 422', async () => {
    expectStatus(await call('/device/register', { deviceid: '#gone@as1.irsp.test', password: 'p' }), 200);
    expectStatus(await call('/device/remove', { deviceid: '#gone@as1.irsp.test', password: 'bad' }), 401);
    expectStatus(await call('/device/remove', { deviceid: '#gone@as1.irsp.test', password: 'p' }), 200);
    expect(await asAccount('#gone')).toBeUndefined();
    expect(await msAccount('as1.irsp.test', '#gone')).toBeUndefined();
    expectStatus(await call('/device/remove', { deviceid: '#gone@as1.irsp.test', password: 'p' }), 422);
    // The local part is free again, in any AS.
    expectStatus(await call('/device/register', { deviceid: '#gone@as2.irsp.test', password: 'p' }), 200);
  });
});

describe('consistency when a message server fails or drifts', () => {
  it('message server down during registration: 500, no usable account, and a retry succeeds', async () => {
    await stopMessageServer('as1.irsp.test');
    expectStatus(await call('/user/register.xml', { userid: 'bob@as1.irsp.test', password: 'bob pw' }), 500);
    expect((await asAccount('bob'))?.state).toBe('pending');
    // Pending is not an account: it cannot be used, and the local part stays reserved for the retry.
    expectStatus(
      await call('/user/modify', { userid: 'bob@as1.irsp.test', password: 'bob pw', newpassword: 'x' }),
      422,
    );
    expectStatus(await call('/user/register.xml', { userid: 'bob@as2.irsp.test', password: 'other' }), 421);
    await startMessageServer('as1.irsp.test');
    expectStatus(await call('/user/register.xml', { userid: 'bob@as1.irsp.test', password: 'bob pw' }), 200);
    expect((await asAccount('bob'))?.state).toBe('active');
    expect(
      await verifyScramPassword('bob pw', (await msAccount('as1.irsp.test', 'bob'))!.scram_sha256, 'sha256'),
    ).toBe(true);
  });

  it('an abandoned registration is settled by the reconciler once the message server is back', async () => {
    await stopMessageServer('as1.irsp.test');
    expectStatus(await call('/user/register.xml', { userid: 'carol@as1.irsp.test', password: 'first' }), 500);
    await startMessageServer('as1.irsp.test');
    expect(await reconcileOnce(accountServer.context, 0)).toBe(1);
    expect(await asAccount('carol')).toBeUndefined();
    expect(await msAccount('as1.irsp.test', 'carol')).toBeUndefined();
    expectStatus(
      await call('/user/register.xml', { userid: 'carol@as1.irsp.test', password: 'second' }),
      200,
    );
  });

  it('removal with the message server down: 500, then finished by a retry', async () => {
    await stopMessageServer('as1.irsp.test');
    expectStatus(await call('/user/remove', { userid: 'carol@as1.irsp.test', password: 'second' }), 500);
    expect((await asAccount('carol'))?.state).toBe('removing');
    await startMessageServer('as1.irsp.test');
    expectStatus(await call('/user/remove', { userid: 'carol@as1.irsp.test', password: 'second' }), 200);
    expect(await asAccount('carol')).toBeUndefined();
    expect(await msAccount('as1.irsp.test', 'carol')).toBeUndefined();
  });

  it('an account the message server has but the account server does not: 421 and a recorded divergence', async () => {
    const msConfig = topology.autonomousSystems[0]!.messageServers[0]!;
    const direct = await client.post(
      `${msConfig.url}/user/register.xml`,
      form({ version: '1', ...msConfig.credentials.accountServer, name: 'orphan', password: 'p' }),
    );
    expectStatus(direct, 200);
    expectStatus(await call('/user/register.xml', { userid: 'orphan@as1.irsp.test', password: 'p' }), 421);
    expect(await asAccount('orphan')).toBeUndefined();
    const divergences = await accountServer.context.db.query<{ detail: string }>(
      'SELECT detail FROM divergences WHERE local_part = $1',
      ['orphan'],
    );
    expect(divergences.rows).toEqual([
      { detail: 'message server holds an account the account server does not know' },
    ]);
  });

  it('an account the message server lost is created again on the next modification', async () => {
    expectStatus(await call('/user/register.xml', { userid: 'dave@as1.irsp.test', password: 'd1' }), 200);
    await ms('as1.irsp.test').context.db.query('DELETE FROM accounts WHERE local_part = $1', ['dave']);
    expectStatus(
      await call('/user/modify', { userid: 'dave@as1.irsp.test', password: 'd1', newpassword: 'd2' }),
      200,
    );
    expect(
      await verifyScramPassword('d2', (await msAccount('as1.irsp.test', 'dave'))!.scram_sha256, 'sha256'),
    ).toBe(true);
  });
});

describe('Message 7: verification code reset (clause 8.2.4, Table 4)', () => {
  const m7 = (
    fields: Record<string, string>,
    credentials = topology.autonomousSystems[1]!.messageServers[0]!.credentials.toAccountServer,
  ) => ({ ...credentials, ...fields });

  it('a reset at the message server of AS2 reaches the account server', async () => {
    expect(
      await resetVerifyCode(
        ms('as2.irsp.test').context.db,
        ms('as2.irsp.test').context.outbox,
        '#lock1',
        'vc-1357-one',
      ),
    ).toBe(200);
    await expect
      .poll(async () => verifyPassword('vc-1357-one', (await asAccount('#lock1'))!.verify_code_hash ?? ''), {
        timeout: 10_000,
      })
      .toBe(true);
    expect(
      await resetVerifyCode(
        ms('as2.irsp.test').context.db,
        ms('as2.irsp.test').context.outbox,
        '#nolock',
        '1',
      ),
    ).toBe(422);
  });

  it('is retried until the account server answers, across its downtime', async () => {
    await accountServer.close();
    const server = ms('as2.irsp.test');
    expect(await resetVerifyCode(server.context.db, server.context.outbox, '#lock1', 'vc-8642-two')).toBe(
      200,
    );
    await expect
      .poll(
        async () =>
          (await server.context.db.query<{ attempts: number }>('SELECT attempts FROM outbox')).rows[0]
            ?.attempts ?? 0,
        { timeout: 10_000 },
      )
      .toBeGreaterThanOrEqual(1);
    await startAccountServer();
    await expect
      .poll(async () => verifyPassword('vc-8642-two', (await asAccount('#lock1'))!.verify_code_hash ?? ''), {
        timeout: 20_000,
      })
      .toBe(true);
    // The account server stores the code before its 200 reaches the outbox, which then deletes the row.
    await expect.poll(async () => (await server.context.db.query('SELECT id FROM outbox')).rows).toEqual([]);
  });

  it.each(['GET', 'POST'])('Table 4 as %s: 200 (empty code), 400, 401, 403, 422', async (method) => {
    const send = (fields: Record<string, string>) =>
      method === 'GET'
        ? client.get(`${base}/modifyVerifyCode.xml?${form(fields)}`)
        : client.post(`${base}/modifyVerifyCode.xml`, form(fields));
    expectStatus(await send(m7({ deviceid: '#lock1', verifycode: '' })), 200);
    expect((await asAccount('#lock1'))!.verify_code_hash).toBeNull();
    expectStatus(await send(m7({ deviceid: '#lock1' })), 400);
    expectStatus(await send(m7({ deviceid: 'lock1', verifycode: '1' })), 400);
    expectStatus(
      await send(
        m7(
          { deviceid: '#lock1', verifycode: '1' },
          { appid: 'message-server-as2', token: 'not-the-token-at-all' },
        ),
      ),
      401,
    );
    expectStatus(await send({ deviceid: '#lock1', verifycode: '1' }), 401);
    expectStatus(await send(m7({ deviceid: '#nothere', verifycode: '1' })), 422);
    // A device of AS2 (#gone) reset by the message server of AS1.
    expectStatus(
      await send(
        m7(
          { deviceid: '#gone', verifycode: '1' },
          topology.autonomousSystems[0]!.messageServers[0]!.credentials.toAccountServer,
        ),
      ),
      403,
    );
  });

  it('no password, token or verification code in any log line', async () => {
    const text = log.lines.join('\n');
    for (const secret of [
      'alice pw #1',
      'alice pw #2',
      'lock pw',
      'vc-2468-zero',
      'vc-1357-one',
      'vc-8642-two',
      'bob pw',
    ]) {
      expect(text).not.toContain(secret);
    }
    for (const as of topology.autonomousSystems) {
      for (const m of as.messageServers) {
        expect(text).not.toContain(m.credentials.accountServer.token);
        expect(text).not.toContain(m.credentials.toAccountServer.token);
      }
    }
  });
});

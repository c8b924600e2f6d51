/**
 * The account server's admin API (docs/protocol.md "The admin API"): every call refused without an operator's
 * credentials (clause 8's 401 body, IRSP-Reason, WWW-Authenticate), and what each answers with them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAccountServer, type AccountServer } from '@irsp/account-server';
import { hashPassword, operatorAuthorization } from '@irsp/credentials';
import { ACCOUNT_SERVER_ADMIN_CALLS, adminUrl } from '@irsp/protocol';
import { openTestDb, type Db } from '@irsp/store';
import { captureLogger, form } from '../../../test/support/irsp.js';

const BASE = 'https://account.irsp.test';
const OPERATOR = { name: 'ops', password: 'operator password 1' };
const AUTH = { authorization: operatorAuthorization(OPERATOR.name, OPERATOR.password) };
const UNAUTHORIZED = '<error><code>401</code><detail>unauthorized</detail></error>';

let db: Db;
let server: AccountServer;

beforeAll(async () => {
  db = await openTestDb('opadmin');
  server = await buildAccountServer({
    autonomousSystems: [
      {
        domain: 'as1.irsp.test',
        messageServers: [
          {
            id: 'ms1',
            url: 'https://127.0.0.1:1',
            listen: { host: '127.0.0.1', port: 0 },
            pushUri: '/push',
            credentials: {
              accountServer: { appid: 'acc', token: 'account-server-token-0123456789' },
              toAccountServer: { appid: 'ms', token: 'message-server-token-0123456789' },
            },
          },
        ],
        applicationServers: [],
      },
    ],
    db,
    logger: captureLogger('account-server').logger,
    ca: 'unused: nothing is sent',
    operators: [{ name: OPERATOR.name, passwordHash: await hashPassword(OPERATOR.password) }],
  });
  const hash = await hashPassword('alice password');
  await db.query(
    `INSERT INTO accounts (local_part, kind, domain, state, password_hash, created_at) VALUES
       ('alice', 'user', 'as1.irsp.test', 'active', $1, '2026-01-01T00:00:00Z'),
       ('a_b', 'user', 'as1.irsp.test', 'pending', $1, '2026-01-02T00:00:00Z')`,
    [hash],
  );
  await db.query(
    `INSERT INTO accounts (local_part, kind, domain, state, password_hash, device_type, vendor, model, created_at)
     VALUES ('#lock1', 'device', 'as1.irsp.test', 'active', $1, 'lock', 'acme', 'l1', '2026-01-03T00:00:00Z')`,
    [hash],
  );
});

afterAll(async () => {
  await server?.close();
  await db?.close();
});

async function get(
  url: string,
  headers: Record<string, string> = AUTH,
  method: 'GET' | 'DELETE' = 'GET',
  remoteAddress = '127.0.0.1',
) {
  const answer = await server.app.inject({ method, url, headers, remoteAddress });
  return { status: answer.statusCode, body: answer.body, headers: answer.headers };
}

const path = (url: string) => url.slice(BASE.length);

describe('without an operator, every admin call is refused', () => {
  const wrong = [
    ['no Authorization', {}],
    ['a wrong password', { authorization: operatorAuthorization(OPERATOR.name, 'not the password') }],
    ['an unknown operator', { authorization: operatorAuthorization('nobody', OPERATOR.password) }],
    ['a bearer token', { authorization: 'Bearer abc' }],
    ['Basic without a colon', { authorization: `Basic ${Buffer.from('ops').toString('base64')}` }],
  ] as const;
  for (const [i, call] of ACCOUNT_SERVER_ADMIN_CALLS.entries()) {
    it.each(wrong)(`${call.name}: %s → 401`, async (_what, headers) => {
      // From an address per call: the throttle (below) holds an address after six failures.
      const url = path(adminUrl(call, BASE, { id: 'alice@as1.irsp.test' }));
      const answer = await get(url, headers, call.method, `198.51.100.${i}`);
      expect(answer.status).toBe(401);
      expect(answer.body).toBe(UNAUTHORIZED);
      expect(answer.headers['irsp-reason']).toBe(
        'operator credentials (HTTP Basic name:password) missing or not accepted',
      );
      expect(answer.headers['www-authenticate']).toBe('Basic realm="irsp"');
    });
  }
});

describe('the guessing throttle (decision 0010)', () => {
  it('holds an address after six failed operator logins: 429 with Retry-After, even with the right password', async () => {
    const wrong = { authorization: operatorAuthorization(OPERATOR.name, 'not the password') };
    // Five failures are free (guessing.passwords.backoff.freeFailures); the sixth starts the back-off.
    for (let n = 0; n < 6; n++)
      expect((await get('/admin/health', wrong, 'GET', '203.0.113.9')).status).toBe(401);
    const held = await get('/admin/health', AUTH, 'GET', '203.0.113.9');
    expect(held.status).toBe(429);
    expect(held.body).toBe('<error><code>429</code><detail>too many requests</detail></error>');
    expect(held.headers['retry-after']).toBe('1');
    expect(held.headers['irsp-reason']).toBe('too many failed operator logins');
    // Another address is not held.
    expect((await get('/admin/health', AUTH, 'GET', '203.0.113.10')).status).toBe(200);
  });
});

describe('with an operator', () => {
  it('health', async () => {
    const answer = await get('/admin/health');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ service: 'account-server', ready: true, uptimeSeconds: 0 });
  });

  it('lists accounts oldest first, searches by a substring of the ID, and limits', async () => {
    const all = await get('/admin/accounts');
    expect(all.status).toBe(200);
    expect(JSON.parse(all.body)).toEqual({
      accounts: [
        { id: 'alice@as1.irsp.test', kind: 'user', state: 'active', createdAt: '2026-01-01T00:00:00.000Z' },
        { id: 'a_b@as1.irsp.test', kind: 'user', state: 'pending', createdAt: '2026-01-02T00:00:00.000Z' },
        {
          id: '#lock1@as1.irsp.test',
          kind: 'device',
          state: 'active',
          createdAt: '2026-01-03T00:00:00.000Z',
        },
      ],
    });
    const lock = JSON.parse(
      (await get(path(adminUrl(ACCOUNT_SERVER_ADMIN_CALLS[1], BASE, {}, { search: '#LOCK' })))).body,
    );
    expect(lock.accounts.map((a: { id: string }) => a.id)).toEqual(['#lock1@as1.irsp.test']);
    // `_` and `%` are what they are, not LIKE's wildcards.
    const underscore = JSON.parse((await get('/admin/accounts?search=a_')).body);
    expect(underscore.accounts.map((a: { id: string }) => a.id)).toEqual(['a_b@as1.irsp.test']);
    expect(JSON.parse((await get('/admin/accounts?search=%25')).body)).toEqual({ accounts: [] });
    const one = JSON.parse((await get('/admin/accounts?limit=1')).body);
    expect(one.accounts).toHaveLength(1);
  });

  it.each([
    ['limit=0', 'limit: Too small: expected number to be >=1'],
    ['limit=x', 'limit: Invalid input: expected number, received NaN'],
    [`search=${'x'.repeat(201)}`, 'search: Too big: expected string to have <=200 characters'],
  ])('refuses a bad query (%s) with 400 and why', async (query, reason) => {
    const answer = await get(`/admin/accounts?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.body).toBe('<error><code>400</code><detail>bad request</detail></error>');
    expect(answer.headers['irsp-reason']).toBe(reason);
  });

  it('shows one account, a device ID percent-encoded', async () => {
    const answer = await get(
      path(adminUrl(ACCOUNT_SERVER_ADMIN_CALLS[2], BASE, { id: '#Lock1@as1.irsp.test' })),
    );
    expect(answer.status).toBe(200);
    const { account } = JSON.parse(answer.body);
    expect(account).toEqual({
      id: '#lock1@as1.irsp.test',
      kind: 'device',
      state: 'active',
      domain: 'as1.irsp.test',
      type: 'lock',
      vendor: 'acme',
      model: 'l1',
      createdAt: '2026-01-03T00:00:00.000Z',
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  it('answers 404 for an account that does not exist, 400 for an ID that cannot be', async () => {
    const missing = await get('/admin/accounts/bob%40as1.irsp.test');
    expect(missing.status).toBe(404);
    expect(missing.body).toBe('<error><code>404</code><detail>not found</detail></error>');
    expect(missing.headers['irsp-reason']).toBe('no such account');
    const bad = await get('/admin/accounts/no-domain');
    expect(bad.status).toBe(400);
    expect(bad.headers['irsp-reason']).toMatch(/^id: /);
  });

  it('removes an account: 500 while its message server does not confirm (it stays removing), 404 when unknown', async () => {
    await db.query(
      `INSERT INTO accounts (local_part, kind, domain, state, password_hash) VALUES ('carol', 'user', 'as1.irsp.test', 'active', 'x')`,
    );
    const url = '/admin/accounts/carol%40as1.irsp.test';
    const unconfirmed = await get(url, AUTH, 'DELETE');
    expect(unconfirmed.status).toBe(500);
    expect(unconfirmed.body).toBe('<error><code>500</code><detail>server internal error</detail></error>');
    expect(unconfirmed.headers['irsp-reason']).toBe(
      'removal not confirmed by the message server: the reconciler finishes it',
    );
    expect((await db.query(`SELECT state FROM accounts WHERE local_part = 'carol'`)).rows).toEqual([
      { state: 'removing' },
    ]);
    const unknown = await get('/admin/accounts/nobody%40as1.irsp.test', AUTH, 'DELETE');
    expect(unknown.status).toBe(404);
    expect(unknown.headers['irsp-reason']).toBe('no such account');
  });

  it('lists failed password checks, newest first', async () => {
    const refused = await server.app.inject({
      method: 'POST',
      url: '/user/remove',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: form({ userid: 'alice@as1.irsp.test', password: 'wrong password' }),
      remoteAddress: '192.0.2.7',
    });
    expect(refused.statusCode).toBe(401);
    const answer = await get('/admin/failed-logins');
    expect(answer.status).toBe(200);
    const failures = (JSON.parse(answer.body) as { failures: { scope: string }[] }).failures.filter(
      (f) => f.scope === 'password',
    );
    expect(failures).toHaveLength(1);
    // The target is the local part: local parts are unique across ASs (clause 7.1 b).
    expect(failures).toEqual([
      { scope: 'password', target: 'alice', source: '192.0.2.7', at: expect.stringMatching(/^\d{4}-/) },
    ]);
  });

  it('describes every admin call in the OpenAPI document, with operator security', async () => {
    const doc = JSON.parse((await get('/openapi.json', {})).body);
    expect(doc.components.securitySchemes.operator).toEqual({ type: 'http', scheme: 'basic' });
    const served = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>)
      .flatMap((item) => Object.values(item).map((o) => o.operationId))
      .filter((id) => id.startsWith('admin'));
    expect(served.sort()).toEqual(ACCOUNT_SERVER_ADMIN_CALLS.map((c) => c.name).sort());
    for (const call of ACCOUNT_SERVER_ADMIN_CALLS) {
      const operation = doc.paths[call.path][call.method.toLowerCase()];
      expect(operation.operationId).toBe(call.name);
      expect(operation.security).toEqual([{ operator: [] }]);
      expect(operation.responses['401'].content['application/xml; charset=utf-8'].example).toBe(UNAUTHORIZED);
    }
  });
});

/**
 * A message server's admin API over HTTPS (docs/protocol.md "The admin API"): every call refused without an
 * operator, and with one: health, an account's relationships, devices and sessions, the sessions held and ending
 * one, the outbox's backlog, failed logins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@xmpp/client';
import { guessingSchema } from '@irsp/config';
import { hashPassword, operatorAuthorization } from '@irsp/credentials';
import { MESSAGE_SERVER_ADMIN_CALLS, adminAccountRelations, adminKick, adminUrl } from '@irsp/protocol';
import { request } from 'undici';
import { xmppLogin } from '../../../test/support/xmpp.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';

const OPERATOR = { name: 'ops', password: 'operator password 1' };
const AUTH = { authorization: operatorAuthorization(OPERATOR.name, OPERATOR.password) };
const UNAUTHORIZED = '<error><code>401</code><detail>unauthorized</detail></error>';
const NOT_FOUND = '<error><code>404</code><detail>not found</detail></error>';

let fx: XmppFixture;
let alice: Client;

beforeAll(async () => {
  fx = await startXmppMessageServer({
    // Every refusal below comes from 127.0.0.1: more failures than the throttle lets one address make for free.
    guessing: guessingSchema.parse({ passwords: { backoff: { freeFailures: 100 } } }),
    operators: [{ name: OPERATOR.name, passwordHash: await hashPassword(OPERATOR.password) }],
  });
  await fx.register('alice', 'alice pw');
  await fx.register('#lock1', 'lock pw');
  await fx.db.query(
    `INSERT INTO roster (owner, contact, subscription) VALUES ('alice', 'bob@as2.irsp.test', 'both')`,
  );
  await fx.db.query(`INSERT INTO device_owners (device, owner) VALUES ('#lock1', 'alice@as1.irsp.test')`);
  await fx.db.query(`INSERT INTO access_rights (device, user_jid) VALUES ('#lock1', 'carol@as1.irsp.test')`);
  alice = await xmppLogin({
    port: fx.c2sPort,
    domain: fx.domain,
    username: 'alice',
    password: 'alice pw',
    resource: 'phone',
  });
});

afterAll(async () => {
  await alice?.stop().catch(() => undefined);
  await fx?.close();
});

async function call(method: 'GET' | 'DELETE', url: string, headers: Record<string, string> = AUTH) {
  const r = await request(url, { method, headers, dispatcher: fx.http.agent });
  return { status: r.statusCode, body: await r.body.text(), headers: r.headers };
}

describe('without an operator, every admin call is refused', () => {
  for (const c of MESSAGE_SERVER_ADMIN_CALLS) {
    it(`${c.name} → 401`, async () => {
      const url = adminUrl(c, fx.base, { id: 'alice@as1.irsp.test', jid: 'alice@as1.irsp.test/phone' });
      const refusedHeaders: Record<string, string>[] = [
        {},
        { authorization: operatorAuthorization('ops', 'wrong') },
      ];
      for (const headers of refusedHeaders) {
        const answer = await call(c.method, url, headers);
        expect(answer.status).toBe(401);
        expect(answer.body).toBe(UNAUTHORIZED);
        expect(answer.headers['www-authenticate']).toBe('Basic realm="irsp"');
        expect(answer.headers['irsp-reason']).toBe(
          'operator credentials (HTTP Basic name:password) missing or not accepted',
        );
      }
    });
  }

  it('every admin call is in the OpenAPI document, with operator security', async () => {
    const doc = JSON.parse((await call('GET', `${fx.base}/openapi.json`, {})).body) as {
      paths: Record<string, Record<string, { operationId: string; security?: unknown }>>;
    };
    const admin = Object.values(doc.paths)
      .flatMap((item) => Object.values(item))
      .filter((o) => o.operationId.startsWith('admin'));
    expect(admin.map((o) => o.operationId).sort()).toEqual(
      MESSAGE_SERVER_ADMIN_CALLS.map((c) => c.name).sort(),
    );
    for (const o of admin) expect(o.security).toEqual([{ operator: [] }]);
  });

  it('an unauthorised kick leaves the session alone', async () => {
    const answer = await call(
      'DELETE',
      adminUrl(adminKick, fx.base, { jid: 'alice@as1.irsp.test/phone' }),
      {},
    );
    expect(answer.status).toBe(401);
    expect(fx.server.context.router.sessions.resource('alice', 'phone')).toBeDefined();
  });
});

describe('with an operator', () => {
  it('health', async () => {
    const answer = await call('GET', `${fx.base}/admin/health`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      service: 'message-server',
      domain: 'as1.irsp.test',
      messageServer: 'ms1',
      ready: true,
      uptimeSeconds: expect.any(Number),
    });
  });

  it("shows a user's relationships, devices and sessions, and a device's owner and access rights", async () => {
    const user = await call('GET', adminUrl(adminAccountRelations, fx.base, { id: 'alice@as1.irsp.test' }));
    expect(user.status).toBe(200);
    expect(JSON.parse(user.body)).toEqual({
      id: 'alice@as1.irsp.test',
      relationships: [{ contact: 'bob@as2.irsp.test', subscription: 'both', ask: false }],
      devices: [{ id: '#lock1@as1.irsp.test', since: expect.stringMatching(/^\d{4}-/) }],
      owner: null,
      accessRights: [],
      sessions: [{ resource: 'phone', messageServer: 'ms1', since: expect.stringMatching(/^\d{4}-/) }],
    });
    const device = await call(
      'GET',
      adminUrl(adminAccountRelations, fx.base, { id: '#lock1@as1.irsp.test' }),
    );
    expect(JSON.parse(device.body)).toEqual({
      id: '#lock1@as1.irsp.test',
      relationships: [],
      devices: [],
      owner: 'alice@as1.irsp.test',
      accessRights: ['carol@as1.irsp.test'],
      sessions: [],
    });
  });

  it.each([
    ['an account that does not exist', 'nobody@as1.irsp.test', 'no such account'],
    ['an account of another AS', 'alice@as2.irsp.test', 'not an account of as1.irsp.test'],
  ])('answers 404 for %s', async (_what, id, reason) => {
    const answer = await call('GET', adminUrl(adminAccountRelations, fx.base, { id }));
    expect(answer.status).toBe(404);
    expect(answer.body).toBe(NOT_FOUND);
    expect(answer.headers['irsp-reason']).toBe(reason);
  });

  it('lists the sessions it holds', async () => {
    const answer = await call('GET', `${fx.base}/admin/sessions`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      sessions: [
        {
          jid: 'alice@as1.irsp.test/phone',
          since: expect.stringMatching(/^\d{4}-/),
          remoteAddress: '127.0.0.1',
        },
      ],
    });
  });

  it('shows the outbox backlog per receiver with its last error, and the dead letters', async () => {
    await fx.db.query(
      `INSERT INTO outbox (target, operation, ordering_key, params, last_error, created_at, next_attempt_at, head)
       VALUES ('default', 'message8', 'k1', '{}', NULL, now() - interval '120 seconds', now() + interval '1 day', true),
              ('default', 'message8', 'k1', '{}', 'status 500', now() - interval '60 seconds', now() + interval '1 day', false)`,
    );
    const answer = await call('GET', `${fx.base}/admin/outbox`);
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.body);
    expect(body).toEqual({
      outbox: [
        { target: 'default', count: 2, oldestAgeSeconds: expect.any(Number), lastError: 'status 500' },
      ],
      deadLetters: 0,
    });
    expect(body.outbox[0].oldestAgeSeconds).toBeGreaterThanOrEqual(120);
  });

  it('lists no s2s links when it does not federate', async () => {
    const answer = await call('GET', `${fx.base}/admin/s2s`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ links: [] });
  });

  it('lists failed logins', async () => {
    await expect(
      xmppLogin({ port: fx.c2sPort, domain: fx.domain, username: 'alice', password: 'wrong', resource: 'x' }),
    ).rejects.toThrow();
    const answer = await call('GET', `${fx.base}/admin/failed-logins?limit=50`);
    expect(answer.status).toBe(200);
    const { failures } = JSON.parse(answer.body) as { failures: { scope: string }[] };
    // The refused operator logins above count too, in a scope of their own.
    expect(failures.filter((f) => f.scope === 'password')).toEqual([
      { scope: 'password', target: 'alice', source: '127.0.0.1', at: expect.stringMatching(/^\d{4}-/) },
    ]);
    expect(failures.filter((f) => f.scope === 'operator')).toHaveLength(MESSAGE_SERVER_ADMIN_CALLS.length);
  });

  it('ends a session with policy-violation, then answers 404 for it', async () => {
    const ended = new Promise<string>((resolve) =>
      alice.on('error', (error: { condition?: string }) => resolve(error.condition ?? 'unknown')),
    );
    const url = adminUrl(adminKick, fx.base, { jid: 'alice@as1.irsp.test/phone' });
    const answer = await call('DELETE', url);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ kicked: 'alice@as1.irsp.test/phone' });
    expect(await ended).toBe('policy-violation');
    await expect.poll(() => fx.server.context.router.sessions.resource('alice', 'phone')).toBeUndefined();
    const again = await call('DELETE', url);
    expect(again.status).toBe(404);
    expect(again.body).toBe(NOT_FOUND);
    expect(again.headers['irsp-reason']).toBe('no such session on this message server');
  });

  it.each([
    ['a bare JID', 'alice@as1.irsp.test', 'not a full JID of as1.irsp.test'],
    ['a JID of another AS', 'alice@as2.irsp.test/phone', 'not a full JID of as1.irsp.test'],
    ['not a JID', 'a@b@c/d', 'not a full JID of as1.irsp.test'],
  ])('refuses to kick %s (404)', async (_what, jid, reason) => {
    const answer = await call('DELETE', adminUrl(adminKick, fx.base, { jid }));
    expect(answer.status).toBe(404);
    expect(answer.headers['irsp-reason']).toBe(reason);
  });
});

/**
 * Every refusal keeps the standard's body byte for byte and says why in `IRSP-Reason` and in the request's log
 * line at info (docs/protocol.md 1.7), without a secret or more of the caller's input than a bounded name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAccountServer, type AccountServer } from '@irsp/account-server';
import { hashPassword } from '@irsp/credentials';
import { openTestDb, type Db } from '@irsp/store';
import { captureLogger, form } from '../../../test/support/irsp.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const toAccountServer = { appid: 'message-server-as1', token: 'message-server-token-0123456789' };
const body = (code: number, detail: string) =>
  `<error><code>${code}</code><detail>${detail}</detail></error>`;

let db: Db;
let server: AccountServer;
const log = captureLogger('account-server');

beforeAll(async () => {
  db = await openTestDb('reasons');
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
              toAccountServer,
            },
          },
        ],
        applicationServers: [],
      },
    ],
    db,
    logger: log.logger,
    ca: 'unused: nothing is sent',
  });
  // An active account, as a registration confirmed by the message server leaves it.
  await db.query(
    `INSERT INTO accounts (local_part, kind, domain, state, password_hash, extra)
     VALUES ('alice', 'user', 'as1.irsp.test', 'active', $1, '{}')`,
    [await hashPassword('right password')],
  );
});

afterAll(async () => {
  await server?.close();
  await db?.close();
});

async function post(url: string, payload?: string, headers: Record<string, string> = FORM) {
  const answer = await server.app.inject({
    method: 'POST',
    url,
    ...(payload === undefined ? {} : { payload, headers }),
  });
  return { status: answer.statusCode, body: answer.body, reason: answer.headers['irsp-reason'] };
}

/** The info line of the request just answered. */
function lastRequestLine(): Record<string, unknown> {
  const lines = log.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return lines.filter((l) => l.msg === 'request completed').at(-1)!;
}

describe('refusals say why in IRSP-Reason and in the log, the body unchanged', () => {
  it.each([
    [
      'an unknown domain',
      '/user/register.xml',
      form({ userid: 'bob@as9.irsp.test', password: 'pw' }),
      { status: 400, body: body(400, 'bad request'), reason: 'domain is not an AS of this IRSP' },
    ],
    [
      'a POST without a body',
      '/user/register.xml',
      undefined,
      { status: 400, body: body(400, 'bad request'), reason: 'no form body' },
    ],
    [
      'a missing parameter',
      '/user/register.xml',
      form({ userid: 'bob@as1.irsp.test' }),
      {
        status: 400,
        body: body(400, 'bad request'),
        reason: 'password: Invalid input: expected string, received undefined',
      },
    ],
    [
      'a repeated parameter (its name echoed, no value)',
      '/user/register.xml',
      'userid=bob%40as1.irsp.test&password=secret-1&password=secret-2',
      { status: 400, body: body(400, 'bad request'), reason: 'parameter password repeated' },
    ],
    [
      'a wrong password (client API)',
      '/user/remove',
      form({ userid: 'alice@as1.irsp.test', password: 'not-alices-password' }),
      { status: 401, body: body(401, 'unauthorized'), reason: 'wrong password' },
    ],
    [
      'wrong appid/token (Message 7)',
      '/modifyVerifyCode.xml',
      form({
        version: '1',
        deviceid: '#d',
        verifycode: '1234',
        appid: toAccountServer.appid,
        token: 'not-the-token-0123456789abcdef',
      }),
      { status: 401, body: body(401, 'unauthorized'), reason: 'credentials missing or not accepted' },
    ],
  ])('%s', async (_label, url, payload, expected) => {
    expect(await post(url, payload)).toEqual(expected);
    expect(lastRequestLine()).toMatchObject({
      level: 30,
      res: { statusCode: expected.status },
      reason: expected.reason,
    });
  });

  it('a body of another content type is 415, and a path we do not serve 404', async () => {
    expect(
      await post('/user/register.xml', '{"userid":"bob"}', { 'content-type': 'application/json' }),
    ).toEqual({
      status: 415,
      body: body(415, 'unsupported media type'),
      reason: 'body is not application/x-www-form-urlencoded',
    });
    expect(await post('/nowhere', form({ a: 'b' }))).toEqual({
      status: 404,
      body: body(404, 'not found'),
      reason: 'no such path',
    });
  });

  it('bounds what of the caller’s input a reason carries, and keeps it printable ASCII', async () => {
    const name = `p\u00e9${'x'.repeat(300)}`;
    const answer = await post(
      '/user/register.xml',
      `${encodeURIComponent(name)}=1&${encodeURIComponent(name)}=2`,
    );
    expect(answer.status).toBe(400);
    expect(answer.reason).toBe(`parameter p?${'x'.repeat(85)}...`);
    expect(answer.reason).toHaveLength(100);
  });

  it('no password or token reaches a reason or the log', () => {
    const text = log.lines.join('\n');
    for (const secret of ['secret-1', 'secret-2', 'not-alices-password', 'not-the-token-0123456789abcdef'])
      expect(text).not.toContain(secret);
  });
});

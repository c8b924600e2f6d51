/**
 * CORS on the client account API (src/cors.ts): a listed origin (the RAC's) gets a preflight answer with the exact
 * headers and `Access-Control-Allow-Origin` on the answer itself; any other origin gets neither.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAccountServer, type AccountServer } from '@irsp/account-server';
import { accountServerCorsOrigins, parseTopology } from '@irsp/config';
import { openTestDb, type Db } from '@irsp/store';
import { captureLogger, form } from '../../../test/support/irsp.js';

const RAC = 'https://127.0.0.1:8645';
let db: Db;
let server: AccountServer;

beforeAll(async () => {
  db = await openTestDb('acccors');
  server = await buildAccountServer({
    autonomousSystems: [],
    db,
    logger: captureLogger('account-server').logger,
    ca: 'unused: nothing is sent',
    corsOrigins: [RAC],
  });
});

afterAll(async () => {
  await server?.app.close();
  await db?.close();
});

const preflight = (origin: string, method = 'POST', headers = 'content-type') =>
  server.app.inject({
    method: 'OPTIONS',
    url: '/user/register.xml',
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': headers,
    },
  });

describe('CORS on the client account API', () => {
  it('a preflight from a listed origin is allowed, for POST with a content type only', async () => {
    const answer = await preflight(RAC);
    expect(answer.statusCode).toBe(204);
    expect(answer.body).toBe('');
    expect({
      origin: answer.headers['access-control-allow-origin'],
      methods: answer.headers['access-control-allow-methods'],
      headers: answer.headers['access-control-allow-headers'],
      maxAge: answer.headers['access-control-max-age'],
      vary: answer.headers['vary'],
    }).toEqual({ origin: RAC, methods: 'POST', headers: 'content-type', maxAge: '600', vary: 'Origin' });
  });

  it.each([
    ['another origin', 'https://evil.example', 'POST', 'content-type'],
    ['another port of the same host', 'https://127.0.0.1:8646', 'POST', 'content-type'],
    ['another method', RAC, 'DELETE', 'content-type'],
    ['another header', RAC, 'POST', 'content-type, authorization'],
  ])('a preflight with %s is refused (403, no CORS headers)', async (_label, origin, method, headers) => {
    const answer = await preflight(origin, method, headers);
    expect({ status: answer.statusCode, body: answer.body }).toEqual({
      status: 403,
      body: '<error><code>403</code><detail>forbidden</detail></error>',
    });
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect(answer.headers['access-control-allow-methods']).toBeUndefined();
  });

  it('an answer to a listed origin carries Access-Control-Allow-Origin; to another, none', async () => {
    const post = (origin: string) =>
      server.app.inject({
        method: 'POST',
        url: '/user/register.xml',
        payload: form({ userid: 'not an id', password: 'p' }),
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
      });
    const listed = await post(RAC);
    expect(listed.statusCode).toBe(400);
    expect(listed.headers['access-control-allow-origin']).toBe(RAC);
    const other = await post('https://evil.example');
    expect(other.statusCode).toBe(400);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('accountServer.cors in the topology', () => {
  const base = {
    accountServer: { url: 'https://127.0.0.1:8443', listen: { port: 8443 } },
    autonomousSystems: [
      {
        domain: 'as1.irsp.test',
        messageServers: [
          {
            id: 'ms1',
            url: 'https://127.0.0.1:8543',
            listen: { port: 8543 },
            credentials: {
              accountServer: { appid: 'a', token: 'account-server-token-0123456789' },
              toAccountServer: { appid: 'b', token: 'message-server-token-0123456789' },
            },
          },
        ],
        applicationServers: [
          {
            name: 'default',
            url: 'https://127.0.0.1:8643',
            listen: { port: 8643 },
            jid: 'default.as1.irsp.test',
            credentials: { appid: 'c', token: 'default-app-token-0123456789' },
          },
          {
            name: 'smartlock',
            url: 'https://127.0.0.1:8645/',
            listen: { port: 8645 },
            jid: 'smartlock.as1.irsp.test',
            credentials: { appid: 'd', token: 'smartlock-token-0123456789' },
            applications: ['smartlock'],
          },
        ],
      },
    ],
  };

  it('absent: the origins of the application servers that run smartlock', () => {
    expect(accountServerCorsOrigins(parseTopology(base))).toEqual([RAC]);
  });

  it('given: exactly the listed origins', () => {
    const topology = parseTopology({
      ...base,
      accountServer: { ...base.accountServer, cors: { origins: ['https://rac.example.com'] } },
    });
    expect(accountServerCorsOrigins(topology)).toEqual(['https://rac.example.com']);
  });

  it.each(['https://rac.example.com/', 'https://rac.example.com/app', 'http://rac.example.com', '*'])(
    'an origin written %s is refused',
    (origin) => {
      expect(() =>
        parseTopology({ ...base, accountServer: { ...base.accountServer, cors: { origins: [origin] } } }),
      ).toThrow(/must be an origin|Invalid URL/);
    },
  );
});

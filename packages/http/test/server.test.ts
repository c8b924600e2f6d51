/**
 * The service shell's request logs: refusals and failures get a line (secrets redacted), successes only at debug,
 * and every request is counted in the periodic summary; a request's logger carries its request id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { encodeForm, message12, message13 } from '@irsp/protocol';
import { createLogger } from '../src/logger.js';
import { operationRoute } from '../src/operation-route.js';
import { createService } from '../src/server.js';

const TOKEN = 'push-token-0123456789';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
type Line = Record<string, unknown> & { level: number; msg: string; reqId?: string };

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A service serving the push URI; its handler fails for device `#broken`. */
async function start(level: string, requestSummaryMs = 0) {
  const lines: Line[] = [];
  const logger = createLogger({ name: 'test', level }, { write: (s: string) => lines.push(JSON.parse(s)) });
  app = createService({ logger, requestSummaryMs });
  operationRoute({
    path: '/push',
    operations: [message12, message13],
    authenticate: (fields) => (fields.get('token') === TOKEN ? undefined : 401),
    handle: async ({ params }) => {
      if ('deviceid' in params && params.deviceid === '#broken') throw new Error('database down');
      return 200;
    },
  }).register(app);
  await app.ready();
  return lines;
}

const push = (deviceid: string, token = TOKEN) =>
  encodeForm([
    ['deviceid', deviceid],
    ['data', 'open'],
    ['appid', 'smartlock'],
    ['token', token],
  ]);

const requestLines = (lines: Line[]) => lines.filter((l) => l.msg === 'request completed');

describe('request logs', () => {
  it('write no line for a success at info, one per success at debug', async () => {
    const info = await start('info');
    const answer = await app!.inject({
      method: 'POST',
      url: '/push',
      headers: FORM,
      payload: push('#lock1'),
    });
    expect({ status: answer.statusCode, body: answer.body }).toEqual({ status: 200, body: '' });
    expect(info).toEqual([]);
    await app!.close();

    const debug = await start('debug');
    await app!.inject({ method: 'GET', url: `/push?${push('#lock1')}` });
    expect(requestLines(debug)).toEqual([
      expect.objectContaining({
        level: 20,
        reqId: expect.any(String),
        req: expect.objectContaining({
          method: 'GET',
          url: `/push?deviceid=%23lock1&data=open&appid=smartlock&token=[REDACTED]`,
        }),
        res: { statusCode: 200 },
        responseTime: expect.any(Number),
      }),
    ]);
  });

  it('log a refusal at info with its redacted URL, the route’s reason in a line of the same request', async () => {
    const lines = await start('info');
    const answer = await app!.inject({
      method: 'GET',
      url: `/push?${push('#lock1', 'wrong-token-0123456789')}`,
    });
    expect({
      status: answer.statusCode,
      reason: answer.headers['irsp-reason'],
      body: answer.body,
    }).toEqual({
      status: 401,
      reason: 'credentials missing or not accepted',
      body: '<error><code>401</code><detail>unauthorized</detail></error>',
    });
    const [refused, completed] = [lines.find((l) => l.msg === 'caller refused'), requestLines(lines)[0]];
    expect(refused).toMatchObject({ level: 40, status: 401 });
    expect(completed).toMatchObject({
      level: 30,
      req: { method: 'GET', url: '/push?deviceid=%23lock1&data=open&appid=smartlock&token=[REDACTED]' },
      res: { statusCode: 401 },
      reason: 'credentials missing or not accepted',
    });
    expect(completed!.reqId).toBe(refused!.reqId);
    expect(JSON.stringify(lines)).not.toContain('wrong-token');
  });

  it('log a failure with its error and answer 500 without details', async () => {
    const lines = await start('info');
    const answer = await app!.inject({
      method: 'POST',
      url: '/push',
      headers: FORM,
      payload: push('#broken'),
    });
    expect({ status: answer.statusCode, body: answer.body }).toEqual({
      status: 500,
      body: '<error><code>500</code><detail>server internal error</detail></error>',
    });
    const failed = lines.find((l) => l.msg === 'request failed');
    expect(failed).toMatchObject({ level: 50, err: { message: 'database down' } });
    expect(requestLines(lines)).toEqual([
      expect.objectContaining({ level: 30, reqId: failed!.reqId, res: { statusCode: 500 } }),
    ]);
  });

  it('give each request its own id', async () => {
    const lines = await start('info');
    for (let i = 0; i < 2; i++) await app!.inject({ method: 'GET', url: `/push?${push('#lock1', 'bad')}` });
    const ids = requestLines(lines).map((l) => l.reqId);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
  });

  it('follow a level changed at run time', async () => {
    const lines = await start('warn');
    await app!.inject({ method: 'GET', url: `/push?${push('#lock1', 'bad')}` });
    expect(requestLines(lines)).toEqual([]);
    app!.log.level = 'info';
    await app!.inject({ method: 'GET', url: `/push?${push('#lock1', 'bad')}` });
    expect(requestLines(lines)).toHaveLength(1);
  });
});

describe('request summary', () => {
  it('counts every request by operation and status, logged periodically and at close', async () => {
    const lines = await start('info', 60_000);
    for (let i = 0; i < 3; i++)
      await app!.inject({ method: 'POST', url: '/push', headers: FORM, payload: push('#lock1') });
    await app!.inject({ method: 'POST', url: '/push', headers: FORM, payload: push('#lock1', 'bad') });
    await app!.inject({ method: 'GET', url: '/nowhere' });
    expect(lines.filter((l) => l.msg === 'requests served')).toEqual([]);
    await app!.close();
    expect(lines.filter((l) => l.msg === 'requests served')).toEqual([
      expect.objectContaining({
        level: 30,
        served: { 'pushToUser|pushToDevice 200': 3, 'pushToUser|pushToDevice 401': 1, 'other 404': 1 },
        seconds: expect.any(Number),
      }),
    ]);
  });

  it('is logged every period, only when something was served', async () => {
    const lines = await start('info', 50);
    await app!.inject({ method: 'POST', url: '/push', headers: FORM, payload: push('#lock1') });
    await new Promise((resolve) => setTimeout(resolve, 180));
    expect(lines.filter((l) => l.msg === 'requests served')).toEqual([
      expect.objectContaining({ served: { 'pushToUser|pushToDevice 200': 1 } }),
    ]);
  });
});

/**
 * The account server's own failures: a broken database gives the table's 500 without details (client API and
 * Message 7), and the details stay in the log.
 */
import { describe, expect, it } from 'vitest';
import { buildAccountServer } from '@irsp/account-server';
import { openTestDb } from '@irsp/store';
import { captureLogger, form } from '../../../test/support/irsp.js';

const BODY_500 = '<error><code>500</code><detail>server internal error</detail></error>';
const toAccountServer = { appid: 'message-server-as1', token: 'message-server-token-0123456789' };

async function brokenAccountServer() {
  const db = await openTestDb('accfail');
  const log = captureLogger('account-server');
  const server = await buildAccountServer({
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
  await db.close();
  return { server, log };
}

describe('account server with a failed database', () => {
  it.each([
    ['client API registration', '/user/register.xml', { userid: 'a@as1.irsp.test', password: 'p' }],
    ['client API removal', '/device/remove', { deviceid: '#d@as1.irsp.test', password: 'p' }],
    ['Message 7', '/modifyVerifyCode.xml', { deviceid: '#d', verifycode: '1', ...toAccountServer }],
  ])('%s: 500 with the bare Table body, the cause only in the log', async (_label, url, fields) => {
    const { server, log } = await brokenAccountServer();
    const answer = await server.app.inject({
      method: 'POST',
      url,
      payload: form(fields),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect({ status: answer.statusCode, body: answer.body }).toEqual({ status: 500, body: BODY_500 });
    expect(log.lines.some((line) => line.includes('"msg":"request failed"') && line.includes('"err"'))).toBe(
      true,
    );
    expect(log.lines.join('\n')).not.toContain('message-server-token-0123456789');
    await server.close();
  });
});

/**
 * Password guessing over the client account API (docs/decisions/0010-guessing-throttle.md): every call that checks
 * a password answers 429 with Retry-After once the caller's address has failed too often, the right password
 * included, while the owner at another address goes on; the counts hold across two account-server instances
 * sharing one database. A fake clock stands for the hour; each client address is a loopback address of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { buildAccountServer, type AccountServer } from '@irsp/account-server';
import { messageServerFromTopology, type MessageServer } from '@irsp/message-server';
import { serverTls, trustedCa, type Topology } from '@irsp/config';
import { openTestDb, type Db } from '@irsp/store';
import { hashPassword } from '@irsp/credentials';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  tempDir,
  twoAsTopology,
} from './support/irsp.js';

const BODY_401 = '<error><code>401</code><detail>unauthorized</detail></error>';
const BODY_429 = '<error><code>429</code><detail>too many requests</detail></error>';
const BODY_421 = '<error><code>421</code><detail>id existed</detail></error>';

let now = Date.UTC(2026, 11, 7, 3, 0, 0);
let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let messageServer: MessageServer;
let db: Db;
const instances: { server: AccountServer; base: string }[] = [];
let ca: string;
const agents = new Map<string, Agent>();
const log = captureLogger('irsp');

/** A POST from one client address; the answer's status, body and Retry-After. */
async function post(instance: number, address: string, path: string, fields: Record<string, string>) {
  let agent = agents.get(address);
  if (!agent) {
    agent = new Agent({ localAddress: address, connect: { ca } });
    agents.set(address, agent);
  }
  const r = await request(`${instances[instance]!.base}${path}`, {
    method: 'POST',
    dispatcher: agent,
    body: form(fields),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  return { status: r.statusCode, body: await r.body.text(), retryAfter: r.headers['retry-after'] };
}

const wrong = { status: 401, body: BODY_401, retryAfter: undefined };
const throttled = (seconds: number) => ({ status: 429, body: BODY_429, retryAfter: String(seconds) });
const ok = { status: 200, body: '', retryAfter: undefined };

const ALICE = 'alice@as1.irsp.test';
const LOCK = '#lock@as1.irsp.test';

beforeAll(async () => {
  dir = await tempDir();
  const [accountServerPort, ms1, ms2, app1, app2] = await freePorts(5);
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: accountServerPort!, ms1: ms1!, ms2: ms2!, app1: app1!, app2: app2! },
  });
  const as1 = topology.autonomousSystems[0]!;
  messageServer = await messageServerFromTopology(topology, as1, as1.messageServers[0]!, log.logger);
  await messageServer.listen();
  ca = await trustedCa(topology);
  // Two instances of the account server behind one name: one database.
  db = await openTestDb('asthrottle');
  const tls = await serverTls(topology, {
    name: 'account-server',
    url: topology.accountServer.url,
    listenHost: '127.0.0.1',
  });
  for (let i = 0; i < 2; i++) {
    const server = await buildAccountServer({
      autonomousSystems: topology.autonomousSystems,
      db,
      logger: log.logger,
      tls,
      ca,
      http: topology.http,
      now: () => now,
    });
    const port = await server.listen({ host: '127.0.0.1', port: 0 });
    instances.push({ server, base: `https://127.0.0.1:${port}` });
  }
  expect(
    await post(0, '127.0.0.1', '/user/register.xml', { userid: ALICE, password: 'alice right' }),
  ).toEqual(ok);
  expect(await post(0, '127.0.0.1', '/device/register', { deviceid: LOCK, password: 'lock right' })).toEqual(
    ok,
  );
}, 120_000);

afterAll(async () => {
  for (const agent of agents.values()) await agent.close();
  for (const { server } of instances) await server.close();
  await db?.close();
  await messageServer?.close();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('password guessing over the client account API', () => {
  it('a burst of wrong passwords from one address: 6 × 401, then 429 with Retry-After, the right one too', async () => {
    const modify = (password: string) => ({ userid: ALICE, password, newpassword: 'alice right' });
    const answers = [];
    for (let i = 0; i < 20; i++)
      answers.push(await post(0, '127.0.0.3', '/user/modify', modify(`guess ${i}`)));
    // Five free failures, the sixth starts the back-off at 1 s; nothing more is tried within that second.
    expect(answers).toEqual([...Array(6).fill(wrong), ...Array(14).fill(throttled(1))]);
    expect(await post(0, '127.0.0.3', '/user/modify', modify('alice right'))).toEqual(throttled(1));
    // The owner, at another address, is not held up.
    expect(await post(0, '127.0.0.4', '/user/modify', modify('alice right'))).toEqual(ok);
  });

  it('a registration retry is its own by the password only under the throttle: no oracle on a pending account', async () => {
    // A registration still in flight (pending): a retry with its password is taken as its own.
    await db.query(
      `INSERT INTO accounts (local_part, kind, domain, state, password_hash)
       VALUES ('ivy', 'user', 'as1.irsp.test', 'pending', $1)`,
      [await hashPassword('ivy right')],
    );
    const taken = { status: 421, body: BODY_421, retryAfter: undefined };
    const answers = [];
    for (let i = 0; i < 8; i++)
      answers.push(
        await post(0, '127.0.0.7', '/user/register.xml', {
          userid: 'ivy@as1.irsp.test',
          password: `ivy ${i}`,
        }),
      );
    expect(answers).toEqual(Array(8).fill(taken));
    // The right password from that address is now refused unchecked: the same 421, nothing learnt.
    expect(
      await post(0, '127.0.0.7', '/user/register.xml', {
        userid: 'ivy@as1.irsp.test',
        password: 'ivy right',
      }),
    ).toEqual(taken);
    // The client that registers it, from its own address, completes its registration.
    expect(
      await post(0, '127.0.0.8', '/user/register.xml', {
        userid: 'ivy@as1.irsp.test',
        password: 'ivy right',
      }),
    ).toEqual(ok);
  });

  it('a slow guesser across two instances: 10 × 401 per hour from one address, then 429 until the hour is over', async () => {
    const modify = (password: string) => ({ userid: ALICE, password, newpassword: 'alice right' });
    const answers = [];
    for (let i = 0; i < 11; i++) {
      now += 60_000; // past any back-off
      answers.push(await post(i % 2, '127.0.0.5', '/user/modify', modify(`slow guess ${i}`)));
    }
    // The first failure was 600 s before the refused eleventh attempt: 3 000 s of the hour are left.
    expect(answers).toEqual([...Array(10).fill(wrong), throttled(3_000)]);
    expect(await post(1, '127.0.0.5', '/user/modify', modify('alice right'))).toEqual(throttled(3_000));
    expect(await post(0, '127.0.0.6', '/user/modify', modify('alice right'))).toEqual(ok);
    now += 3_000_000;
    expect(await post(1, '127.0.0.5', '/user/modify', modify('alice right'))).toEqual(ok);
  });

  it.each([
    ['/device/modify', '127.0.1.1', { deviceid: LOCK, password: 'x' }],
    ['/user/remove', '127.0.1.2', { userid: ALICE, password: 'x' }],
    ['/device/remove', '127.0.1.3', { deviceid: LOCK, password: 'x' }],
  ])('%s is throttled the same way', async (path, address, fields) => {
    now += 3_600_000;
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await post(1, address, path, { ...fields, password: `g${i}` }));
    expect(answers).toEqual([...Array(6).fill(wrong), ...Array(2).fill(throttled(1))]);
  });

  it('a weak verification code is accepted (the standard sets no strength) and logged as a warning, without the code', async () => {
    now += 3_600_000;
    const modify = { deviceid: LOCK, password: 'lock right', verifycode: 'qz7' };
    expect(await post(0, '127.0.2.1', '/device/modify', modify)).toEqual(ok);
    const warnings = log.lines.filter((l) => l.includes('weak verification code'));
    expect(warnings.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      {
        level: 40,
        localPart: '#lock',
        domain: 'as1.irsp.test',
        msg: 'weak verification code (fewer than 20 bits): guessing it is held only by the throttle',
      },
    ]);
    expect(log.lines.filter((l) => l.includes('qz7'))).toEqual([]);
    expect(await post(0, '127.0.2.1', '/device/modify', { ...modify, verifycode: 'k7q2m9x4' })).toEqual(ok);
    expect(log.lines.filter((l) => l.includes('weak verification code'))).toHaveLength(1);
  });
});

/**
 * The reconciler (docs/consistency.md, "The reconciler"): it claims each row it acts on, so neither a client's
 * retry nor a second account-server instance acts on the same row at once; an AS that cannot be reached does not
 * starve the others and its rows back off; a slow round delays the next one instead of queueing more.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildAccountServer, type AccountServer } from '@irsp/account-server';
import { hashPassword } from '@irsp/credentials';
import { openTestDb, type Db } from '@irsp/store';
import { reconcileOnce, startReconciler } from '../src/reconciler.js';
import { recordingDb } from '../../../test/support/db.js';
import { captureLogger, form, serverTlsFor, tempDir } from '../../../test/support/irsp.js';

const BODY_500 = '<error><code>500</code><detail>server internal error</detail></error>';
const BODY = {
  421: '<error><code>421</code><detail>id existed</detail></error>',
  422: '<error><code>422</code><detail>id not existed</detail></error>',
  500: BODY_500,
} as const;

/** A message server's admin API for users (Messages 1, 3, 5) over HTTPS, whose registrations and removals can be held. */
class FakeMessageServer {
  readonly accounts = new Set<string>();
  /** Every request, as `path name`. */
  readonly requests: string[] = [];
  readonly removals: string[] = [];
  /** Paths whose requests wait until `release`. */
  readonly hold = new Set<string>();
  private held: (() => void)[] = [];
  private releaseWith: 200 | 500 = 200;
  private waiters: (() => void)[] = [];
  private server: Server | undefined;
  url = '';

  async start(tls: { cert: string; key: string }): Promise<void> {
    this.server = createServer(tls, (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const name = new URLSearchParams(body).get('name') ?? '';
        const path = (req.url ?? '').split('?')[0] ?? '';
        const answer = (status: 200 | 421 | 422 | 500) => {
          res.writeHead(status, { 'content-type': 'application/xml' });
          res.end(status === 200 ? '' : BODY[status]);
        };
        const handle = () => {
          if (path === '/user/remove' && this.releaseWith === 500) return answer(500);
          if (path === '/user/register.xml')
            return answer(this.accounts.has(name) ? 421 : (this.accounts.add(name), 200));
          if (path === '/user/modify') return answer(this.accounts.has(name) ? 200 : 422);
          if (path === '/user/remove') return answer(this.accounts.delete(name) ? 200 : 422);
          answer(500);
        };
        this.requests.push(`${path} ${name}`);
        if (path === '/user/remove') this.removals.push(name);
        for (const wake of this.waiters.splice(0)) wake();
        if (this.hold.has(path)) this.held.push(handle);
        else handle();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** Removals fail from now on (answered 500, nothing removed), held requests still held. */
  failRemovals(): void {
    this.releaseWith = 500;
  }

  /** Answers the held requests (and those to come); `500` makes removals fail from now on. */
  release(removals: 200 | 500 = 200): void {
    this.releaseWith = removals;
    this.hold.clear();
    for (const handle of this.held.splice(0)) handle();
  }

  /** Resolves once `count` requests to `path` have arrived. */
  async reached(path: string, count: number): Promise<void> {
    const arrived = () => this.requests.filter((r) => r.startsWith(`${path} `)).length;
    while (arrived() < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    this.release();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let tls: { cert: string; key: string; ca: string };
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  dir = await tempDir('reconciler-');
  tls = await serverTlsFor(dir.path, 'ms', []);
});
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});
afterAll(async () => dir.remove());

function asEntry(domain: string, url: string) {
  return {
    domain,
    messageServers: [
      {
        id: `ms-${domain}`,
        url,
        listen: { host: '127.0.0.1', port: 0 },
        pushUri: '/push',
        credentials: {
          accountServer: { appid: 'acc', token: 'account-server-token-0123456789' },
          toAccountServer: { appid: `ms-${domain}`, token: 'message-server-token-0123456789' },
        },
      },
    ],
    applicationServers: [],
  };
}

async function setup(options: { unreachableAs?: boolean } = {}) {
  const ms = new FakeMessageServer();
  await ms.start(tls);
  open.push(ms);
  const db = await openTestDb('reconcile');
  open.push(db);
  const accountServer = async (on: Db = db): Promise<AccountServer> => {
    const server = await buildAccountServer({
      autonomousSystems: [
        asEntry('as1.irsp.test', ms.url),
        ...(options.unreachableAs ? [asEntry('as2.irsp.test', 'https://127.0.0.1:1')] : []),
      ],
      db: on,
      logger: captureLogger('account-server').logger,
      ca: tls.ca,
      http: { connectTimeoutMs: 5_000, requestTimeoutMs: 20_000 },
    });
    open.push(server);
    return server;
  };
  return { ms, db, accountServer };
}

/** An unsettled row untouched for an hour, as a registration or removal that failed half-way leaves it. */
async function unsettled(
  db: Db,
  local: string,
  domain: string,
  state: 'pending' | 'removing',
  password = 'pw',
) {
  await db.query(
    `INSERT INTO accounts (local_part, kind, domain, state, password_hash, updated_at)
     VALUES ($1, 'user', $2, $3, $4, now() - interval '1 hour')`,
    [local, domain, state, await hashPassword(password)],
  );
}

async function row(db: Db, local: string) {
  const result = await db.query<{ state: string }>('SELECT state FROM accounts WHERE local_part = $1', [
    local,
  ]);
  return result.rows[0];
}

function register(server: AccountServer, userid: string, password: string) {
  return server.app.inject({
    method: 'POST',
    url: '/user/register.xml',
    payload: form({ userid, password }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

describe('reconciler', () => {
  it("a client's retry of a pending registration waits for the reconciler's Message 5 instead of racing it", async () => {
    const { ms, db, accountServer } = await setup();
    const server = await accountServer();
    // The first attempt reached the message server; its answer was lost and so was the take-back.
    ms.accounts.add('carol');
    await unsettled(db, 'carol', 'as1.irsp.test', 'pending');
    ms.hold.add('/user/remove');
    const round = reconcileOnce(server.context, 0);
    await ms.reached('/user/remove', 1);

    // The client retries while Message 5 is in flight: it must not confirm an account being removed.
    const retry = await register(server, 'carol@as1.irsp.test', 'pw');
    ms.release(200);
    expect(await round).toBe(1);
    expect({ status: retry.statusCode, body: retry.body }).toEqual({ status: 500, body: BODY_500 });
    expect({ here: await row(db, 'carol'), there: ms.accounts.has('carol') }).toEqual({
      here: undefined,
      there: false,
    });

    // Once settled, the retry registers afresh on both sides.
    const again = await register(server, 'carol@as1.irsp.test', 'pw');
    expect({ status: again.statusCode, body: again.body }).toEqual({ status: 200, body: '' });
    expect({ here: await row(db, 'carol'), there: ms.accounts.has('carol') }).toEqual({
      here: { state: 'active' },
      there: true,
    });
  });

  it('a registration that outlasts the settle delay is not confirmed once the reconciler took its row', async () => {
    const { ms, db, accountServer } = await setup();
    const server = await accountServer();
    ms.hold.add('/user/register.xml');
    const registration = register(server, 'gina@as1.irsp.test', 'pw');
    await ms.reached('/user/register.xml', 1);
    // Message 1 is still in flight when the reconciler (no settle delay here) removes the row: 422 there, gone here.
    expect(await reconcileOnce(server.context, 0)).toBe(1);
    ms.release();
    const answer = await registration;
    expect({ status: answer.statusCode, body: answer.body }).toEqual({ status: 500, body: BODY_500 });
    // The account Message 1 then made is taken back: neither side keeps it.
    expect({ here: await row(db, 'gina'), there: ms.accounts.has('gina') }).toEqual({
      here: undefined,
      there: false,
    });
    expect(ms.removals).toEqual(['gina', 'gina']);
  });

  it('a registration whose row the reconciler failed to remove meanwhile is not confirmed either', async () => {
    const { ms, db, accountServer } = await setup();
    const server = await accountServer();
    ms.hold.add('/user/register.xml');
    const registration = register(server, 'hana@as1.irsp.test', 'pw');
    await ms.reached('/user/register.xml', 1);
    // The reconciler's Message 5 fails (no answer it can trust): the row is released for a later round…
    ms.failRemovals();
    expect(await reconcileOnce(server.context, 0)).toBe(0);
    expect(
      (await db.query(`SELECT state, settle_attempts FROM accounts WHERE local_part = 'hana'`)).rows,
    ).toEqual([{ state: 'pending', settle_attempts: 1 }]);
    // …and Message 1, answered 200 after it, does not make the account active: that removal may have come last.
    ms.release(500);
    const answer = await registration;
    expect({ status: answer.statusCode, body: answer.body }).toEqual({ status: 500, body: BODY_500 });
    expect(await row(db, 'hana')).toEqual({ state: 'pending' });
  });

  it('two account-server instances sharing the database never both act on a row', async () => {
    const { ms, db, accountServer } = await setup();
    const [first, second] = [await accountServer(), await accountServer()];
    ms.accounts.add('dora');
    await unsettled(db, 'dora', 'as1.irsp.test', 'removing');
    ms.hold.add('/user/remove');
    const firstRound = reconcileOnce(first.context, 0);
    await ms.reached('/user/remove', 1);
    // The second instance's round ends without sending (or, before the fix, sends a second Message 5).
    const secondRound = reconcileOnce(second.context, 0);
    await Promise.race([secondRound, ms.reached('/user/remove', 2)]);
    ms.release(200);
    expect([await firstRound, await secondRound]).toEqual([1, 0]);
    expect(ms.removals).toEqual(['dora']);
    expect(await row(db, 'dora')).toBeUndefined();
  });

  it('150 rows of an unreachable AS do not starve a reachable one, and back off row by row', async () => {
    const { ms, db, accountServer } = await setup({ unreachableAs: true });
    const server = await accountServer();
    for (let i = 0; i < 150; i++)
      await unsettled(db, `lost${String(i).padStart(3, '0')}`, 'as2.irsp.test', 'pending');
    // The reachable AS's row is the youngest: last in `updated_at` order.
    ms.accounts.add('erin');
    await db.query(
      `INSERT INTO accounts (local_part, kind, domain, state, password_hash, updated_at)
       VALUES ('erin', 'user', 'as1.irsp.test', 'pending', 'x', now() - interval '1 minute')`,
    );
    const attempts = async () =>
      (
        await db.query<{ settle_attempts: number; n: string | number }>(
          `SELECT settle_attempts, count(*) AS n FROM accounts WHERE domain = 'as2.irsp.test'
            GROUP BY settle_attempts ORDER BY settle_attempts`,
        )
      ).rows.map((r) => [r.settle_attempts, Number(r.n)]);

    expect(await reconcileOnce(server.context, 0)).toBe(1);
    expect({ erin: await row(db, 'erin'), removals: ms.removals }).toEqual({
      erin: undefined,
      removals: ['erin'],
    });
    expect(await attempts()).toEqual([
      [0, 51],
      [1, 99],
    ]);
    // The next round takes the rows not yet tried; those that failed wait out their back-off.
    expect(await reconcileOnce(server.context, 0)).toBe(0);
    expect(await attempts()).toEqual([[1, 150]]);
    expect(await reconcileOnce(server.context, 0)).toBe(0);
    expect(await attempts()).toEqual([[1, 150]]);
    const due = await db.query<{ n: string | number }>(
      "SELECT count(*) AS n FROM accounts WHERE next_settle_at > now() + interval '10 seconds' AND claim IS NULL",
    );
    expect(Number(due.rows[0]!.n)).toBe(150);
  });

  it('a round that outlasts the interval delays the next one instead of queueing more', async () => {
    const { ms, db, accountServer } = await setup();
    const recorded = recordingDb(db);
    const server = await accountServer(recorded.db);
    const rounds = () => recorded.statements.filter((s) => s.sql.includes("state <> 'active'")).length;
    ms.accounts.add('fay');
    await unsettled(db, 'fay', 'as1.irsp.test', 'pending');
    ms.hold.add('/user/remove');
    const before = rounds();
    const stop = startReconciler(server.context, { intervalMs: 10, settleAfterMs: 0 });
    await ms.reached('/user/remove', 1);
    // Fifty intervals while the first round waits for its message server.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(rounds() - before).toBe(1);
    ms.release(500);
    await stop();
    expect(rounds() - before).toBe(1);
    expect(ms.removals).toEqual(['fay']);
  });
});

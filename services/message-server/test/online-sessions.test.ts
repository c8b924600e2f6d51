/**
 * The AS's record of who is online on which message server (decision 0013): Messages 10–11 per device across the
 * message servers of the AS, and sessions of a dead server (rows and an expired lease, as a crash leaves them)
 * reported offline by a live one, a server's own rows at its start, never a live server's.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/client';
import type { ApplicationServerConfig } from '@irsp/config';
import { loadMigrations, migrate, openTestDb, type Db } from '@irsp/store';
import { Notifications } from '../src/notifications.js';
import { OnlineSessions, type SessionKey } from '../src/online-sessions.js';
import { Outbox } from '../src/outbox.js';
import { captureLogger } from '../../../test/support/irsp.js';
import { XmppInbox, xmppLogin } from '../../../test/support/xmpp.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';

const app: ApplicationServerConfig = {
  name: 'smartlock',
  url: 'https://smartlock.irsp.test',
  listen: { host: '127.0.0.1', port: 0 },
  jid: 'smartlock.as1.irsp.test',
  credentials: { appid: 'smartlock', token: 'smartlock-token-0123456789' },
  deviceStatus: true,
  serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
};

let db: Db;
let notifications: Notifications;
const running: OnlineSessions[] = [];

beforeAll(async () => {
  db = await openTestDb('msonline');
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
  const outbox = new Outbox(db, captureLogger().logger, () => Promise.reject(new Error('not started')));
  notifications = new Notifications(db, outbox, [app]);
});

beforeEach(async () => {
  await db.query('TRUNCATE outbox, online_sessions, message_server_leases');
});

afterEach(async () => {
  for (const online of running.splice(0)) await online.stop();
});

afterAll(async () => {
  await db?.close();
});

/** A message server's record, its hooks kept: what it holds, and what it was told was lost. */
function server(id: string, leaseMs = 30_000, held: SessionKey[] = []) {
  const lost: SessionKey[] = [];
  const online = new OnlineSessions(
    db,
    id,
    notifications,
    { held: () => held, lost: (sessions) => lost.push(...sessions), dead: () => undefined },
    captureLogger().logger,
    { leaseMs },
  );
  running.push(online);
  return { online, lost, held };
}

/** The outbox's device status rows, in the order they will be sent. */
async function statuses(): Promise<[string, string][]> {
  const r = await db.query<{ ordering_key: string; operation: string }>(
    'SELECT ordering_key, operation FROM outbox ORDER BY id',
  );
  return r.rows.map((row) => [row.ordering_key, row.operation]);
}

/** What a message server that died leaves: its lease (run out `agoMs` ago, or still running) and its rows. */
async function leftBy(id: string, leaseUntilMs: number, sessions: SessionKey[]): Promise<void> {
  await db.query(
    `INSERT INTO message_server_leases (server_id, instance, lease_until)
     VALUES ($1, 'earlier', now() + make_interval(secs => $2::double precision / 1000))`,
    [id, leaseUntilMs],
  );
  for (const s of sessions) {
    await db.query('INSERT INTO online_sessions (local_part, resource, server_id) VALUES ($1, $2, $3)', [
      s.local,
      s.resource,
      id,
    ]);
    if (s.local.startsWith('#')) await notifications.deviceStatus(s.local, true);
  }
}

describe('OnlineSessions', () => {
  it('sends Message 10 at a device’s first session in the AS and 11 after its last, whichever server holds them', async () => {
    const a = server('ms-a');
    const b = server('ms-b');
    await a.online.start();
    await b.online.start();
    await a.online.bound('#lock1', 'r1');
    await b.online.bound('#lock1', 'r2');
    // A user's sessions are recorded, with no notification.
    await a.online.bound('alice', 'phone');
    await a.online.unbound('#lock1', 'r1');
    expect(await statuses()).toEqual([['smartlock:#lock1', 'deviceOnline']]);
    await b.online.unbound('#lock1', 'r2');
    await a.online.unbound('alice', 'phone');
    expect(await statuses()).toEqual([
      ['smartlock:#lock1', 'deviceOnline'],
      ['smartlock:#lock1', 'deviceOffline'],
    ]);
    expect((await db.query('SELECT * FROM online_sessions')).rows).toEqual([]);
  });

  it('keeps the row of a full JID bound again, and a logout of another server does not delete it', async () => {
    const a = server('ms-a');
    const b = server('ms-b');
    await a.online.start();
    await b.online.start();
    await a.online.bound('#lock1', 'r');
    await b.online.bound('#lock1', 'r');
    await a.online.unbound('#lock1', 'r');
    expect(await statuses()).toEqual([['smartlock:#lock1', 'deviceOnline']]);
    expect((await db.query('SELECT local_part, resource, server_id FROM online_sessions')).rows).toEqual([
      { local_part: '#lock1', resource: 'r', server_id: 'ms-b' },
    ]);
  });

  it('writes logins and logouts handed over together in the order given', async () => {
    const a = server('ms-a');
    await a.online.start();
    await Promise.all([
      a.online.bound('#lock1', 'r'),
      a.online.unbound('#lock1', 'r'),
      a.online.bound('#lock1', 'r'),
      a.online.bound('#lock2', 'r'),
    ]);
    expect(await statuses()).toEqual([
      ['smartlock:#lock1', 'deviceOnline'],
      ['smartlock:#lock1', 'deviceOffline'],
      ['smartlock:#lock1', 'deviceOnline'],
      ['smartlock:#lock2', 'deviceOnline'],
    ]);
  });

  it('at start, reports offline what this server held before it stopped, even under a lease still running', async () => {
    await leftBy('ms-a', 60_000, [
      { local: '#lock1', resource: 'r' },
      { local: 'alice', resource: 'phone' },
    ]);
    const a = server('ms-a');
    await a.online.start();
    expect(await statuses()).toEqual([
      ['smartlock:#lock1', 'deviceOnline'],
      ['smartlock:#lock1', 'deviceOffline'],
    ]);
    expect(a.lost).toEqual([
      { local: '#lock1', resource: 'r' },
      { local: 'alice', resource: 'phone' },
    ]);
    expect((await db.query('SELECT * FROM online_sessions')).rows).toEqual([]);
  });

  it('takes over the sessions of a server whose lease has run out, not those of one whose lease runs', async () => {
    await leftBy('ms-dead', -1_000, [
      { local: '#lock1', resource: 'r' },
      { local: '#lock2', resource: 'r' },
    ]);
    await leftBy('ms-live', 60_000, [{ local: '#lock3', resource: 'r' }]);
    // #lock2 is also online at ms-live: it stays online, with no Message 11.
    await db.query(
      "INSERT INTO online_sessions (local_part, resource, server_id) VALUES ('#lock2', 'r2', 'ms-live')",
    );
    const b = server('ms-b', 600);
    await b.online.start();
    expect(await statuses()).toEqual([
      ['smartlock:#lock1', 'deviceOnline'],
      ['smartlock:#lock2', 'deviceOnline'],
      ['smartlock:#lock3', 'deviceOnline'],
      ['smartlock:#lock1', 'deviceOffline'],
    ]);
    expect(b.lost).toEqual([
      { local: '#lock1', resource: 'r' },
      { local: '#lock2', resource: 'r' },
    ]);
    // ms-live stops renewing: its lease runs out and b's renewal round takes its sessions over.
    await db.query("UPDATE message_server_leases SET lease_until = now() WHERE server_id = 'ms-live'");
    await expect.poll(() => b.lost.length, { timeout: 10_000 }).toBe(4);
    expect((await statuses()).slice(4)).toEqual([
      ['smartlock:#lock2', 'deviceOffline'],
      ['smartlock:#lock3', 'deviceOffline'],
    ]);
  });

  it('a server that finds its lease run out writes the sessions it holds again (Message 10 if they were taken over)', async () => {
    const held = [{ local: '#lock1', resource: 'r' }];
    const a = server('ms-a', 600, held);
    await a.online.start();
    await a.online.bound('#lock1', 'r');
    // Another server took it over while it was paused: its rows are gone and Message 11 queued.
    await db.query('DELETE FROM online_sessions');
    await notifications.deviceStatus('#lock1', false);
    await db.query("UPDATE message_server_leases SET lease_until = now() - interval '1 s'");
    await expect.poll(statuses, { timeout: 10_000 }).toEqual([
      ['smartlock:#lock1', 'deviceOnline'],
      ['smartlock:#lock1', 'deviceOffline'],
      ['smartlock:#lock1', 'deviceOnline'],
    ]);
    expect((await db.query('SELECT local_part, resource, server_id FROM online_sessions')).rows).toEqual([
      { local_part: '#lock1', resource: 'r', server_id: 'ms-a' },
    ]);
  });

  it('at stop, gives its lease up: sessions whose logout was not written are taken over at once', async () => {
    const a = server('ms-a');
    await a.online.start();
    await a.online.bound('#lock1', 'r');
    await a.online.stop();
    running.splice(running.indexOf(a.online), 1);
    const b = server('ms-b');
    await b.online.start();
    expect(b.lost).toEqual([{ local: '#lock1', resource: 'r' }]);
  });
});

describe('a message server taking over a dead server’s sessions', () => {
  let fixture: XmppFixture | undefined;
  afterEach(async () => {
    await fixture?.close();
    fixture = undefined;
  });

  it('sends presence unavailable from each lost full JID to the online resources of related accounts, and to related accounts of other ASs', async () => {
    fixture = await startXmppMessageServer({ onlineSessions: { leaseMs: 600 } });
    // Another AS, as the s2s engine is seen by the router.
    const toOtherAses: string[] = [];
    fixture.server.context.router.federate({ send: (stanza) => toOtherAses.push(stanza.toString()) });
    await fixture.register('alice', 'alice pw');
    await fixture.register('#lock1', '#lock1 pw');
    for (const [owner, contact] of [
      ['alice', '#lock1@as1.irsp.test'],
      ['#lock1', 'alice@as1.irsp.test'],
      ['#lock1', 'bob@as2.irsp.test'],
    ])
      await fixture.db.query("INSERT INTO roster (owner, contact, subscription) VALUES ($1, $2, 'both')", [
        owner,
        contact,
      ]);
    const alice = await xmppLogin({
      port: fixture.c2sPort,
      domain: fixture.domain,
      username: 'alice',
      password: 'alice pw',
      resource: 'phone',
    });
    const inbox = new XmppInbox(alice);
    await alice.send(xml('presence'));
    await fixture.db.query(
      "INSERT INTO message_server_leases (server_id, instance, lease_until) VALUES ('ms-dead', 'x', now())",
    );
    await fixture.db.query(
      "INSERT INTO online_sessions (local_part, resource, server_id) VALUES ('#lock1', 'hall', 'ms-dead')",
    );
    const gone = await inbox.next((s) => s.is('presence') && s.attrs.type === 'unavailable', 10_000);
    expect(gone.attrs).toEqual({
      type: 'unavailable',
      from: '#lock1@as1.irsp.test/hall',
      to: 'alice@as1.irsp.test/phone',
    });
    await expect
      .poll(() => toOtherAses)
      .toEqual(["<presence type='unavailable' from='#lock1@as1.irsp.test/hall' to='bob@as2.irsp.test'/>"]);
    await alice.stop();
  });
});

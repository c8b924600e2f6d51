/**
 * Offline messages end to end (XEP-0160), against the promises of docs/client-protocol.md:
 * - an answer to anything a sender sends after a message to an offline account means the message is committed (the
 *   output barrier), while messages in a row still share transactions (group commit);
 * - a stored message is deleted only once its stanza is confirmed, and a backlog goes out in windows that respect
 *   back-pressure: a slow reader gets all of it, a reader that drops keeps what was not confirmed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingDb, type Statement } from '../../../test/support/db.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';
import { RawSession } from './raw-session.js';
import { INSERT, StoreGate } from './store-gate.js';

const PING = (id: string) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`;
const PONG = (id: string) => new RegExp(`<iq type='result' id='${id}' to='alice@as1\\.irsp\\.test/send'/>`);

let fixture: XmppFixture;
const gate = new StoreGate();
let statements: Statement[] = [];
const sessions: RawSession[] = [];

async function login(username: string, resource: string): Promise<RawSession> {
  const session = await RawSession.login(fixture, username, `${username} pw`, resource);
  sessions.push(session);
  return session;
}

async function rows(owner: string): Promise<string[]> {
  const r = await fixture.db.query<{ stanza: string }>(
    'SELECT stanza FROM offline_messages WHERE owner = $1 ORDER BY id',
    [owner],
  );
  return r.rows.map((row) => row.stanza);
}

/** `count` stored messages of 60 000 characters for `owner`, ids b0…, oldest first. */
async function backlog(owner: string, count: number): Promise<void> {
  await fixture.db.query(
    `INSERT INTO offline_messages (owner, stanza, expires_at)
     SELECT $1::text,
            format('<message from=''alice@as1.irsp.test/send'' to=''%s@as1.irsp.test'' type=''chat'' id=''b%s''><body>%s</body></message>',
                   $1::text, i, repeat('x', 60000)),
            now() + interval '1 day'
       FROM generate_series(0, $2::int - 1) AS i ORDER BY i`,
    [owner, count],
  );
}

/** The ids of the complete backlog messages read so far, in the order read. */
function backlogIds(text: string): number[] {
  return [...text.matchAll(/<message [^>]*id='b(\d+)'[^>]*>(?:(?!<\/message>).)*<\/message>/gs)].map((m) =>
    Number(m[1]),
  );
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

beforeAll(async () => {
  fixture = await startXmppMessageServer({
    directTls: true,
    wrapDb: (db) => {
      const recording = recordingDb(gate.wrap(db));
      statements = recording.statements;
      return recording.db;
    },
  });
  for (const name of ['alice', 'bob', 'carol', 'dave', 'erin']) await fixture.register(name, `${name} pw`);
  // alice is related to bob (clause 7.2: only related accounts exchange messages).
  await fixture.db.query(
    `INSERT INTO roster (owner, contact, subscription) VALUES
       ('alice', 'bob@as1.irsp.test', 'both'), ('bob', 'alice@as1.irsp.test', 'both')`,
  );
}, 60_000);

afterAll(async () => {
  for (const session of sessions) session.destroy();
  await fixture?.close();
});

describe('a message to an offline account, then a ping', () => {
  it('the ping is not answered until the message is committed', async () => {
    const alice = await login('alice', 'send');
    gate.shut();
    const arrived = gate.arrived;
    alice.write(
      `<message to='bob@as1.irsp.test' type='chat' id='m1'><body>held</body></message>${PING('p1')}`,
    );
    await expect.poll(() => gate.arrived, { timeout: 10_000 }).toBe(arrived + 1);
    // The insert waits at the gate: nothing is committed, so nothing may be answered.
    await new Promise((r) => setTimeout(r, 500));
    expect(alice.text).toBe('');
    expect(await rows('bob')).toEqual([]);
    gate.open();
    await alice.take(PONG('p1'));
    expect(await rows('bob')).toEqual([
      "<message to='bob@as1.irsp.test' type='chat' id='m1' from='alice@as1.irsp.test/send'><body>held</body></message>",
    ]);
  });

  it('a message the database refuses comes back as an error before the ping is answered', async () => {
    const alice = sessions[0]!;
    gate.failing = true;
    try {
      alice.write(
        `<message to='bob@as1.irsp.test' type='chat' id='m2'><body>lost?</body></message>${PING('p2')}`,
      );
      await alice.take(
        new RegExp(
          "<message from='bob@as1\\.irsp\\.test' to='alice@as1\\.irsp\\.test/send' id='m2' type='error'>" +
            "<error type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" +
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>not stored; try again</text></error></message>" +
            PONG('p2').source,
        ),
      );
    } finally {
      gate.failing = false;
    }
    expect(await rows('bob')).toHaveLength(1);
  });

  it('a stream closed right after them still gets the answer, once the message is committed, then the close', async () => {
    const alice = await login('alice', 'closing');
    gate.shut();
    const arrived = gate.arrived;
    alice.write(
      `<message to='bob@as1.irsp.test' type='chat' id='m3'><body>last words</body></message>${PING('p9')}</stream:stream>`,
    );
    await expect.poll(() => gate.arrived, { timeout: 10_000 }).toBe(arrived + 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(alice.text).toBe('');
    gate.open();
    await alice.closed;
    expect(alice.text).toBe("<iq type='result' id='p9' to='alice@as1.irsp.test/closing'/></stream:stream>");
    expect((await rows('bob')).at(-1)).toContain("id='m3'");
  });

  it('messages in a row are still stored together: 200 messages, a handful of inserts, all committed at the ping', async () => {
    const alice = sessions[0]!;
    const before = statements.filter((s) => s.sql.includes(INSERT)).length;
    const messages = range(0, 200)
      .map((i) => `<message to='bob@as1.irsp.test' type='chat' id='g${i}'><body>${i}</body></message>`)
      .join('');
    alice.write(messages + PING('p3'));
    await alice.take(PONG('p3'), 30_000);
    const stored = await rows('bob');
    expect(stored).toHaveLength(202);
    expect(stored.slice(2).map((s) => /id='(g\d+)'/.exec(s)![1])).toEqual(range(0, 200).map((i) => `g${i}`));
    // One insert per message would be 200: the sender is not bound by the commit latency.
    expect(statements.filter((s) => s.sql.includes(INSERT)).length - before).toBeLessThanOrEqual(10);
  }, 60_000);
});

describe('a backlog of stored messages', () => {
  it('100 × 60 KB to a reader that reads slowly: every message arrives, in order, and then no row is left', async () => {
    await backlog('carol', 100);
    const carol = await login('carol', 'slow');
    carol.write('<presence/>');
    // Reads a little, pauses longer, over and over.
    let reading = true;
    const slow = setInterval(() => {
      reading = !reading;
      if (reading) carol.resume();
      else carol.pause();
    }, 150);
    try {
      await expect.poll(() => backlogIds(carol.text).length, { timeout: 120_000, interval: 200 }).toBe(100);
    } finally {
      clearInterval(slow);
      carol.resume();
    }
    expect(backlogIds(carol.text)).toEqual(range(0, 100));
    expect(
      carol.text.match(
        /<delay xmlns='urn:xmpp:delay' from='as1\.irsp\.test' stamp='[^']+'>Offline Storage<\/delay>/g,
      ),
    ).toHaveLength(100);
    await expect.poll(() => rows('carol'), { timeout: 10_000 }).toEqual([]);
    expect(carol.socket.destroyed).toBe(false);
  }, 180_000);

  it('a reader that drops half-way keeps every message not handed over; the next login gets them, in order', async () => {
    const total = 300;
    await backlog('dave', total);
    const first = await login('dave', 'first');
    first.write('<presence/>');
    await expect.poll(() => backlogIds(first.text).length, { timeout: 60_000 }).toBeGreaterThanOrEqual(10);
    first.pause();
    // The server writes until the connection's buffers are full, then waits for them to drain.
    let left = -1;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1_500));
      const now = (await rows('dave')).length;
      if (now === left) break;
      left = now;
    }
    first.destroy();
    await first.closed;
    const received = backlogIds(first.text);
    // The rows of the window written when the connection dropped settle; then nothing changes.
    await new Promise((r) => setTimeout(r, 1_000));
    const remaining = (await rows('dave')).map((s) => Number(/id='b(\d+)'/.exec(s)![1]));
    expect(remaining.length).toBeGreaterThan(0);
    // What is left is the end of the backlog, in order, and none of it had been read.
    expect(remaining).toEqual(range(total - remaining.length, total));
    expect(received).toEqual(range(0, received.length));
    expect(received.length).toBeLessThanOrEqual(total - remaining.length);

    const second = await login('dave', 'second');
    second.write('<presence/>');
    await expect
      .poll(() => backlogIds(second.text).length, { timeout: 120_000, interval: 200 })
      .toBe(remaining.length);
    expect(backlogIds(second.text)).toEqual(remaining);
    await expect.poll(() => rows('dave'), { timeout: 10_000 }).toEqual([]);
  }, 240_000);

  it('initial presence sent again while the backlog goes out does not send it twice', async () => {
    await backlog('erin', 20);
    const erin = await login('erin', 'twice');
    erin.write("<presence/><presence type='unavailable'/><presence/>");
    await expect.poll(() => backlogIds(erin.text).length, { timeout: 60_000 }).toBeGreaterThanOrEqual(20);
    await expect.poll(() => rows('erin'), { timeout: 10_000 }).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(backlogIds(erin.text)).toEqual(range(0, 20));
  }, 90_000);
});

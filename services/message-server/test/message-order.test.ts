/**
 * Messages arrive in the order they were sent, stored or not (docs/decisions/0016-message-order.md): what was stored
 * for an account reaches it before anything sent later — between its bind and its initial presence, while its
 * backlog goes out, and while its bind is still being answered — and an account with nothing stored still gets
 * messages at once, initial presence or not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '@irsp/store';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';
import { RawSession } from './raw-session.js';

const PING = (id: string) => `<iq type='get' id='${id}'><ping xmlns='urn:xmpp:ping'/></iq>`;
const PONG = (id: string) => new RegExp(`<iq type='result' id='${id}' to='alice@as1\\.irsp\\.test/send'/>`);
const message = (to: string, id: string, body = id) =>
  `<message to='${to}@as1.irsp.test' type='chat' id='${id}'><body>${body}</body></message>`;
const STAMP = /<delay xmlns='urn:xmpp:delay' from='as1\.irsp\.test' stamp='[^']+'>Offline Storage<\/delay>/;

/** The ids of the complete messages read, in the order read, each with whether it came from storage. */
function arrivals(text: string): string[] {
  return [...text.matchAll(/<message [^>]*id='([^']+)'[^>]*>((?:(?!<\/message>).)*)<\/message>/gs)].map(
    (m) => (STAMP.test(m[2]!) ? `${m[1]} (stored)` : m[1]!),
  );
}

/** Holds the bind's question whether anything is stored, while shut. */
class BindCheckGate {
  arrived = 0;
  private opened: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;

  shut(): void {
    this.opened = new Promise((resolve) => (this.release = resolve));
  }

  open(): void {
    this.release();
  }

  wrap(db: Db): Db {
    return {
      ...db,
      query: async <T>(sql: string, params?: unknown[]) => {
        if (sql.startsWith('SELECT EXISTS (SELECT 1 FROM offline_messages')) {
          this.arrived++;
          await this.opened;
        }
        return db.query<T>(sql, params);
      },
    };
  }
}

let fixture: XmppFixture;
const gate = new BindCheckGate();
const sessions: RawSession[] = [];
let alice: RawSession;
let ping = 0;

async function login(username: string, resource: string): Promise<RawSession> {
  const session = await RawSession.login(fixture, username, `${username} pw`, resource);
  sessions.push(session);
  return session;
}

/** alice sends `stanzas`, then a ping; resolves once it is answered (everything before it handled, stored ones committed). */
async function send(...stanzas: string[]): Promise<void> {
  const id = `p${++ping}`;
  alice.write(stanzas.join('') + PING(id));
  await alice.waitFor(PONG(id));
}

async function rows(owner: string): Promise<number> {
  const r = await fixture.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM offline_messages WHERE owner = $1',
    [owner],
  );
  return r.rows[0]!.n;
}

const RECIPIENTS = ['bob', 'carol', 'dave', 'erin', 'frank', 'gina'];

beforeAll(async () => {
  fixture = await startXmppMessageServer({ directTls: true, wrapDb: (db) => gate.wrap(db) });
  for (const name of ['alice', ...RECIPIENTS]) await fixture.register(name, `${name} pw`);
  await fixture.db.query(
    `INSERT INTO roster (owner, contact, subscription)
     SELECT 'alice', r || '@as1.irsp.test', 'both' FROM unnest($1::text[]) AS r
     UNION ALL SELECT r, 'alice@as1.irsp.test', 'both' FROM unnest($1::text[]) AS r`,
    [RECIPIENTS],
  );
  alice = await login('alice', 'send');
}, 60_000);

afterAll(async () => {
  for (const session of sessions) session.destroy();
  await fixture?.close();
});

describe('stored messages come first', () => {
  it('messages sent between bind and initial presence wait behind what was stored before', async () => {
    await send(message('bob', 'm1'), message('bob', 'm2'));
    const bob = await login('bob', 'phone');
    await send(message('bob', 'm3'), message('bob', 'm4'));
    // Not before initial presence: they joined the stored ones.
    await new Promise((r) => setTimeout(r, 300));
    expect(arrivals(bob.text)).toEqual([]);
    expect(await rows('bob')).toBe(4);
    bob.write('<presence/>');
    await expect.poll(() => arrivals(bob.text).length, { timeout: 10_000 }).toBe(4);
    expect(arrivals(bob.text)).toEqual(['m1 (stored)', 'm2 (stored)', 'm3 (stored)', 'm4 (stored)']);
    // Once the backlog is out, messages go at once again.
    await expect.poll(() => rows('bob'), { timeout: 10_000 }).toBe(0);
    await send(message('bob', 'm5'));
    await expect.poll(() => arrivals(bob.text).length, { timeout: 10_000 }).toBe(5);
    expect(arrivals(bob.text).at(-1)).toBe('m5');
  });

  it('messages sent while a backlog goes out arrive after it', async () => {
    // 200 × 60 KB, more than the connection's buffers hold (inserted directly, as stored messages are kept).
    await fixture.db.query(
      `INSERT INTO offline_messages (owner, stanza, expires_at)
       SELECT 'carol', format('<message from=''alice@as1.irsp.test/send'' to=''carol@as1.irsp.test'' type=''chat'' id=''b%s''><body>%s</body></message>', i, repeat('x', 60000)),
              now() + interval '1 day'
         FROM generate_series(0, 199) AS i ORDER BY i`,
    );
    const carol = await login('carol', 'phone');
    // It does not read for a while: the backlog fills the buffers and the rest waits on the server.
    carol.pause();
    carol.write('<presence/>');
    await new Promise((r) => setTimeout(r, 500));
    await send(message('carol', 'live1'), message('carol', 'live2'));
    carol.resume();
    await expect.poll(() => arrivals(carol.text).length, { timeout: 60_000 }).toBe(202);
    expect(arrivals(carol.text).map((a) => a.replace(' (stored)', ''))).toEqual([
      ...Array.from({ length: 200 }, (_, i) => `b${i}`),
      'live1',
      'live2',
    ]);
  });

  it('an account with nothing stored gets messages at once, without initial presence (a device that never sends it)', async () => {
    const dave = await login('dave', 'lock');
    await send(message('dave', 'now'));
    await expect.poll(() => arrivals(dave.text), { timeout: 10_000 }).toEqual(['now']);
    expect(await rows('dave')).toBe(0);
  });
});

describe('while the bind asks whether anything is stored', () => {
  it('a message for an account with nothing stored waits for the bind result, then goes at once; its sender hears back after', async () => {
    gate.shut();
    const asked = gate.arrived;
    const binding = login('erin', 'phone');
    await expect.poll(() => gate.arrived, { timeout: 10_000 }).toBe(asked + 1);
    alice.write(message('erin', 'early') + PING('early-ping'));
    await new Promise((r) => setTimeout(r, 300));
    // The sender's answer waits for the message's fate.
    expect(alice.text).not.toMatch(PONG('early-ping'));
    gate.open();
    const erin = await binding;
    await alice.waitFor(PONG('early-ping'));
    await expect.poll(() => arrivals(erin.text), { timeout: 10_000 }).toEqual(['early']);
    expect(await rows('erin')).toBe(0);
  });

  it('a message for an account with something stored joins it in storage, in order', async () => {
    await send(message('frank', 'old'));
    gate.shut();
    const asked = gate.arrived;
    const binding = login('frank', 'phone');
    await expect.poll(() => gate.arrived, { timeout: 10_000 }).toBe(asked + 1);
    alice.write(message('frank', 'early') + PING('early-ping-2'));
    await new Promise((r) => setTimeout(r, 300));
    gate.open();
    const frank = await binding;
    await alice.waitFor(PONG('early-ping-2'));
    expect(await rows('frank')).toBe(2);
    expect(arrivals(frank.text)).toEqual([]);
    frank.write('<presence/>');
    await expect
      .poll(() => arrivals(frank.text), { timeout: 10_000 })
      .toEqual(['old (stored)', 'early (stored)']);
  });
});

describe('a client whose stream management acks lag behind', () => {
  it('still gets later messages live once its backlog is written; the stored row goes only when acknowledged', async () => {
    await send(message('gina', 'stored'));
    const gina = await login('gina', 'phone');
    gina.write("<enable xmlns='urn:xmpp:sm:3'/>");
    await gina.waitFor(/<enabled xmlns='urn:xmpp:sm:3'[^>]*\/>/);
    // It never answers the server's <r/>: nothing it receives is acknowledged.
    gina.write('<presence/>');
    await expect.poll(() => arrivals(gina.text), { timeout: 10_000 }).toEqual(['stored (stored)']);
    await send(message('gina', 'after'));
    await expect.poll(() => arrivals(gina.text), { timeout: 10_000 }).toEqual(['stored (stored)', 'after']);
    expect(await rows('gina')).toBe(1);
    // Everything acknowledged (h counts every stanza it got: its presence back, the two messages).
    const received = (gina.text.match(/<(message|presence|iq)[ >]/g) ?? []).length;
    gina.write(`<a xmlns='urn:xmpp:sm:3' h='${received}'/>`);
    await expect.poll(() => rows('gina'), { timeout: 10_000 }).toBe(0);
  });
});

/**
 * The output barrier across ASs (clause 8.5): a message from another AS to an offline account is stored by the
 * recipient's message server, and what that server answers the sender afterwards (over s2s) waits for the commit —
 * a refusal comes back in the message's place, before those answers.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePorts, tempDir } from '../../../test/support/irsp.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';
import { RawSession } from './raw-session.js';
import { StoreGate } from './store-gate.js';

const AS1 = 'as1.irsp.test';
const AS2 = 'as2.irsp.test';
/** A ping to a resource of bob's that is not online: AS2 answers it (service-unavailable) on bob's behalf. */
const PING = (id: string) =>
  `<iq type='get' id='${id}' to='bob@${AS2}/phone'><ping xmlns='urn:xmpp:ping'/></iq>`;
const PONG = (id: string) =>
  `<iq from='bob@as2\\.irsp\\.test/phone' to='alice@as1\\.irsp\\.test/send' id='${id}' type='error'>` +
  "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>";

let dir: Awaited<ReturnType<typeof tempDir>>;
let as1: XmppFixture;
let as2: XmppFixture;
let alice: RawSession;
const gate = new StoreGate();

async function rows(): Promise<string[]> {
  const r = await as2.db.query<{ stanza: string }>(
    `SELECT stanza FROM offline_messages WHERE owner = 'bob' ORDER BY id`,
  );
  return r.rows.map((row) => row.stanza);
}

beforeAll(async () => {
  dir = await tempDir();
  const [s2s1, s2s2] = await freePorts(2);
  const routes = { [AS1]: [{ host: '127.0.0.1', port: s2s1! }], [AS2]: [{ host: '127.0.0.1', port: s2s2! }] };
  const federation = { routes };
  as1 = await startXmppMessageServer({
    domain: AS1,
    tlsDir: dir.path,
    s2sPort: s2s1,
    federation,
    directTls: true,
  });
  as2 = await startXmppMessageServer({
    domain: AS2,
    tlsDir: dir.path,
    s2sPort: s2s2,
    federation,
    wrapDb: (db) => gate.wrap(db),
  });
  await as1.register('alice', 'alice pw');
  await as2.register('bob', 'bob pw');
  // Related on both sides (clause 8.5: each AS checks its own rosters).
  await as1.db.query(
    `INSERT INTO roster (owner, contact, subscription) VALUES ('alice', 'bob@${AS2}', 'both')`,
  );
  await as2.db.query(
    `INSERT INTO roster (owner, contact, subscription) VALUES ('bob', 'alice@${AS1}', 'both')`,
  );
  alice = await RawSession.login(as1, 'alice', 'alice pw', 'send');
  // The streams between the ASs are set up by a first exchange.
  alice.write(PING('p0'));
  await alice.take(new RegExp(PONG('p0')), 30_000);
}, 90_000);

afterAll(async () => {
  alice?.destroy();
  await as2?.close();
  await as1?.close();
  await dir?.remove();
});

it('a ping answered by the other AS after a message to its offline account means the message is committed there', async () => {
  gate.shut();
  const arrived = gate.arrived;
  alice.write(`<message to='bob@${AS2}' type='chat' id='m1'><body>held</body></message>${PING('p1')}`);
  await expect.poll(() => gate.arrived, { timeout: 10_000 }).toBe(arrived + 1);
  await new Promise((r) => setTimeout(r, 500));
  expect(alice.text).toBe('');
  expect(await rows()).toEqual([]);
  gate.open();
  await alice.take(new RegExp(PONG('p1')));
  expect(await rows()).toEqual([
    `<message to='bob@${AS2}' type='chat' id='m1' from='alice@${AS1}/send'><body>held</body></message>`,
  ]);
});

it('a message the other AS cannot store comes back as an error before its later answers', async () => {
  gate.failing = true;
  try {
    alice.write(`<message to='bob@${AS2}' type='chat' id='m2'><body>lost?</body></message>${PING('p2')}`);
    await alice.take(
      new RegExp(
        `<message from='bob@as2\\.irsp\\.test' to='alice@as1\\.irsp\\.test/send' id='m2' type='error'>` +
          "<error type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" +
          "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>not stored; try again</text></error></message>" +
          PONG('p2'),
      ),
      15_000,
    );
  } finally {
    gate.failing = false;
  }
  expect(await rows()).toHaveLength(1);
});

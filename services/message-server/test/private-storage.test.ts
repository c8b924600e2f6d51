/**
 * XEP-0049 Private XML Storage (decision 0025): one element per namespace per account, XEP-0048 bookmarks through
 * it, kept in the database across sessions, bounded per account, refused for reserved namespaces and malformed
 * requests, and removed with the account (Message 5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client } from '@xmpp/client';
import { form } from '../../../test/support/irsp.js';
import { XmppClients } from './clients.js';
import { DOMAIN, accountServerAuth, startXmppMessageServer, type XmppFixture } from './fixture.js';

const PRIVATE = 'jabber:iq:private';
const BOOKMARKS = 'storage:bookmarks';
const alice = `alice@${DOMAIN}`;

let fixture: XmppFixture;
const clients = new XmppClients(() => fixture);
let phone: Client;

beforeAll(async () => {
  fixture = await startXmppMessageServer();
  for (const name of ['alice', 'bob']) await fixture.register(name, `${name} pw`);
  phone = await clients.login('alice', 'phone');
});

afterAll(async () => {
  await clients.stopAll();
  await fixture?.close();
});

const bookmarks = xml(
  'storage',
  { xmlns: BOOKMARKS },
  xml(
    'conference',
    { name: 'Council', autojoin: 'true', jid: 'council@conference.example' },
    xml('nick', {}, 'al'),
  ),
);

/** The answer to an iq `phone` sends with id `id` (errors included). */
async function ask(client: Client, id: string, type: 'get' | 'set', ...children: ReturnType<typeof xml>[]) {
  await client.send(xml('iq', { type, id }, xml('query', { xmlns: PRIVATE }, ...children)));
  return (await clients.received(client, (s) => s.is('iq') && s.attrs.id === id)).toString();
}

const error = (id: string, type: string, condition: string, text?: string) =>
  `<iq to="${alice}/phone" id="${id}" type="error" from="${DOMAIN}"><error type="${type}"><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>${
    text === undefined ? '' : `<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas" xml:lang="en">${text}</text>`
  }</error></iq>`;

describe('XEP-0049 private XML storage', () => {
  it('a namespace never stored answers the empty element asked for', async () => {
    expect(await ask(phone, 'g0', 'get', xml('storage', { xmlns: BOOKMARKS }))).toBe(
      `<iq type="result" id="g0" to="${alice}/phone"><query xmlns="${PRIVATE}"><storage xmlns="${BOOKMARKS}"/></query></iq>`,
    );
  });

  it('XEP-0048 bookmarks are stored, read back by another session, and replaced', async () => {
    expect(await ask(phone, 's1', 'set', bookmarks)).toBe(`<iq type="result" id="s1" to="${alice}/phone"/>`);
    const laptop = await clients.login('alice', 'laptop');
    expect(await ask(laptop, 'g1', 'get', xml('storage', { xmlns: BOOKMARKS }))).toBe(
      `<iq type="result" id="g1" to="${alice}/laptop"><query xmlns="${PRIVATE}"><storage xmlns="${BOOKMARKS}"><conference name="Council" autojoin="true" jid="council@conference.example"><nick>al</nick></conference></storage></query></iq>`,
    );
    await ask(phone, 's2', 'set', xml('storage', { xmlns: BOOKMARKS }));
    expect(await ask(laptop, 'g2', 'get', xml('storage', { xmlns: BOOKMARKS }))).toBe(
      `<iq type="result" id="g2" to="${alice}/laptop"><query xmlns="${PRIVATE}"><storage xmlns="${BOOKMARKS}"/></query></iq>`,
    );
    await laptop.stop();
    expect(
      (await fixture.db.query('SELECT owner, namespace, element FROM private_storage ORDER BY namespace'))
        .rows,
    ).toEqual([{ owner: 'alice', namespace: BOOKMARKS, element: `<storage xmlns='${BOOKMARKS}'/>` }]);
  });

  it("one account's storage is its own", async () => {
    await ask(phone, 's3', 'set', xml('prefs', { xmlns: 'urn:example:prefs' }, 'dark'));
    const bob = await clients.login('bob', 'r');
    await bob.send(
      xml(
        'iq',
        { type: 'get', id: 'b1' },
        xml('query', { xmlns: PRIVATE }, xml('prefs', { xmlns: 'urn:example:prefs' })),
      ),
    );
    const answer = await clients.received(bob, (s) => s.attrs.id === 'b1');
    expect(answer.getChild('query', PRIVATE)!.toString()).toBe(
      `<query xmlns="${PRIVATE}"><prefs xmlns="urn:example:prefs"/></query>`,
    );
    // Addressed to another account's bare JID: not answered for it.
    await bob.send(
      xml(
        'iq',
        { type: 'get', id: 'b2', to: alice },
        xml('query', { xmlns: PRIVATE }, xml('prefs', { xmlns: 'urn:example:prefs' })),
      ),
    );
    const refused = await clients.received(bob, (s) => s.attrs.id === 'b2');
    expect(refused.attrs.type).toBe('error');
    expect(refused.getChild('error')!.getChild('service-unavailable')).toBeDefined();
  });

  it('reserved namespaces, no child, a child in jabber:iq:private, two of one namespace, two in a get: not-acceptable', async () => {
    for (const [id, children] of [
      ['r1', [xml('x', { xmlns: 'jabber:client' })]],
      ['r2', [xml('x', { xmlns: 'jabber:server' })]],
      ['r4', [xml('x', { xmlns: 'jabber:iq:roster' })]],
    ] as const)
      expect(await ask(phone, id, 'set', ...children)).toBe(
        error(id, 'modify', 'not-acceptable', 'jabber: namespaces cannot be stored'),
      );
    expect(await ask(phone, 'r3', 'set', xml('query', { xmlns: PRIVATE }))).toBe(
      error('r3', 'modify', 'not-acceptable', 'one child element in a namespace of its own'),
    );
    expect(await ask(phone, 'r5', 'set')).toBe(
      error('r5', 'modify', 'not-acceptable', 'one child element in a namespace of its own'),
    );
    // A child without a namespace of its own inherits jabber:iq:private.
    expect(await ask(phone, 'r6', 'set', xml('plain', {}))).toBe(
      error('r6', 'modify', 'not-acceptable', 'one child element in a namespace of its own'),
    );
    expect(await ask(phone, 'r7', 'set', xml('a', { xmlns: 'urn:x' }), xml('b', { xmlns: 'urn:x' }))).toBe(
      error('r7', 'modify', 'not-acceptable', 'one element per namespace'),
    );
    expect(await ask(phone, 'r8', 'get', xml('a', { xmlns: 'urn:x' }), xml('b', { xmlns: 'urn:y' }))).toBe(
      error('r8', 'modify', 'not-acceptable', 'one namespace per get'),
    );
    expect(
      (
        await fixture.db.query(
          `SELECT namespace FROM private_storage WHERE namespace NOT LIKE 'urn:example:%' AND namespace <> $1`,
          [BOOKMARKS],
        )
      ).rows,
    ).toEqual([]);
  });

  it('an account stores at most 64 KiB: above, not-acceptable and nothing changes', async () => {
    const big = (ns: string, n: number) => xml('data', { xmlns: ns }, 'x'.repeat(n));
    // 40 000 + 30 000 bytes: the second one does not fit beside the first.
    expect(await ask(phone, 'q1', 'set', big('urn:example:one', 40_000))).toBe(
      `<iq type="result" id="q1" to="${alice}/phone"/>`,
    );
    expect(await ask(phone, 'q2', 'set', big('urn:example:two', 30_000))).toBe(
      error('q2', 'modify', 'not-acceptable', 'private storage holds at most 65536 bytes per account'),
    );
    // Replacing the first one by a smaller one makes room.
    await ask(phone, 'q3', 'set', big('urn:example:one', 10));
    expect(await ask(phone, 'q4', 'set', big('urn:example:two', 30_000))).toBe(
      `<iq type="result" id="q4" to="${alice}/phone"/>`,
    );
    // One element alone above the bound.
    expect(await ask(phone, 'q5', 'set', big('urn:example:three', 70_000))).toBe(
      error('q5', 'modify', 'not-acceptable', 'private storage holds at most 65536 bytes per account'),
    );
    const rows = await fixture.db.query<{ namespace: string; n: number }>(
      `SELECT namespace, octet_length(element) AS n FROM private_storage WHERE owner = 'alice' ORDER BY namespace`,
    );
    expect(rows.rows).toEqual([
      { namespace: 'storage:bookmarks', n: 36 },
      { namespace: 'urn:example:one', n: 47 },
      { namespace: 'urn:example:prefs', n: 45 },
      { namespace: 'urn:example:two', n: 30_037 },
    ]);
  });

  it('goes with the account (Message 5)', async () => {
    const answer = await fixture.http.post(
      `${fixture.base}/user/remove`,
      form({ ...accountServerAuth, name: 'alice' }),
    );
    expect(answer.status).toBe(200);
    expect(
      (await fixture.db.query(`SELECT namespace FROM private_storage WHERE owner = 'alice'`)).rows,
    ).toEqual([]);
  });
});

/**
 * XMPP over WebSocket (RFC 7395) at the message server: @xmpp/client's WebSocket transport logs in with the
 * accounts of Messages 1–2 at `wss://…/xmpp-websocket` and talks to a related account on TCP (STARTTLS) — the
 * same router, rules and errors behind both transports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket as UndiciWebSocket } from 'undici';
import { client, xml, type Client, type XmlElement } from '@xmpp/client';
import { xmppLogin } from '../../../test/support/xmpp.js';
import { DOMAIN, startXmppMessageServer, type XmppFixture } from './fixture.js';

const ROSTER = 'jabber:iq:roster';

let fixture: XmppFixture;
const clients: Client[] = [];
const inboxes = new Map<Client, XmlElement[]>();
// @xmpp/websocket uses the global WebSocket, which Node 20 has only behind a flag: undici's is the same one.
const nodeWebSocket = globalThis.WebSocket;

function keepInbox(xmpp: Client): Client {
  clients.push(xmpp);
  inboxes.set(xmpp, []);
  xmpp.on('stanza', (s: XmlElement) => inboxes.get(xmpp)!.push(s));
  return xmpp;
}

/** Logs in over WebSocket; TLS is checked against the fixture's CA (trustCaForXmppClients covers undici too). */
async function wsLogin(
  username: string,
  password: string,
  resource: string,
  mechanism: 'PLAIN' | 'SCRAM-SHA-1' = 'SCRAM-SHA-1',
): Promise<Client> {
  const xmpp = client({
    service: `wss://127.0.0.1:${fixture.websocketPort}/xmpp-websocket`,
    domain: DOMAIN,
    resource,
    credentials: async (authenticate: (c: object, m: string) => Promise<void>) =>
      authenticate({ username, password }, mechanism),
  });
  xmpp.reconnect.stop();
  xmpp.on('error', () => undefined);
  await xmpp.start();
  return keepInbox(xmpp);
}

async function tcpLogin(username: string, resource: string): Promise<Client> {
  return keepInbox(
    await xmppLogin({
      port: fixture.c2sPort,
      domain: DOMAIN,
      username,
      password: `${username} pw`,
      resource,
    }),
  );
}

/** The first received stanza matching, taken out of the inbox. */
async function received(xmpp: Client, match: (s: XmlElement) => boolean): Promise<XmlElement> {
  const inbox = inboxes.get(xmpp)!;
  const until = Date.now() + 5_000;
  for (;;) {
    const found = inbox.find(match);
    if (found) {
      inbox.splice(inbox.indexOf(found), 1);
      return found;
    }
    if (Date.now() > until) throw new Error(`nothing matching arrived; inbox: ${inbox.join('\n')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rosterPush = (jid: string, subscription: string) => (s: XmlElement) => {
  const item =
    s.is('iq') && s.attrs.type === 'set' ? s.getChild('query', ROSTER)?.getChild('item') : undefined;
  return item?.attrs.jid === jid && item.attrs.subscription === subscription;
};

beforeAll(async () => {
  globalThis.WebSocket = UndiciWebSocket as unknown as typeof globalThis.WebSocket;
  fixture = await startXmppMessageServer({ websocket: true });
  for (const name of ['alice', 'bob', 'carol']) await fixture.register(name, `${name} pw`);
  await fixture.register('#lock1', '#lock1 pw');
});

afterAll(async () => {
  for (const xmpp of clients) await xmpp.stop().catch(() => undefined);
  await fixture?.close();
  globalThis.WebSocket = nodeWebSocket;
});

describe('login over WebSocket (RFC 7395, wss only)', () => {
  it('the message server listens at wss://127.0.0.1:<port>/xmpp-websocket', () => {
    expect(fixture.websocketPort).toBeGreaterThan(0);
    expect(fixture.websocketPort).not.toBe(fixture.c2sPort);
  });

  it('a user logs in with SCRAM-SHA-1, a device with PLAIN (TLS is the wss layer)', async () => {
    const alice = await wsLogin('alice', 'alice pw', 'browser');
    expect(alice.jid?.toString()).toBe('alice@as1.irsp.test/browser');
    const lock = await wsLogin('#lock1', '#lock1 pw', 'main', 'PLAIN');
    expect(lock.jid?.toString()).toBe('#lock1@as1.irsp.test/main');
  });

  // docs/client-protocol.md: what a Node 20 client without a WebSocket of its own sees (Node 22 has one).
  it.skipIf(typeof nodeWebSocket === 'function')(
    'without a global WebSocket (Node 20 without --experimental-websocket) @xmpp/client cannot connect',
    async () => {
      delete (globalThis as { WebSocket?: unknown }).WebSocket;
      try {
        await expect(wsLogin('alice', 'alice pw', 'node20')).rejects.toThrow('WebSocket is not defined');
      } finally {
        globalThis.WebSocket = UndiciWebSocket as unknown as typeof globalThis.WebSocket;
      }
    },
  );

  it('a wrong password is not-authorized, as over TCP', async () => {
    await expect(wsLogin('alice', 'wrong', 'x')).rejects.toThrow(/not-authorized/);
  });

  it('the server answers XEP-0199 pings over WebSocket', async () => {
    const alice = clients[0]!;
    const pong = await alice.iqCaller.request(
      xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    expect(pong.attrs).toMatchObject({ type: 'result', from: DOMAIN });
  });
});

describe('one router for both transports', () => {
  it('an unrelated account on TCP is blocked (service-unavailable, clause 7.2)', async () => {
    const alice = clients[0]!;
    await tcpLogin('bob', 'desk');
    await alice.send(
      xml('message', { to: 'bob@as1.irsp.test', id: 'w1', type: 'chat' }, xml('body', {}, 'hi')),
    );
    const error = await received(alice, (s) => s.is('message') && s.attrs.id === 'w1');
    expect(error.attrs).toMatchObject({ type: 'error', from: 'bob@as1.irsp.test' });
    expect(error.getChild('error')?.getChild('service-unavailable')).toBeDefined();
  });

  it('a relationship made across transports; messages and presence then pass both ways', async () => {
    const alice = clients[0]!;
    const bob = clients.find((c) => c.jid?.toString() === 'bob@as1.irsp.test/desk')!;
    await alice.send(xml('presence'));
    await bob.send(xml('presence'));
    await alice.send(xml('presence', { to: 'bob@as1.irsp.test', type: 'subscribe' }));
    await received(bob, (s) => s.is('presence') && s.attrs.type === 'subscribe');
    await bob.send(xml('presence', { to: 'alice@as1.irsp.test', type: 'subscribed' }));
    await received(alice, rosterPush('bob@as1.irsp.test', 'both'));
    await received(alice, (s) => s.is('presence') && s.attrs.from === 'bob@as1.irsp.test/desk');

    await alice.send(
      xml('message', { to: 'bob@as1.irsp.test/desk', type: 'chat' }, xml('body', {}, 'from the browser')),
    );
    const toBob = await received(
      bob,
      (s) => s.is('message') && s.getChildText('body') === 'from the browser',
    );
    expect(toBob.attrs.from).toBe('alice@as1.irsp.test/browser');

    await bob.send(xml('message', { to: 'alice@as1.irsp.test', type: 'chat' }, xml('body', {}, 'from TCP')));
    const toAlice = await received(alice, (s) => s.is('message') && s.getChildText('body') === 'from TCP');
    expect(toAlice.attrs).toMatchObject({ from: 'bob@as1.irsp.test/desk', to: 'alice@as1.irsp.test' });
  });

  it('logging out over WebSocket sends unavailable presence to the related account', async () => {
    const alice = clients[0]!;
    const bob = clients.find((c) => c.jid?.toString() === 'bob@as1.irsp.test/desk')!;
    await alice.stop();
    await received(
      bob,
      (s) =>
        s.is('presence') && s.attrs.from === 'alice@as1.irsp.test/browser' && s.attrs.type === 'unavailable',
    );
  });

  it('stored messages reach a WebSocket client at its next login and are then deleted (confirmed by ws)', async () => {
    const bob = clients.find((c) => c.jid?.toString() === 'bob@as1.irsp.test/desk')!;
    for (const n of [1, 2, 3])
      await bob.send(
        xml('message', { to: 'alice@as1.irsp.test', type: 'chat' }, xml('body', {}, `kept ${n}`)),
      );
    const stored = async (body: string) =>
      (
        await fixture.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM offline_messages WHERE owner = 'alice' AND stanza LIKE $1`,
          [`%${body}%`],
        )
      ).rows[0]!.n;
    await expect.poll(() => stored('kept ')).toBe(3);
    const alice = await wsLogin('alice', 'alice pw', 'browser');
    await alice.send(xml('presence'));
    for (const n of [1, 2, 3]) {
      const message = await received(alice, (s) => s.is('message') && s.getChildText('body') === `kept ${n}`);
      expect(message.getChild('delay', 'urn:xmpp:delay')?.attrs.from).toBe(DOMAIN);
    }
    // All of alice's rows: these, and any her last session left unacknowledged (XEP-0198 stored those).
    await expect.poll(() => stored('')).toBe(0);
  });

  it('no password reaches the log', () => {
    const text = fixture.log.lines.join('\n');
    for (const secret of ['alice pw', '#lock1 pw', 'bob pw']) expect(text).not.toContain(secret);
  });
});

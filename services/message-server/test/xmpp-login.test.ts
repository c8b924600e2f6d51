/**
 * Users and devices log in to the message server over XMPP (RFC 6120) with the accounts of Messages 1–6:
 * STARTTLS required, SCRAM and PLAIN, resource binding, the blocking rule, and the stream errors hostile input
 * gets — with @xmpp/client as the real client and a raw socket for what no real client sends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guessingSchema } from '@irsp/config';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import { form, type TestClient } from '../../../test/support/irsp.js';
import { RawXmpp, xmppLogin } from '../../../test/support/xmpp.js';
import { DOMAIN, accountServerAuth as auth, startXmppMessageServer, type XmppFixture } from './fixture.js';

let fixture: XmppFixture;
let admin: TestClient;
let base: string;
let c2sPort: number;
let directTlsPort: number;
const clients: Client[] = [];

async function login(
  username: string,
  password: string,
  resource?: string,
  mechanism?: 'PLAIN' | 'SCRAM-SHA-1',
) {
  const client = await xmppLogin({ port: c2sPort, domain: DOMAIN, username, password, resource, mechanism });
  clients.push(client);
  return client;
}

function nextStanza(client: Client, match: (s: XmlElement) => boolean): Promise<XmlElement> {
  return new Promise((resolve) => {
    const listener = (stanza: XmlElement) => {
      if (!match(stanza)) return;
      client.off('stanza', listener);
      resolve(stanza);
    };
    client.on('stanza', listener);
  });
}

beforeAll(async () => {
  fixture = await startXmppMessageServer({
    directTls: true,
    c2sLimits: { maxStanzaBytes: 16 * 1024, authTimeoutMs: 3_000 },
    // Throttling has tests of its own (login-throttle.test.ts); here wrong passwords must not slow the others.
    guessing: guessingSchema.parse({
      passwords: {
        backoff: { freeFailures: 1_000 },
        limits: { perPair: 1_000, perTarget: 1_000, perSource: 1_000 },
      },
    }),
  });
  ({ http: admin, base, c2sPort } = fixture);
  directTlsPort = fixture.directTlsPort!;
  await fixture.register('alice', 'alice secret');
  await fixture.register('bob', 'bob secret');
  await fixture.register('#lock1', 'lock secret');
});

afterAll(async () => {
  for (const client of clients) await client.stop().catch(() => undefined);
  await fixture?.close();
});

describe('login (RFC 6120 §5–7 with the accounts of Messages 1–6)', () => {
  it('a user logs in over STARTTLS with SCRAM-SHA-1 and gets the full JID it asked for', async () => {
    const alice = await login('alice', 'alice secret', 'phone');
    expect(alice.jid?.toString()).toBe('alice@as1.irsp.test/phone');
  });

  it('a device logs in with PLAIN inside TLS; its local part keeps the #', async () => {
    const lock = await login('#lock1', 'lock secret', 'main', 'PLAIN');
    expect(lock.jid?.toString()).toBe('#lock1@as1.irsp.test/main');
  });

  it('a wrong password or an unknown account is not-authorized', async () => {
    await expect(login('alice', 'wrong')).rejects.toThrow(/not-authorized/);
    await expect(login('nobody', 'x')).rejects.toThrow(/not-authorized/);
  });

  it('a password changed by Message 3 applies at the next login (the one read at an earlier login is forgotten)', async () => {
    await login('bob', 'bob secret', 'before');
    expect(
      (await admin.post(`${base}/user/modify`, form({ ...auth, name: 'bob', password: 'bob new' }))).status,
    ).toBe(200);
    await expect(login('bob', 'bob secret')).rejects.toThrow(/not-authorized/);
    const bob = await login('bob', 'bob new', 'laptop');
    expect(bob.jid?.toString()).toBe('bob@as1.irsp.test/laptop');
  });

  it('a device removed by Message 6 after a login cannot log in again, nor one re-registered with its old password', async () => {
    await fixture.register('#gone', 'gone secret');
    await login('#gone', 'gone secret', 'one');
    expect((await admin.post(`${base}/device/remove`, form({ ...auth, name: '#gone' }))).status).toBe(200);
    await expect(login('#gone', 'gone secret')).rejects.toThrow(/not-authorized/);
    await fixture.register('#gone', 'second secret');
    await expect(login('#gone', 'gone secret')).rejects.toThrow(/not-authorized/);
    expect((await login('#gone', 'second secret', 'two')).jid?.toString()).toBe('#gone@as1.irsp.test/two');
  });

  it('the server answers XEP-0199 pings and XEP-0030 disco#info at its own address', async () => {
    const alice = clients[0]!;
    const pong = await alice.iqCaller.request(
      xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    expect(pong.attrs.type).toBe('result');
    const info = await alice.iqCaller.request(
      xml(
        'iq',
        { type: 'get', to: DOMAIN },
        xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }),
      ),
    );
    expect(info.getChild('query')?.toString()).toContain('<identity category="server" type="im"');
  });
});

describe('routing', () => {
  it("a user's own resources reach each other (full and bare JID)", async () => {
    const phone = clients[0]!;
    const tablet = await login('alice', 'alice secret', 'tablet');
    const received = nextStanza(tablet, (s) => s.is('message'));
    await phone.send(
      xml('message', { to: 'alice@as1.irsp.test/tablet', type: 'chat' }, xml('body', {}, 'hello me')),
    );
    const message = await received;
    expect(message.attrs.from).toBe('alice@as1.irsp.test/phone');
    expect(message.getChildText('body')).toBe('hello me');
  });

  it('a stanza to an unrelated user is blocked with service-unavailable (clause 7.2 b)', async () => {
    const alice = clients[0]!;
    const error = nextStanza(alice, (s) => s.is('message') && s.attrs.type === 'error');
    await alice.send(xml('message', { to: 'bob@as1.irsp.test', id: 'm1' }, xml('body', {}, 'hi bob')));
    const stanza = await error;
    expect(stanza.attrs).toMatchObject({ from: 'bob@as1.irsp.test', id: 'm1', type: 'error' });
    expect(stanza.getChild('error')?.toString()).toBe(
      // As @xmpp/client's ltx writes it back (double quotes).
      '<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>',
    );
  });

  it('a second login with the same resource replaces the first (conflict)', async () => {
    const first = await login('#lock1', 'lock secret', 'dup');
    const closed = new Promise<string>((resolve) => first.on('error', (e: Error) => resolve(e.message)));
    await login('#lock1', 'lock secret', 'dup');
    expect(await closed).toMatch(/conflict/);
  });

  it('an account removed by Message 5 is logged out at once', async () => {
    const bob = clients.find((c) => c.jid?.toString() === 'bob@as1.irsp.test/laptop')!;
    const closed = new Promise<string>((resolve) => bob.on('error', (e: Error) => resolve(e.message)));
    expect((await admin.post(`${base}/user/remove`, form({ ...auth, name: 'bob' }))).status).toBe(200);
    expect(await closed).toMatch(/not-authorized/);
    await expect(login('bob', 'bob new')).rejects.toThrow(/not-authorized/);
  });
});

describe('hostile input gets the error the RFC prescribes, and the server keeps serving', () => {
  const header = (raw: RawXmpp) => raw.header(DOMAIN);
  const streamError = (condition: string) =>
    new RegExp(
      `<stream:error><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>.*</stream:error></stream:stream>`,
    );

  it('offers only STARTTLS (required) first, and answers <auth> before TLS with encryption-required', async () => {
    const raw = await RawXmpp.connect(c2sPort);
    header(raw);
    await raw.waitFor(
      /<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required\/><\/starttls><\/stream:features>/,
    );
    raw.write(
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAGFsaWNlIHNlY3JldA==</auth>",
    );
    await raw.waitFor(/<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required\/><\/failure>/);
    raw.destroy();
  });

  it.each([
    ['malformed XML', '<message><body>x</message>', 'not-well-formed'],
    ['a DOCTYPE', '<!DOCTYPE x [<!ENTITY a "b">]>', 'restricted-xml'],
    [
      'a message before authentication',
      "<message to='alice@as1.irsp.test'><body>x</body></message>",
      'policy-violation',
    ],
  ])('%s → %s stream error', async (_label, input, condition) => {
    const raw = await RawXmpp.connect(c2sPort);
    header(raw);
    await raw.waitFor(/<\/stream:features>/);
    raw.write(input);
    await raw.waitFor(streamError(condition));
    await raw.closed;
  });

  it('a wrong stream namespace → invalid-namespace; a wrong host → host-unknown', async () => {
    const a = await RawXmpp.connect(c2sPort);
    a.write(
      `<stream:stream to='${DOMAIN}' version='1.0' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>`,
    );
    await a.waitFor(streamError('invalid-namespace'));
    const b = await RawXmpp.connect(c2sPort);
    b.header('elsewhere.test');
    await b.waitFor(streamError('host-unknown'));
  });

  it('an oversized stanza → policy-violation', async () => {
    const raw = await RawXmpp.connect(c2sPort);
    header(raw);
    await raw.waitFor(/<\/stream:features>/);
    raw.write(`<message><body>${'x'.repeat(20 * 1024)}</body></message>`);
    await raw.waitFor(streamError('policy-violation'));
  });

  it('a client that never authenticates is cut off (connection-timeout)', async () => {
    const raw = await RawXmpp.connect(c2sPort);
    header(raw);
    await raw.waitFor(streamError('connection-timeout'), 6_000);
  });

  it('direct TLS (XEP-0368) offers SASL at once', async () => {
    const { connect } = await import('node:tls');
    const socket = connect({
      port: directTlsPort,
      host: '127.0.0.1',
      servername: DOMAIN,
      ca: fixture.ca,
    });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(
      `<stream:stream to='${DOMAIN}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
    );
    await expect
      .poll(() => text)
      .toContain(
        '<mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>',
      );
    socket.destroy();
  });

  it('after all of that, logins and routing still work', async () => {
    const tablet = clients.find((c) => c.jid?.toString() === 'alice@as1.irsp.test/tablet')!;
    const pong = await tablet.iqCaller.request(
      xml('iq', { type: 'get', to: DOMAIN }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    expect(pong.attrs.type).toBe('result');
    expect((await login('alice', 'alice secret', 'late')).jid?.toString()).toBe('alice@as1.irsp.test/late');
  });

  it('no password reaches the log', () => {
    const text = fixture.log.lines.join('\n');
    for (const secret of ['alice secret', 'lock secret', 'bob new', 'bob secret'])
      expect(text).not.toContain(secret);
  });
});

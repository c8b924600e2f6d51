/**
 * The c2s listener without TLS, for a TLS-terminating proxy in front of the server: no STARTTLS offered, SASL
 * with SCRAM only (PLAIN is neither offered nor accepted), then bind and stanzas as on every other listener; the
 * STARTTLS listener of the same server keeps requiring TLS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  C2sServer,
  jidToString,
  plainMechanism,
  scramMechanism,
  type C2sLogger,
  type C2sRouter,
  type C2sSession,
  type Element,
} from '../../src/index.js';
import { serverTlsFor, tempDir } from '../../../../test/support/irsp.js';
import { RawXmpp } from '../../../../test/support/xmpp.js';
import {
  DOMAIN,
  HEADER,
  SASL,
  SCRAM_FEATURES,
  SERVER_HEADER,
  authenticate,
  bind,
  lookupIn,
  quote,
} from './raw-session.js';

const passwords: Record<string, string> = { alice: 'alice pw', bob: 'bob pw' };
const lookup = lookupIn(passwords);

class TestRouter implements C2sRouter {
  readonly sessions = new Map<string, C2sSession>();
  bound(session: C2sSession): void {
    this.sessions.set(jidToString(session.jid), session);
  }
  route(_session: C2sSession, stanza: Element): void {
    const target = stanza.attrs.to === undefined ? undefined : this.sessions.get(stanza.attrs.to);
    target?.send(stanza);
  }
  unbound(session: C2sSession): void {
    this.sessions.delete(jidToString(session.jid));
  }
}

const silent: C2sLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

let dir: Awaited<ReturnType<typeof tempDir>>;
let tls: { cert: string; key: string };
let server: C2sServer;
let router: TestRouter;
let plainPort: number;
let starttlsPort: number;
const raws: RawXmpp[] = [];

async function open(port = plainPort): Promise<RawXmpp> {
  const raw = await RawXmpp.connect(port);
  raws.push(raw);
  return raw;
}

/** SCRAM-SHA-1 on the plain listener, restart, bind: a bound stream. */
async function login(user: string, resource: string): Promise<RawXmpp> {
  const raw = await authenticate(plainPort, user, passwords[user]!);
  raws.push(raw);
  await bind(raw, user, resource);
  return raw;
}

beforeAll(async () => {
  dir = await tempDir();
  tls = await serverTlsFor(dir.path, 'c2s', [DOMAIN]);
  router = new TestRouter();
  server = new C2sServer({
    domain: DOMAIN,
    tls,
    mechanisms: [scramMechanism('sha256', lookup), scramMechanism('sha1', lookup), plainMechanism(lookup)],
    router,
    logger: silent,
    limits: { authTimeoutMs: 3_000 },
  });
  plainPort = await server.listenPlain(0, '127.0.0.1');
  starttlsPort = await server.listen(0, '127.0.0.1');
});

afterAll(async () => {
  for (const raw of raws) raw.destroy();
  await server?.close();
  await dir?.remove();
});

describe('the c2s listener without TLS (behind a TLS-terminating proxy)', () => {
  it('offers SCRAM at once, without STARTTLS and without PLAIN', async () => {
    const raw = await open();
    raw.write(HEADER);
    await raw.take(new RegExp(SERVER_HEADER + quote(SCRAM_FEATURES)));
  });

  it('refuses PLAIN with invalid-mechanism, without looking at the password', async () => {
    const raw = await open();
    raw.write(HEADER);
    await raw.take(new RegExp(SERVER_HEADER + quote(SCRAM_FEATURES)));
    raw.write(`<auth xmlns='${SASL}' mechanism='PLAIN'>${btoa('\0alice\0alice pw')}</auth>`);
    await raw.take(new RegExp(quote(`<failure xmlns='${SASL}'><invalid-mechanism/></failure>`)));
  });

  it('does not start TLS: <starttls/> is not part of this stream', async () => {
    const raw = await open();
    raw.write(HEADER);
    await raw.take(new RegExp(SERVER_HEADER + quote(SCRAM_FEATURES)));
    raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await raw.take(
      new RegExp(
        quote(
          "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
        ),
      ),
    );
    await raw.closed;
  });

  it('logs in with SCRAM-SHA-1, binds, and carries stanzas between clients', async () => {
    const alice = await login('alice', 'desk');
    const bob = await login('bob', 'desk');
    alice.write("<message to='bob@example.test/desk' id='m1'><body>hi</body></message>");
    await bob.take(
      new RegExp(
        quote(
          "<message to='bob@example.test/desk' id='m1' from='alice@example.test/desk'><body>hi</body></message>",
        ),
      ),
    );
  });

  it('leaves the STARTTLS listener of the same server requiring TLS', async () => {
    const raw = await open(starttlsPort);
    raw.write(HEADER);
    await raw.take(
      new RegExp(
        SERVER_HEADER +
          quote(
            "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
          ),
      ),
    );
  });

  it('is refused when no SCRAM mechanism is configured', async () => {
    const plainOnly = new C2sServer({
      domain: DOMAIN,
      tls,
      mechanisms: [plainMechanism(lookup)],
      router,
      logger: silent,
    });
    await expect(plainOnly.listenPlain(0, '127.0.0.1')).rejects.toThrow(
      'no SCRAM mechanism to offer on a listener without TLS',
    );
  });
});

/**
 * Resource binding rules (issue 12 item 11a, 11b): the resourcepart is enforced as RFC 7622 §3.4 says (the
 * OpaqueString profile), with the errors of RFC 6120 — bad-request for what is not a resourcepart (§7.7.2.1),
 * not-allowed for a valid one our policy refuses (§7.6.2.2: spaces only), resource-constraint beyond the
 * account's cap (§7.6.2.1).
 */
import type { ScramHash } from '@irsp/credentials';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  C2sServer,
  jidToString,
  parseElement,
  plainMechanism,
  type C2sRouter,
  type C2sSession,
  type CredentialLookup,
} from '../../src/index.js';
import { serverTlsFor, tempDir } from '../../../../test/support/irsp.js';
import { RawXmpp } from '../../../../test/support/xmpp.js';
import { captureLogger } from '../s2s/helpers.js';
import { credentialFor } from '../sasl/helpers.js';

const DOMAIN = 'example.test';
const SALT = 'QSXCR+Q6sek8bf92';
const lookup: CredentialLookup = async (username: string, hash: ScramHash) =>
  username === 'alice' ? credentialFor('alice pw', SALT, 4096, hash) : undefined;
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const BIND = 'urn:ietf:params:xml:ns:xmpp-bind';

const bound = new Map<string, C2sSession>();
const router: C2sRouter = {
  bound: (session) => {
    const jid = jidToString(session.jid);
    if (session.jid.resource === 'eager') {
      // A message routed to the resource while the router registers it (its database write still under way).
      session.send(parseElement(`<message to='${jid}' id='early'><body>early</body></message>`));
      return new Promise<void>((resolve) => setTimeout(resolve, 50));
    }
    // As the message server does: a second session of one full JID replaces the first (conflict).
    bound.get(jid)?.close('conflict');
    bound.set(jid, session);
  },
  route: () => undefined,
  unbound: (session) => {
    if (bound.get(jidToString(session.jid)) === session) bound.delete(jidToString(session.jid));
  },
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let tls: { cert: string; key: string; ca: string };
let server: C2sServer;
let port: number;
const raws: RawXmpp[] = [];

/** STARTTLS, SASL PLAIN as alice, restart: ready to bind. */
async function authenticated(): Promise<RawXmpp> {
  const raw = await RawXmpp.connect(port);
  raws.push(raw);
  raw.header(DOMAIN);
  await raw.waitFor(/<\/stream:features>$/);
  raw.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  await raw.waitFor(/<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'\/>$/);
  await raw.startTls({ servername: DOMAIN, ca: tls.ca });
  raw.header(DOMAIN);
  await raw.waitFor(/<\/stream:features>$/);
  raw.write(
    `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${btoa('\0alice\0alice pw')}</auth>`,
  );
  await raw.waitFor(/<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'\/>$/);
  raw.header(DOMAIN);
  await raw.waitFor(/<\/stream:features>$/);
  await raw.take(/[\s\S]*/); // what was read so far (the features)
  return raw;
}

/** Sends a bind request for `resource` (escaped as XML text) and returns the answer. */
async function bind(raw: RawXmpp, resource: string): Promise<string> {
  const text = resource.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  raw.write(`<iq type='set' id='b1'><bind xmlns='${BIND}'><resource>${text}</resource></bind></iq>`);
  const [answer] = await raw.take(/<iq [^>]*id='b1'[\s\S]*?<\/iq>/);
  return answer;
}

const refused = (type: string, condition: string, text: string) =>
  `<iq id='b1' type='error'><error type='${type}'><${condition} xmlns='${STANZAS}'/>` +
  `<text xmlns='${STANZAS}' xml:lang='en'>${text}</text></error></iq>`;
const boundAs = (resource: string) =>
  `<iq type='result' id='b1'><bind xmlns='${BIND}'><jid>alice@${DOMAIN}/${resource}</jid></bind></iq>`;

beforeAll(async () => {
  dir = await tempDir();
  tls = await serverTlsFor(dir.path, 'bind', [DOMAIN]);
  server = new C2sServer({
    domain: DOMAIN,
    tls,
    mechanisms: [plainMechanism(lookup)],
    router,
    logger: captureLogger().logger,
    maxResourcesPerAccount: 2,
  });
  port = await server.listen(0, '127.0.0.1');
});

afterAll(async () => {
  for (const raw of raws) raw.destroy();
  await server?.close();
  await dir?.remove();
});

describe('the resourcepart a client asks for', () => {
  it('ZERO WIDTH SPACE is not a resourcepart: bad-request', async () => {
    const raw = await authenticated();
    expect(await bind(raw, '\u200b')).toBe(
      refused('modify', 'bad-request', 'not a valid resourcepart (RFC 7622 §3.4)'),
    );
    // The stream goes on: a valid resource binds.
    expect(await bind(raw, 'phone')).toBe(boundAs('phone'));
    raw.destroy();
  });

  it.each([' ', '   ', '\u00a0', '\u2003 '])(
    '%j, spaces only, is refused by policy: not-allowed',
    async (r) => {
      const raw = await authenticated();
      expect(await bind(raw, r)).toBe(
        refused('cancel', 'not-allowed', 'a resource of spaces only is not allowed'),
      );
      raw.destroy();
    },
  );

  it('non-ASCII spaces inside a resource become U+0020 (OpaqueString), NFC applied, case kept', async () => {
    const raw = await authenticated();
    expect(await bind(raw, 'My\u00a0Cafe\u0301')).toBe(boundAs('My Caf\u00e9'));
    raw.destroy();
  });
});

describe('resources per account', () => {
  it('refuses a third resource with resource-constraint, allows replacing one, and frees a slot on logout', async () => {
    for (const session of bound.values()) session.close();
    await new Promise((r) => setTimeout(r, 100));
    const first = await authenticated();
    expect(await bind(first, 'one')).toBe(boundAs('one'));
    const second = await authenticated();
    expect(await bind(second, 'two')).toBe(boundAs('two'));
    const third = await authenticated();
    expect(await bind(third, 'three')).toBe(
      refused('wait', 'resource-constraint', 'too many resources for this account (at most 2)'),
    );
    // A resource the account already has replaces the older session: allowed at the cap.
    const again = await authenticated();
    expect(await bind(again, 'one')).toBe(boundAs('one'));
    await first.closed;
    // One logs out: the refused stream may now bind.
    second.destroy();
    const end = Date.now() + 5_000;
    while (bound.has(`alice@${DOMAIN}/two`) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(await bind(third, 'three')).toBe(boundAs('three'));
    expect([...bound.keys()].sort()).toEqual([`alice@${DOMAIN}/one`, `alice@${DOMAIN}/three`]);
  });
});

describe('what is routed to a resource while it is being bound', () => {
  it('arrives after the bind result, not before it (RFC 6120 §7.6.1)', async () => {
    // The account's resources of the tests before are let go (the cap).
    for (const earlier of raws.splice(0)) earlier.destroy();
    await expect.poll(() => bound.size).toBe(0);
    const raw = await authenticated();
    raw.write(`<iq type='set' id='b1'><bind xmlns='${BIND}'><resource>eager</resource></bind></iq>`);
    await raw.waitFor(/<body>early<\/body><\/message>/);
    expect(raw.text).toBe(
      `<iq type='result' id='b1'><bind xmlns='${BIND}'><jid>alice@${DOMAIN}/eager</jid></bind></iq>` +
        `<message to='alice@${DOMAIN}/eager' id='early'><body>early</body></message>`,
    );
  });
});

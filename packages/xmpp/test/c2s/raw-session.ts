/**
 * A raw client on the c2s listener without TLS (behind a proxy): SCRAM-SHA-1 with an independent implementation,
 * stream restart, resource binding — each step asserted to the byte, so that tests can stop between any two.
 */
import type { ScramHash } from '@irsp/credentials';
import type { CredentialLookup } from '../../src/index.js';
import { RawXmpp } from '../../../../test/support/xmpp.js';
import { clientFinal, credentialFor } from '../sasl/helpers.js';

export const DOMAIN = 'example.test';
export const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
export const HEADER =
  "<?xml version='1.0'?><stream:stream to='example.test' version='1.0' xmlns='jabber:client' " +
  "xmlns:stream='http://etherx.jabber.org/streams'>";
export const quote = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** The server's stream header, any stream id, as a pattern. */
export const SERVER_HEADER =
  quote(
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " +
      "xmlns:stream='http://etherx.jabber.org/streams' id='",
  ) +
  '[0-9a-f]{24}' +
  quote("' from='example.test' version='1.0' xml:lang='en'>");
export const SCRAM_FEATURES =
  `<stream:features><mechanisms xmlns='${SASL}'><mechanism>SCRAM-SHA-256</mechanism>` +
  '<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>';
/** After SASL: binding, the optional legacy session, and XEP-0198 stream management. */
export const BIND_FEATURES =
  "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>" +
  "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>" +
  "<sm xmlns='urn:xmpp:sm:3'/></stream:features>";

const SALT = 'QSXCR+Q6sek8bf92';

/** Looks up `passwords` as the server's credential store would. */
export function lookupIn(passwords: Record<string, string>): CredentialLookup {
  return async (username: string, hash: ScramHash) =>
    Object.hasOwn(passwords, username) ? credentialFor(passwords[username]!, SALT, 4096, hash) : undefined;
}

/** SCRAM-SHA-1 and the stream restart: the stream stops at the features after authentication. */
export async function authenticate(port: number, user: string, password: string): Promise<RawXmpp> {
  const raw = await RawXmpp.connect(port);
  raw.write(HEADER);
  await raw.take(new RegExp(SERVER_HEADER + quote(SCRAM_FEATURES)));
  const clientFirstBare = `n=${user},r=fyko+d2lbbFgONRv9qkxdawL`;
  raw.write(`<auth xmlns='${SASL}' mechanism='SCRAM-SHA-1'>${btoa(`n,,${clientFirstBare}`)}</auth>`);
  const challenge = await raw.take(new RegExp(`<challenge xmlns='${SASL}'>([A-Za-z0-9+/=]+)</challenge>`));
  const serverFirst = atob(challenge[1]!);
  const withoutProof = `c=biws,r=${serverFirst.split(',')[0]!.slice(2)}`;
  const { proof, serverSignature } = clientFinal(
    'sha1',
    password,
    clientFirstBare,
    serverFirst,
    withoutProof,
  );
  raw.write(`<response xmlns='${SASL}'>${btoa(`${withoutProof},p=${proof}`)}</response>`);
  await raw.take(new RegExp(quote(`<success xmlns='${SASL}'>${btoa(`v=${serverSignature}`)}</success>`)));
  raw.write(HEADER);
  await raw.take(new RegExp(SERVER_HEADER + quote(BIND_FEATURES)));
  return raw;
}

/** Binds `resource` on an authenticated stream. */
export async function bind(raw: RawXmpp, user: string, resource: string): Promise<void> {
  raw.write(
    `<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`,
  );
  await raw.take(
    new RegExp(
      quote(
        `<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` +
          `<jid>${user}@${DOMAIN}/${resource}</jid></bind></iq>`,
      ),
    ),
  );
}

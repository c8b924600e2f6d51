/** XML namespaces of RFC 6120/6121 and the XEPs the engine speaks. */
export const NS = {
  client: 'jabber:client',
  server: 'jabber:server',
  stream: 'http://etherx.jabber.org/streams',
  streams: 'urn:ietf:params:xml:ns:xmpp-streams',
  tls: 'urn:ietf:params:xml:ns:xmpp-tls',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  session: 'urn:ietf:params:xml:ns:xmpp-session',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  ping: 'urn:xmpp:ping',
  /** XMPP over WebSocket (RFC 7395 §3.3.1): `<open/>` and `<close/>`. */
  framing: 'urn:ietf:params:xml:ns:xmpp-framing',
  /** Server dialback (XEP-0220 §2): `db:result`, `db:verify`. */
  dialback: 'jabber:server:dialback',
  /** The dialback stream feature (XEP-0220 §2.5, with `<errors/>` for §2.4). */
  dialbackFeature: 'urn:xmpp:features:dialback',
  /** Stream management (XEP-0198 v1.6): acks, and resumption on c2s. */
  sm: 'urn:xmpp:sm:3',
} as const;

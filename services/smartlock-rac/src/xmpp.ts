/**
 * The RAC's XMPP client: XMPP over WebSocket (RFC 7395) to the message server, the IRSP's client path
 * (docs/client-protocol.md). Only what the RAC uses: SASL SCRAM-SHA-256 or SCRAM-SHA-1 (RFC 5802, RFC 7677) on
 * WebCrypto, so the password never crosses the wire; resource binding; stanzas in and out.
 */
import type { LoginFailure } from './failures.js';

const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';
const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
const NS_CLIENT = 'jabber:client';
const LOGIN_TIMEOUT_MS = 20_000;

export class LoginError extends Error {
  constructor(readonly reason: LoginFailure) {
    super(`XMPP login failed: ${reason}`);
  }
}

/** Escapes text and attribute values for XML. */
export function esc(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

const HASHES = {
  'SCRAM-SHA-256': { name: 'SHA-256', bits: 256 },
  'SCRAM-SHA-1': { name: 'SHA-1', bits: 160 },
};
type Mechanism = keyof typeof HASHES;

type Bytes = Uint8Array<ArrayBuffer>;
const encoder = new TextEncoder();
const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string): Bytes => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const utf8b64 = (text: string) => b64(encoder.encode(text));

/** RFC 5802 §5.1: `=` and `,` in a username are written `=3D` and `=2C`. */
const saslName = (name: string) => name.replace(/=/g, '=3D').replace(/,/g, '=2C');

async function hmac(hash: string, key: Bytes, data: Bytes): Promise<Bytes> {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, data));
}

/** The SCRAM client proof and the server signature it expects, from the server-first-message. */
async function scramProof(
  mechanism: Mechanism,
  password: string,
  clientFirstBare: string,
  serverFirst: string,
  clientNonce: string,
): Promise<{ clientFinal: string; serverSignature: string }> {
  const { name: hash, bits } = HASHES[mechanism];
  const fields = new Map(serverFirst.split(',').map((f) => [f.slice(0, 1), f.slice(2)] as const));
  const nonce = fields.get('r') ?? '';
  const salt = fields.get('s');
  const iterations = Number(fields.get('i'));
  if (!nonce.startsWith(clientNonce) || !salt || !Number.isInteger(iterations) || iterations < 1)
    throw new LoginError('protocol');
  // SASLprep (RFC 4013) is approximated by NFKC, which it is built on; IRSP passwords are mostly ASCII.
  const base = await crypto.subtle.importKey(
    'raw',
    encoder.encode(password.normalize('NFKC')),
    'PBKDF2',
    false,
    ['deriveBits'],
  );
  const salted = new Uint8Array(
    await crypto.subtle.deriveBits({ name: 'PBKDF2', hash, salt: unb64(salt), iterations }, base, bits),
  );
  const clientKey = await hmac(hash, salted, encoder.encode('Client Key'));
  const storedKey = new Uint8Array(await crypto.subtle.digest(hash, clientKey));
  const withoutProof = `c=biws,r=${nonce}`;
  const authMessage = encoder.encode(`${clientFirstBare},${serverFirst},${withoutProof}`);
  const signature = await hmac(hash, storedKey, authMessage);
  const proof = clientKey.map((byte, i) => byte ^ signature[i]!);
  const serverKey = await hmac(hash, salted, encoder.encode('Server Key'));
  return {
    clientFinal: `${withoutProof},p=${b64(proof)}`,
    serverSignature: b64(await hmac(hash, serverKey, authMessage)),
  };
}

/** One logged-in XMPP session over a WebSocket. */
export class XmppSession {
  /** The full JID the server bound. */
  jid = '';
  private readonly listeners = new Set<(stanza: Element) => void>();
  private closedListener: (() => void) | undefined;
  private frames: Element[] = [];
  private waiting: ((frame: Element) => void) | undefined;
  private nextId = 0;

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      const doc = new DOMParser().parseFromString(event.data, 'text/xml');
      if (doc.getElementsByTagName('parsererror').length > 0) return;
      const frame = doc.documentElement;
      if (this.waiting) {
        const waiting = this.waiting;
        this.waiting = undefined;
        waiting(frame);
      } else if (this.jid) for (const listener of this.listeners) listener(frame);
      else this.frames.push(frame);
    });
    socket.addEventListener('close', () => this.closedListener?.());
  }

  /** Opens the WebSocket, authenticates `local@domain` and binds a resource. */
  static async login(url: string, domain: string, local: string, password: string): Promise<XmppSession> {
    const socket = new WebSocket(url, 'xmpp');
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new LoginError('unreachable')), { once: true });
    });
    const session = new XmppSession(socket);
    const timer = setTimeout(() => socket.close(), LOGIN_TIMEOUT_MS);
    try {
      await session.negotiate(domain, local, password);
      return session;
    } catch (error) {
      socket.close();
      throw error instanceof LoginError ? error : new LoginError('protocol');
    } finally {
      clearTimeout(timer);
    }
  }

  private next(): Promise<Element> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.closedListener = () => reject(new LoginError('unreachable'));
    });
  }

  /** The next frame that is not the server's `<open/>`. */
  private async features(domain: string): Promise<Element> {
    this.socket.send(`<open xmlns='${NS_FRAMING}' to='${esc(domain)}' version='1.0'/>`);
    let frame = await this.next();
    while (frame.localName === 'open') frame = await this.next();
    if (frame.localName !== 'features') throw new LoginError('protocol');
    return frame;
  }

  private async negotiate(domain: string, local: string, password: string): Promise<void> {
    const offered = [...(await this.features(domain)).getElementsByTagNameNS(NS_SASL, 'mechanism')].map(
      (m) => m.textContent,
    );
    const mechanism = (Object.keys(HASHES) as Mechanism[]).find((m) => offered.includes(m));
    if (!mechanism) throw new LoginError('protocol');
    const clientNonce = b64(crypto.getRandomValues(new Uint8Array(18)));
    const clientFirstBare = `n=${saslName(local)},r=${clientNonce}`;
    this.socket.send(
      `<auth xmlns='${NS_SASL}' mechanism='${mechanism}'>${utf8b64(`n,,${clientFirstBare}`)}</auth>`,
    );
    const challenge = await this.next();
    if (challenge.localName === 'failure') throw new LoginError('not-authorized');
    if (challenge.localName !== 'challenge') throw new LoginError('protocol');
    const serverFirst = new TextDecoder().decode(unb64(challenge.textContent ?? ''));
    const { clientFinal, serverSignature } = await scramProof(
      mechanism,
      password,
      clientFirstBare,
      serverFirst,
      clientNonce,
    );
    this.socket.send(`<response xmlns='${NS_SASL}'>${utf8b64(clientFinal)}</response>`);
    const outcome = await this.next();
    if (outcome.localName === 'failure') throw new LoginError('not-authorized');
    const serverFinal = new TextDecoder().decode(unb64(outcome.textContent ?? ''));
    // The server proves it knew the credentials too (RFC 5802 §5.1, `v=`).
    if (outcome.localName !== 'success' || serverFinal !== `v=${serverSignature}`)
      throw new LoginError('protocol');
    await this.features(domain);
    this.socket.send(
      `<iq xmlns='${NS_CLIENT}' type='set' id='bind'><bind xmlns='${NS_BIND}'><resource>rac-${b64(
        crypto.getRandomValues(new Uint8Array(6)),
      ).replace(/[+/=]/g, '')}</resource></bind></iq>`,
    );
    const bound = await this.next();
    const jid = bound.getElementsByTagNameNS(NS_BIND, 'jid')[0]?.textContent;
    if (bound.getAttribute('type') !== 'result' || !jid) throw new LoginError('protocol');
    this.closedListener = undefined;
    this.jid = jid;
    for (const frame of this.frames.splice(0)) for (const listener of this.listeners) listener(frame);
  }

  /** Calls `listener` for every stanza from now on. */
  onStanza(listener: (stanza: Element) => void): void {
    this.listeners.add(listener);
  }

  /** Calls `listener` once the connection is gone. */
  onClose(listener: () => void): void {
    this.closedListener = listener;
  }

  /** Sends one stanza (its XML, without a namespace: `jabber:client` is added). */
  send(stanza: string): void {
    this.socket.send(stanza.replace(/^<(\w+)/, `<$1 xmlns='${NS_CLIENT}'`));
  }

  id(prefix: string): string {
    return `${prefix}${++this.nextId}`;
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(`<close xmlns='${NS_FRAMING}'/>`);
    this.socket.close();
  }
}

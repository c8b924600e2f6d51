/**
 * Client side of SASL SCRAM-SHA-1 (RFC 5802) and PLAIN (RFC 4616), on node:crypto. SaltedPassword is cached
 * per (password, salt, iterations), as RFC 5802 §5.1 allows a client to: the load generator logs the same
 * accounts in thousands of times and must not spend its core on PBKDF2 while measuring the server's.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export type SaltedPasswordCache = Map<string, Buffer>;

function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha1', key).update(text).digest();
}

/** RFC 5802 §5.1: `=` and `,` in a username are escaped. */
function saslName(username: string): string {
  return username.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function parseAttributes(message: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) attrs.set(part[0]!, part.slice(2));
  }
  return attrs;
}

export class ScramSha1Client {
  private readonly clientFirstBare: string;
  private serverSignature: Buffer | undefined;

  constructor(
    username: string,
    private readonly password: string,
    private readonly nonce = randomBytes(18).toString('base64'),
    private readonly cache: SaltedPasswordCache = new Map(),
  ) {
    this.clientFirstBare = `n=${saslName(username)},r=${nonce}`;
  }

  /** client-first-message (no channel binding: `n,,`). */
  first(): string {
    return `n,,${this.clientFirstBare}`;
  }

  /** client-final-message for the server-first-message; throws on a message that breaks the RFC. */
  final(serverFirst: string): string {
    const attrs = parseAttributes(serverFirst);
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (
      !nonce?.startsWith(this.nonce) ||
      salt === undefined ||
      !Number.isInteger(iterations) ||
      iterations < 1
    ) {
      throw new Error(`bad SCRAM server-first-message: ${serverFirst}`);
    }
    const key = `${iterations}:${salt}:${this.password}`;
    let salted = this.cache.get(key);
    if (!salted) {
      salted = pbkdf2Sync(this.password, Buffer.from(salt, 'base64'), iterations, 20, 'sha1');
      this.cache.set(key, salted);
    }
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha1').update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(20);
    for (let i = 0; i < 20; i++) proof[i] = clientKey[i]! ^ signature[i]!;
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Whether the server-final-message proves the server knows the credential. */
  verify(serverFinal: string): boolean {
    const v = parseAttributes(serverFinal).get('v');
    if (v === undefined || !this.serverSignature) return false;
    const given = Buffer.from(v, 'base64');
    return given.length === this.serverSignature.length && timingSafeEqual(given, this.serverSignature);
  }
}

/** RFC 4616 PLAIN: empty authzid, authcid, password. */
export function plainMessage(username: string, password: string): string {
  return `\0${username}\0${password}`;
}

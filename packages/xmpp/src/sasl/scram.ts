/**
 * SCRAM-SHA-1 and SCRAM-SHA-256, server side (RFC 5802, RFC 7677), without channel binding: we advertise no -PLUS
 * variant. Checked against the stored keys of @irsp/credentials; the password never reaches the server.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SCRAM_ITERATIONS, type ScramCredential, type ScramHash } from '@irsp/credentials';
import {
  authzidAllowed,
  decodeUtf8,
  fail,
  guardedSession,
  notAuthorized,
  prepareUsername,
  SASL_MAX_MESSAGE_BYTES,
} from './common.js';
import { randomBase64 } from './random.js';
import type { CredentialLookup, Mechanism, Step } from './types.js';

const MECHANISM_NAME: Record<ScramHash, string> = { sha1: 'SCRAM-SHA-1', sha256: 'SCRAM-SHA-256' };
const KEY_BYTES: Record<ScramHash, number> = { sha1: 20, sha256: 32 };
/** Length of the salts scramCredential makes, so that a fake salt looks like a real one. */
const FAKE_SALT_BYTES = 16;
/** RFC 5802 §5.1 asks for a nonce of "at least 18 … random bytes" worth of entropy in the server part. */
const MIN_NONCE_BYTES = 18;
const DEFAULT_NONCE_BYTES = 24;

export interface ScramOptions {
  /** Random bytes in the server part of the nonce (base64-encoded). Default 24, at least 18. */
  nonceBytes?: number;
  /** Test seam: a fixed server part of the nonce (printable ASCII without ','), e.g. from the RFC examples. */
  serverNonce?: string;
  /** The XMPP domain, so that an authzid equal to the bare JID `user@domain` is accepted too. */
  domain?: string;
  /**
   * Key of the fake salts answered for unknown users (HMAC of the username). Random per mechanism by default;
   * give every instance behind a load balancer the same secret, or comparing two instances reveals who exists.
   */
  unknownUserKey?: Buffer;
}

interface Keys {
  salt: string;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** `printable` of RFC 5802 §7: %x21-2B / %x2D-7E (visible ASCII except ','). */
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
/** `attr-val` of RFC 5802 §7 (after splitting at ','): ALPHA "=" 1*value-char. */
const ATTR_VAL = /^[A-Za-z]=[^\0]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `saslname` of RFC 5802 §5.1: "=2C" is ',' and "=3D" is '='; any other '=' fails. Undefined when invalid. */
function decodeSaslname(text: string): string | undefined {
  if (text === '') return undefined;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== '=') {
      out += ch;
      continue;
    }
    const code = text.slice(i + 1, i + 3);
    if (code === '2C') out += ',';
    else if (code === '3D') out += '=';
    else return undefined;
    i += 2;
  }
  return out;
}

function usableCredential(credential: ScramCredential, hash: ScramHash): Keys | undefined {
  const storedKey = Buffer.from(credential.storedKey, 'base64');
  const serverKey = Buffer.from(credential.serverKey, 'base64');
  const iterations = credential.iterations;
  if (storedKey.length !== KEY_BYTES[hash] || serverKey.length !== KEY_BYTES[hash]) return undefined;
  if (!Number.isSafeInteger(iterations) || iterations < 1) return undefined;
  if (!BASE64.test(credential.salt) || credential.salt === '') return undefined;
  return { salt: credential.salt, iterations, storedKey, serverKey };
}

interface Exchange {
  gs2Header: string;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
  username: string;
  keys: Keys;
  known: boolean;
}

/** A `SCRAM-SHA-1` or `SCRAM-SHA-256` mechanism checking proofs against the credentials `lookup` returns. */
export function scramMechanism(
  hash: ScramHash,
  lookup: CredentialLookup,
  options: ScramOptions = {},
): Mechanism {
  const nonceBytes = options.nonceBytes ?? DEFAULT_NONCE_BYTES;
  if (!Number.isSafeInteger(nonceBytes) || nonceBytes < MIN_NONCE_BYTES || nonceBytes > 1024) {
    throw new RangeError(`nonceBytes must be an integer from ${MIN_NONCE_BYTES} to 1024`);
  }
  if (options.serverNonce !== undefined && !PRINTABLE.test(options.serverNonce)) {
    throw new RangeError('serverNonce must be printable ASCII without ","');
  }
  const unknownUserKey = options.unknownUserKey ?? randomBytes(32);
  // Keys an unknown user is "checked" against, so the final step costs the same as for a real account.
  const dummyKeys = { storedKey: randomBytes(KEY_BYTES[hash]), serverKey: randomBytes(KEY_BYTES[hash]) };
  const name = MECHANISM_NAME[hash];

  const serverNonce = () => options.serverNonce ?? randomBase64(nonceBytes);
  const fakeSalt = (username: string) =>
    createHmac('sha256', unknownUserKey)
      .update(`${name}\0${username}`)
      .digest()
      .subarray(0, FAKE_SALT_BYTES)
      .toString('base64');

  async function clientFirst(data: Buffer): Promise<Step | Exchange> {
    if (data.length === 0) return fail('malformed-request', 'empty client-first-message');
    if (data.length > SASL_MAX_MESSAGE_BYTES) {
      return fail('malformed-request', 'client-first-message too long');
    }
    const text = decodeUtf8(data);
    if (text === undefined) return fail('malformed-request', 'client-first-message is not UTF-8');
    if (text.includes('\0')) return fail('malformed-request', 'NUL in client-first-message');

    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    const parts = text.split(',');
    const flag = parts[0] ?? '';
    const authzPart = parts[1];
    if (flag.startsWith('p=')) {
      // RFC 5802 §6: channel binding is only for the -PLUS variants, which we do not offer.
      return fail('malformed-request', 'channel binding is not supported');
    }
    // 'y': the client supports channel binding but thinks we do not — true, so carry on (RFC 5802 §6).
    if (flag !== 'n' && flag !== 'y') return fail('malformed-request', 'invalid gs2-cbind-flag');
    if (authzPart === undefined || parts.length < 4) {
      return fail('malformed-request', 'incomplete client-first-message');
    }
    let authzid: string | undefined;
    if (authzPart !== '') {
      authzid = authzPart.startsWith('a=') ? decodeSaslname(authzPart.slice(2)) : undefined;
      if (authzid === undefined) return fail('malformed-request', 'invalid authzid');
    }
    const gs2Header = `${flag},${authzPart},`;
    const clientFirstBare = text.slice(gs2Header.length);

    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    const [userPart = '', noncePart = '', ...extensions] = parts.slice(2);
    if (userPart.startsWith('m=')) return fail('malformed-request', 'mandatory extensions are not supported');
    const authcid = userPart.startsWith('n=') ? decodeSaslname(userPart.slice(2)) : undefined;
    if (authcid === undefined) return fail('malformed-request', 'invalid username');
    const clientNonce = noncePart.slice(2);
    if (!noncePart.startsWith('r=') || !PRINTABLE.test(clientNonce)) {
      return fail('malformed-request', 'invalid nonce');
    }
    if (!extensions.every((ext) => ATTR_VAL.test(ext))) return fail('malformed-request', 'invalid extension');

    const username = prepareUsername(authcid);
    if (username === undefined) return fail('not-authorized');
    if (authzid !== undefined && !authzidAllowed(authzid, authcid, username, options.domain)) {
      return fail('invalid-authzid');
    }

    let credential: ScramCredential | undefined;
    try {
      credential = await lookup(username, hash);
    } catch {
      return fail('temporary-auth-failure');
    }
    let keys: Keys | undefined;
    if (credential !== undefined) {
      keys = usableCredential(credential, hash);
      if (keys === undefined) return fail('temporary-auth-failure');
    }
    // RFC 5802 §9 (and RFC 7677 §5): do not reveal whether the account exists — answer a plausible challenge.
    const known = keys !== undefined;
    keys ??= { salt: fakeSalt(username), iterations: SCRAM_ITERATIONS, ...dummyKeys };

    const nonce = clientNonce + serverNonce();
    const serverFirst = `r=${nonce},s=${keys.salt},i=${keys.iterations}`;
    return { gs2Header, clientFirstBare, serverFirst, nonce, username, keys, known };
  }

  function clientFinal(exchange: Exchange, data: Buffer): Step {
    if (data.length === 0) return fail('malformed-request', 'empty client-final-message');
    if (data.length > SASL_MAX_MESSAGE_BYTES) {
      return fail('malformed-request', 'client-final-message too long');
    }
    const text = decodeUtf8(data);
    if (text === undefined) return fail('malformed-request', 'client-final-message is not UTF-8');
    if (text.includes('\0')) return fail('malformed-request', 'NUL in client-final-message');

    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const parts = text.split(',');
    const proofPart = parts.at(-1) ?? '';
    const [cbPart = '', noncePart = '', ...extensions] = parts.slice(0, -1);
    if (
      parts.length < 3 ||
      !cbPart.startsWith('c=') ||
      !noncePart.startsWith('r=') ||
      !proofPart.startsWith('p=')
    ) {
      return fail('malformed-request', 'invalid client-final-message');
    }
    if (!extensions.every((ext) => ATTR_VAL.test(ext))) return fail('malformed-request', 'invalid extension');
    if (cbPart.slice(2) !== Buffer.from(exchange.gs2Header).toString('base64')) {
      return fail('malformed-request', 'channel binding data does not match the gs2-header');
    }
    if (noncePart.slice(2) !== exchange.nonce) return fail('malformed-request', 'wrong nonce');
    const proofText = proofPart.slice(2);
    const proof = Buffer.from(proofText, 'base64');
    if (
      !BASE64.test(proofText) ||
      proof.length !== KEY_BYTES[hash] ||
      proof.toString('base64') !== proofText
    ) {
      return fail('malformed-request', 'invalid proof');
    }

    const { keys } = exchange;
    const clientFinalWithoutProof = parts.slice(0, -1).join(',');
    const authMessage = `${exchange.clientFirstBare},${exchange.serverFirst},${clientFinalWithoutProof}`;
    const clientSignature = createHmac(hash, keys.storedKey).update(authMessage).digest();
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = (proof[i] ?? 0) ^ (clientSignature[i] ?? 0);
    const storedKey = createHash(hash).update(clientKey).digest();
    const serverSignature = createHmac(hash, keys.serverKey).update(authMessage).digest();
    const proofMatches = timingSafeEqual(storedKey, keys.storedKey);
    if (!proofMatches || !exchange.known) return notAuthorized(exchange.username);
    return {
      kind: 'success',
      username: exchange.username,
      data: Buffer.from(`v=${serverSignature.toString('base64')}`),
    };
  }

  return {
    name,
    start() {
      let exchange: Exchange | undefined;
      let challenged = false;
      return guardedSession(async (response) => {
        if (exchange === undefined) {
          if (response === undefined) {
            // RFC 6120 §6.4.2 / RFC 4422 §5: no initial response — send an empty challenge, once.
            if (challenged) return fail('malformed-request', 'missing client-first-message');
            challenged = true;
            return { kind: 'challenge', data: Buffer.alloc(0) };
          }
          const first = await clientFirst(response);
          if ('kind' in first) return first;
          exchange = first;
          return { kind: 'challenge', data: Buffer.from(first.serverFirst) };
        }
        if (response === undefined) return fail('malformed-request', 'missing client-final-message');
        return clientFinal(exchange, response);
      });
    },
  };
}

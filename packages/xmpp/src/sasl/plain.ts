/**
 * PLAIN (RFC 4616), server side: `[authzid] NUL authcid NUL passwd` in UTF-8, checked against the SCRAM-SHA-256
 * credential with verifyScramPassword. Only to be offered inside TLS (RFC 6120 §6.4.1, §13.8).
 */
import { randomBytes } from 'node:crypto';
import { SCRAM_ITERATIONS, verifyScramPassword, type ScramCredential } from '@irsp/credentials';
import {
  authzidAllowed,
  decodeUtf8,
  fail,
  guardedSession,
  notAuthorized,
  passwordPreparable,
  prepareUsername,
  SASL_MAX_MESSAGE_BYTES,
} from './common.js';
import type { CredentialLookup, Mechanism, Step } from './types.js';

export interface PlainOptions {
  /** The XMPP domain, so that an authzid equal to the bare JID `user@domain` is accepted too. */
  domain?: string;
}

/** A `PLAIN` mechanism checking passwords against the SCRAM-SHA-256 credentials `lookup` returns. */
export function plainMechanism(lookup: CredentialLookup, options: PlainOptions = {}): Mechanism {
  // Checked instead of a real credential for unknown users, so both failures cost one PBKDF2.
  const dummy: ScramCredential = {
    iterations: SCRAM_ITERATIONS,
    salt: randomBytes(16).toString('base64'),
    storedKey: randomBytes(32).toString('base64'),
    serverKey: randomBytes(32).toString('base64'),
  };

  async function verify(data: Buffer): Promise<Step> {
    if (data.length > SASL_MAX_MESSAGE_BYTES) return fail('malformed-request', 'message too long');
    const text = decodeUtf8(data);
    if (text === undefined) return fail('malformed-request', 'message is not UTF-8');
    const fields = text.split('\0');
    const [authzid = '', authcid = '', password = ''] = fields;
    if (fields.length !== 3) return fail('malformed-request', 'expected authzid NUL authcid NUL passwd');
    if (authcid === '' || password === '') return fail('malformed-request', 'empty authcid or passwd');

    // RFC 4616 §4: if preparing the authcid or the password fails or gives an empty string, verification fails.
    const username = prepareUsername(authcid);
    if (username === undefined || !passwordPreparable(password)) return fail('not-authorized');
    if (authzid !== '' && !authzidAllowed(authzid, authcid, username, options.domain)) {
      return fail('invalid-authzid');
    }

    let credential: ScramCredential | undefined;
    try {
      credential = await lookup(username, 'sha256');
    } catch {
      return fail('temporary-auth-failure');
    }
    let valid: boolean;
    try {
      // verifyScramPassword applies SASLprep itself, exactly as scramCredential did when the account was made.
      valid = await verifyScramPassword(password, credential ?? dummy, 'sha256');
    } catch {
      return fail('temporary-auth-failure');
    }
    if (!valid || credential === undefined) return notAuthorized(username);
    return { kind: 'success', username };
  }

  return {
    name: 'PLAIN',
    start() {
      let challenged = false;
      return guardedSession(async (response) => {
        if (response === undefined) {
          // RFC 6120 §6.4.2: no initial response — send an empty challenge, once.
          if (challenged) return fail('malformed-request', 'missing response');
          challenged = true;
          return { kind: 'challenge', data: Buffer.alloc(0) };
        }
        return verify(response);
      });
    },
  };
}

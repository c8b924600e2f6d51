/** Pieces shared by the SASL mechanisms: limits, UTF-8, SASLprep of the authcid, authzid rules, session guard. */
import { saslprep } from '@mongodb-js/saslprep';
import type { SaslFailure, SaslSession, Step } from './types.js';

/** Largest client message (decoded) a mechanism accepts; larger ones fail with `malformed-request`. */
export const SASL_MAX_MESSAGE_BYTES = 4096;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decoding; undefined when the bytes are not UTF-8. */
export function decodeUtf8(data: Buffer): string | undefined {
  try {
    return utf8.decode(data);
  } catch {
    return undefined;
  }
}

export function fail(condition: SaslFailure, text?: string): Step {
  return text === undefined ? { kind: 'failure', condition } : { kind: 'failure', condition, text };
}

/** A wrong password for a known (or plausible) account: the username lets the caller throttle it. */
export function notAuthorized(username: string): Step {
  return { kind: 'failure', condition: 'not-authorized', username };
}

/**
 * SASLprep (RFC 4013) of an authcid, with the query profile (unassigned code points allowed, RFC 4013 §2.5).
 * Undefined when it contains prohibited characters or maps to the empty string.
 */
export function prepareUsername(raw: string): string | undefined {
  let prepared: string;
  try {
    prepared = saslprep(raw, { allowUnassigned: true });
  } catch {
    return undefined;
  }
  return prepared === '' ? undefined : prepared;
}

/** Same for a clear password (PLAIN): RFC 4616 §4 — verification fails when preparation fails or is empty. */
export function passwordPreparable(raw: string): boolean {
  return prepareUsername(raw) !== undefined;
}

/**
 * Whether the client may act as `authzid` after authenticating as `username` (RFC 6120 §6.3.8: an authzid is only
 * for acting as another entity, which we never allow). Accepted: the authcid itself (raw or prepared) and, when the
 * domain is known, the bare JID `username@domain` (domain compared without case).
 */
export function authzidAllowed(
  authzid: string,
  authcid: string,
  username: string,
  domain: string | undefined,
): boolean {
  if (authzid === username || authzid === authcid) return true;
  if (domain === undefined) return false;
  const at = authzid.indexOf('@');
  if (at < 0) return false;
  const local = authzid.slice(0, at);
  return (
    (local === username || local === authcid) && authzid.slice(at + 1).toLowerCase() === domain.toLowerCase()
  );
}

/**
 * Wraps a mechanism's step function: after a success or a failure every call answers `malformed-request`, and a
 * call made while another is pending fails both (the c2s code must await each step before the next).
 */
export function guardedSession(next: (response: Buffer | undefined) => Promise<Step>): SaslSession {
  let finished = false;
  let pending = false;
  let overlapped = false;
  return {
    async step(response) {
      if (finished) return fail('malformed-request', 'the SASL exchange is over');
      if (pending) {
        overlapped = true;
        finished = true;
        return fail('malformed-request', 'a response arrived before the previous one was answered');
      }
      pending = true;
      try {
        const result = await next(response);
        if (overlapped)
          return fail('malformed-request', 'a response arrived before the previous one was answered');
        if (result.kind !== 'challenge') finished = true;
        return result;
      } catch (err) {
        finished = true;
        throw err;
      } finally {
        pending = false;
      }
    },
  };
}

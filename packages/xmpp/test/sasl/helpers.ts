/** Test helpers: an independent SCRAM implementation on node:crypto (RFC 5802 §3) and step formatting. */
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import type { ScramCredential, ScramHash } from '@irsp/credentials';
import type { CredentialLookup, Step } from '../../src/sasl/index.js';

/** The stored credential for a password with a given salt, computed straight from RFC 5802 §3. */
export function credentialFor(
  password: string,
  salt: string,
  iterations: number,
  hash: ScramHash,
): ScramCredential {
  const keyLength = hash === 'sha1' ? 20 : 32;
  const salted = pbkdf2Sync(password, Buffer.from(salt, 'base64'), iterations, keyLength, hash);
  const clientKey = createHmac(hash, salted).update('Client Key').digest();
  return {
    iterations,
    salt,
    storedKey: createHash(hash).update(clientKey).digest('base64'),
    serverKey: createHmac(hash, salted).update('Server Key').digest('base64'),
  };
}

/** The SCRAM client side: client-final-message and the expected server signature for a server-first-message. */
export function clientFinal(
  hash: ScramHash,
  password: string,
  clientFirstBare: string,
  serverFirst: string,
  withoutProof: string,
): { proof: string; serverSignature: string } {
  const fields = new Map(serverFirst.split(',').map((f) => [f.slice(0, 1), f.slice(2)] as const));
  const keyLength = hash === 'sha1' ? 20 : 32;
  const salted = pbkdf2Sync(
    password,
    Buffer.from(fields.get('s') ?? '', 'base64'),
    Number(fields.get('i')),
    keyLength,
    hash,
  );
  const clientKey = createHmac(hash, salted).update('Client Key').digest();
  const storedKey = createHash(hash).update(clientKey).digest();
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = createHmac(hash, storedKey).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ (signature[i] ?? 0)));
  const serverKey = createHmac(hash, salted).update('Server Key').digest();
  return {
    proof: proof.toString('base64'),
    serverSignature: createHmac(hash, serverKey).update(authMessage).digest('base64'),
  };
}

/** A lookup over a fixed table that records its calls. */
export function tableLookup(table: Record<string, ScramCredential>): CredentialLookup & {
  calls: [string, ScramHash][];
} {
  const calls: [string, ScramHash][] = [];
  const lookup = async (username: string, hash: ScramHash) => {
    calls.push([username, hash]);
    return Object.hasOwn(table, username) ? table[username] : undefined;
  };
  return Object.assign(lookup, { calls });
}

/** A step with its data as a UTF-8 string, for readable exact assertions. */
export type ShownStep =
  | { kind: 'challenge'; data: string }
  | { kind: 'success'; username: string; data?: string }
  | { kind: 'failure'; condition: string; text?: string };

export function show(step: Step): ShownStep {
  switch (step.kind) {
    case 'challenge':
      return { kind: 'challenge', data: step.data.toString('utf8') };
    case 'success':
      return step.data === undefined
        ? { kind: 'success', username: step.username }
        : { kind: 'success', username: step.username, data: step.data.toString('utf8') };
    case 'failure':
      return step;
  }
}

/** The condition of a failure step, or the step's kind when it is not a failure. */
export function outcome(step: Step): string {
  return step.kind === 'failure' ? step.condition : step.kind;
}

export const utf8 = (text: string) => Buffer.from(text, 'utf8');

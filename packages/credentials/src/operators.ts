/**
 * Operators of the admin API: HTTP Basic `name:password` checked against the topology's password hashes, behind the
 * guessing throttle (decision 0010) in a scope of its own, `operator`, so that an operator password cannot be guessed
 * faster than an account's.
 */
import type { GuessPolicy } from './guessing.js';
import { verifyPassword } from './secrets.js';

export interface OperatorCredential {
  name: string;
  passwordHash: string;
}

/** The verdict on a request's operator credentials. */
export type OperatorVerdict = { ok: true } | { ok: false; retryAfterMs?: number };

const BASIC = /^Basic ([A-Za-z0-9+/]+={0,2})$/;

export class OperatorCheck {
  constructor(
    private readonly operators: readonly OperatorCredential[],
    private readonly policy: GuessPolicy,
  ) {}

  /** Whether `authorization` names an operator with the right password; `source` is the caller's address. */
  async check(authorization: string | undefined, source: string): Promise<OperatorVerdict> {
    const match = BASIC.exec(authorization ?? '');
    if (!match || this.operators.length === 0) return { ok: false };
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return { ok: false };
    const name = decoded.slice(0, colon);
    const verdict = await this.policy.admit(name, source);
    if (!verdict.allowed) return { ok: false, retryAfterMs: verdict.retryAfterMs };
    const operator = this.operators.find((o) => o.name === name);
    // An unknown name is checked against another operator's hash, so that it takes as long as a known one.
    const right = await verifyPassword(
      decoded.slice(colon + 1),
      (operator ?? this.operators[0]!).passwordHash,
    );
    const ok = right && operator !== undefined;
    await (ok ? this.policy.succeeded(verdict.ticket) : this.policy.failed(verdict.ticket));
    return { ok };
  }
}

/** The header value a client sends. */
export function operatorAuthorization(name: string, password: string): string {
  return `Basic ${Buffer.from(`${name}:${password}`, 'utf8').toString('base64')}`;
}

/** Operators of the admin API: HTTP Basic `name:password` checked against the topology's password hashes. */
import { verifyPassword } from './secrets.js';

export interface OperatorCredential {
  name: string;
  passwordHash: string;
}

const BASIC = /^Basic ([A-Za-z0-9+/]+={0,2})$/;

/** Whether an `Authorization` header names an operator with the right password. */
export async function isOperator(
  operators: readonly OperatorCredential[],
  authorization: string | undefined,
): Promise<boolean> {
  const match = BASIC.exec(authorization ?? '');
  if (!match || operators.length === 0) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return false;
  const name = decoded.slice(0, colon);
  const operator = operators.find((o) => o.name === name);
  // An unknown name is checked against another operator's hash, so that it takes as long as a known one.
  const ok = await verifyPassword(decoded.slice(colon + 1), (operator ?? operators[0]!).passwordHash);
  return ok && operator !== undefined;
}

/** The header value a client sends. */
export function operatorAuthorization(name: string, password: string): string {
  return `Basic ${Buffer.from(`${name}:${password}`, 'utf8').toString('base64')}`;
}

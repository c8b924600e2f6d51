/** `irsp hash-password`: what an operator's entry in the topology holds instead of the password (salted SCRAM). */
import { hashPassword } from '@irsp/credentials';
import { EXIT, usageError } from '../exit.js';
import type { Result } from '../context.js';

export async function hashOperatorPassword(stdin: () => Promise<string>): Promise<Result> {
  const password = (await stdin()).replace(/\r?\n$/, '');
  if (password.length < 12) throw usageError('the password on stdin must be at least 12 characters');
  const passwordHash = await hashPassword(password);
  return { exit: EXIT.ok, json: { passwordHash }, text: passwordHash };
}

/**
 * Sign-up at the IRSP account server (its client account API, docs/protocol.md §5) from the browser: a form POST,
 * which browsers send cross-origin without a preflight; the account server allows the RAC's origin (CORS).
 */
import { clientUserRegister, encodeForm } from '@irsp/protocol/browser';
import { signUpFailure } from './failures.js';

export type SignUpResult = { ok: true } | { ok: false; reason: string };

export async function signUp(accountServer: string, userid: string, password: string): Promise<SignUpResult> {
  if (!clientUserRegister.schema.safeParse({ userid, password }).success)
    return { ok: false, reason: signUpFailure(400) };
  let status: number;
  try {
    const response = await fetch(new URL(clientUserRegister.path!, accountServer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: encodeForm([
        ['userid', userid],
        ['password', password],
      ]),
    });
    status = response.status;
  } catch {
    return {
      ok: false,
      reason: 'The account server cannot be reached. Check your connection and try again.',
    };
  }
  return status === 200 ? { ok: true } : { ok: false, reason: signUpFailure(status) };
}

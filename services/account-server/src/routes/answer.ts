/** The HTTP answer of a client API outcome: a refusal by the guessing throttle is 429 with Retry-After (seconds). */
import type { StatusAnswer } from '@irsp/http';
import type { AccountStatus, Refused, Throttled } from '../accounts.js';

export function answer(outcome: AccountStatus | Refused | Throttled): AccountStatus | StatusAnswer {
  if (typeof outcome === 'number' || !('retryAfterMs' in outcome)) return outcome;
  return {
    status: 429,
    reason: 'too many password attempts: retry later',
    headers: { 'retry-after': String(Math.ceil(outcome.retryAfterMs / 1000)) },
  };
}

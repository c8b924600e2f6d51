/**
 * The account lifecycle at the account server (clause 7.1, 8.2.1–8.2.3): the client account API's register,
 * modify and remove, each carried to the message server of the account's AS with Messages 1–6, without ever
 * keeping a half-made account (docs/consistency.md says how the two sides are kept in step).
 */
import { hashPassword, verifyPassword } from '@irsp/credentials';
import type { SendOutcome } from '@irsp/http';
import {
  message1,
  message2,
  message3,
  message4,
  message5,
  message6,
  weakVerifyCode,
  type AccountId,
  type Extras,
} from '@irsp/protocol';
import { isUniqueViolation, type Queryable } from '@irsp/store';
import type { AccountServerContext } from './context.js';
import { sendToAs, type AutonomousSystemEntry } from './directory.js';

export type AccountStatus = 200 | 400 | 401 | 421 | 422 | 500;

/** A refusal with why, for `IRSP-Reason` (the body stays the table's). */
export interface Refused {
  status: 400 | 401;
  reason: string;
}

/** A password check refused by the guessing throttle (docs/decisions/0010-guessing-throttle.md). */
export interface Throttled {
  status: 429;
  retryAfterMs: number;
}

export interface DeviceInfo {
  verifycode?: string | undefined;
  type?: string | undefined;
  vendor?: string | undefined;
  model?: string | undefined;
}

interface AccountRow {
  local_part: string;
  kind: 'user' | 'device';
  domain: string;
  state: 'pending' | 'active' | 'removing';
  password_hash: string;
  device_type: string | null;
  vendor: string | null;
  model: string | null;
  extra: Extras;
}

const statusOf = (outcome: SendOutcome) => (outcome.kind === 'status' ? outcome.status : undefined);

function describe(outcome: SendOutcome): string {
  if (outcome.kind === 'status') return `status ${outcome.status}`;
  if (outcome.kind === 'unexpected') return `unexpected answer ${outcome.httpStatus}: ${outcome.reason}`;
  return `unreachable: ${outcome.reason}`;
}

async function findAccount(q: Queryable, local: string): Promise<AccountRow | undefined> {
  const result = await q.query<AccountRow>(
    'SELECT local_part, kind, domain, state, password_hash, device_type, vendor, model, extra FROM accounts WHERE local_part = $1',
    [local],
  );
  return result.rows[0];
}

async function recordDivergence(ctx: AccountServerContext, id: AccountId, detail: string): Promise<void> {
  ctx.logger.warn({ localPart: id.local, domain: id.domain, detail }, 'divergence with the message server');
  await ctx.db.query('INSERT INTO divergences (local_part, domain, detail) VALUES ($1, $2, $3)', [
    id.local,
    id.domain,
    detail,
  ]);
}

/** Message 1 or 2 for an account. */
function sendCreate(
  ctx: AccountServerContext,
  as: AutonomousSystemEntry,
  id: AccountId,
  password: string,
  info: DeviceInfo,
  extra: Extras,
) {
  return id.kind === 'user'
    ? sendToAs(ctx.client, as, message1, { name: id.local, password })
    : sendToAs(ctx.client, as, message2, { name: id.local, password, ...definedInfo(info) }, extra);
}

/** Message 3 or 4 for an account, always carrying its whole current state. */
function sendModify(
  ctx: AccountServerContext,
  as: AutonomousSystemEntry,
  id: AccountId,
  password: string,
  info: DeviceInfo,
  extra: Extras,
) {
  return id.kind === 'user'
    ? sendToAs(ctx.client, as, message3, { name: id.local, password })
    : sendToAs(ctx.client, as, message4, { name: id.local, password, ...definedInfo(info) }, extra);
}

/** Message 5 or 6. */
export function sendRemove(
  ctx: AccountServerContext,
  as: AutonomousSystemEntry,
  kind: AccountId['kind'],
  local: string,
) {
  return kind === 'user'
    ? sendToAs(ctx.client, as, message5, { name: local })
    : sendToAs(ctx.client, as, message6, { name: local });
}

/** The standard sets no strength for verification codes: a weak one is accepted, and the operator warned. */
function warnIfWeak(ctx: AccountServerContext, id: AccountId, code: string | undefined): void {
  if (weakVerifyCode(code))
    ctx.logger.warn(
      { localPart: id.local, domain: id.domain },
      'weak verification code (fewer than 20 bits): guessing it is held only by the throttle',
    );
}

function definedInfo(info: DeviceInfo): DeviceInfo {
  return Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined)) as DeviceInfo;
}

/** Registers a user or device (client API → Message 1/2). */
export async function register(
  ctx: AccountServerContext,
  source: string,
  id: AccountId,
  password: string,
  info: DeviceInfo = {},
  extra: Extras = {},
): Promise<AccountStatus | Refused> {
  const as = ctx.directory.as(id.domain);
  if (!as) return { status: 400, reason: 'domain is not an AS of this IRSP' };
  warnIfWeak(ctx, id, info.verifycode);
  const passwordHash = await hashPassword(password);
  let retry = false;
  try {
    await ctx.db.query(
      `INSERT INTO accounts (local_part, kind, domain, state, password_hash, device_type, vendor, model, extra)
       VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8)`,
      [
        id.local,
        id.kind,
        id.domain,
        passwordHash,
        info.type ?? null,
        info.vendor ?? null,
        info.model ?? null,
        JSON.stringify(extra),
      ],
    );
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    // The local part is taken (in any AS: clause 7.1 b) — unless this is a retry of our own unfinished request.
    const existing = await findAccount(ctx.db, id.local);
    const ownRetry =
      existing?.state === 'pending' &&
      existing.domain === id.domain &&
      existing.kind === id.kind &&
      (await retryPassword(ctx, id, password, existing.password_hash, source));
    if (!ownRetry) return 421;
    // The retry takes the row as in flight, unless the reconciler is removing it: both sending at once could
    // leave the account here and not at the message server (docs/consistency.md, "The reconciler").
    if (!(await takeUnclaimed(ctx.db, id.local, ['pending']))) {
      ctx.logger.warn({ localPart: id.local, domain: id.domain }, 'registration retry while being settled');
      return 500;
    }
    retry = true;
  }

  const outcome = await sendCreate(ctx, as, id, password, info, extra);
  let status = statusOf(outcome);
  if (status === 421 && retry) {
    // An earlier attempt of this same request reached the message server; make it match this one.
    status = statusOf(await sendModify(ctx, as, id, password, info, extra));
  }
  if (status === 200) {
    // Confirmed only if the reconciler did not take the row meanwhile (a request that outlasted the settle delay):
    // it may have removed the row here already, and then the account just made there is taken back below. Nor if
    // it tried and failed (settle_attempts): its Message 5 may still have removed the account there after this
    // Message 1 made it, so only a request sent after that (a retry, which starts the row afresh) may confirm it.
    const confirmed = await ctx.db.query(
      `UPDATE accounts SET state = 'active', password_hash = $2, verify_code_hash = $3, device_type = $4, vendor = $5,
          model = $6, extra = $7, updated_at = now()
        WHERE local_part = $1 AND state = 'pending' AND claim IS NULL AND settle_attempts = 0`,
      [
        id.local,
        passwordHash,
        info.verifycode ? await hashPassword(info.verifycode) : null,
        info.type ?? null,
        info.vendor ?? null,
        info.model ?? null,
        JSON.stringify(extra),
      ],
    );
    if (confirmed.rowCount === 1) return 200;
  }
  if (status === 421 || status === 400) {
    await ctx.db.query(`DELETE FROM accounts WHERE local_part = $1 AND state = 'pending'`, [id.local]);
    if (status === 421)
      await recordDivergence(ctx, id, 'message server holds an account the account server does not know');
    return status;
  }
  // No answer, or an error: the message server may or may not have the account. Take it back now if we can;
  // otherwise the pending row keeps the local part reserved and the reconciler removes it later.
  ctx.logger.error(
    {
      localPart: id.local,
      domain: id.domain,
      outcome: status === 200 ? 'overtaken by the reconciler' : describe(outcome),
    },
    'registration not confirmed',
  );
  const undo = statusOf(await sendRemove(ctx, as, id.kind, id.local));
  if (undo === 200 || undo === 422) {
    await ctx.db.query(`DELETE FROM accounts WHERE local_part = $1 AND state = 'pending'`, [id.local]);
  }
  return 500;
}

/**
 * Whether a registration naming a pending row is its own retry, by the password, checked under the guessing
 * throttle like every other password check: otherwise the difference between 421 and a retry would tell a guesser
 * the password of an account being registered. A refused check counts as another's request (421).
 */
async function retryPassword(
  ctx: AccountServerContext,
  id: AccountId,
  password: string,
  hash: string,
  source: string,
): Promise<boolean> {
  const verdict = await ctx.passwords.admit(id.local, source);
  if (!verdict.allowed) {
    ctx.logger.info(
      { localPart: id.local, source, limit: verdict.limit, retryAfterMs: verdict.retryAfterMs },
      'registration retry refused by the guessing throttle',
    );
    return false;
  }
  const right = await verifyPassword(password, hash);
  await (right ? ctx.passwords.succeeded(verdict.ticket) : ctx.passwords.failed(verdict.ticket));
  return right;
}

/**
 * Marks a row as having a request in flight (now, so the reconciler leaves it alone for a while), optionally
 * moving it to `state`, provided it is in one of `states` and no reconciler holds a live claim on it. False when
 * it could not be taken.
 */
async function takeUnclaimed(
  q: Queryable,
  local: string,
  states: AccountRow['state'][],
  state?: AccountRow['state'],
): Promise<boolean> {
  const taken = await q.query(
    `UPDATE accounts SET state = coalesce($3::text, state), updated_at = now(), claim = NULL, claimed_until = NULL,
            settle_attempts = 0
      WHERE local_part = $1 AND state = ANY($2::text[]) AND (claimed_until IS NULL OR claimed_until < now())`,
    [local, states, state ?? null],
  );
  return taken.rowCount === 1;
}

/**
 * Checks an active account's password: the row, 422 (no such account), 401 (wrong password), or refused by the
 * guessing throttle before the password is even looked at (the same answer whether it was right). `source` is
 * the caller's address as `addressSource` keys it.
 */
async function authenticate(
  ctx: AccountServerContext,
  id: AccountId,
  password: string,
  states: AccountRow['state'][],
  source: string,
): Promise<AccountRow | Refused | 422 | Throttled> {
  const row = await findAccount(ctx.db, id.local);
  if (!row || row.kind !== id.kind || row.domain !== id.domain || !states.includes(row.state)) return 422;
  const verdict = await ctx.passwords.admit(id.local, source);
  if (!verdict.allowed) {
    ctx.logger.info(
      { localPart: id.local, source, limit: verdict.limit, retryAfterMs: verdict.retryAfterMs },
      'password check refused by the guessing throttle',
    );
    return { status: 429, retryAfterMs: verdict.retryAfterMs };
  }
  const right = await verifyPassword(password, row.password_hash);
  await (right ? ctx.passwords.succeeded(verdict.ticket) : ctx.passwords.failed(verdict.ticket));
  return right ? row : { status: 401, reason: 'wrong password' };
}

/** Changes an account (client API → Message 3/4); a message server that lost the account gets it back. */
export async function modify(
  ctx: AccountServerContext,
  source: string,
  id: AccountId,
  password: string,
  changes: { newpassword?: string | undefined } & DeviceInfo,
  changedExtra: Extras = {},
): Promise<AccountStatus | Refused | Throttled> {
  const row = await authenticate(ctx, id, password, ['active'], source);
  if (typeof row === 'number' || 'status' in row) return row;
  const as = ctx.directory.as(id.domain);
  if (!as) return 500;
  warnIfWeak(ctx, id, changes.verifycode);
  const newPassword = changes.newpassword ?? password;
  const info: DeviceInfo = {
    verifycode: changes.verifycode,
    type: changes.type ?? row.device_type ?? undefined,
    vendor: changes.vendor ?? row.vendor ?? undefined,
    model: changes.model ?? row.model ?? undefined,
  };
  const extra = { ...row.extra, ...changedExtra };
  const outcome = await sendModify(ctx, as, id, newPassword, info, extra);
  let status = statusOf(outcome);
  if (status === 422) {
    await recordDivergence(ctx, id, 'message server lost the account: created again on modification');
    status = statusOf(await sendCreate(ctx, as, id, newPassword, info, extra));
  }
  if (status === 400) return 400;
  if (status !== 200) {
    ctx.logger.error(
      { localPart: id.local, domain: id.domain, outcome: describe(outcome) },
      'modification not confirmed',
    );
    return 500;
  }
  await ctx.db.query(
    `UPDATE accounts SET password_hash = $2,
        verify_code_hash = CASE WHEN $3 THEN $4 ELSE verify_code_hash END,
        device_type = $5, vendor = $6, model = $7, extra = $8, updated_at = now()
      WHERE local_part = $1`,
    [
      id.local,
      changes.newpassword ? await hashPassword(changes.newpassword) : row.password_hash,
      changes.verifycode !== undefined,
      changes.verifycode ? await hashPassword(changes.verifycode) : null,
      info.type ?? null,
      info.vendor ?? null,
      info.model ?? null,
      JSON.stringify(extra),
    ],
  );
  return 200;
}

/** Deletes an account (client API → Message 5/6); what cannot be confirmed now the reconciler finishes. */
export async function remove(
  ctx: AccountServerContext,
  source: string,
  id: AccountId,
  password: string,
): Promise<AccountStatus | Refused | Throttled> {
  const row = await authenticate(ctx, id, password, ['active', 'removing'], source);
  if (typeof row === 'number' || 'status' in row) return row;
  return removeAccount(ctx, id);
}

/**
 * Message 5/6 for an account whose removal was asked (by the account itself, or by an operator through the admin
 * API): 200 once its message server confirmed, 500 when the reconciler has to finish it.
 */
export async function removeAccount(ctx: AccountServerContext, id: AccountId): Promise<200 | 500> {
  const as = ctx.directory.as(id.domain);
  if (!as) return 500;
  if (!(await takeUnclaimed(ctx.db, id.local, ['active', 'removing'], 'removing'))) {
    ctx.logger.warn({ localPart: id.local, domain: id.domain }, 'removal retry while being settled');
    return 500;
  }
  const outcome = await sendRemove(ctx, as, id.kind, id.local);
  const status = statusOf(outcome);
  if (status === 200 || status === 422) {
    if (status === 422)
      await recordDivergence(ctx, id, 'message server did not have the account being removed');
    // Only the row this removal took: a registration may already have taken the local part again.
    await ctx.db.query(`DELETE FROM accounts WHERE local_part = $1 AND state = 'removing'`, [id.local]);
    return 200;
  }
  ctx.logger.error(
    { localPart: id.local, domain: id.domain, outcome: describe(outcome) },
    'removal not confirmed',
  );
  return 500;
}

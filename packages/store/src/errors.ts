const SQLSTATE = /^[0-9A-Z]{5}$/;

interface DatabaseErrorLike {
  code: string;
  severity: string;
  constraint?: unknown;
}

/**
 * Finds the database error in `err` or its `cause` chain. `pg` and PGlite both put the SQLSTATE in `code`
 * and set `severity`; Node system errors such as EPIPE have a `code` but no `severity`.
 */
function findDatabaseError(err: unknown): DatabaseErrorLike | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const { code, severity } = e as { code?: unknown; severity?: unknown };
    if (typeof code === 'string' && SQLSTATE.test(code) && typeof severity === 'string') {
      return e as DatabaseErrorLike;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The SQLSTATE of a database error from either driver (also when wrapped as a `cause`), else undefined. */
export function sqlState(err: unknown): string | undefined {
  return findDatabaseError(err)?.code;
}

/** The constraint a database error names (unique, foreign key, check…), when the server reported one. */
export function constraintName(err: unknown): string | undefined {
  const constraint = findDatabaseError(err)?.constraint;
  return typeof constraint === 'string' ? constraint : undefined;
}

/**
 * True when `err` is a unique violation (SQLSTATE 23505) from either driver; when `constraint` is given,
 * only when the violated constraint (or unique index) has that name.
 */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (sqlState(err) !== '23505') return false;
  return constraint === undefined || constraintName(err) === constraint;
}

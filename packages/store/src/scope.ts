import { AsyncLocalStorage } from 'node:async_hooks';

interface TxMark {
  open: boolean;
}

/**
 * Remembers, per Db (per PgliteHost for its views, which share one PGlite session), whether the current
 * async context is inside one of its transactions, so that a call on the Db from inside `transaction(fn)`
 * fails at once instead of deadlocking (PGlite) or silently escaping the transaction (PostgreSQL). Work started inside fn that outlives the transaction is not
 * affected: the mark is cleared when the transaction ends.
 */
export class TxScope {
  readonly #storage = new AsyncLocalStorage<TxMark>();

  /** Throws when called inside a transaction of this scope; `method` names the call ('query', 'PgliteHost.db'). */
  assertOutside(method: string): void {
    if (this.#storage.getStore()?.open === true) {
      const call = method.includes('.') ? method : `Db.${method}`;
      throw new Error(
        `${call}() called inside Db.transaction(); use the tx argument (or start this work after the transaction)`,
      );
    }
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const mark: TxMark = { open: true };
    try {
      return await this.#storage.run(mark, fn);
    } finally {
      mark.open = false;
    }
  }
}

export function closedError(): Error {
  return new Error('Db is closed');
}

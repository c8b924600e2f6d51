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
  /** Transactions of this scope running now. */
  #open = 0;

  /** Throws when called inside a transaction of this scope; `method` names the call ('query', 'PgliteHost.db'). */
  assertOutside(method: string): void {
    if (this.#storage.getStore()?.open === true) {
      const call = method.includes('.') ? method : `Db.${method}`;
      throw new Error(
        `${call}() called inside Db.transaction(); use the tx argument (or start this work after the transaction)`,
      );
    }
  }

  /**
   * On Node 20 an enabled AsyncLocalStorage turns on async_hooks for the whole process (an init hook on every
   * promise: 4.5 % of the message server's CPU in `pnpm bench --scenario throughput`), so the storage is
   * enabled only while a transaction of this scope runs and disabled when the last one ends. Outside every
   * transaction there is nothing to find (getStore() answers undefined), so the check is unchanged; work
   * started inside a transaction that outlives it was already unmarked (`open` false).
   */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const mark: TxMark = { open: true };
    this.#open += 1;
    try {
      return await this.#storage.run(mark, fn);
    } finally {
      mark.open = false;
      if (--this.#open === 0) this.#storage.disable();
    }
  }
}

export function closedError(): Error {
  return new Error('Db is closed');
}

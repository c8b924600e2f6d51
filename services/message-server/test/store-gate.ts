/** Holding or failing the offline store's writes, to see what a client is answered meanwhile. */
import type { Db } from '@irsp/store';

/** What the offline store's writes start with. */
export const INSERT = 'INSERT INTO offline_messages';

/**
 * The offline store's inserts, held while the gate is shut and refused while it fails (before they run, so nothing
 * is committed on either database); the other statements pass.
 */
export class StoreGate {
  /** Inserts that have reached the gate. */
  arrived = 0;
  failing = false;
  private opened: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;

  shut(): void {
    this.opened = new Promise((resolve) => (this.release = resolve));
  }

  open(): void {
    this.release();
  }

  wrap(db: Db): Db {
    const pass = async (sql: string): Promise<void> => {
      if (!sql.includes(INSERT)) return;
      this.arrived++;
      await this.opened;
      if (this.failing) throw new Error('the database refused the insert (test)');
    };
    return {
      kind: db.kind,
      schema: db.schema,
      query: async <T>(sql: string, params?: unknown[]) => {
        await pass(sql);
        return db.query<T>(sql, params);
      },
      exec: (sql) => db.exec(sql),
      transaction: (fn) =>
        db.transaction((tx) =>
          fn({
            query: async <T>(sql: string, params?: unknown[]) => {
              await pass(sql);
              return tx.query<T>(sql, params);
            },
            exec: (sql) => tx.exec(sql),
          }),
        ),
      close: () => db.close(),
    };
  }
}

/**
 * Looking at the statements a component sends (recorded as it sends them, and explained on PostgreSQL), and
 * holding a transaction open while the component runs.
 */
import type { Db, Executor } from '@irsp/store';

export interface Statement {
  sql: string;
  params: unknown[];
}

/** A Db that runs everything on `db` and records each `query` it is given, in transactions too (exec passes through). */
export function recordingDb(db: Db): { db: Db; statements: Statement[] } {
  const statements: Statement[] = [];
  const recording: Db = {
    kind: db.kind,
    schema: db.schema,
    query: <T>(sql: string, params?: unknown[]) => {
      statements.push({ sql, params: params ?? [] });
      return db.query<T>(sql, params);
    },
    exec: (sql) => db.exec(sql),
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({
          query: <T>(sql: string, params?: unknown[]) => {
            statements.push({ sql, params: params ?? [] });
            return tx.query<T>(sql, params);
          },
          exec: (sql) => tx.exec(sql),
        }),
      ),
    close: () => db.close(),
  };
  return { db: recording, statements };
}

export interface PlanNode {
  'Node Type': string;
  'Join Type'?: string;
  'Relation Name'?: string;
  Alias?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** The nodes of `statement`'s plan (EXPLAIN, FORMAT JSON; PostgreSQL), depth first. */
export async function planNodes(db: Db, statement: Statement): Promise<PlanNode[]> {
  const explained = await db.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
    `EXPLAIN (FORMAT JSON) ${statement.sql}`,
    statement.params,
  );
  const walk = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(walk)];
  return walk(explained.rows[0]!['QUERY PLAN'][0].Plan);
}

/**
 * Runs `write` in a transaction of `db` and keeps the transaction open after it: resolves once `write` is done,
 * with `commit`, which ends the transaction and resolves once it has committed.
 */
export async function heldTransaction(
  db: Db,
  write: (tx: Executor) => Promise<void>,
): Promise<{ commit(): Promise<void> }> {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let written: () => void = () => {};
  const isWritten = new Promise<void>((resolve) => (written = resolve));
  const transaction = db.transaction(async (tx) => {
    await write(tx);
    written();
    await released;
  });
  await Promise.race([isWritten, transaction]);
  return {
    commit() {
      release();
      return transaction;
    },
  };
}

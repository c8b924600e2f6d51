/** Looking at the statements a component sends: recorded as it sends them, and explained on PostgreSQL. */
import type { Db } from '@irsp/store';

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

import type { Db } from './types.js';

/**
 * Builds something on a Db it then owns: the Db is closed if building fails, and after the built thing's own
 * close otherwise. For services that open their database themselves (`…FromTopology`).
 */
export async function withOwnedDb<T extends { close(): Promise<void> }>(
  db: Db,
  build: (db: Db) => Promise<T>,
): Promise<T> {
  let built: T;
  try {
    built = await build(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return {
    ...built,
    close: async () => {
      await built.close();
      await db.close();
    },
  };
}

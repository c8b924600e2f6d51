import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Name of the lock file kept inside a PGlite data directory while a Db has it open. */
export const LOCK_FILE = 'irsp-store.lock';

interface Holder {
  pid: number;
  /** performance.timeOrigin of the holding process: tells a live holder from a stale file left by an
   *  earlier process that had the same pid (pid 1 in containers). */
  origin: number;
  token: string;
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<Holder>;
    if (
      typeof parsed.pid === 'number' &&
      typeof parsed.origin === 'number' &&
      typeof parsed.token === 'string'
    ) {
      return parsed as Holder;
    }
  } catch {
    // missing or unreadable: treated as stale
  }
  return undefined;
}

function isAlive(holder: Holder): boolean {
  if (holder.pid === process.pid) return holder.origin === performance.timeOrigin;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock file of a PGlite data directory, or throws if a live process (this one included) holds
 * it. A file left by a process that has exited is taken over. Returns the release function.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  const me: Holder = { pid: process.pid, origin: performance.timeOrigin, token: randomUUID() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, JSON.stringify(me), { flag: 'wx' });
      return async () => {
        if ((await readHolder(path))?.token === me.token) await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readHolder(path);
    if (holder !== undefined && isAlive(holder)) {
      throw new Error(
        `PGlite data directory ${dir} is in use by process ${holder.pid} (${path}); ` +
          'two PGlite instances must not share a data directory',
      );
    }
    await rm(path, { force: true });
  }
  throw new Error(`could not take the lock ${path}`);
}

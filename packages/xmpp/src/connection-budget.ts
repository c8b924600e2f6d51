/**
 * How many connections a process may hold at once. Every accepted socket costs a file descriptor, and a process
 * at its descriptor limit fails everywhere at once (the database pool, log files, outgoing s2s, accept() itself).
 * So the listeners that share one budget take a slot per socket as soon as it is accepted (before any TLS
 * handshake) and refuse the next one when the budget is spent, leaving a reserve of descriptors for the rest of
 * the process. Refusals are logged once per episode, not once per socket (a flood would flood the log too).
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { C2sLogger } from './c2s/connection.js';

/** The soft limit on open files (RLIMIT_NOFILE) of this process, from /proc on Linux; undefined elsewhere. */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limitsFile, 'utf8');
  } catch {
    return undefined;
  }
  // "Max open files            20000                20000                files"
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!match || match[1] === 'unlimited') return undefined;
  return Number(match[1]);
}

/**
 * Descriptors kept back from the connection budget for everything else (database pool, outgoing s2s, log and
 * certificate files): a tenth of the limit, at least 256 and at most 1 024, which that never needs.
 */
export function descriptorReserve(limit: number): number {
  return Math.min(1_024, Math.max(256, Math.ceil(limit / 10)));
}

/** Used when the file limit cannot be read and nothing is configured. */
export const FALLBACK_MAX_CONNECTIONS = 4_096;

/**
 * The cap for one process: the configured value, never above the file limit less its reserve; without a
 * configured value, the file limit less its reserve; without either, FALLBACK_MAX_CONNECTIONS.
 */
export function connectionCap(configured: number | undefined, fileLimit: number | undefined): number {
  const ceiling = fileLimit === undefined ? undefined : Math.max(1, fileLimit - descriptorReserve(fileLimit));
  if (configured === undefined) return ceiling ?? FALLBACK_MAX_CONNECTIONS;
  return ceiling === undefined ? configured : Math.min(configured, ceiling);
}

export class ConnectionBudget {
  private open = 0;
  private refusing = false;
  private refused = 0;

  constructor(
    readonly max: number,
    private readonly logger: Pick<C2sLogger, 'warn' | 'info'>,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError('max connections must be a positive integer');
  }

  /** Sockets holding a slot now. */
  get count(): number {
    return this.open;
  }

  /**
   * Takes a slot for `socket` until it closes; false when the budget is spent (the caller refuses the socket).
   * The first refusal of an episode is logged as a warning, its end (with how many were refused) as info.
   */
  admit(socket: Socket, listener: string): boolean {
    if (this.open >= this.max) {
      this.refused++;
      if (!this.refusing) {
        this.refusing = true;
        this.logger.warn(
          { max: this.max, listener, remoteAddress: socket.remoteAddress },
          'connection limit reached: refusing new connections',
        );
      }
      return false;
    }
    this.open++;
    if (this.refusing) {
      this.logger.info({ max: this.max, refused: this.refused }, 'connection limit: accepting again');
      this.refusing = false;
      this.refused = 0;
    }
    socket.once('close', () => this.open--);
    return true;
  }
}

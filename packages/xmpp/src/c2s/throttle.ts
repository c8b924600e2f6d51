/**
 * Failed-login throttling per source address and per account: after a few free failures each further attempt
 * must wait twice as long as the last (up to a cap), so guessing passwords is slow, while the rightful owner
 * waits at most `maxDelayMs` and is free again `forgetAfterMs` after the last failure. Memory is bounded.
 */
export interface LoginThrottleOptions {
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  forgetAfterMs: number;
  maxEntries: number;
}

export const DEFAULT_THROTTLE: LoginThrottleOptions = {
  freeFailures: 3,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  forgetAfterMs: 15 * 60_000,
  maxEntries: 100_000,
};

interface Entry {
  failures: number;
  last: number;
}

export class LoginThrottle {
  private readonly options: LoginThrottleOptions;
  private readonly entries = new Map<string, Entry>();

  constructor(
    options: Partial<LoginThrottleOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.options = { ...DEFAULT_THROTTLE, ...options };
  }

  /** Milliseconds an attempt from this address must still wait (0: go ahead). */
  addressWait(address: string | undefined): number {
    return address === undefined ? 0 : this.wait(`a:${address}`);
  }

  /** Milliseconds an attempt for this account must still wait (0: go ahead). */
  accountWait(username: string): number {
    return this.wait(`u:${username}`);
  }

  failed(address: string | undefined, username: string | undefined): void {
    if (address !== undefined) this.record(`a:${address}`);
    if (username !== undefined) this.record(`u:${username}`);
  }

  /** A successful login clears its account (not its address: one's own account must not unlock guessing). */
  succeeded(username: string): void {
    this.entries.delete(`u:${username}`);
  }

  private wait(key: string): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    const now = this.now();
    if (now - entry.last >= this.options.forgetAfterMs) {
      this.entries.delete(key);
      return 0;
    }
    // The first `freeFailures` cost nothing; each one after that doubles the wait.
    const over = entry.failures - this.options.freeFailures;
    if (over <= 0) return 0;
    const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(over - 1, 30));
    return Math.max(0, entry.last + delay - now);
  }

  private record(key: string): void {
    const now = this.now();
    const entry = this.entries.get(key);
    const fresh = !entry || now - entry.last >= this.options.forgetAfterMs;
    this.entries.delete(key); // re-insert: Map order is then least recently failed first
    this.entries.set(key, { failures: fresh ? 1 : entry.failures + 1, last: now });
    if (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}

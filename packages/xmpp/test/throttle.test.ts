import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../src/c2s/throttle.js';

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('LoginThrottle', () => {
  it('lets the first failures through, then doubles the wait up to the cap', () => {
    const c = clock();
    const t = new LoginThrottle(
      { freeFailures: 3, baseDelayMs: 1_000, maxDelayMs: 4_000, forgetAfterMs: 60_000 },
      c.now,
    );
    for (let i = 0; i < 3; i++) t.failed('10.0.0.1', 'alice');
    expect(t.addressWait('10.0.0.1')).toBe(0);
    t.failed('10.0.0.1', 'alice'); // the fourth failure: the next attempt waits 1 s
    expect(t.addressWait('10.0.0.1')).toBe(1_000);
    expect(t.accountWait('alice')).toBe(1_000);
    c.advance(400);
    expect(t.accountWait('alice')).toBe(600);
    c.advance(600);
    expect(t.accountWait('alice')).toBe(0);
    t.failed('10.0.0.1', 'alice');
    expect(t.accountWait('alice')).toBe(2_000);
    t.failed('10.0.0.1', 'alice');
    expect(t.accountWait('alice')).toBe(4_000);
    t.failed('10.0.0.1', 'alice');
    expect(t.accountWait('alice')).toBe(4_000); // capped: the owner never waits longer than maxDelayMs
    expect(t.addressWait('10.0.0.2')).toBe(0);
    expect(t.accountWait('bob')).toBe(0);
  });

  it('forgets a key after forgetAfterMs without failures', () => {
    const c = clock();
    const t = new LoginThrottle({ freeFailures: 0, baseDelayMs: 1_000, forgetAfterMs: 10_000 }, c.now);
    t.failed(undefined, 'alice');
    expect(t.accountWait('alice')).toBe(1_000);
    c.advance(10_000);
    expect(t.accountWait('alice')).toBe(0);
    t.failed(undefined, 'alice');
    expect(t.accountWait('alice')).toBe(1_000); // counted afresh, not as a second failure
  });

  it("a success clears the account, not the address (one's own account must not unlock guessing)", () => {
    const c = clock();
    const t = new LoginThrottle({ freeFailures: 0, baseDelayMs: 1_000 }, c.now);
    t.failed('10.0.0.1', 'alice');
    t.succeeded('alice');
    expect(t.accountWait('alice')).toBe(0);
    expect(t.addressWait('10.0.0.1')).toBe(1_000);
  });

  it('keeps at most maxEntries keys, dropping the least recently failed', () => {
    const c = clock();
    const t = new LoginThrottle({ freeFailures: 0, baseDelayMs: 1_000, maxEntries: 2 }, c.now);
    t.failed(undefined, 'a');
    t.failed(undefined, 'b');
    t.failed(undefined, 'a');
    t.failed(undefined, 'c');
    expect(t.accountWait('b')).toBe(0);
    expect(t.accountWait('a')).toBe(2_000);
    expect(t.accountWait('c')).toBe(1_000);
    expect(t.addressWait(undefined)).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { addressSource, Backoff, type BackoffOptions } from '../src/guessing.js';

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const options = (o: Partial<BackoffOptions>): BackoffOptions => ({
  freeFailures: 3,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  forgetAfterMs: 15 * 60_000,
  maxEntries: 100_000,
  ...o,
});

describe('Backoff', () => {
  it('lets the first failures through, then doubles the wait up to the cap', () => {
    const c = clock();
    const b = new Backoff(options({ maxDelayMs: 4_000, forgetAfterMs: 60_000 }), c.now);
    for (let i = 0; i < 3; i++) b.failed('10.0.0.1');
    expect(b.wait('10.0.0.1')).toBe(0);
    b.failed('10.0.0.1'); // the fourth failure: the next attempt waits 1 s
    expect(b.wait('10.0.0.1')).toBe(1_000);
    c.advance(400);
    expect(b.wait('10.0.0.1')).toBe(600);
    c.advance(600);
    expect(b.wait('10.0.0.1')).toBe(0);
    b.failed('10.0.0.1');
    expect(b.wait('10.0.0.1')).toBe(2_000);
    b.failed('10.0.0.1');
    expect(b.wait('10.0.0.1')).toBe(4_000);
    b.failed('10.0.0.1');
    expect(b.wait('10.0.0.1')).toBe(4_000); // capped
    expect(b.wait('10.0.0.2')).toBe(0);
  });

  it('forgets a key after forgetAfterMs without failures', () => {
    const c = clock();
    const b = new Backoff(options({ freeFailures: 0, forgetAfterMs: 10_000 }), c.now);
    b.failed('a');
    expect(b.wait('a')).toBe(1_000);
    c.advance(10_000);
    expect(b.wait('a')).toBe(0);
    b.failed('a');
    expect(b.wait('a')).toBe(1_000); // counted afresh, not as a second failure
  });

  it('keeps at most maxEntries keys, dropping the least recently failed', () => {
    const c = clock();
    const b = new Backoff(options({ freeFailures: 0, maxEntries: 2 }), c.now);
    b.failed('a');
    b.failed('b');
    b.failed('a');
    b.failed('c');
    expect(b.wait('b')).toBe(0);
    expect(b.wait('a')).toBe(2_000);
    expect(b.wait('c')).toBe(1_000);
  });
});

describe('addressSource', () => {
  it('keys IPv4 as is, unwraps IPv4-mapped IPv6, and keys IPv6 by its /64', () => {
    expect(addressSource('192.0.2.7')).toBe('192.0.2.7');
    expect(addressSource('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressSource('2001:db8:0:1:aaaa::1')).toBe('2001:db8:0:1::/64');
    expect(addressSource('2001:0db8:0000:0001:ffff:ffff:ffff:ffff')).toBe('2001:db8:0:1::/64');
    expect(addressSource('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressSource('::1')).toBe('0:0:0:0::/64');
    expect(addressSource('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressSource(undefined)).toBe('unknown');
  });
});

import { describe, expect, it } from 'vitest';
import { OutputBarrier } from '../src/output-barrier.js';

function deferred<T>() {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every settled promise's reactions run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('OutputBarrier', () => {
  it('writes at once while nothing is held', () => {
    const written: string[] = [];
    const barrier = new OutputBarrier();
    expect(barrier.run(() => written.push('a'))).toBe(true);
    expect(written).toEqual(['a']);
    expect(barrier.holding).toBe(false);
  });

  it('holds what follows a promise until it settles, in order, and what follows a later one until that settles too', async () => {
    const written: string[] = [];
    const barrier = new OutputBarrier((value) => written.push(`placed ${String(value)}`));
    const first = deferred<string>();
    const second = deferred<string>();
    barrier.hold(first.promise);
    expect(barrier.run(() => written.push('a'))).toBe(false);
    barrier.hold(second.promise);
    barrier.run(() => written.push('b'));
    // The later promise settling first releases nothing: 'a' still waits for the first.
    second.resolve('2');
    await settle();
    expect(written).toEqual([]);
    first.resolve('1');
    await settle();
    expect(written).toEqual(['placed 1', 'a', 'placed 2', 'b']);
    expect(barrier.holding).toBe(false);
    barrier.run(() => written.push('c'));
    expect(written.at(-1)).toBe('c');
  });

  it('a rejected promise releases the output too, placing undefined', async () => {
    const written: string[] = [];
    const barrier = new OutputBarrier((value) => written.push(`placed ${String(value)}`));
    const held = deferred<string>();
    barrier.hold(held.promise);
    barrier.run(() => written.push('a'));
    held.reject(new Error('database down'));
    await settle();
    expect(written).toEqual(['placed undefined', 'a']);
  });

  it('a write made while the queue is flushed keeps its place behind what is still held', async () => {
    const written: string[] = [];
    const barrier = new OutputBarrier();
    const first = deferred<void>();
    const second = deferred<void>();
    barrier.hold(first.promise);
    barrier.run(() => {
      written.push('a');
      barrier.run(() => written.push('from a'));
    });
    barrier.hold(second.promise);
    barrier.run(() => written.push('b'));
    first.resolve();
    await settle();
    expect(written).toEqual(['a']);
    second.resolve();
    await settle();
    expect(written).toEqual(['a', 'b', 'from a']);
  });

  it('a write that throws does not strand the writes after it; the error is reported, not thrown', async () => {
    const written: string[] = [];
    const failures: unknown[] = [];
    const barrier = new OutputBarrier(undefined, (error) => failures.push(error));
    const held = deferred<void>();
    barrier.hold(held.promise);
    barrier.run(() => {
      throw new Error('bug in a write');
    });
    barrier.run(() => written.push('b'));
    held.resolve();
    await settle();
    expect(written).toEqual(['b']);
    expect(failures.map((e) => (e as Error).message)).toEqual(['bug in a write']);
    expect(barrier.holding).toBe(false);
  });
});

/** Progress on stderr: nothing for what answers within a second, a line when waiting starts and when it ends. */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { stderrProgress } from '../src/progress.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

it('says nothing for an answer within a second', () => {
  const lines: string[] = [];
  const done = stderrProgress((t) => lines.push(t)).waiting('GET https://x/admin/health');
  vi.advanceTimersByTime(999);
  done();
  vi.advanceTimersByTime(5_000);
  expect(lines).toEqual([]);
});

it('says what it waits for after a second, and when it came', () => {
  const lines: string[] = [];
  const done = stderrProgress((t) => lines.push(t)).waiting('GET https://x/admin/health');
  vi.advanceTimersByTime(1_000);
  expect(lines).toEqual(['irsp: waiting for GET https://x/admin/health…\n']);
  vi.advanceTimersByTime(1_500);
  done();
  expect(lines).toEqual([
    'irsp: waiting for GET https://x/admin/health…\n',
    'irsp: GET https://x/admin/health answered after 2.5 s\n',
  ]);
});

import { describe, expect, it } from 'vitest';
import { LatencyRecorder, round } from '../src/load/latency.js';

describe('LatencyRecorder', () => {
  it('gives nearest-rank percentiles of 1..100 exactly', () => {
    const recorder = new LatencyRecorder();
    for (let ms = 100; ms >= 1; ms--) recorder.record(ms);
    expect(recorder.percentile(50)).toBe(50);
    expect(recorder.percentile(99)).toBe(99);
    expect(recorder.percentile(100)).toBe(100);
    expect(recorder.percentile(0.5)).toBe(1);
    expect(recorder.summary()).toEqual({ count: 100, p50Ms: 50, p99Ms: 99 });
  });

  it('handles small and growing sample sets', () => {
    const recorder = new LatencyRecorder();
    expect(recorder.summary()).toEqual({ count: 0, p50Ms: null, p99Ms: null });
    recorder.record(7.5);
    expect(recorder.summary()).toEqual({ count: 1, p50Ms: 7.5, p99Ms: 7.5 });
    for (let i = 0; i < 3000; i++) recorder.record(i % 2 === 0 ? 1 : 3);
    recorder.record(1000);
    // 3 002 samples sorted: ranks 1–1500 are 1, 1501–3000 are 3, 3001 is 7.5, 3002 is 1000.
    expect(recorder.percentile(49.9)).toBe(1); // rank ceil(1497.998) = 1498
    expect(recorder.percentile(50)).toBe(3); // rank 1501
    expect(recorder.percentile(99.95)).toBe(7.5); // rank ceil(3000.499) = 3001
    expect(recorder.percentile(99.99)).toBe(1000); // rank ceil(3001.6998) = 3002
  });

  it('rounds figures and refuses non-finite ones', () => {
    expect(round(1.23456)).toBe(1.235);
    expect(round(1234.5678, 1)).toBe(1234.6);
    expect(round(Number.POSITIVE_INFINITY)).toBeNull();
    expect(round(null)).toBeNull();
  });
});

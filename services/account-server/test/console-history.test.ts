/**
 * The operator console's metric history (decision 0023): reading our services' Prometheus exposition, and the ring of
 * samples the plots are drawn from (an hour kept, nulls where a service did not answer).
 */
import { describe, expect, it } from 'vitest';
import { MetricHistory } from '../src/console/history.js';
import { metricValue, parsePrometheus } from '../src/console/prometheus.js';

describe('parsePrometheus', () => {
  it('reads samples with their labels and skips comments, malformed lines and values that are not numbers', () => {
    const text = [
      '# HELP irsp_outbox_backlog Messages waiting',
      '# TYPE irsp_outbox_backlog gauge',
      'irsp_outbox_backlog{target="application-server:default"} 3',
      'irsp_outbox_backlog{target="say \\"hi\\"\\\\"} 1',
      'irsp_xmpp_sessions 2',
      'process_resident_memory_bytes 1.5e+08',
      'irsp_requests_total{operation="message8",status="200"} 7',
      '{orphan="x"} 1',
      'broken_line',
      'nan_metric NaN',
      '',
    ].join('\n');
    expect(parsePrometheus(text)).toEqual([
      { name: 'irsp_outbox_backlog', labels: { target: 'application-server:default' }, value: 3 },
      { name: 'irsp_outbox_backlog', labels: { target: 'say "hi"\\' }, value: 1 },
      { name: 'irsp_xmpp_sessions', labels: {}, value: 2 },
      { name: 'process_resident_memory_bytes', labels: {}, value: 150_000_000 },
      { name: 'irsp_requests_total', labels: { operation: 'message8', status: '200' }, value: 7 },
    ]);
    expect(metricValue(parsePrometheus(text), 'irsp_xmpp_sessions')).toBe(2);
    expect(metricValue(parsePrometheus(text), 'absent')).toBeUndefined();
  });
});

describe('MetricHistory', () => {
  const reading = (service: string, value: number) => ({
    metric: 'sessions' as const,
    service,
    label: null,
    value,
  });

  it('pads a series that appears late, marks a missing reading null, and keeps only the last samples', () => {
    const history = new MetricHistory(3);
    history.record(Date.UTC(2026, 0, 1, 0, 0, 0), [reading('a', 1)]);
    history.record(Date.UTC(2026, 0, 1, 0, 0, 10), [reading('a', 2), reading('b', 5)]);
    history.record(Date.UTC(2026, 0, 1, 0, 0, 20), [reading('b', 6)]);
    expect(history.snapshot()).toEqual({
      at: ['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:10.000Z', '2026-01-01T00:00:20.000Z'],
      series: [
        { metric: 'sessions', service: 'a', label: null, values: [1, 2, null] },
        { metric: 'sessions', service: 'b', label: null, values: [null, 5, 6] },
      ],
    });
    history.record(Date.UTC(2026, 0, 1, 0, 0, 30), [reading('a', 3), reading('b', 7)]);
    expect(history.snapshot()).toEqual({
      at: ['2026-01-01T00:00:10.000Z', '2026-01-01T00:00:20.000Z', '2026-01-01T00:00:30.000Z'],
      series: [
        { metric: 'sessions', service: 'a', label: null, values: [2, null, 3] },
        { metric: 'sessions', service: 'b', label: null, values: [5, 6, 7] },
      ],
    });
  });

  it('gives copies: a snapshot does not change with later samples', () => {
    const history = new MetricHistory(10);
    history.record(0, [reading('a', 1)]);
    const before = history.snapshot();
    history.record(1_000, [reading('a', 2)]);
    expect(before.series[0]!.values).toEqual([1]);
    expect(history.snapshot().series[0]!.values).toEqual([1, 2]);
  });
});

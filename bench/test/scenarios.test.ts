import { describe, expect, it } from 'vitest';
import { parseArgs } from '../src/args.js';
import { levelFigures, sourceAddress } from '../src/scenarios/idle.js';
import { STANZA_BYTES, benchMessage, parseMarker } from '../src/scenarios/throughput.js';
import { bodyText } from '../src/load/splitter.js';
import { untilStored } from '../src/scenarios/offline.js';
import { loginMetrics } from '../src/scenarios/login.js';
import { LatencyRecorder } from '../src/load/latency.js';

describe('throughput messages', () => {
  it('are exactly 200 bytes and carry a marker the receiver reads back', () => {
    const message = benchMessage('t1@as1.irsp.test/bench', 0, 1);
    expect(Buffer.byteLength(message)).toBe(STANZA_BYTES);
    expect(Buffer.byteLength(benchMessage('t99@as1.irsp.test/bench', 98, 123456))).toBe(200);
    expect(parseMarker(bodyText(message))).toEqual({ sender: 0, seq: 1 });
    expect(parseMarker('hello')).toBeUndefined();
    expect(parseMarker(undefined)).toBeUndefined();
  });
});

describe('idle source addresses', () => {
  it('start at 127.0.0.2 and move to the next loopback address every 10 000 connections', () => {
    expect([0, 9_999, 10_000, 49_999].map(sourceAddress)).toEqual([
      '127.0.0.2',
      '127.0.0.2',
      '127.0.0.3',
      '127.0.0.6',
    ]);
  });
});

describe('idle figures', () => {
  it('are named after the connections asked for, 19 400 when the open-file limit caps the 50 000 level', () => {
    expect(
      levelFigures(
        19_400,
        { connections: 19_400, rssKb: 716_800 },
        { connections: 10_000, rssKb: 435_200 },
        102_400,
      ),
    ).toEqual({
      rssMbAt19400: 700,
      connectionsAt19400: 19_400,
      kbPerConnectionAt19400: 31.67,
      growthKbPerConnectionTo19400: 29.96,
    });
  });

  it('have no per-connection figure without connections, nor a growth without new ones', () => {
    expect(
      levelFigures(1000, { connections: 0, rssKb: 2048 }, { connections: 0, rssKb: 1024 }, 1024),
    ).toEqual({
      rssMbAt1000: 2,
      connectionsAt1000: 0,
      kbPerConnectionAt1000: null,
      growthKbPerConnectionTo1000: null,
    });
  });
});

describe('command line', () => {
  it('defaults to every scenario on every server', () => {
    expect(parseArgs([], {})).toEqual({
      scenarios: [
        'login',
        'idle',
        'throughput',
        'offline',
        'push',
        'register',
        'notify',
        'chaos',
        'unlock',
        'cluster',
      ],
      servers: ['irsp', 'prosody', 'ejabberd'],
      quick: false,
      profile: false,
      perf: false,
      out: 'bench/results',
      database: undefined,
      irspDatabases: ['pglite'],
    });
  });

  it('runs ours on PostgreSQL too when a database URL is given', () => {
    const url = 'postgres://postgres@127.0.0.1:5432/test';
    expect(parseArgs(['--database', url], {})).toMatchObject({
      database: url,
      irspDatabases: ['pglite', 'postgres'],
    });
    expect(parseArgs([], { DATABASE_URL: url })).toMatchObject({ irspDatabases: ['pglite', 'postgres'] });
    expect(parseArgs(['--irsp-db=postgres'], { DATABASE_URL: url })).toMatchObject({
      irspDatabases: ['postgres'],
    });
    expect(() => parseArgs(['--irsp-db', 'postgres'], {})).toThrow('needs --database');
    expect(() => parseArgs(['--database', 'mysql://x'], {})).toThrow('postgres:// URL');
  });

  it('takes lists in either form and refuses unknown names', () => {
    expect(parseArgs(['--', '--scenario', 'push,login', '--servers=ejabberd', '--quick'])).toMatchObject({
      scenarios: ['login', 'push'],
      servers: ['ejabberd'],
      quick: true,
    });
    expect(() => parseArgs(['--servers', 'openfire'])).toThrow('unknown server openfire');
    expect(() => parseArgs(['--fast'])).toThrow('unknown argument --fast');
  });
});

describe('offline store window', () => {
  it('closes only when the storage holds every message, counting again until it does', async () => {
    const held = [0, 400, 999, 1000];
    let asked = 0;
    const stored = await untilStored(async () => held[asked++]!, 1000, 10_000, 1);
    expect({ held: stored.held, counts: stored.counts, firstHeld: stored.firstHeld, asked }).toEqual({
      held: 1000,
      counts: 4,
      firstHeld: 0,
      asked: 4,
    });
  });

  it('gives up after its time with what the storage held', async () => {
    let asked = 0;
    const stored = await untilStored(async () => (asked++, 7), 1000, 30, 5);
    expect(stored.held).toBe(7);
    expect(stored.firstHeld).toBe(7);
    expect(stored.counts).toBe(asked);
    expect(asked).toBeGreaterThan(1);
  });
});

describe('login figures', () => {
  const w = {
    wallSeconds: 2,
    serverCpuSeconds: 1.5,
    serverCpuShare: 0.75,
    loadgenCpuShare: 0.95,
    rssKb: 102_400,
  };
  const latency = new LatencyRecorder();
  for (const ms of [10, 20, 30, 40]) latency.record(ms);

  it('give the first logins unprefixed, with their window', () => {
    expect(loginMetrics('first', w, 1000, latency, 0)).toEqual({
      logins: 1000,
      loginsPerSecond: 500,
      serverCpuMsPerLogin: 1.5,
      p50Ms: 20,
      p99Ms: 40,
      wallSeconds: 2,
      serverCpuSeconds: 1.5,
      serverCpuShare: 0.75,
      loadgenCpuShare: 0.95,
      serverRssMb: 100,
    });
  });

  it('prefix the repeated and resumed ones, and say how many handshakes resumed', () => {
    expect(loginMetrics('repeated', w, 5000, latency, 0)).toEqual({
      repeatedLogins: 5000,
      repeatedLoginsPerSecond: 2500,
      serverCpuMsPerRepeatedLogin: 0.3,
      repeatedP50Ms: 20,
      repeatedP99Ms: 40,
      repeatedLoadgenCpuShare: 0.95,
    });
    expect(loginMetrics('resumed', w, 5000, latency, 4000)).toEqual({
      resumedLogins: 5000,
      resumedLoginsPerSecond: 2500,
      serverCpuMsPerResumedLogin: 0.3,
      resumedP50Ms: 20,
      resumedP99Ms: 40,
      resumedLoadgenCpuShare: 0.95,
      resumedShare: 0.8,
    });
  });
});

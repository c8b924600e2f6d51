import { describe, expect, it } from 'vitest';
import { parseArgs } from '../src/args.js';
import { sourceAddress } from '../src/scenarios/idle.js';
import { STANZA_BYTES, benchMessage, parseMarker } from '../src/scenarios/throughput.js';
import { bodyText } from '../src/load/splitter.js';
import { untilStored } from '../src/scenarios/offline.js';

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

describe('command line', () => {
  it('defaults to every scenario on every server', () => {
    expect(parseArgs([], {})).toEqual({
      scenarios: ['login', 'idle', 'throughput', 'offline', 'push', 'register', 'notify'],
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
    expect({ held: stored.held, counts: stored.counts, asked }).toEqual({ held: 1000, counts: 4, asked: 4 });
  });

  it('gives up after its time with what the storage held', async () => {
    let asked = 0;
    const stored = await untilStored(async () => (asked++, 7), 1000, 30, 5);
    expect(stored.held).toBe(7);
    expect(stored.counts).toBe(asked);
    expect(asked).toBeGreaterThan(1);
  });
});

/**
 * The `osap` section of a message server (decisions 0020, 0022): the LBS listener, negotiation, share key, DAS list,
 * the DAS listener.
 */
import { describe, expect, it } from 'vitest';
import { osapSchema } from '../src/index.js';

const issues = (input: unknown) =>
  (osapSchema.safeParse(input).error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);

describe('osap configuration', () => {
  it('fills the defaults', () => {
    expect(
      osapSchema.parse({ lbs: { port: '8990' }, das: [{ host: 'das1.as1.irsp.test', port: 8883 }] }),
    ).toEqual({
      lbs: { host: '127.0.0.1', port: 8990, idleTimeoutMs: 10_000, exchangeTimeoutMs: 30_000 },
      protocol: { type: 1, group: [1, 2, 4, 8] },
      shareKeyIterations: 100_000,
      das: [{ host: 'das1.as1.irsp.test', port: 8883, capacity: 10_000, enabled: true }],
    });
  });

  it("fills the DAS listener's defaults and refuses what is out of range or unknown (decision 0022)", () => {
    const base = { lbs: { port: 8990 }, das: [{ host: '127.0.0.1', port: 8883 }] };
    expect(osapSchema.parse({ ...base, dasListener: { port: '8883' } }).dasListener).toEqual({
      host: '127.0.0.1',
      port: 8883,
      maxHeartbeatSeconds: 60,
      maxDevices: 10_000,
      connectTimeoutMs: 10_000,
      maxPacketBytes: 288 * 1024,
      operationTimeoutMs: 30_000,
    });
    expect(
      issues({
        ...base,
        dasListener: { port: 8883, maxHeartbeatSeconds: 0, maxDevices: 0, connectTimeoutMs: 99, qos: 2 },
      }),
    ).toEqual([
      'dasListener.maxHeartbeatSeconds: Too small: expected number to be >=1',
      'dasListener.maxDevices: Too small: expected number to be >=1',
      'dasListener.connectTimeoutMs: Too small: expected number to be >=100',
      'dasListener: Unrecognized key: "qos"',
    ]);
  });

  it('refuses a missing DAS list, a duplicate DAS, a bad host and port', () => {
    expect(issues({ lbs: { port: 1 }, das: [] })).toEqual([
      'das: Too small: expected array to have >=1 items',
    ]);
    expect(
      issues({
        lbs: { port: 1 },
        das: [
          { host: 'das1', port: 8883 },
          { host: 'DAS1', port: 8883 },
        ],
      }),
    ).toEqual(['das.1: duplicate DAS address']);
    expect(issues({ lbs: { port: 1 }, das: [{ host: 'das 1; rm', port: 0 }] })).toEqual([
      'das.0.host: a host name or IP address',
      'das.0.port: Too small: expected number to be >=1',
    ]);
  });

  it('refuses a protocol group that is not ascending powers of two, and unknown keys', () => {
    expect(
      issues({ lbs: { port: 1 }, protocol: { group: [3] }, das: [{ host: 'd', port: 1 }] }),
    ).toHaveLength(1);
    expect(issues({ lbs: { port: 1 }, protocol: { group: [4, 2] }, das: [{ host: 'd', port: 1 }] })).toEqual([
      'protocol.group: members ascending, each once',
    ]);
    expect(issues({ lbs: { port: 1, tls: false }, das: [{ host: 'd', port: 1 }] })).toEqual([
      'lbs: Unrecognized key: "tls"',
    ]);
  });
});

/**
 * Every parser, fed random and mutated bytes: each call returns a value or a typed OsapError, never throws, and
 * is fast (bounded runs, a time limit per call).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  OsapError,
  buildAuthMessage,
  buildFrame,
  decodeFixedHeader,
  decodePayload,
  deviceStep,
  frameLength,
  initialDeviceState,
  masterKey,
  openAuthMessage,
  openBusinessPayload,
  parseFrame,
  sealBusinessPayload,
  type DeviceCredentials,
  type OsapErrorCode,
  type OsapResult,
} from '../src/index.js';
import { authMessage, bytes16, edited, frame } from './arbitraries.js';

const RUNS = 300;
const MAX_MS_PER_CALL = 250;
const CODES: OsapErrorCode[] = [
  'truncated',
  'malformed',
  'too-long',
  'unknown-type',
  'reserved-type',
  'unsupported-version',
  'unsupported-mode',
  'unexpected-message',
  'integrity',
  'replay',
  'negotiation-failed',
  'invalid-key',
  'invalid-input',
];

function typed<T>(call: () => OsapResult<T>): OsapResult<T> {
  const start = performance.now();
  const result = call();
  expect(performance.now() - start).toBeLessThan(MAX_MS_PER_CALL);
  if (!result.ok) {
    expect(result.error).toBeInstanceOf(OsapError);
    expect(CODES).toContain(result.error.code);
    expect(typeof result.error.detail).toBe('string');
  }
  return result;
}

const KEY = new Uint8Array(16).fill(0x5a);
const small = (bytes: Uint8Array) => bytes.length < 2_000;
const validFrames = frame.map(buildFrame).filter(small);
const sealedMessages = authMessage.map((m) => buildAuthMessage(KEY, m));
const anyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  edited(validFrames),
  edited(sealedMessages),
  sealedMessages,
);

describe('fuzz', () => {
  it('decodeFixedHeader, frameLength, decodePayload and parseFrame never throw', () => {
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        typed(() => decodeFixedHeader(bytes));
        typed(() => frameLength(bytes));
        typed(() => decodePayload(bytes));
        typed(() => parseFrame(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it('openAuthMessage never throws on whatever parseFrame accepts, under the right key or another', () => {
    fc.assert(
      fc.property(anyBytes, bytes16, (bytes, other) => {
        const parsed = parseFrame(bytes);
        if (!parsed.ok) return;
        typed(() => openAuthMessage(KEY, parsed.value));
        typed(() => openAuthMessage(other, parsed.value));
      }),
      { numRuns: RUNS },
    );
  });

  it('openBusinessPayload never throws on random or edited payloads', () => {
    const sealed = fc
      .tuple(fc.nat({ max: 1000 }), fc.uint8Array({ maxLength: 100 }))
      .map(([n, body]) =>
        sealBusinessPayload(
          { sessionKey: KEY, topic: 't', direction: 'platformToDevice', counter: n + 1 },
          body,
        ),
      );
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 200 }), edited(sealed)),
        fc.nat({ max: 2000 }),
        (bytes, last) => {
          typed(() =>
            openBusinessPayload(
              { sessionKey: KEY, topic: 't', direction: 'platformToDevice', lastCounter: last },
              bytes,
            ),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('masterKey never throws on random public keys', () => {
    const privateKey = new Uint8Array(48).fill(7);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 120 }),
          fc.uint8Array({ minLength: 96, maxLength: 96 }).map((b) => Uint8Array.of(4, ...b)),
        ),
        (publicKey) => {
          typed(() => masterKey(privateKey, publicKey));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('deviceStep never throws on anything received, in any phase it reaches', () => {
    const device: DeviceCredentials = {
      serialNumber: 'SN-1',
      shareKey: KEY,
      supports: [{ protocolType: 1, protocolGroup: [1, 2] }],
    };
    const negotiating = deviceStep(initialDeviceState(device), { kind: 'connected' }).state;
    const refreshing = deviceStep(initialDeviceState({ ...device, devId: 'DEV-1', masterKey: KEY }), {
      kind: 'connected',
    }).state;
    fc.assert(
      fc.property(anyBytes, fc.constantFrom(negotiating, refreshing), (bytes, state) => {
        const start = performance.now();
        const next = deviceStep(state, { kind: 'received', bytes });
        expect(performance.now() - start).toBeLessThan(MAX_MS_PER_CALL);
        if (next.state.phase === 'failed') expect(CODES).toContain(next.state.error.code);
      }),
      { numRuns: RUNS },
    );
  });
});

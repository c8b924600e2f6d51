/**
 * Every parser, fed random and mutated input: each call returns a value or a typed error, never throws, and is
 * fast (small inputs, bounded runs, and a time limit per call).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FrameError,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
  MAX_PAYLOAD_BYTES,
  OPERATION_NAMES,
  TAG_BYTES,
  buildRequest,
  buildResponse,
  frameKeyRef,
  openFrame,
  buildPush,
  buildTpspEvent,
  buildTpspRequest,
  parsePush,
  parseTpspEvent,
  parseTpspRequest,
  parseRequest,
  parseResponse,
  sealFrame,
  statusClass,
  type ParseResult,
} from '../src/index.js';
import {
  frame,
  mutateJson,
  mutateText,
  operation,
  tpspEvent,
  tpspRequest,
  push,
  requestBodies,
  requestId,
  responseBodies,
  timestamp,
} from './arbitraries.js';

const RUNS = 300;
const MAX_MS_PER_CALL = 250;

function timed<T>(call: () => T): T {
  const start = performance.now();
  const result = call();
  expect(performance.now() - start).toBeLessThan(MAX_MS_PER_CALL);
  return result;
}

/** A refusal names a Table 1 code of the message class and says why. */
function expectTyped<T>(result: ParseResult<T>): void {
  if (result.ok) return;
  expect(statusClass(result.error.status)).toBe('message');
  expect(typeof result.error.detail).toBe('string');
}

const validRequest = operation.chain((op) =>
  fc
    .tuple(requestId, timestamp, requestBodies[op])
    .map(([id, ts, body]) =>
      buildRequest({ id, operation: op, timestamp: ts, body } as Parameters<typeof buildRequest>[0]),
    ),
);
const validResponse = operation.chain((op) =>
  fc
    .tuple(requestId, responseBodies[op])
    .map(([id, body]) =>
      buildResponse(op, { id, status: 'ok', body } as Parameters<typeof buildResponse>[1]),
    ),
);
const garbage = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ version: 1, operation: 'lockControl', body: v })),
);
const mutated = (valid: fc.Arbitrary<string>) =>
  fc.oneof(
    valid.chain(mutateText),
    valid.chain(mutateJson),
    valid.chain((t) => mutateText(t).chain(mutateText)),
  );

describe('fuzz: RAC↔RAS messages', () => {
  it('parseRequest never throws on random or mutated text', () => {
    fc.assert(
      fc.property(fc.oneof(garbage, mutated(validRequest)), (text) =>
        expectTyped(timed(() => parseRequest(text))),
      ),
      { numRuns: RUNS },
    );
  });

  it('parseResponse never throws on random or mutated text, for any operation', () => {
    fc.assert(
      fc.property(
        fc.oneof(garbage, mutated(validResponse)),
        fc.constantFrom(...OPERATION_NAMES),
        (text, op) => expectTyped(timed(() => parseResponse(text, op))),
      ),
      { numRuns: RUNS },
    );
  });

  it('parsers take non-text and deeply nested JSON without throwing', () => {
    for (const odd of [undefined, null, 42, {}, Buffer.from('{}')] as unknown as string[]) {
      expect(parseRequest(odd)).toMatchObject({ ok: false, error: { status: 2000 } });
      expect(parseResponse(odd, 'lockRemove')).toMatchObject({ ok: false, error: { status: 2000 } });
    }
    const deep = '['.repeat(30_000) + ']'.repeat(30_000);
    expect(parseRequest(deep)).toMatchObject({ ok: false });
  });
});

describe('fuzz: push data', () => {
  it('parsePush never throws on random or mutated text', () => {
    fc.assert(
      fc.property(fc.oneof(garbage, mutated(push.map(buildPush))), (text) =>
        expectTyped(timed(() => parsePush(text))),
      ),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: TPSP requests and events', () => {
  it('parseTpspRequest and parseTpspEvent never throw on random or mutated text', () => {
    fc.assert(
      fc.property(
        fc.oneof(garbage, mutated(tpspRequest.map(buildTpspRequest)), mutated(tpspEvent.map(buildTpspEvent))),
        (text) => {
          expectTyped(timed(() => parseTpspRequest(text)));
          expectTyped(timed(() => parseTpspEvent(text)));
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: frames', () => {
  const KEY = Buffer.alloc(16, 0x5a);
  const KINDS = ['malformed', 'unsupported-version', 'too-long', 'integrity'];
  const sealed = frame.map((f) => sealFrame(KEY, f));
  /** Random bytes that pass the structural checks, so that decryption itself is fuzzed. */
  const structured = fc
    .tuple(
      fc.uint8Array({ minLength: HEADER_BYTES, maxLength: HEADER_BYTES }),
      fc.uint8Array({ minLength: TAG_BYTES, maxLength: MAX_PAYLOAD_BYTES + TAG_BYTES }),
    )
    .map(([header, rest]) => {
      const bytes = Buffer.concat([header, rest]);
      bytes[0] = 0xa1;
      bytes.writeUInt16BE(rest.length - TAG_BYTES, 19);
      return bytes;
    });
  const edited = sealed.chain((bytes) =>
    fc
      .tuple(fc.nat({ max: bytes.length }), fc.uint8Array({ maxLength: 4 }), fc.nat({ max: 4 }))
      .map(([at, insert, drop]) =>
        Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from(insert),
          bytes.subarray(Math.min(bytes.length, at + drop)),
        ]),
      ),
  );

  it('openFrame and frameKeyRef never throw on random, structured or edited bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: MAX_FRAME_BYTES + 8 }), structured, edited),
        (bytes) => {
          const opened = timed(() => openFrame(KEY, bytes));
          if (!opened.ok) {
            expect(opened.error).toBeInstanceOf(FrameError);
            expect(KINDS).toContain(opened.error.kind);
          }
          const ref = frameKeyRef(bytes);
          if (!ref.ok) expect(KINDS).toContain(ref.error.kind);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

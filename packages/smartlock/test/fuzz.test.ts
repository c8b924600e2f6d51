/**
 * Every parser, fed random and mutated input: each call returns a value or a typed error, never throws, and is
 * fast (small inputs, bounded runs, and a time limit per call).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  OPERATION_NAMES,
  buildRequest,
  buildResponse,
  buildPush,
  parsePush,
  parseRequest,
  parseResponse,
  statusClass,
  type ParseResult,
} from '../src/index.js';
import {
  mutateJson,
  mutateText,
  operation,
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

/** Every JSON example in docs/smartlock.md is one the parsers take, so the documentation cannot drift. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  OPERATION_NAMES,
  TPSP_OPERATIONS,
  parsePush,
  parseRequest,
  parseResponse,
  parseTpspEvent,
  parseTpspRequest,
} from '../src/index.js';

const doc = readFileSync(new URL('../../../docs/smartlock.md', import.meta.url), 'utf8');
const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1]!.trim());

describe('docs/smartlock.md', () => {
  it('has examples', () => expect(examples.length).toBeGreaterThanOrEqual(15));

  it.each(examples)('parses %s', (text) => {
    const shape = JSON.parse(text) as Record<string, unknown>;
    // The TPSP's requests and events (clause 6.6) have operations and events of their own.
    const tpsp = Object.hasOwn(TPSP_OPERATIONS, String(shape.operation)) || shape.event === 'requestResult';
    const ok = tpsp
      ? ('operation' in shape && !('event' in shape) ? parseTpspRequest(text) : parseTpspEvent(text)).ok
      : 'operation' in shape
        ? parseRequest(text).ok
        : 'event' in shape
          ? parsePush(text).ok
          : OPERATION_NAMES.some((operation) => parseResponse(text, operation).ok);
    expect(ok).toBe(true);
  });
});

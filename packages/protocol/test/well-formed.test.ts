/**
 * Lone surrogates (issue 12 item 11d): a UTF-16 half without its other half is no character, cannot be UTF-8
 * encoded, and made `buildForm` throw URIError on a value the message's schema accepted. Every string parameter
 * of every message, client operation and third-party request refuses one, so what a schema accepts the builder
 * can always encode.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  CLIENT_OPERATIONS,
  MESSAGES,
  buildForm,
  message1,
  parseForm,
  thirdPartyExchangeSchema,
  thirdPartyPushSchema,
  type Operation,
} from '../src/index.js';
import { text } from './arbitraries.js';

const OPERATIONS: Operation[] = [...MESSAGES, ...CLIENT_OPERATIONS];
const lone = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff');
/** Valid-looking text with a lone surrogate somewhere in it (never completing a pair). */
const withLoneSurrogate = fc
  .tuple(fc.stringMatching(/^[a-z0-9]{0,8}$/), lone, fc.stringMatching(/^[a-z0-9]{0,8}$/))
  .map(([before, half, after]) => before + half + after);

describe('lone surrogates', () => {
  it('password "\\ud800" in Message 1: refused by the schema, which the builder then never meets', () => {
    const params = {
      version: '1' as const,
      appid: 'as1',
      token: 'token-0123456789',
      name: 'alice',
      password: '\ud800',
    };
    const parsed = message1.schema.safeParse(params);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['password', 'not well-formed Unicode (a lone surrogate)'],
    ]);
    // The same value with its pair completed is a character like any other.
    const paired = { ...params, password: '\ud83d\ude00' };
    expect(message1.schema.safeParse(paired).success).toBe(true);
    expect(parseForm(message1, buildForm(message1, paired))).toMatchObject({ ok: true, params: paired });
  });

  it('are refused by every string parameter of every message and client operation', () => {
    const fields = OPERATIONS.flatMap((operation) =>
      Object.entries(operation.schema.shape as Record<string, z.ZodType>).map(
        ([name, schema]) => [operation.name, name, schema] as const,
      ),
    );
    fc.assert(
      fc.property(fc.constantFrom(...fields), withLoneSurrogate, ([operation, name, schema], value) => {
        expect({ operation, name, accepted: schema.safeParse(value).success }).toEqual({
          operation,
          name,
          accepted: false,
        });
      }),
      { numRuns: 2_000 },
    );
  });

  it('whatever a schema accepts, buildForm encodes (no URIError)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...OPERATIONS),
        fc.oneof(text(0, 40), withLoneSurrogate, fc.string({ unit: 'binary', maxLength: 12 })),
        (operation, value) => {
          for (const name of Object.keys(operation.schema.shape)) {
            const schema = (operation.schema.shape as Record<string, z.ZodType>)[name]!;
            if (schema.safeParse(value).success) {
              expect(() => buildForm(operation, { [name]: value } as never)).not.toThrow();
            }
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('are refused in the data of a third party’s JSON request (JSON.parse makes them from "\\ud800")', () => {
    const body = JSON.parse(
      '{"version":"1","appid":"tp1","timestamp":1700000000,"nonce":"0123456789abcdef","userid":"alice","data":"x\\ud800"}',
    ) as Record<string, unknown>;
    expect(body.data).toBe('x\ud800');
    expect(thirdPartyPushSchema.safeParse(body).success).toBe(false);
    expect(thirdPartyExchangeSchema.safeParse({ ...body, to: 'recorder' }).success).toBe(false);
    expect(thirdPartyPushSchema.safeParse({ ...body, data: 'x\ud83d\ude00' }).success).toBe(true);
  });
});

// The bodies of the attribute and operation channels (decision 0027): what parses, and each refusal.
import { describe, expect, it } from 'vitest';
import {
  attributeReportSchema,
  channelBody,
  operationDownSchema,
  operationResultSchema,
  parseChannelBody,
} from '../src/index.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const refusal = (result: ReturnType<typeof parseChannelBody>) =>
  result.ok ? 'accepted' : `${result.error.code}: ${result.error.detail}`;

describe('channel bodies', () => {
  it('round-trips an operation and its result', () => {
    const operation = { id: 'op-1', from: 'olivia@as1.irsp.test', data: 'siren on' };
    expect(parseChannelBody(operationDownSchema, channelBody(operation))).toEqual({
      ok: true,
      value: operation,
    });
    expect(parseChannelBody(operationResultSchema, channelBody({ id: 'op-1', data: '' }))).toEqual({
      ok: true,
      value: { id: 'op-1', data: '' },
    });
  });

  it('takes attributes as text, in the order reported', () => {
    expect(
      parseChannelBody(attributeReportSchema, bytes('{"battery":87,"armed":false,"mode":"away"}')),
    ).toEqual({
      ok: true,
      value: [
        { name: 'battery', value: '87' },
        { name: 'armed', value: 'false' },
        { name: 'mode', value: 'away' },
      ],
    });
  });

  it('refuses what is not UTF-8 JSON of the schema', () => {
    expect(refusal(parseChannelBody(operationResultSchema, Uint8Array.of(0xff, 0xfe)))).toBe(
      'malformed: not UTF-8 JSON',
    );
    expect(refusal(parseChannelBody(operationResultSchema, bytes('{"id":"a b","data":"x"}')))).toBe(
      'malformed: an operation id',
    );
    expect(
      refusal(parseChannelBody(operationResultSchema, bytes('{"id":"a","data":"x","extra":1}'))),
    ).toMatch(/^malformed: /);
    expect(refusal(parseChannelBody(attributeReportSchema, bytes('{}')))).toBe(
      'malformed: 1 to 64 attributes',
    );
    expect(refusal(parseChannelBody(attributeReportSchema, bytes('{"a b":1}')))).toMatch(/^malformed: /);
    expect(refusal(parseChannelBody(attributeReportSchema, bytes('{"a":null}')))).toMatch(/^malformed: /);
    expect(refusal(parseChannelBody(attributeReportSchema, bytes('[1]')))).toMatch(/^malformed: /);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`a${i}`, i]));
    expect(refusal(parseChannelBody(attributeReportSchema, bytes(JSON.stringify(many))))).toBe(
      'malformed: 1 to 64 attributes',
    );
    expect(
      refusal(parseChannelBody(attributeReportSchema, bytes(JSON.stringify({ a: 'x'.repeat(1025) })))),
    ).toBe('malformed: values of at most 1024 characters');
  });
});

/** The shared outbox's table description (the engine itself is tested through both services' outboxes). */
import { describe, expect, it } from 'vitest';
import { outboxStatements } from '@irsp/store';

const table = {
  name: 'outbox',
  deadLetters: 'dead_letters',
  key: 'ordering_key',
  receiver: 'target',
  payload: ['target', 'operation', 'params'],
};

describe('outboxStatements', () => {
  it('takes the key first and every item column once, and keeps the lock ids of the outboxes before them', () => {
    const statements = outboxStatements(table);
    expect(statements.columns).toEqual(['ordering_key', 'target', 'operation', 'params']);
    expect(statements.lockKey).toBe("SELECT pg_advisory_xact_lock(hashtext('outbox:' || $1))");
    expect(outboxStatements({ ...table, name: 'gateway_outbox' }).lockKey).toBe(
      "SELECT pg_advisory_xact_lock(hashtext('gateway_outbox:' || $1))",
    );
  });

  it.each([
    [
      'a table name that is not a plain identifier',
      { name: 'outbox; DROP TABLE x' },
      '"outbox; DROP TABLE x"',
    ],
    ['a quoted column', { payload: ['"params"'] }, '"\\"params\\""'],
    ['an upper-case key', { key: 'Key' }, '"Key"'],
  ])('refuses %s', (_label, change, shown) => {
    expect(() => outboxStatements({ ...table, ...change })).toThrow(
      new TypeError(`outbox: ${shown} is not an identifier`),
    );
  });

  it('refuses a receiver that is not one of the item columns', () => {
    expect(() => outboxStatements({ ...table, receiver: 'other' })).toThrow(
      new TypeError('outbox: receiver other is not an item column'),
    );
  });
});

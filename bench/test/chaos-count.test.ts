import { describe, expect, it } from 'vitest';
import { numberStatuses, tally, withoutMarkedRetries, type Arrival } from '../src/chaos/count.js';

const plain = (key: string, id: string): Arrival => ({ key, id, mark: null });
const marked = (key: string, id: string, mark: string, attempt: number): Arrival => ({
  key,
  id,
  mark: { id: mark, attempt },
});
const expected = (key: string, ...ids: string[]) => ids.map((id) => ({ key, id }));

describe('chaos counting', () => {
  it('counts every acknowledged id that arrived once, in order, as delivered', () => {
    expect(tally(expected('r', 'm-1', 'm-2'), [plain('r', 'm-1'), plain('r', 'm-2')])).toEqual({
      expected: 2,
      delivered: 2,
      lost: 0,
      duplicated: 0,
      markedRetries: 0,
      outOfOrder: 0,
      unacknowledged: 0,
      ids: { lost: [], duplicated: [], outOfOrder: [] },
    });
  });

  it('counts an acknowledged id that never arrived as lost, and an unacknowledged arrival apart', () => {
    expect(tally(expected('r', 'm-1', 'm-2', 'm-3'), [plain('r', 'm-1'), plain('r', 'm-4')])).toEqual({
      expected: 3,
      delivered: 1,
      lost: 2,
      duplicated: 0,
      markedRetries: 0,
      outOfOrder: 0,
      unacknowledged: 1,
      ids: { lost: ['m-2', 'm-3'], duplicated: [], outOfOrder: [] },
    });
  });

  it('counts a repeat without a mark as a duplicate', () => {
    expect(
      tally(expected('r', 'm-1'), [plain('r', 'm-1'), plain('r', 'm-1'), plain('r', 'm-1')]),
    ).toMatchObject({
      delivered: 1,
      duplicated: 2,
      markedRetries: 0,
      ids: { lost: [], duplicated: ['m-1', 'm-1'], outOfOrder: [] },
    });
  });

  it('counts a repeat with the same delivery id at a higher attempt as a marked retry, not a duplicate', () => {
    const arrivals = [
      marked('d', 'd-1', 'o/1@x', 1),
      marked('d', 'd-1', 'o/1@x', 2),
      marked('d', 'd-2', 'o/2@x', 1),
    ];
    expect(tally(expected('d', 'd-1', 'd-2'), arrivals)).toEqual({
      expected: 2,
      delivered: 2,
      lost: 0,
      duplicated: 0,
      markedRetries: 1,
      outOfOrder: 0,
      unacknowledged: 0,
      ids: { lost: [], duplicated: [], outOfOrder: [] },
    });
  });

  it('counts a repeat at the same attempt, or under another delivery id, as a duplicate', () => {
    const arrivals = [
      marked('d', 'd-1', 'o/1@x', 1),
      marked('d', 'd-1', 'o/1@x', 1),
      marked('d', 'd-1', 'o/9@x', 2),
    ];
    expect(tally(expected('d', 'd-1'), arrivals)).toMatchObject({ duplicated: 2, markedRetries: 0 });
  });

  it('counts an id that arrived after one acknowledged later for the same key as out of order; other keys apart', () => {
    const list = [...expected('a', 'a-1', 'a-2', 'a-3'), ...expected('b', 'b-1')];
    const arrivals = [plain('b', 'b-1'), plain('a', 'a-2'), plain('a', 'a-1'), plain('a', 'a-3')];
    expect(tally(list, arrivals)).toMatchObject({
      delivered: 4,
      lost: 0,
      outOfOrder: 1,
      ids: { lost: [], duplicated: [], outOfOrder: ['a-1'] },
    });
  });

  it('drops only the marked retries', () => {
    const arrivals = [marked('d', 'x', 'o/1@x', 1), plain('d', 'x'), marked('d', 'x', 'o/1@x', 3)];
    expect(withoutMarkedRetries(arrivals)).toEqual({ first: arrivals.slice(0, 2), markedRetries: 1 });
  });

  it('numbers status notifications per device after dropping marked retries', () => {
    const { numbered, markedRetries } = numberStatuses([
      { key: '#d', status: 'online', mark: { id: 'n/1@x', attempt: 1 } },
      { key: '#d', status: 'online', mark: { id: 'n/1@x', attempt: 2 } },
      { key: '#d', status: 'offline', mark: { id: 'n/2@x', attempt: 1 } },
      { key: '#d', status: 'online', mark: { id: 'n/3@x', attempt: 1 } },
    ]);
    expect(markedRetries).toBe(1);
    expect(numbered.map((a) => a.id)).toEqual(['#d online-1', '#d offline-1', '#d online-2']);
    expect(
      tally(expected('#d', '#d online-1', '#d offline-1', '#d online-2', '#d offline-2'), numbered),
    ).toMatchObject({ delivered: 3, lost: 1, duplicated: 0, outOfOrder: 0 });
  });

  it('shows an unmarked repeated status as a status never acknowledged (numbering shifts)', () => {
    const { numbered } = numberStatuses([
      { key: '#d', status: 'online', mark: { id: 'n/1@x', attempt: 1 } },
      { key: '#d', status: 'online', mark: { id: 'n/7@x', attempt: 1 } },
      { key: '#d', status: 'offline', mark: { id: 'n/2@x', attempt: 1 } },
    ]);
    expect(tally(expected('#d', '#d online-1', '#d offline-1'), numbered)).toMatchObject({
      delivered: 2,
      lost: 0,
      unacknowledged: 1,
      outOfOrder: 0,
    });
  });
});

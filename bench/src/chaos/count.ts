/**
 * The chaos scenario's counting, by id: what was acknowledged (expected) against what arrived. A repeat is a
 * marked retry only when it carries the delivery mark of an earlier arrival (IRSP-Delivery-Id) with a higher
 * IRSP-Delivery-Attempt (docs/decisions/0015-delivery-marks.md); any other repeat is a duplicate.
 */

/** The delivery mark of a notification, null for what carries none (an XMPP message). */
export interface Mark {
  id: string;
  attempt: number;
}

export interface Arrival {
  /** The user or device the item is about, for the order per key. */
  key: string;
  id: string;
  mark: Mark | null;
}

export interface Expected {
  key: string;
  id: string;
}

export interface Tally {
  expected: number;
  /** Expected ids that arrived (each counted once). */
  delivered: number;
  /** Expected ids that never arrived. */
  lost: number;
  /** Repeats of an id that are not marked retries. */
  duplicated: number;
  markedRetries: number;
  /** Expected ids whose first arrival came after that of an id expected later for the same key. */
  outOfOrder: number;
  /** Ids that arrived but were never acknowledged (a message whose ping was not answered before a kill). */
  unacknowledged: number;
  /** The ids behind lost, duplicated and outOfOrder, for the report's notes. */
  ids: { lost: string[]; duplicated: string[]; outOfOrder: string[] };
}

/** Drops the marked retries (a known mark id again, at a higher attempt); counts them. */
export function withoutMarkedRetries(arrivals: readonly Arrival[]): {
  first: Arrival[];
  markedRetries: number;
} {
  const attempts = new Map<string, number>();
  const first: Arrival[] = [];
  let markedRetries = 0;
  for (const a of arrivals) {
    const before = a.mark ? attempts.get(a.mark.id) : undefined;
    if (a.mark && before !== undefined && a.mark.attempt > before) {
      markedRetries += 1;
      attempts.set(a.mark.id, a.mark.attempt);
      continue;
    }
    if (a.mark && before === undefined) attempts.set(a.mark.id, a.mark.attempt);
    first.push(a);
  }
  return { first, markedRetries };
}

export function tally(expected: readonly Expected[], arrivals: readonly Arrival[]): Tally {
  const { first, markedRetries } = withoutMarkedRetries(arrivals);
  const rank = new Map(expected.map((e, i) => [e.id, i] as const));
  const seen = new Set<string>();
  const latest = new Map<string, number>();
  let delivered = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let unacknowledged = 0;
  const ids: Tally['ids'] = { lost: [], duplicated: [], outOfOrder: [] };
  for (const a of first) {
    if (seen.has(a.id)) {
      duplicated += 1;
      ids.duplicated.push(a.id);
      continue;
    }
    seen.add(a.id);
    const i = rank.get(a.id);
    if (i === undefined) {
      unacknowledged += 1;
      continue;
    }
    delivered += 1;
    const last = latest.get(a.key);
    if (last !== undefined && i < last) {
      outOfOrder += 1;
      ids.outOfOrder.push(a.id);
    } else latest.set(a.key, i);
  }
  ids.lost = expected.filter((e) => !seen.has(e.id)).map((e) => e.id);
  return {
    expected: expected.length,
    delivered,
    lost: expected.length - delivered,
    duplicated,
    markedRetries,
    outOfOrder,
    unacknowledged,
    ids,
  };
}

/**
 * Device status notifications (Messages 10 and 11) carry no id of their own: after the marked retries are
 * dropped, the n-th `online` of a key is `online-n` and the n-th `offline` is `offline-n`, so that session n of a
 * device expects `online-n` then `offline-n`. An unmarked repeat shifts the numbering: it shows as an id never
 * acknowledged and, for the ones after it, as out of order.
 */
export function numberStatuses(
  arrivals: readonly { key: string; status: 'online' | 'offline'; mark: Mark | null }[],
): { numbered: Arrival[]; markedRetries: number } {
  const { first, markedRetries } = withoutMarkedRetries(
    arrivals.map((a) => ({ key: a.key, id: a.status, mark: a.mark })),
  );
  const counts = new Map<string, number>();
  const numbered = first.map((a) => {
    const k = `${a.key} ${a.id}`;
    const n = (counts.get(k) ?? 0) + 1;
    counts.set(k, n);
    return { key: a.key, id: `${a.key} ${a.id}-${n}`, mark: null };
  });
  return { numbered, markedRetries };
}

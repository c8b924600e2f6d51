/**
 * Telling a retry from a duplicate (docs/protocol.md "Delivery marks"): the outboxes deliver at least once, and mark
 * each delivery with its id and attempt number. A repeat is a retry only when it carries the id of an earlier
 * arrival, a higher attempt number and the same content; anything else arriving twice is a duplicate.
 */
export interface DeliveryMark {
  id: string;
  attempt: number;
}

export interface Marked {
  delivery: DeliveryMark | null;
}

/**
 * The arrivals with the marked retries left out, and how many there were. An unmarked arrival, or a repeat not
 * marked as a retry of an earlier one, stays in: a test comparing the result with what it sent then fails.
 */
export function withoutRetries<T extends Marked>(
  arrivals: readonly T[],
  same: (a: T, b: T) => boolean,
): { first: T[]; retries: number } {
  const seen = new Map<string, { arrival: T; attempt: number }>();
  const first: T[] = [];
  let retries = 0;
  for (const arrival of arrivals) {
    const mark = arrival.delivery;
    const earlier = mark ? seen.get(mark.id) : undefined;
    if (mark && earlier && mark.attempt > earlier.attempt && same(earlier.arrival, arrival)) {
      earlier.attempt = mark.attempt;
      retries++;
      continue;
    }
    if (mark && !earlier) seen.set(mark.id, { arrival, attempt: mark.attempt });
    first.push(arrival);
  }
  return { first, retries };
}

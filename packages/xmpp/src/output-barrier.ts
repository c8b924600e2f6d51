/**
 * Holds a stream's output behind promises (the offline storage of a message, say): a write issued after hold() is
 * made only once every promise held before it has settled, and writes keep their order. With nothing held a write
 * is made at once, so a stream that never holds pays one length check per write.
 */
type Entry = { write: () => void } | { held: true; settled: boolean; value: unknown };

export class OutputBarrier {
  private readonly queue: Entry[] = [];

  /**
   * `place` runs at the barrier's position once `durable` has settled, with what it resolved to (undefined when it
   * rejected): an answer about the held stanza (a refusal) then goes before everything issued after hold().
   */
  constructor(
    private readonly place: (value: unknown) => void = () => undefined,
    /** Told of a write that threw (a bug): it happens where no caller can catch it, once the held promise settles. */
    private readonly failed: (error: unknown) => void = () => undefined,
  ) {}

  get holding(): boolean {
    return this.queue.length > 0;
  }

  hold(durable: Promise<unknown>): void {
    const entry: Entry = { held: true, settled: false, value: undefined };
    this.queue.push(entry);
    const settle = (value: unknown): void => {
      entry.settled = true;
      entry.value = value;
      try {
        this.flush();
      } catch (error) {
        this.failed(error);
      }
    };
    durable.then(settle, () => settle(undefined));
  }

  /** Makes `write` now, or queues it behind what is held; true when it was made now. */
  run(write: () => void): boolean {
    if (this.queue.length === 0) {
      write();
      return true;
    }
    this.queue.push({ write });
    return false;
  }

  /**
   * Writes what is no longer held back, in order. A write that throws (a bug) must not strand the writes after it:
   * the rest still go, and the first error is thrown once they have.
   */
  private flush(): void {
    let failure: { error: unknown } | undefined;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if ('held' in head && !head.settled) break;
      this.queue.shift();
      try {
        if ('held' in head) this.place(head.value);
        else head.write();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }
}

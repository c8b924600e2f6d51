/**
 * The prepared statements of one PGlite session, by key, least recently used first, at most `capacity` of them:
 * generated SQL (a list of n placeholders) cannot grow the backend's memory without bound. Names are never
 * reused, so a statement whose Close was lost, or that an evicted key left behind, cannot collide with a new one.
 */
export class StatementCache {
  readonly #names = new Map<string, string>();
  #closing: string[] = [];
  #next = 0;

  constructor(readonly capacity: number) {}

  /** The statement prepared for `key`, now the most recently used. */
  get(key: string): string | undefined {
    const name = this.#names.get(key);
    if (name !== undefined) {
      this.#names.delete(key);
      this.#names.set(key, name);
    }
    return name;
  }

  /** A name no statement of this session has had. */
  newName(): string {
    this.#next += 1;
    return `irsp_s${this.#next}`;
  }

  /** Records a statement the backend prepared (its ParseComplete arrived); evicts the least recently used. */
  add(key: string, name: string): void {
    const replaced = this.#names.get(key);
    if (replaced !== undefined) this.#closing.push(replaced);
    this.#names.delete(key);
    this.#names.set(key, name);
    if (this.#names.size > this.capacity) {
      const [oldestKey, oldest] = this.#names.entries().next().value as [string, string];
      this.#names.delete(oldestKey);
      this.#closing.push(oldest);
    }
  }

  /** Forgets every statement (after a schema change, which may change a statement's result type). */
  clear(): void {
    this.#closing.push(...this.#names.values());
    this.#names.clear();
  }

  /** Statements to Close at the start of the next buffer, then forgotten. */
  takeClosing(): string[] {
    const closing = this.#closing;
    this.#closing = [];
    return closing;
  }
}

/**
 * Query results cached per key and data version. Concurrent requests for the same key and
 * version share one computation (single flight), so 50 clients asking for the market snapshot
 * at once cost one warehouse query. Entries of an older version are replaced on next use; the
 * cache holds at most `maxEntries` keys (least recently used evicted).
 */

interface Entry<T> {
  version: string;
  value: Promise<T>;
  /** While `value` is computed: the entry it replaces (the fallback of `staleOnError`). */
  previous?: Entry<T>;
  failed?: boolean;
}

/** What `get` answers: the value, and whether it is an older version's (`staleOnError`). */
export interface Cached<T> {
  value: T;
  stale: boolean;
}

export class ResultCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #maxEntries: number;

  constructor(opts: { maxEntries?: number } = {}) {
    this.#maxEntries = opts.maxEntries ?? 500;
  }

  /**
   * The cached value of `key` at `version`, computing it once when absent. A failed computation
   * is not cached (the next request tries again). When `staleOnError` is true and the
   * computation fails, the last value of an older version is returned, marked stale, if there
   * is one: to every request that waited for the computation, not only the one that started it.
   */
  async get(
    key: string,
    version: string,
    compute: () => Promise<T>,
    opts: { staleOnError?: (e: unknown) => boolean } = {},
  ): Promise<Cached<T>> {
    let entry = this.#entries.get(key);
    if (entry && entry.version === version) {
      this.#touch(key, entry);
    } else {
      entry = this.#start(key, version, compute, entry);
    }
    try {
      return { value: await entry.value, stale: false };
    } catch (e) {
      if (opts.staleOnError?.(e)) {
        for (let older = entry.previous; older; older = older.previous) {
          try {
            return { value: await older.value, stale: true };
          } catch { /* that one failed too: try the one before */ }
        }
      }
      throw e;
    }
  }

  #start(key: string, version: string, compute: () => Promise<T>, previous?: Entry<T>) {
    const fresh: Entry<T> = { version, value: compute(), previous };
    this.#touch(key, fresh);
    fresh.value.then(
      () => fresh.previous = undefined, // nothing older is needed once this one holds
      () => {
        fresh.failed = true;
        if (this.#entries.get(key) !== fresh) return;
        let keep = fresh.previous;
        while (keep?.failed) keep = keep.previous;
        if (keep) this.#entries.set(key, keep);
        else this.#entries.delete(key);
      },
    );
    return fresh;
  }

  #touch(key: string, entry: Entry<T>): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}

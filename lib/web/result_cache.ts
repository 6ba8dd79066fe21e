/**
 * Query results cached per key and data version. Concurrent requests for the same key and
 * version share one computation (single flight), so 50 clients asking for the market snapshot
 * at once cost one warehouse query. Entries of an older version are replaced on next use; the
 * cache holds at most `maxEntries` keys (least recently used evicted).
 */

interface Entry<T> {
  version: string;
  value: Promise<T>;
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
   * computation fails, the last value of an older version is returned if there is one.
   */
  async get(
    key: string,
    version: string,
    compute: () => Promise<T>,
    opts: { staleOnError?: (e: unknown) => boolean } = {},
  ): Promise<T> {
    const entry = this.#entries.get(key);
    if (entry && entry.version === version) {
      this.#touch(key, entry);
      return entry.value;
    }
    const value = compute();
    const fresh: Entry<T> = { version, value };
    this.#touch(key, fresh);
    try {
      return await value;
    } catch (e) {
      if (this.#entries.get(key) === fresh) {
        if (entry) this.#entries.set(key, entry);
        else this.#entries.delete(key);
      }
      if (entry && opts.staleOnError?.(e)) {
        try {
          return await entry.value;
        } catch { /* the older value failed too: report the new error */ }
      }
      throw e;
    }
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

/**
 * The company list the stream consumer checks tickers against: OPERATIONAL.TBL_COMPANY, the
 * operational company table batch loads check every ticker against (a row of an unknown ticker
 * is quarantined there, a record of one is dead-lettered here).
 *
 * The list is read from the warehouse with the first records, and read again when a record names
 * a ticker the list does not hold, at most once per `refreshMs` (a company the batch pipeline
 * lists while the consumer runs is accepted from the next read on, without a restart; records of
 * it seen before are dead-lettered and can be replayed, see README "Streaming"). A list older
 * than `maxAgeMs` (default MAX_AGE_REFRESHES x `refreshMs`: 10 minutes at the consumer's 30 s) is
 * read again with the next records whatever tickers they name, so a company removed from the
 * table is refused from then on, without a restart (before, a list holding every ticker seen was
 * never read again).
 *
 * An empty table (a fresh warehouse before its first batch load, as in the README's quick start)
 * checks nothing: every ticker is accepted, logged once as `consumer.no_companies`, and the table
 * is read again at most once per `refreshMs` until it holds companies, from then on checked.
 */
import type { Logger } from "./log.ts";

export interface CompanyListOptions {
  /** Least time between two reads of the table, ms. */
  refreshMs: number;
  /**
   * Age at which the list is read again with the next records even when it holds all their
   * tickers (removals are seen only then), ms; default MAX_AGE_REFRESHES x `refreshMs`.
   */
  maxAgeMs?: number;
  /** The clock the refresh interval is measured on, epoch ms (default Date.now). */
  clock?: () => number;
  logger: Logger;
}

/** The reason a record of a ticker that is not a listed company is dead-lettered with. */
export function unknownTickerReason(ticker: string): string {
  return `unknown ticker ${JSON.stringify(ticker)} (not in OPERATIONAL.TBL_COMPANY)`;
}

/** The default `maxAgeMs` in units of `refreshMs`. */
export const MAX_AGE_REFRESHES = 20;

export class CompanyList {
  #tickers = new Set<string>();
  #loadedAt = -Infinity;
  #loading: Promise<void> | undefined;
  #warnedEmpty = false;
  readonly #load: () => Promise<string[]>;
  readonly #opts: CompanyListOptions;

  /** `load` reads the tickers of TBL_COMPANY (see CompanyList.query). */
  constructor(load: () => Promise<string[]>, opts: CompanyListOptions) {
    this.#load = load;
    this.#opts = opts;
  }

  /** Companies in the list as last read (0 before the first read, or for an empty table). */
  get size(): number {
    return this.#tickers.size;
  }

  /**
   * Whether `tickers` call for a read of the table now: never read yet; the last read is
   * `maxAgeMs` old (whatever `tickers` are: a company removed from the table); or one of them is
   * not listed (any, while the table is empty) and the last read is `refreshMs` old.
   */
  wants(tickers: Iterable<string>): boolean {
    if (this.#loadedAt === -Infinity) return true;
    const age = this.#clock() - this.#loadedAt;
    if (age >= (this.#opts.maxAgeMs ?? MAX_AGE_REFRESHES * this.#opts.refreshMs)) return true;
    if (age < this.#opts.refreshMs) return false;
    for (const t of tickers) if (!this.#tickers.has(t)) return true;
    return false;
  }

  /** Read the table (one read at a time: callers at once share it). */
  refresh(): Promise<void> {
    this.#loading ??= this.#read().finally(() => this.#loading = undefined);
    return this.#loading;
  }

  /** Whether a record of `ticker` is accepted: listed, or the table is empty (checks nothing). */
  accepts(ticker: string): boolean {
    return this.#tickers.size === 0 || this.#tickers.has(ticker);
  }

  #clock(): number {
    return (this.#opts.clock ?? Date.now)();
  }

  async #read(): Promise<void> {
    const tickers = new Set(await this.#load());
    const before = this.#tickers.size;
    this.#tickers = tickers;
    this.#loadedAt = this.#clock();
    const log = this.#opts.logger;
    if (tickers.size === 0) {
      if (!this.#warnedEmpty) {
        this.#warnedEmpty = true;
        log.warn("consumer.no_companies", {
          reason: "OPERATIONAL.TBL_COMPANY is empty (no batch load yet): every ticker is " +
            "accepted until it lists companies",
          refreshMs: this.#opts.refreshMs,
        });
      }
      return;
    }
    this.#warnedEmpty = false;
    if (tickers.size !== before) log.info("consumer.companies_loaded", { companies: tickers.size });
  }
}

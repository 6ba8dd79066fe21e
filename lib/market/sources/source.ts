/**
 * What a market source produces: polls, each with the bars a poll saw and the symbols that
 * failed (a failing symbol is reported, never silently dropped, and never stops the others).
 */

/** Bar intervals the pipeline carries (TradingView's 1, 5, 15, 30, 60 and 1D). */
export const INTERVALS = ["1m", "5m", "15m", "30m", "1h", "1d"] as const;
export type Interval = typeof INTERVALS[number];

export const INTERVAL_MINUTES: Record<Interval, number> = {
  "1m": 1,
  "5m": 5,
  "15m": 15,
  "30m": 30,
  "1h": 60,
  "1d": 1440,
};

/** One OHLCV bar as a source saw it. Times are UTC ISO strings (`Date.toISOString()`). */
export interface Quote {
  /** Local EGX code, e.g. COMI. */
  ticker: string;
  /** Start of the bar, UTC. A daily bar starts at the session open. */
  barStart: string;
  interval: Interval;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  /** Which source produced it, e.g. "replay" or "tradingview". */
  source: string;
  /** When the source fetched it (the replay's simulated clock for replays), UTC. */
  fetchedAt: string;
}

export interface SymbolFailure {
  /** The ticker, or "*" when the whole request failed. */
  ticker: string;
  reason: string;
}

export interface PollResult {
  /** The instant of the poll on the source's clock, UTC ISO. */
  at: string;
  quotes: Quote[];
  failures: SymbolFailure[];
}

export interface MarketSource {
  readonly name: string;
  /**
   * True for a live feed (a poll cannot be postponed: when the producer's buffer is full it
   * drops the oldest messages). False for a replay, which simply waits for buffer space.
   */
  readonly live: boolean;
  /** Polls until the source is exhausted (a replay) or `signal` aborts (a live feed). */
  polls(signal?: AbortSignal): AsyncIterable<PollResult>;
}

/** Time, injectable so schedules can be tested with a fake clock. */
export interface Clock {
  now(): number;
  /** Resolve after `ms` (rejects with the abort reason when `signal` aborts). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Abortable sleep on the real timer. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export const systemClock: Clock = { now: () => Date.now(), sleep };

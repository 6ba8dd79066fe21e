/**
 * The live source: TradingView's scanner (one request returns the current session's OHLCV for
 * every EGX stock, which fits a 5-minute poll) on the EGX calendar, until the close + the
 * scanner's delay (15 minutes: its data is the delayed tier), plus an optional backfill of
 * recent history over the chart websocket (tradingview_ws.ts) before the first poll.
 *
 * A poll emits one daily bar ("1d", starting at the session open) per stock; later polls of the
 * same day update it. Rows without session data (a stock that has not traded yet today) or with
 * invalid values are reported as per-symbol failures. Requests are retried with backoff; a poll
 * whose requests all failed is one "*" failure whose reason ends with the last error (a body it
 * quotes is cut, and the URL's query and password are masked, as are registered secrets).
 */
import { redact } from "../../config/config.ts";
import { cairoDate, cairoWallToInstant, sessionOn } from "../calendar.ts";
import { pollTimes } from "./poll_schedule.ts";
import {
  type Clock,
  type Interval,
  type MarketSource,
  type PollResult,
  type Quote,
  sleep,
  type SymbolFailure,
  systemClock,
} from "./source.ts";
import { fetchHistory, type HistoryBar, type TvInterval } from "./tradingview_ws.ts";

export const TRADINGVIEW_SCANNER_URL = "https://scanner.tradingview.com/egypt/scan";

/**
 * How far the scanner's data lags the market, in minutes: the free tier is 15 minutes delayed,
 * so its poll at the close shows the session as of 14:15 Cairo (see poll_schedule.ts).
 */
export const TRADINGVIEW_SCANNER_DELAY_MINUTES = 15;

const COLUMNS = ["name", "open", "high", "low", "close", "volume"] as const;

export interface ScanRow {
  /** "EGX:COMI" */
  s: string;
  d: unknown[];
}

export class ScannerError extends Error {
  override name = "ScannerError";
}

export interface ScanOptions {
  url?: string;
  /** Limit to these tickers (default: every active EGX symbol). */
  tickers?: readonly string[];
  /** Attempts for a failing request (default 3), backoff doubling from `backoffMs`. */
  attempts?: number;
  backoffMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

/** How much of a body an error quotes. */
const BODY_QUOTED = 160;

/**
 * `text` with the request URL's secrets masked: its query (it may hold a token) and the password
 * of its `user:password@` part, as written and as a parsed URL spells them (Deno's network errors
 * quote the parsed URL), then every registered secret (`redact`).
 */
function masked(text: string, url: string): string {
  const forms: string[] = [];
  const q = url.indexOf("?");
  if (q >= 0 && q < url.length - 1) forms.push(url.slice(q));
  try {
    const u = new URL(url);
    if (u.search.length > 1) forms.push(u.search);
    if (u.password) forms.push(u.password, decodeURIComponent(u.password));
  } catch { /* not a URL: its query, if any, is masked above */ }
  let out = text;
  for (const f of forms.sort((a, b) => b.length - a.length)) {
    if (f.length > 1) out = out.split(f).join(f.startsWith("?") ? "?***" : "***");
  }
  return redact(out);
}

/** The first BODY_QUOTED characters of a body, secrets masked first, JSON-quoted. */
function quotedBody(text: string, url: string): string {
  const all = masked(text, url);
  const cut = all.slice(0, BODY_QUOTED);
  return cut.length < all.length
    ? `${JSON.stringify(cut)}... (${text.length} characters)`
    : JSON.stringify(cut);
}

/** One scanner request (retried on network errors, 429 and 5xx). */
export async function scanEgx(opts: ScanOptions = {}): Promise<ScanRow[]> {
  const body = opts.tickers
    ? { symbols: { tickers: opts.tickers.map((t) => `EGX:${t}`) }, columns: COLUMNS }
    : { columns: COLUMNS, range: [0, 1000], options: { active_symbols_only: true } };
  const attempts = opts.attempts ?? 3;
  const doFetch = opts.fetch ?? fetch;
  const url = opts.url ?? TRADINGVIEW_SCANNER_URL;
  const httpError = (status: number, text: string) =>
    new ScannerError(`scanner HTTP ${status}: ${masked(text, url).slice(0, 200)}`);
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await sleep((opts.backoffMs ?? 1000) * 2 ** (attempt - 2), opts.signal);
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? 15_000);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let text: string | undefined;
    try {
      const res = await doFetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", origin: "https://www.tradingview.com" },
        body: JSON.stringify(body),
        signal,
      });
      text = await res.text();
      if (res.status === 429 || res.status >= 500) {
        last = httpError(res.status, text);
        continue;
      }
      if (!res.ok) throw httpError(res.status, text);
      const json = JSON.parse(text) as { data?: unknown };
      if (!Array.isArray(json?.data)) {
        throw new ScannerError(`scanner response has no data array: ${quotedBody(text, url)}`);
      }
      return json.data as ScanRow[];
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (e instanceof ScannerError && !/^scanner HTTP (429|5\d\d):/.test(e.message)) throw e;
      if (e instanceof SyntaxError && text !== undefined) {
        throw new ScannerError(`scanner sent bad JSON: ${quotedBody(text, url)}`, { cause: e });
      }
      last = e;
    }
  }
  // The last error's own words: the producer logs only this message (producer.symbol_failed).
  const why = last instanceof ScannerError
    ? last.message
    : last instanceof Error
    ? masked(`${last.name}: ${last.message}`, url)
    : masked(String(last), url);
  throw new ScannerError(`scanner failed after ${attempts} attempts: ${why}`, { cause: last });
}

/** Turn scanner rows into daily quotes of the session on `date`; bad rows become failures. */
export function scanToQuotes(
  rows: readonly ScanRow[],
  opts: { date: string; fetchedAt: number },
): { quotes: Quote[]; failures: SymbolFailure[] } {
  const session = sessionOn(opts.date);
  const quotes: Quote[] = [];
  const failures: SymbolFailure[] = [];
  if (!session) return { quotes, failures };
  const barStart = cairoWallToInstant(opts.date, session.open).toISOString();
  for (const row of rows) {
    const ticker = typeof row?.s === "string" ? row.s.replace(/^[A-Z]+:/, "") : "?";
    const d = Array.isArray(row?.d) ? row.d : [];
    const [, open, high, low, close, volume] = d;
    if ([open, high, low, close].some((v) => v === null || v === undefined)) {
      failures.push({ ticker, reason: "no session data yet (null prices)" });
      continue;
    }
    if ([open, high, low, close, volume].some((v) => typeof v !== "number")) {
      failures.push({ ticker, reason: `non-numeric values ${JSON.stringify(d)}` });
      continue;
    }
    quotes.push({
      ticker,
      barStart,
      interval: "1d",
      open: open as number,
      high: high as number,
      low: low as number,
      close: close as number,
      volume: Math.round(volume as number),
      source: "tradingview",
      fetchedAt: new Date(opts.fetchedAt).toISOString(),
    });
  }
  return { quotes, failures };
}

export interface TradingViewOptions {
  scannerUrl?: string;
  wsUrl?: string;
  tickers?: readonly string[];
  pollMinutes?: number;
  /**
   * How far the scanner's data lags the market, in minutes (default
   * TRADINGVIEW_SCANNER_DELAY_MINUTES; 0 for a real-time subscription): polls go on until the
   * close + this delay.
   */
  delayMinutes?: number;
  clock?: Clock;
  attempts?: number;
  backoffMs?: number;
  /** Before the first poll, fetch this much history per ticker over the websocket. */
  backfill?: { tickers: readonly string[]; interval: TvInterval; bars: number; pacingMs?: number };
  fetch?: typeof fetch;
}

const TV_TO_INTERVAL: Partial<Record<TvInterval, Interval>> = {
  "1": "1m",
  "5": "5m",
  "15": "15m",
  "30": "30m",
  "1H": "1h",
  "1D": "1d",
};

/**
 * The history without its first Cairo trade date when that date is cut: the server had more
 * bars than `requested` (the history is `requested` long) and the first one starts after the
 * session's open. The consumer recomputes each touched day's daily bar from its intraday bars, so
 * the cut day's part of a session (e.g. its last 30 minutes) would be stored as that day's open,
 * high, low and volume. Daily bars, and a history shorter than asked (a first listing day), are
 * kept whole.
 */
export function wholeSessions(
  bars: readonly HistoryBar[],
  opts: { interval: Interval; requested: number },
): readonly HistoryBar[] {
  if (opts.interval === "1d" || bars.length === 0 || bars.length < opts.requested) return bars;
  const first = bars[0].time * 1000;
  const date = cairoDate(first);
  const session = sessionOn(date);
  if (session && first <= cairoWallToInstant(date, session.open).getTime()) return bars;
  return bars.filter((bar) => cairoDate(bar.time * 1000) !== date);
}

export class TradingViewSource implements MarketSource {
  readonly name = "tradingview";
  readonly live = true;
  readonly #o: TradingViewOptions;
  constructor(opts: TradingViewOptions = {}) {
    this.#o = opts;
  }

  /** How far its data lags the market, in minutes: it polls until the close + this. */
  get delayMinutes(): number {
    return this.#o.delayMinutes ?? TRADINGVIEW_SCANNER_DELAY_MINUTES;
  }

  /** The backfill as one poll result (history bars, one failure per failed symbol). */
  async backfill(signal?: AbortSignal): Promise<PollResult> {
    const b = this.#o.backfill!;
    const interval = TV_TO_INTERVAL[b.interval];
    if (!interval) throw new RangeError(`backfill interval ${b.interval} is not carried`);
    const clock = this.#o.clock ?? systemClock;
    const results = await fetchHistory(b.tickers, {
      url: this.#o.wsUrl,
      interval: b.interval,
      bars: b.bars,
      pacingMs: b.pacingMs,
      backoffMs: this.#o.backoffMs,
      attempts: this.#o.attempts,
      signal,
    });
    const now = clock.now();
    const quotes: Quote[] = [];
    const failures: SymbolFailure[] = [];
    for (const r of results) {
      if (r.error) failures.push({ ticker: r.ticker, reason: r.error });
      for (const bar of wholeSessions(r.bars, { interval, requested: b.bars })) {
        quotes.push({
          ticker: r.ticker,
          barStart: new Date(bar.time * 1000).toISOString(),
          interval,
          open: bar.open,
          high: bar.high,
          low: bar.low,
          close: bar.close,
          volume: Math.round(bar.volume),
          source: "tradingview",
          fetchedAt: new Date(Math.max(now, bar.time * 1000)).toISOString(),
        });
      }
    }
    return { at: new Date(now).toISOString(), quotes, failures };
  }

  /** One scanner poll at `at`. A failed request is a poll with a "*" failure, not an error. */
  async pollAt(at: number, signal?: AbortSignal): Promise<PollResult> {
    try {
      const rows = await scanEgx({
        url: this.#o.scannerUrl,
        tickers: this.#o.tickers,
        attempts: this.#o.attempts,
        backoffMs: this.#o.backoffMs,
        signal,
        fetch: this.#o.fetch,
      });
      const now = (this.#o.clock ?? systemClock).now();
      return {
        at: new Date(at).toISOString(),
        ...scanToQuotes(rows, { date: cairoDate(at), fetchedAt: now }),
      };
    } catch (e) {
      if (signal?.aborted) throw e;
      return {
        at: new Date(at).toISOString(),
        quotes: [],
        failures: [{ ticker: "*", reason: (e as Error).message }],
      };
    }
  }

  async *polls(signal?: AbortSignal): AsyncGenerator<PollResult> {
    if (this.#o.backfill) yield await this.backfill(signal);
    const clock = this.#o.clock ?? systemClock;
    const schedule = {
      pollMinutes: this.#o.pollMinutes ?? 5,
      delayMinutes: this.delayMinutes,
      signal,
    };
    for await (const at of pollTimes(clock, schedule)) yield await this.pollAt(at, signal);
  }
}

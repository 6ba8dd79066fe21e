/**
 * The offline default source: replays real one-minute bars as a live feed. A simulated clock
 * walks the EGX sessions from a start date; at each poll instant (every `pollMinutes` of the
 * session, see poll_schedule.ts) it emits exactly the bars that a poll at that instant would have
 * seen for the first time: those completed since the previous poll. Closed hours are skipped
 * (the simulated clock jumps from one session's close to the next open).
 *
 * `speed` maps simulated time to real time: 1 = real time, 5400 = a 4.5-hour session in 3 s,
 * Infinity = as fast as the consumer of the polls takes them.
 *
 * Every bar is emitted exactly once: a bar outside its day's session (or on a day the calendar
 * says was closed) is emitted by an extra poll at the end of that day's bars, and counted in
 * `stats.outsideSession`.
 */
import { cairoDate, cairoWallToInstant, sessionOn } from "../calendar.ts";
import { BUNDLED_BARS_DIR, type MinuteBar, readBars } from "./bars_csv.ts";
import { pollInstantsOn } from "./poll_schedule.ts";
import {
  type Clock,
  type MarketSource,
  type PollResult,
  type Quote,
  systemClock,
} from "./source.ts";

export interface ReplayOptions {
  /** Folder of `<TICKER>.csv` files (default data/sample/bars_1m). */
  dir?: string;
  tickers?: readonly string[];
  /** First Cairo trade date to replay (YYYY-MM-DD); default: the first date with bars. */
  start?: string;
  /** Last Cairo trade date to replay, inclusive. */
  end?: string;
  /** Simulated-to-real time ratio; Infinity (default) replays without waiting. */
  speed?: number;
  pollMinutes?: number;
  clock?: Clock;
  /** Pre-loaded bars (instead of reading `dir`). */
  bars?: readonly MinuteBar[];
}

export interface ReplayStats {
  polls: number;
  bars: number;
  outsideSession: number;
  /** Bars whose fractional volume was rounded to whole shares. */
  roundedVolumes: number;
}

function quoteOf(b: MinuteBar, fetchedAt: number): Quote {
  return {
    ticker: b.ticker,
    barStart: new Date(b.t).toISOString(),
    interval: "1m",
    open: b.open,
    high: b.high,
    low: b.low,
    close: b.close,
    // Split-adjusted series (EXPA's older bars) carry fractional volumes; the stream carries
    // whole shares (VOLUME is BIGINT), so they are rounded and counted.
    volume: Math.round(b.volume),
    source: "replay",
    fetchedAt: new Date(fetchedAt).toISOString(),
  };
}

export class ReplaySource implements MarketSource {
  readonly name = "replay";
  readonly live = false;
  readonly stats: ReplayStats = {
    polls: 0,
    bars: 0,
    outsideSession: 0,
    roundedVolumes: 0,
  };
  readonly #opts: ReplayOptions;

  constructor(opts: ReplayOptions = {}) {
    const speed = opts.speed ?? Infinity;
    if (!(speed > 0)) throw new RangeError(`replay speed must be > 0, got ${speed}`);
    this.#opts = { ...opts, speed };
  }

  /** The bars this replay will emit, grouped by Cairo trade date (oldest first). */
  async days(): Promise<Map<string, MinuteBar[]>> {
    const o = this.#opts;
    const bars = o.bars ??
      await readBars(o.dir ?? BUNDLED_BARS_DIR, { tickers: o.tickers });
    const byDate = new Map<string, MinuteBar[]>();
    const wanted = o.tickers ? new Set(o.tickers) : undefined;
    for (const b of bars) {
      if (wanted && !wanted.has(b.ticker)) continue;
      const d = cairoDate(b.t);
      if ((o.start && d < o.start) || (o.end && d > o.end)) continue;
      let list = byDate.get(d);
      if (!list) byDate.set(d, list = []);
      list.push(b);
    }
    return new Map([...byDate].sort(([a], [b]) => a < b ? -1 : 1));
  }

  async *polls(signal?: AbortSignal): AsyncGenerator<PollResult> {
    const o = this.#opts;
    const clock = o.clock ?? systemClock;
    const speed = o.speed!;
    let simPrev: number | undefined;
    for (const [date, bars] of await this.days()) {
      const sorted = bars.slice().sort((a, b) => a.t - b.t);
      const polls = pollInstantsOn(date, o.pollMinutes ?? 5);
      const session = sessionOn(date);
      const open = session ? cairoWallToInstant(date, session.open).getTime() : Infinity;
      const close = session ? cairoWallToInstant(date, session.close).getTime() : -Infinity;
      const lastEnd = sorted[sorted.length - 1].t + 60_000;
      // Bars the session's polls would not cover: one more poll when the last bar completed.
      if (lastEnd > close) polls.push(lastEnd);
      let i = 0;
      for (const at of polls) {
        signal?.throwIfAborted();
        // Simulated time passes within a day only; closed hours are skipped.
        if (simPrev !== undefined && speed !== Infinity && at > simPrev) {
          await clock.sleep((at - simPrev) / speed, signal);
        }
        simPrev = at;
        const quotes: Quote[] = [];
        while (i < sorted.length && sorted[i].t + 60_000 <= at) {
          if (sorted[i].t < open || sorted[i].t + 60_000 > close) this.stats.outsideSession++;
          if (!Number.isInteger(sorted[i].volume)) this.stats.roundedVolumes++;
          quotes.push(quoteOf(sorted[i], at));
          i++;
        }
        this.stats.polls++;
        this.stats.bars += quotes.length;
        yield { at: new Date(at).toISOString(), quotes, failures: [] };
      }
      simPrev = undefined;
    }
  }
}

/**
 * When a live source polls: every `pollMinutes` of the EGX session in Africa/Cairo, aligned to
 * the session open (10:05, 10:10, ... and once more at the close), never while the market is
 * closed (weekends, announced closures, outside session hours: see lib/market/calendar.ts).
 *
 * A source whose data lags the market by `delayMinutes` (TradingView's scanner: the 15-minute
 * delayed tier) shows at the close the session as it was `delayMinutes` before it: it polls on,
 * on the same grid, until the close + its delay (14:35, 14:40, 14:45 Cairo), so that the day's
 * last minutes and the final state of its bar are streamed too; and it starts only once the
 * session is older than its delay (10:20 Cairo: at 10:05 it would still show 09:50, before the
 * open).
 */
import { addDays, cairoDate, cairoWallToInstant, sessionOn } from "../calendar.ts";
import type { Clock } from "./source.ts";

/**
 * The poll instants of one Cairo trade date (empty when the market is closed that day): every
 * `pollMinutes` from the open, the close, and for a source `delayMinutes` behind the market,
 * every `pollMinutes` after it and the close + `delayMinutes` last (and none before the open +
 * `delayMinutes`: its data then is from before the open).
 */
export function pollInstantsOn(date: string, pollMinutes: number, delayMinutes = 0): number[] {
  const s = sessionOn(date);
  if (!s) return [];
  const open = cairoWallToInstant(date, s.open).getTime();
  const close = cairoWallToInstant(date, s.close).getTime();
  const end = close + delayMinutes * 60_000;
  const step = pollMinutes * 60_000;
  const out: number[] = [];
  // A delayed source shows at `t` the market of `t - delay`: nothing of this session before
  // the open + its delay (the scanner would show the session before the open as today's bar).
  const first = open + delayMinutes * 60_000;
  for (let t = open + step; t < close; t += step) if (t > first) out.push(t);
  out.push(close);
  for (let t = open + step * Math.floor((close - open) / step + 1); t < end; t += step) {
    out.push(t);
  }
  if (end > close) out.push(end);
  return out;
}

/** The first poll instant strictly after `now` (searching up to 60 days ahead). */
export function nextPollAt(now: number, pollMinutes: number, delayMinutes = 0): number {
  // From the day before: a delay past midnight leaves polls of yesterday's session today.
  let date = addDays(cairoDate(now), -1);
  for (let i = 0; i < 61; i++, date = addDays(date, 1)) {
    const next = pollInstantsOn(date, pollMinutes, delayMinutes).find((t) => t > now);
    if (next !== undefined) return next;
  }
  throw new RangeError(`no EGX session within 60 days of ${new Date(now).toISOString()}`);
}

/** Yield each poll instant as the clock reaches it, until `signal` aborts. */
export async function* pollTimes(
  clock: Clock,
  opts: { pollMinutes: number; delayMinutes?: number; signal?: AbortSignal },
): AsyncGenerator<number> {
  while (!opts.signal?.aborted) {
    const at = nextPollAt(clock.now(), opts.pollMinutes, opts.delayMinutes);
    await clock.sleep(at - clock.now(), opts.signal);
    yield at;
  }
}

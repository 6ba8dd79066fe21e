/**
 * When a live source polls: every `pollMinutes` of the EGX session in Africa/Cairo, aligned to
 * the session open (10:05, 10:10, ... and once more at the close), never while the market is
 * closed (weekends, announced closures, outside session hours: see lib/market/calendar.ts).
 */
import { addDays, cairoDate, cairoWallToInstant, sessionOn } from "../calendar.ts";
import type { Clock } from "./source.ts";

/** The poll instants of one Cairo trade date (empty when the market is closed that day). */
export function pollInstantsOn(date: string, pollMinutes: number): number[] {
  const s = sessionOn(date);
  if (!s) return [];
  const open = cairoWallToInstant(date, s.open).getTime();
  const close = cairoWallToInstant(date, s.close).getTime();
  const step = pollMinutes * 60_000;
  const out: number[] = [];
  for (let t = open + step; t < close; t += step) out.push(t);
  out.push(close);
  return out;
}

/** The first poll instant strictly after `now` (searching up to 60 days ahead). */
export function nextPollAt(now: number, pollMinutes: number): number {
  let date = cairoDate(now);
  for (let i = 0; i < 60; i++, date = addDays(date, 1)) {
    const next = pollInstantsOn(date, pollMinutes).find((t) => t > now);
    if (next !== undefined) return next;
  }
  throw new RangeError(`no EGX session within 60 days of ${new Date(now).toISOString()}`);
}

/** Yield each poll instant as the clock reaches it, until `signal` aborts. */
export async function* pollTimes(
  clock: Clock,
  opts: { pollMinutes: number; signal?: AbortSignal },
): AsyncGenerator<number> {
  while (!opts.signal?.aborted) {
    const at = nextPollAt(clock.now(), opts.pollMinutes);
    await clock.sleep(at - clock.now(), opts.signal);
    yield at;
  }
}

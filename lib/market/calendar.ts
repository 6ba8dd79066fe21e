/**
 * The EGX trading calendar in Africa/Cairo: trade dates, sessions and announced closures.
 *
 * Instants are always converted with the IANA zone (Egypt observes DST again since 2023), never
 * with a fixed offset. Closures and special sessions are data (`egx_calendar.json`), imported as
 * a JSON module so no read permission is needed.
 */
import calendar from "./egx_calendar.json" with { type: "json" };

export const CAIRO = "Africa/Cairo";

export interface Session {
  /** Cairo wall-clock "HH:MM". */
  open: string;
  close: string;
  name?: string;
}

export interface Closure {
  date: string;
  name: string;
  source: string;
}

export interface CairoParts {
  /** YYYY-MM-DD in Cairo. */
  date: string;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday ... 6 = Saturday. */
  weekday: number;
}

/**
 * Made on first use: a formatter with a time zone loads ICU's zone data, ~15 ms at the start of
 * a process (measured), which every importer of config.ts (the runner among them) would pay.
 */
let fmt: Intl.DateTimeFormat | undefined;
const cairoFormat = () =>
  fmt ??= new Intl.DateTimeFormat("en-CA", {
    timeZone: CAIRO,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });

const closures = new Map<string, Closure>(calendar.closures.map((c) => [c.date, c]));
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const tradingWeekdays = new Set(calendar.weekdays.map((d) => WEEKDAYS.indexOf(d)));

/** Cairo wall-clock parts of an instant. */
export function cairoParts(instant: Date | number): CairoParts {
  const p: Record<string, string> = {};
  for (const { type, value } of cairoFormat().formatToParts(instant)) p[type] = value;
  const date = `${p.year}-${p.month}-${p.day}`;
  return {
    date,
    hour: Number(p.hour),
    minute: Number(p.minute),
    second: Number(p.second),
    weekday: new Date(`${date}T00:00:00Z`).getUTCDay(),
  };
}

/** The Cairo calendar date (YYYY-MM-DD) of an instant: the EGX trade date. */
export function cairoDate(instant: Date | number): string {
  return cairoParts(instant).date;
}

/** The Cairo UTC offset in minutes at an instant (120 in winter, 180 in summer). */
export function cairoOffsetMinutes(instant: Date | number): number {
  const t = typeof instant === "number" ? instant : instant.getTime();
  const p = cairoParts(t);
  const [y, m, d] = p.date.split("-").map(Number);
  const wall = Date.UTC(y, m - 1, d, p.hour, p.minute, p.second);
  return Math.round((wall - Math.floor(t / 1000) * 1000) / 60000);
}

/**
 * The instant of a Cairo wall-clock time on a date. In the autumn repeat this is the first of
 * the two instants; a time in the spring gap (which does not exist) is shifted forward by the
 * gap's length, like Temporal's "compatible" disambiguation (00:30 -> 01:30 on the DST day).
 */
export function cairoWallToInstant(date: string, time: string): Date {
  const [y, m, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  // Try the offsets Cairo uses; prefer the earlier instant (larger offset) when both fit.
  for (const off of [180, 120]) {
    const t = wall - off * 60000;
    if (cairoOffsetMinutes(t) === off) return new Date(t);
  }
  // In the gap no offset maps back: read the wall time with the pre-gap (winter) offset.
  return new Date(wall - 120 * 60000);
}

/** Weekday of a YYYY-MM-DD date, 0 = Sunday. */
export function weekdayOf(date: string): number {
  return new Date(`${date}T00:00:00Z`).getUTCDay();
}

/** Add whole days to a YYYY-MM-DD date. */
export function addDays(date: string, days: number): string {
  const t = new Date(`${date}T00:00:00Z`).getTime() + days * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

/** The announced closure on a date, if any. */
export function closureOn(date: string): Closure | undefined {
  return closures.get(date);
}

/** All announced closures, oldest first. */
export function allClosures(): Closure[] {
  return [...closures.values()].sort((a, b) => a.date.localeCompare(b.date));
}

/** The last date whose closures `egx_calendar.json` lists (EGX announces them year by year). */
export const CLOSURES_KNOWN_THROUGH: string = calendar.closures_known_through;

/**
 * Why `date`'s calendar is a guess, or undefined: after CLOSURES_KNOWN_THROUGH a holiday is not
 * known, so it counts as a trading day (polled, and checked for fresh data) until it is added.
 */
export function calendarGap(date: string): string | undefined {
  if (date <= CLOSURES_KNOWN_THROUGH) return undefined;
  return `EGX closures are known only through ${CLOSURES_KNOWN_THROUGH} ` +
    `(lib/market/egx_calendar.json): a holiday on ${date} would count as a trading day; ` +
    "add the year's announced closures";
}

/** True when EGX trades on this Cairo date (Sunday-Thursday and not an announced closure). */
export function isTradingDay(date: string): boolean {
  return tradingWeekdays.has(weekdayOf(date)) && !closures.has(date);
}

/** The session on a trade date (special sessions such as Ramadan win), or null when closed. */
export function sessionOn(date: string): Session | null {
  if (!isTradingDay(date)) return null;
  const special = calendar.special_sessions.find((s) => s.from <= date && date <= s.to);
  if (special) return { open: special.open, close: special.close, name: special.name };
  return { ...calendar.session };
}

/** True when the market is open at this instant (session open inclusive, close exclusive). */
export function isInSession(instant: Date | number): boolean {
  const p = cairoParts(instant);
  const s = sessionOn(p.date);
  if (!s) return false;
  const hm = `${String(p.hour).padStart(2, "0")}:${String(p.minute).padStart(2, "0")}`;
  return s.open <= hm && hm < s.close;
}

/**
 * Minutes since the open of the session of `instant`'s Cairo date (negative before it); Infinity
 * when the market has no session that day.
 */
export function minutesSinceOpen(instant: Date | number): number {
  const t = typeof instant === "number" ? instant : instant.getTime();
  const date = cairoDate(t);
  const s = sessionOn(date);
  return s ? (t - cairoWallToInstant(date, s.open).getTime()) / 60_000 : Infinity;
}

/** The latest trading day on or before `date`. */
export function tradingDayOnOrBefore(date: string): string {
  let d = date;
  for (let i = 0; i < 60 && !isTradingDay(d); i++) d = addDays(d, -1);
  return d;
}

/** Trading days in [from, to], both inclusive, oldest first. */
export function tradingDaysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) if (isTradingDay(d)) out.push(d);
  return out;
}

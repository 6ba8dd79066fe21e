/**
 * The `Retry-After` header of a webhook's 429 or 503 answer (RFC 9110, section 10.2.3): a number
 * of seconds or an HTTP date. Used by the alert watch (lib/alerts/watch.ts) to wait as long as
 * the webhook asks, and by the runner's failure webhook (lib/runner/alerts.ts) to retry once
 * after a short wait.
 */

/** A `Retry-After` header as answered, and the wait it asks for. */
export interface RetryAfter {
  /** The header's value, as answered (trimmed). */
  raw: string;
  /**
   * Milliseconds to wait from when the answer came (whole seconds; 0 for a date in the past),
   * or undefined when the value is neither a number of seconds nor an HTTP date.
   */
  ms?: number;
}

const DAYS = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAYS = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
/** IMF-fixdate, the form senders must use: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = new RegExp(`^${DAYS}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** The obsolete RFC 850 form: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850 = new RegExp(`^${LONG_DAYS}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** The obsolete asctime() form: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = new RegExp(`^${DAYS} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/** The instant (ms) of an HTTP date, or undefined when `s` is none (or an impossible date). */
export function parseHttpDate(s: string, now: number): number | undefined {
  let parts: [string, string, string, string, string, string] | undefined;
  let m = IMF_FIXDATE.exec(s);
  if (m) parts = [m[3], m[2], m[1], m[4], m[5], m[6]];
  else if ((m = RFC850.exec(s))) {
    // A two-digit year more than 50 years ahead is in the past century (RFC 9110 5.6.7).
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    parts = [String(year), m[2], m[1], m[4], m[5], m[6]];
  } else if ((m = ASCTIME.exec(s))) parts = [m[6], m[1], m[2].trim(), m[3], m[4], m[5]];
  if (!parts) return undefined;
  const [year, month, day, h, min, sec] = parts;
  const n = [Number(year), MONTHS.indexOf(month), Number(day), Number(h), Number(min), Number(sec)];
  const t = Date.UTC(n[0], n[1], n[2], n[3], n[4], n[5]);
  const d = new Date(t);
  // Date.UTC rolls 31 Feb over into March and 25:00 into the next day: such a date is no date.
  const same = d.getUTCFullYear() === n[0] && d.getUTCMonth() === n[1] &&
    d.getUTCDate() === n[2] && d.getUTCHours() === n[3] && d.getUTCMinutes() === n[4] &&
    d.getUTCSeconds() === n[5];
  return same ? t : undefined;
}

/**
 * The wait a `Retry-After` value asks for, at `now` (ms since the epoch): seconds as a plain
 * non-negative integer, or an HTTP date (the wait until then, rounded up to a whole second).
 */
export function parseRetryAfter(value: string, now: number): RetryAfter {
  const raw = value.trim();
  if (/^\d+$/.test(raw)) return { raw, ms: Number(raw) * 1000 };
  const at = parseHttpDate(raw, now);
  if (at === undefined) return { raw };
  return { raw, ms: Math.max(0, Math.ceil((at - now) / 1000) * 1000) };
}

/** The `Retry-After` of an answer, when it is a 429 or a 503 that has one. */
export function retryAfterOf(res: Response, now: number): RetryAfter | undefined {
  if (res.status !== 429 && res.status !== 503) return undefined;
  const value = res.headers.get("retry-after");
  return value === null ? undefined : parseRetryAfter(value, now);
}

/**
 * The wire format of the quotes topic: versioned JSON, validated before publishing and again on
 * consumption (anything that fails goes to the dead-letter topic with the reason).
 *
 *   {"schema":"egx.quote","version":1,"ticker":"COMI","barStart":"2025-07-20T07:22:00.000Z",
 *    "interval":"1m","open":89.55,"high":89.55,"low":89.55,"close":89.55,"volume":409,
 *    "source":"replay","fetchedAt":"2025-07-20T07:25:00.000Z"}
 *
 * The ticker follows the one ticker rule (lib/market/ticker.ts): a quote is of its EGX code
 * ("actf.ca" is ACTF), which is the Kafka key (one ticker's bars stay ordered in one partition).
 */
import { type Interval, INTERVAL_MINUTES, type Quote } from "../market/sources/source.ts";
import { invalidTickerReason, tickerCode } from "../market/ticker.ts";
import type { OutMessage } from "./kafka.ts";

const QUOTE_SCHEMA = "egx.quote";
const QUOTE_VERSION = 1;

const FIELDS = [
  "schema",
  "version",
  "ticker",
  "barStart",
  "interval",
  "open",
  "high",
  "low",
  "close",
  "volume",
  "source",
  "fetchedAt",
] as const;

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
/**
 * Years an instant may have. The regex alone admits 0000-9999, but the Cairo trade date derived
 * downstream (lib/market/calendar.ts) has an unpadded year ("0202-12-10T08:02Z" -> "202-12-10",
 * and 9999-12-31T22:00Z is already year 10000 in Cairo), which the warehouse rejects as a DATE:
 * such a record passed validation, failed every write and blocked its partition for good.
 * 1900-2999 keeps every Cairo date a 4-digit year with a wide margin on both sides, and still
 * admits any real bar (the exchange's history starts in the 1900s) and any plausible future one.
 * Out-of-range instants are invalid like any other: the record is dead-lettered with the reason.
 */
const MIN_YEAR = 1900;
const MAX_YEAR = 2999;

export type Checked = { ok: true; quote: Quote } | { ok: false; reason: string };

function instant(v: unknown, field: string): { t: number; iso: string } | string {
  if (typeof v !== "string" || !ISO_UTC.test(v)) {
    return `${field} must be a UTC ISO instant (YYYY-MM-DDTHH:MM:SSZ), got ${JSON.stringify(v)}`;
  }
  const year = Number(v.slice(0, 4));
  if (year < MIN_YEAR || year > MAX_YEAR) {
    return `${field} year ${v.slice(0, 4)} is outside ${MIN_YEAR}-${MAX_YEAR}: ${v}`;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) return `${field} is not a valid instant: ${v}`;
  const iso = new Date(t).toISOString();
  if (iso.slice(0, 19) !== v.slice(0, 19)) return `${field} is not a valid instant: ${v}`;
  return { t, iso };
}

/**
 * How far fetchedAt (and so barStart) may be ahead of the validating process's clock: clock skew
 * between the producer's and the consumer's machines, with a wide margin. A quote fetched later
 * than that is from no real source; written, its daily bar (a date in the future, up to 2999)
 * became every model's latest price and stayed, as no later write replaces it.
 */
export const MAX_AHEAD_MS = 3_600_000;

/**
 * A value as quoted in a reason. JSON.stringify shows a number too large for a double (1e999 in
 * the record, parsed as Infinity) as `null`, which the record does not say.
 */
function shown(v: unknown): string {
  return typeof v === "number" ? String(v) : JSON.stringify(v);
}

/** The longest reason: it quotes the record (a 1 MB ticker), and goes to logs and a header. */
export const MAX_REASON = 300;

/**
 * Validate a decoded message (or a quote about to be published, with schema fields added).
 * With `now` (epoch ms), a fetchedAt more than MAX_AHEAD_MS after it is invalid too.
 */
export function checkQuote(value: unknown, now?: number): Checked {
  const r = check(value, now);
  if (r.ok || r.reason.length <= MAX_REASON) return r;
  return {
    ok: false,
    reason: `${r.reason.slice(0, MAX_REASON)}... (${r.reason.length} characters)`,
  };
}

function check(value: unknown, now: number | undefined): Checked {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "message is not a JSON object" };
  }
  const v = value as Record<string, unknown>;
  if (v.schema !== QUOTE_SCHEMA) {
    return {
      ok: false,
      reason: `wrong schema ${JSON.stringify(v.schema)}, want "${QUOTE_SCHEMA}"`,
    };
  }
  if (v.version !== QUOTE_VERSION) {
    return {
      ok: false,
      reason: `unsupported ${QUOTE_SCHEMA} version ${JSON.stringify(v.version)}`,
    };
  }
  const extra = Object.keys(v).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) return { ok: false, reason: `unknown field(s): ${extra.join(", ")}` };
  // The one ticker rule of batch loads and the API (lib/market/ticker.ts): the quote is of the
  // code, "actf.ca" is ACTF.
  const ticker = typeof v.ticker === "string" ? tickerCode(v.ticker) : undefined;
  if (ticker === undefined) return { ok: false, reason: invalidTickerReason(v.ticker) };
  // Own keys only: `in` also finds the prototype's ("toString", "__proto__"...), which passed
  // here and failed every warehouse write (no interval length), blocking the partition for good.
  if (typeof v.interval !== "string" || !Object.hasOwn(INTERVAL_MINUTES, v.interval)) {
    return { ok: false, reason: `unknown interval ${JSON.stringify(v.interval)}` };
  }
  const interval = v.interval as Interval;
  const start = instant(v.barStart, "barStart");
  if (typeof start === "string") return { ok: false, reason: start };
  const fetched = instant(v.fetchedAt, "fetchedAt");
  if (typeof fetched === "string") return { ok: false, reason: fetched };
  if (start.t % 60_000 !== 0) return { ok: false, reason: "barStart must be a whole minute" };
  const minutes = INTERVAL_MINUTES[interval];
  if (minutes < 1440 && (start.t / 60_000) % minutes !== 0) {
    return { ok: false, reason: `barStart ${start.iso} is not aligned to ${interval}` };
  }
  if (fetched.t < start.t) return { ok: false, reason: "fetchedAt is before barStart" };
  if (now !== undefined && fetched.t > now + MAX_AHEAD_MS) {
    return {
      ok: false,
      reason: `fetchedAt ${fetched.iso} is in the future (more than an hour after ` +
        `${new Date(now).toISOString()})`,
    };
  }
  for (const f of ["open", "high", "low", "close"] as const) {
    const n = v[f];
    if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) {
      return { ok: false, reason: `${f} must be a positive number, got ${shown(n)}` };
    }
    // As in batch loads (lib/ingest/sql/prelude.sql): no EGX share trades near 10^5 EGP, and
    // such a price overflows the daily fact's exact-decimal sums, failing the gold layer.
    if (n >= 1e5) return { ok: false, reason: `${f} ${n} is 10^5 or more` };
  }
  const [open, high, low, close] = [v.open, v.high, v.low, v.close] as number[];
  if (high < low) return { ok: false, reason: `high ${high} is below low ${low}` };
  if (open < low || open > high) return { ok: false, reason: `open ${open} outside [low, high]` };
  if (close < low || close > high) {
    return { ok: false, reason: `close ${close} outside [low, high]` };
  }
  if (typeof v.volume !== "number" || !Number.isSafeInteger(v.volume) || v.volume < 0) {
    return {
      ok: false,
      reason: `volume must be a non-negative integer, got ${shown(v.volume)}`,
    };
  }
  // A day's volume is summed into a BIGINT from up to 1,440 one-minute bars (as in batch loads).
  if (v.volume >= 1e15) return { ok: false, reason: `volume ${v.volume} is 10^15 or more` };
  if (typeof v.source !== "string" || v.source.length === 0 || v.source.length > 64) {
    return { ok: false, reason: "source must be a non-empty string (at most 64 characters)" };
  }
  return {
    ok: true,
    quote: {
      ticker,
      barStart: start.iso,
      interval,
      open,
      high,
      low,
      close,
      volume: v.volume,
      source: v.source,
      fetchedAt: fetched.iso,
    },
  };
}

/** Decode a record value (JSON text) and validate it (`now`: see checkQuote). */
export function decodeQuote(raw: string | null, now?: number): Checked {
  if (raw === null) return { ok: false, reason: "empty message (null value)" };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    return { ok: false, reason: `bad JSON: ${(e as Error).message}` };
  }
  return checkQuote(value, now);
}

/**
 * Validate a quote and turn it into a Kafka record (key = ticker); invalid quotes are errors
 * (`now`: see checkQuote). The record carries the ticker's EGX code (ACTF for ACTF.CA), as does
 * its key: the consumer checks the key against the code.
 */
export function encodeQuote(q: Quote, now?: number): OutMessage | { error: string } {
  const body = {
    schema: QUOTE_SCHEMA,
    version: QUOTE_VERSION,
    ticker: q.ticker,
    barStart: q.barStart,
    interval: q.interval,
    open: q.open,
    high: q.high,
    low: q.low,
    close: q.close,
    volume: q.volume,
    source: q.source,
    fetchedAt: q.fetchedAt,
  };
  const checked = checkQuote(body, now);
  if (!checked.ok) return { error: checked.reason };
  const ticker = checked.quote.ticker;
  return { key: ticker, value: JSON.stringify({ ...body, ticker }) };
}

/**
 * Why a record's Kafka key does not fit its (valid) quote, or undefined when it does. The
 * producer keys every record by its ticker, which keeps a ticker's bars in one partition and so
 * in order; a record keyed otherwise (or not at all: its partition is then the client's choice)
 * may overtake or be overtaken by the ticker's other bars, and a later bar could be overwritten
 * by an earlier one. It is dead-lettered, naming both. An empty key counts as no key.
 */
export function keyProblem(key: string | null, ticker: string): string | undefined {
  if (key === null || key === "") {
    return `record has no key, want its ticker "${ticker}" (the quotes topic is keyed by ticker)`;
  }
  if (key === ticker) return undefined;
  const shownKey = key.length > 40
    ? `${JSON.stringify(key.slice(0, 40))}... (${key.length} characters)`
    : JSON.stringify(key);
  return `key ${shownKey} differs from ticker "${ticker}" ` +
    "(the quotes topic is keyed by ticker)";
}

/** Header names on dead-letter records. */
export const DLQ_HEADERS = {
  reason: "egx-dlq-reason",
  topic: "egx-source-topic",
  partition: "egx-source-partition",
  offset: "egx-source-offset",
  /** On a truncated copy of a record too large for the dead-letter topic: its size in bytes. */
  truncated: "egx-dlq-truncated",
} as const;

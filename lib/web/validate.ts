/**
 * Query and path parameter validation for the REST API. Every parser either returns a typed
 * value or throws a `BadRequestError` whose message names the parameter, what was received and
 * what is expected; the server turns it into a 400.
 */

import { TICKER_RULE, tickerCode } from "../market/ticker.ts";

/** Client input that cannot be served; becomes HTTP 400 with the message. */
export class BadRequestError extends Error {
  override name = "BadRequestError";
}

/** A well-formed request for something that does not exist; becomes HTTP 404. */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;
export const MAX_OFFSET = 10_000_000;

function show(raw: string): string {
  return JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}...` : raw);
}

/**
 * 400 when `raw` has a character beyond ASCII, before it is trimmed or upper-cased: JavaScript
 * upper-cases some letters to ASCII ones ("ı" to I, "ſ" to S, "ﬀ" to FF) and trims Unicode spaces,
 * so the pattern checks after them would let such input through as another ticker.
 */
function requireAscii(raw: string, name: string, expected: string): void {
  const m = /\P{ASCII}/u.exec(raw);
  if (m) {
    const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    throw new BadRequestError(
      `${name} must be ${expected}, got ${show(raw)} (U+${code} is not ASCII)`,
    );
  }
}

/**
 * A ticker's EGX code by the one ticker rule of batch loads and the stream (lib/market/ticker.ts):
 * "comi" is COMI, "ACTF.CA" is ACTF; 400 unless it follows the rule.
 */
export function parseTicker(raw: string, name = "ticker"): string {
  requireAscii(raw, name, "ASCII letters and digits (e.g. COMI)");
  const code = tickerCode(raw);
  if (code === undefined) {
    throw new BadRequestError(`${name} must be ${TICKER_RULE}, got ${show(raw)}`);
  }
  return code;
}

/** An index or other upper-case code with underscores (EGX30, EGX70_EWI), upper-cased. */
export function parseCode(raw: string, name: string): string {
  requireAscii(raw, name, "ASCII letters, digits or _ (e.g. EGX30)");
  const t = raw.trim().toUpperCase();
  if (!/^[A-Z][A-Z0-9_]{1,19}$/.test(t)) {
    throw new BadRequestError(
      `${name} must be 2-20 letters, digits or _ starting with a letter (e.g. EGX30), got ${
        show(raw)
      }`,
    );
  }
  return t;
}

/** A landing file's key or name as the load log records it: 1-1024 characters, none a control. */
export function parseFileKey(raw: string, name: string): string {
  // deno-lint-ignore no-control-regex
  const control = /[\x00-\x1f\x7f]/.exec(raw);
  if (raw.length === 0 || raw.length > 1024 || control) {
    throw new BadRequestError(
      `${name} must be a file's key (s3://bucket/path or a path in the landing folder) or its ` +
        `name, 1-1024 characters without control characters, got ${show(raw)}`,
    );
  }
  return raw;
}

/** A calendar date YYYY-MM-DD that exists (2025-02-30 is rejected). */
export function parseDate(raw: string, name: string): string {
  const m = DATE.exec(raw);
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const t = new Date(Date.UTC(y, mo - 1, d));
    if (t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d) {
      if (y < 1990 || y > 2100) {
        throw new BadRequestError(`${name} must be between 1990-01-01 and 2100-12-31, got ${raw}`);
      }
      return raw;
    }
  }
  throw new BadRequestError(`${name} must be a date YYYY-MM-DD, got ${show(raw)}`);
}

export interface DateRange {
  from?: string;
  to?: string;
}

/** `from`/`to` (either optional); 400 when `from` is after `to` or the span exceeds `maxDays`. */
export function parseRange(
  q: Query,
  opts: { maxDays?: number } = {},
): DateRange {
  const from = q.get("from") === undefined ? undefined : parseDate(q.get("from")!, "from");
  const to = q.get("to") === undefined ? undefined : parseDate(q.get("to")!, "to");
  if (from && to && from > to) {
    throw new BadRequestError(`from (${from}) must not be after to (${to})`);
  }
  if (from && to && opts.maxDays !== undefined) checkSpan(from, to, opts.maxDays);
  return { from, to };
}

/** 400 when `from..to` (both inclusive) spans more than `maxDays` days. */
export function checkSpan(from: string, to: string, maxDays: number): void {
  const days = (Date.parse(to) - Date.parse(from)) / 86_400_000 + 1;
  if (days > maxDays) {
    throw new BadRequestError(
      `the range ${from}..${to} spans ${days} days; at most ${maxDays} are allowed here`,
    );
  }
}

/** An integer in [min, max]. */
export function parseInteger(
  raw: string | undefined,
  name: string,
  opts: { min: number; max: number; fallback: number },
): number {
  if (raw === undefined) return opts.fallback;
  if (!/^-?\d{1,12}$/.test(raw)) {
    throw new BadRequestError(`${name} must be an integer, got ${show(raw)}`);
  }
  const n = Number(raw);
  if (n < opts.min || n > opts.max) {
    throw new BadRequestError(`${name} must be between ${opts.min} and ${opts.max}, got ${n}`);
  }
  return n;
}

/** One of a fixed set of words. */
export function parseChoice<T extends string>(
  raw: string | undefined,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new BadRequestError(`${name} must be one of ${choices.join(", ")}, got ${show(raw)}`);
  }
  return raw as T;
}

/** Free text for searches: trimmed, at most `max` characters, printable. */
export function parseText(raw: string | undefined, name: string, max = 60): string | undefined {
  if (raw === undefined) return undefined;
  const t = raw.trim();
  if (t.length > max) {
    throw new BadRequestError(`${name} must be at most ${max} characters, got ${t.length}`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(t)) {
    throw new BadRequestError(`${name} must not contain control characters`);
  }
  return t === "" ? undefined : t;
}

export interface Page {
  limit: number;
  offset: number;
}

/** `limit` (1..MAX_LIMIT) and `offset` (>= 0). */
export function parsePage(q: Query, defaultLimit = DEFAULT_LIMIT): Page {
  return {
    limit: parseInteger(q.get("limit"), "limit", {
      min: 1,
      max: MAX_LIMIT,
      fallback: defaultLimit,
    }),
    offset: parseInteger(q.get("offset"), "offset", { min: 0, max: MAX_OFFSET, fallback: 0 }),
  };
}

/** Whether `raw` decodes as percent-encoded UTF-8 ("%E0%A4%A", "%ZZ" and a bare "%" do not). */
function wellEncoded(raw: string): boolean {
  try {
    decodeURIComponent(raw);
    return true;
  } catch {
    return false;
  }
}

/**
 * The 400 message for a URL whose path or query string is not percent-encoded UTF-8, naming the
 * path, the query parameter or (for a malformed name) the query string; undefined when it is.
 * URLSearchParams decodes leniently (a stray "%" is kept, bytes that are not UTF-8 become
 * U+FFFD), so without this check such a value would be searched for as something else.
 */
export function malformedEscape(url: URL): string | undefined {
  if (!wellEncoded(url.pathname)) {
    return `malformed percent-encoding in the path ${JSON.stringify(url.pathname)}`;
  }
  for (const pair of url.search.slice(1).split("&")) {
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? "" : pair.slice(eq + 1);
    if (!wellEncoded(name)) {
      return `malformed percent-encoding in the query string ${JSON.stringify(url.search)}`;
    }
    if (!wellEncoded(value)) {
      const decoded = decodeURIComponent(name.replaceAll("+", " "));
      return `malformed percent-encoding in query parameter ${show(decoded)}: ${show(value)}`;
    }
  }
  return undefined;
}

/**
 * A request's query string, refusing parameters the endpoint does not know and repeated ones,
 * so that a typo (`?form=`) is a 400 instead of a silently ignored filter.
 */
export class Query {
  readonly #params: URLSearchParams;
  constructor(url: URL, allowed: readonly string[]) {
    this.#params = url.searchParams;
    const seen = new Set<string>();
    for (const key of this.#params.keys()) {
      if (!allowed.includes(key)) {
        const hint = allowed.length ? `; allowed: ${allowed.join(", ")}` : "; none are allowed";
        throw new BadRequestError(`unknown query parameter ${show(key)}${hint}`);
      }
      if (seen.has(key)) throw new BadRequestError(`query parameter ${key} is given twice`);
      seen.add(key);
    }
  }
  get(name: string): string | undefined {
    const v = this.#params.get(name);
    return v === null ? undefined : v;
  }
}

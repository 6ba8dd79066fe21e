/**
 * Reloads for tickers listed since. A row whose ticker is not in OPERATIONAL.TBL_COMPANY is
 * quarantined as `unknown ticker X` (with its other problems, '; '-separated). A version of a file
 * is loaded again (batch.ts, change `reload`) when it is the version its key was last loaded at
 * (its key's most recent LOADED row in the load log) and its quarantine names a ticker X whose
 * company row was created (TBL_COMPANY.CREATED_AT, set when the row is inserted, by a company
 * list or by any other means) after that load started (the LOADED row's STARTED_AT). A load reads
 * the company list after it starts, so a company created before then was known to it: a reason
 * that merely quotes `unknown ticker COMI` in a raw value (`unparsable open "n/a; unknown ticker
 * COMI"`) never causes a reload of a listed COMI, and once a reload ran (a new STARTED_AT) its
 * version is not reloaded again until another ticker it names is listed. Only the lines that load
 * quarantined are considered, INSERT-ONLY: a line is stored only when its key is absent from the
 * target table (egx_reload_inserts, prelude.sql; the Snowflake publish likewise); the version's
 * quarantine is replaced by what the reload finds, all in one transaction as any load (load.ts,
 * LandingObject.reloadOf). The query below runs on DuckDB and Snowflake alike.
 */
import { tickerCode } from "../market/ticker.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";

/** A file version whose quarantine names tickers listed since its load started. */
export interface ListedSince {
  key: string;
  etag: string;
  /** The tickers, listed since, in code point order. */
  tickers: string[];
  /** Its quarantined rows that name one of them. */
  rows: number;
}

/**
 * Per key, the version of its most recent LOADED row and when that load started (ties: the
 * greatest ETag, an arbitrary but stable pick).
 */
const LATEST = "SELECT FILE_KEY, ETAG, STARTED_AT FROM OPERATIONAL.TBL_LOAD_LOG " +
  "WHERE STATUS = 'LOADED' " +
  "QUALIFY ROW_NUMBER() OVER (PARTITION BY FILE_KEY ORDER BY STARTED_AT DESC, ETAG DESC) = 1";

/**
 * When warehouse migration 008 (ticker codes: `ACTF.CA` stored as `ACTF`) was applied. A load
 * before it compared tickers as written, so a company stored with the Cairo suffix was unknown to
 * it under its code, and 008 listed it under that code without a new row (its CREATED_AT kept):
 * a version loaded before 008 counts every ticker it names that is listed now (NULL: not applied,
 * no load is before it).
 */
const TICKER_CODES_APPLIED =
  "SELECT MIN(APPLIED_AT) AS A FROM OPERATIONAL.SCHEMA_MIGRATION WHERE VERSION = 8";

/**
 * The unknown tickers of the quarantined rows of each key's latest loaded version that started
 * before the newest company row was created (no other can name a ticker listed since: this bounds
 * the scan to the few versions loaded before the last listing), with the number of rows naming
 * each and the company rows created after that load started (C; 0 when none). The ticker is what
 * follows `unknown ticker ` up to the next `;` (a code by the ticker rule, never with a `;`);
 * reasons are matched where a problem starts: at the beginning or after '; '. A raw value quoted
 * in a reason can hold that text too: the company rows' creation times, not the text, decide.
 */
const UNKNOWN = "SELECT q.FILE_KEY AS K, q.ETAG AS E, " +
  "SPLIT_PART(SUBSTR(q.REASON, POSITION('unknown ticker ' IN q.REASON) + 15), ';', 1) AS T, " +
  "COUNT(*) AS N, MAX(l.STARTED_AT) AS S " +
  `FROM OPERATIONAL.TBL_QUARANTINE q JOIN (${LATEST}) l ` +
  "ON l.FILE_KEY = q.FILE_KEY AND l.ETAG = q.ETAG " +
  "WHERE (l.STARTED_AT < (SELECT MAX(CREATED_AT) FROM OPERATIONAL.TBL_COMPANY) " +
  `OR l.STARTED_AT < (${TICKER_CODES_APPLIED})) ` +
  "AND (q.REASON LIKE 'unknown ticker %' OR q.REASON LIKE '%; unknown ticker %') " +
  "GROUP BY 1, 2, 3";

/**
 * Per file version (`key` NUL `etag`), its quarantined rows of tickers listed since that
 * version's load started. Only each key's latest loaded version counts (batch.ts reloads nothing
 * else). Companies are taken by their EGX code, as the checks take them (prelude.sql,
 * egx_company); a code with several rows is listed since a load when all of them were created
 * after it started.
 */
export async function listedSince(
  wh: Warehouse,
  opts: { signal?: AbortSignal } = {},
): Promise<Map<string, ListedSince>> {
  const unknown = await wh.query<{ K: string; E: string; T: string; N: number; S: string }>(
    UNKNOWN,
    [],
    { signal: opts.signal, label: "s3_check (quarantine)" },
  );
  const out = new Map<string, ListedSince>();
  if (unknown.length === 0) return out;
  const [codes] = await wh.query<{ A: string | null }>(TICKER_CODES_APPLIED, [], {
    signal: opts.signal,
    label: "s3_check (migrations)",
  });
  const codesSince = codes?.A == null ? -Infinity : instant(codes.A);
  const companies = await wh.query<{ T: string; C: string }>(
    "SELECT TICKER AS T, CREATED_AT AS C FROM OPERATIONAL.TBL_COMPANY",
    [],
    { signal: opts.signal, label: "s3_check (companies)" },
  );
  // Per code, when its first company row was created (epoch ms).
  const listed = new Map<string, number>();
  for (const c of companies) {
    const code = tickerCode(c.T);
    const at = instant(c.C);
    if (code === undefined) continue;
    listed.set(code, Math.min(listed.get(code) ?? Infinity, at));
  }
  for (const u of unknown) {
    const since = listed.get(u.T);
    const loadedAt = instant(u.S);
    if (since === undefined || !(since > loadedAt || loadedAt < codesSince)) continue;
    const id = versionId(u.K, u.E);
    const seen = out.get(id) ?? { key: u.K, etag: u.E, tickers: [], rows: 0 };
    if (!seen.tickers.includes(u.T)) seen.tickers.push(u.T);
    seen.rows += Number(u.N);
    out.set(id, seen);
  }
  for (const v of out.values()) v.tickers.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return out;
}

/**
 * A warehouse timestamp (UTC, no zone: DuckDB's ISO text with `Z`, Snowflake's naive text), epoch
 * ms; NaN when unreadable (then nothing compares as later).
 */
function instant(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  const s = String(v).trim().replace(" ", "T");
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s}Z`);
}

/** The map key of a file version in listedSince's answer. */
export const versionId = (key: string, etag: string) => `${key}\u0000${etag}`;

/** `3 quarantined row(s) of tickers listed since: ZZZZ, YYYY` */
export function describeListed(l: Pick<ListedSince, "tickers" | "rows">): string {
  return `${l.rows} quarantined row(s) of tickers listed since: ${l.tickers.join(", ")}`;
}

/**
 * A version that cannot be loaded again (its key is gone from the landing store `where`): what
 * stays out, for the jobs' output. Not a failure: nothing can be done until the file is back.
 */
export function describeUnreloadable(l: ListedSince, where: string): string {
  return `cannot reload ${l.key}: ${describeListed(l)}, but it is no longer in ${where} ` +
    "(put it back to load them)";
}

/**
 * Reloads for tickers listed since. A row whose ticker is not in OPERATIONAL.TBL_COMPANY is
 * quarantined as `unknown ticker X` (with its other problems, '; '-separated). When X is listed
 * later (a later company list, or by any other means), the version of the file that was loaded is
 * loaded again (batch.ts, change `reload`): only the lines that load quarantined are upserted
 * (the others it stored, and a later file may have updated their keys since), and the version's
 * quarantine is replaced by what the reload finds, all in one transaction as any load
 * (load.ts, LandingObject.reloadOf). The query below runs on DuckDB and Snowflake alike.
 */
import { tickerCode } from "../market/ticker.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";

/** A file version whose quarantine names tickers that are listed now. */
export interface ListedSince {
  key: string;
  etag: string;
  /** The tickers, listed now, in code point order. */
  tickers: string[];
  /** Its quarantined rows that name one of them. */
  rows: number;
}

/**
 * The quarantined rows' unknown tickers per file version (the ticker is what follows
 * `unknown ticker ` up to the next `;`: a code by the ticker rule, never with a `;`), with the
 * number of rows naming each. Reasons are matched where a problem starts: at the beginning or
 * after '; '.
 */
const UNKNOWN = "SELECT FILE_KEY AS K, ETAG AS E, " +
  "SPLIT_PART(SUBSTR(REASON, POSITION('unknown ticker ' IN REASON) + 15), ';', 1) AS T, " +
  "COUNT(*) AS N FROM OPERATIONAL.TBL_QUARANTINE " +
  "WHERE REASON LIKE 'unknown ticker %' OR REASON LIKE '%; unknown ticker %' GROUP BY 1, 2, 3";

/**
 * Per file version (`key` NUL `etag`), its quarantined rows of tickers listed now. Companies are
 * taken by their EGX code, as the checks take them (prelude.sql, egx_company).
 */
export async function listedSince(
  wh: Warehouse,
  opts: { signal?: AbortSignal } = {},
): Promise<Map<string, ListedSince>> {
  const unknown = await wh.query<{ K: string; E: string; T: string; N: number }>(UNKNOWN, [], {
    signal: opts.signal,
    label: "s3_check (quarantine)",
  });
  const out = new Map<string, ListedSince>();
  if (unknown.length === 0) return out;
  const companies = await wh.query<{ T: string }>(
    "SELECT TICKER AS T FROM OPERATIONAL.TBL_COMPANY",
    [],
    { signal: opts.signal, label: "s3_check (companies)" },
  );
  const listed = new Set(companies.map((c) => tickerCode(c.T)).filter((t) => t !== undefined));
  for (const u of unknown) {
    if (!listed.has(u.T)) continue;
    const id = versionId(u.K, u.E);
    const seen = out.get(id) ?? { key: u.K, etag: u.E, tickers: [], rows: 0 };
    if (!seen.tickers.includes(u.T)) seen.tickers.push(u.T);
    seen.rows += Number(u.N);
    out.set(id, seen);
  }
  for (const v of out.values()) v.tickers.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return out;
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

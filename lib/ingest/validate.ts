/**
 * validate_data: the pipeline's data-quality gate (the original's checks: no duplicate
 * companies, positive prices, non-negative volume, recent data present on trading days) plus
 * stored tickers that are not an EGX code by the one ticker rule (lib/market/ticker.ts; e.g.
 * ACTF.CA, stored by a company list loaded before batch loads applied the rule), no duplicate
 * natural keys (neither warehouse enforces them on the fact tables) and row-count reconciliation
 * per loaded file (read = loaded + quarantined, and the quarantine table holds exactly the rows
 * the load log says). Queries: validate.sql (runs on DuckDB and Snowflake).
 */
import {
  addDays,
  cairoDate,
  cairoWallToInstant,
  sessionOn,
  tradingDayOnOrBefore,
} from "../market/calendar.ts";
import { tickerCode } from "../market/ticker.ts";
import type { Row, Warehouse } from "../warehouse/warehouse.ts";
import text from "./validate.sql" with { type: "text" };

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ValidationReport {
  ok: boolean;
  checks: CheckResult[];
  /** A readable report, one line per check. */
  text: string;
}

const queries = new Map<string, string>();
for (const part of text.split(/^-- query: /m).slice(1)) {
  const nl = part.indexOf("\n");
  const sql = part.slice(nl + 1).split("\n").filter((l) => !l.startsWith("--")).join("\n")
    .trim().replace(/;$/, "");
  queries.set(part.slice(0, nl).trim(), sql);
}

function q(name: string): string {
  const sql = queries.get(name);
  if (!sql) throw new Error(`validate.sql has no query ${name}`);
  return sql;
}

/** Offending rows shown per check; the queries return at most LIMIT (validate.sql). */
const SHOWN = 5;
const LIMIT = 20;

function show(rows: Row[]): string {
  const more = rows.length - SHOWN;
  return rows.slice(0, SHOWN).map((r) =>
    Object.entries(r).map(([k, v]) => `${k}=${String(v)}`).join(" ")
  ).join("; ") + (more > 0 ? `; and ${more}${rows.length >= LIMIT ? " or more" : ""} more` : "");
}

/**
 * The trading day whose data must be present at `asOf`: the latest EGX trading day whose
 * session has closed by then (a day in progress is not due yet).
 */
export function dueTradingDay(asOf: Date): string {
  let day = tradingDayOnOrBefore(cairoDate(asOf));
  const session = sessionOn(day);
  if (session && asOf < cairoWallToInstant(day, session.close)) {
    day = tradingDayOnOrBefore(addDays(day, -1));
  }
  return day;
}

export async function validateData(
  wh: Warehouse,
  opts: { asOf: Date; signal?: AbortSignal },
): Promise<ValidationReport> {
  const o = { signal: opts.signal, label: "validate_data" };
  const run = (name: string, params: (string | number)[] = []) => wh.query(q(name), params, o);
  const checks: CheckResult[] = [];
  const rowsCheck = async (name: string, query: string, what: string, good: string) => {
    const rows = await run(query);
    checks.push({
      name,
      ok: rows.length === 0,
      detail: rows.length === 0 ? good : `${what}: ${show(rows)}`,
    });
  };

  const [{ N: companies }] = await run("company_count");
  await rowsCheck(
    "no duplicate companies",
    "duplicate_companies",
    "tickers listed more than once",
    `${companies} companies, each once`,
  );
  const stored = await run("stored_tickers");
  const badTickers = stored.filter((r) => tickerCode(String(r.TICKER)) !== r.TICKER);
  checks.push({
    name: "tickers follow the rule",
    ok: badTickers.length === 0,
    detail: badTickers.length === 0
      ? `${stored.length} stored tickers (once per table), each an EGX code`
      : "tickers that are not an EGX code (2-10 letters or digits starting with a letter): " +
        show(badTickers.slice(0, LIMIT)),
  });
  await rowsCheck(
    "no duplicate daily prices",
    "duplicate_prices",
    "(ticker, trade date, source) stored more than once",
    "each (ticker, trade date, source) once",
  );
  await rowsCheck(
    "no duplicate intraday bars",
    "duplicate_bars",
    "(ticker, bar start, interval, source) stored more than once",
    "each (ticker, bar start, interval, source) once",
  );
  await rowsCheck(
    "positive prices",
    "non_positive_prices",
    "prices <= 0 or not finite",
    "every open, high, low and close > 0 and finite",
  );
  await rowsCheck("non-negative volume", "negative_volume", "volume < 0", "every volume >= 0");

  const due = dueTradingDay(opts.asOf);
  const [{ N: onDay }] = await run("prices_on_day_count", [due]);
  const [{ D: latest }] = await run("latest_trade_date", [due]);
  checks.push({
    name: "recent data present",
    ok: Number(onDay) > 0,
    detail: Number(onDay) > 0
      ? `${onDay} ticker(s) with prices for ${due}, the last trading day closed by ` +
        opts.asOf.toISOString()
      : `no prices for ${due}, the last trading day closed by ${opts.asOf.toISOString()} ` +
        // Older data (a copy of the sample, a bucket of last year's files) is judged by today
        // unless EGX_AS_OF says otherwise: say how, with the day that would pass.
        (latest
          ? `(latest stored: ${latest}; set EGX_AS_OF=${latest} to judge data as of an ` +
            "earlier day, e.g. a copy of the sample)"
          : "(latest stored: none)"),
  });

  const [{ N: files }] = await run("loaded_file_count");
  await rowsCheck(
    "row counts reconcile per file",
    "unreconciled_loads",
    "rows read <> loaded + quarantined, or quarantine table disagrees",
    `${files} loaded files: read = loaded + quarantined`,
  );

  const failed = checks.filter((c) => !c.ok).length;
  const lines = checks.map((c) => `  ${c.ok ? "PASS" : "FAIL"}  ${c.name}: ${c.detail}`);
  const head = `validate_data: ${checks.length} checks, ${failed} failed`;
  return { ok: failed === 0, checks, text: [head, ...lines].join("\n") };
}

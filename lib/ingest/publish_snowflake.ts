/**
 * Loading into Snowflake with the same validation as DuckDB: a group of files is read, checked,
 * quarantined and upserted in a local in-memory DuckDB (the staging engine, given Snowflake's
 * companies and indices for the reference checks); the rows that result are then sent to
 * Snowflake in ONE transaction: bulk-inserted (array binds) into session temporary staging
 * tables and merged into the OPERATIONAL tables by natural key (lib/ingest/sql_snowflake).
 *
 * Snowflake commits DDL implicitly, so the temporary tables are created before the transaction.
 * One-minute bars are merged, then the daily bars are aggregated in Snowflake from every stored
 * bar of the days concerned (a day may span several files). A file version loaded again (a reload
 * for tickers listed since) keeps only the quarantine rows this load found, and a reload's rows are
 * insert-only (publish, `reloads`).
 */
import type { DuckDBWarehouse } from "../warehouse/duckdb.ts";
import { splitStatements } from "../warehouse/migrations.ts";
import type { Row, SqlValue, Warehouse } from "../warehouse/warehouse.ts";
import type { FormatId } from "./formats.ts";
import companyMerge from "./sql_snowflake/company_merge.sql" with { type: "text" };
import dailyFromBarsMerge from "./sql_snowflake/daily_from_bars_merge.sql" with { type: "text" };
import financialMerge from "./sql_snowflake/financial_merge.sql" with { type: "text" };
import indexMembershipMerge from "./sql_snowflake/index_membership_merge.sql" with {
  type: "text",
};
import intradayBarMerge from "./sql_snowflake/intraday_bar_merge.sql" with { type: "text" };
import loadLogMerge from "./sql_snowflake/load_log_merge.sql" with { type: "text" };
import marketStatMerge from "./sql_snowflake/market_stat_merge.sql" with { type: "text" };
import quarantineMerge from "./sql_snowflake/quarantine_merge.sql" with { type: "text" };
import quarantineStale from "./sql_snowflake/quarantine_stale.sql" with { type: "text" };
import stockPriceMerge from "./sql_snowflake/stock_price_merge.sql" with { type: "text" };

interface Target {
  table: string;
  stage: string;
  columns: readonly string[];
  merge: string;
  /** Which local rows belong to the group: by SOURCE_FILE or by FILE_KEY. */
  fileColumn: "SOURCE_FILE" | "FILE_KEY";
  /** The natural key the merge matches on (a reload's rows are inserted only when it is new). */
  key: readonly string[];
}

const target = (
  table: string,
  stage: string,
  columns: string[],
  merge: string,
  key: string[],
  fileColumn: "SOURCE_FILE" | "FILE_KEY" = "SOURCE_FILE",
): Target => ({ table, stage, columns, merge, fileColumn, key });

const PRICE = ["OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"];

export const TARGETS = {
  stockPrice: target(
    "TBL_STOCK_PRICE",
    "EGX_STG_STOCK_PRICE",
    ["TICKER", "TRADE_DATE", "DATA_SOURCE", ...PRICE, "SOURCE_FILE"],
    stockPriceMerge,
    ["TICKER", "TRADE_DATE", "DATA_SOURCE"],
  ),
  intradayBar: target(
    "TBL_INTRADAY_BAR",
    "EGX_STG_INTRADAY_BAR",
    [
      "TICKER",
      "BAR_START",
      "INTERVAL_MINUTES",
      "DATA_SOURCE",
      "TRADE_DATE",
      ...PRICE,
      "SOURCE_FILE",
    ],
    intradayBarMerge,
    ["TICKER", "BAR_START", "INTERVAL_MINUTES", "DATA_SOURCE"],
  ),
  company: target(
    "TBL_COMPANY",
    "EGX_STG_COMPANY",
    ["TICKER", "COMPANY_NAME", "ISIN", "SECTOR", "INDUSTRY", "IS_ACTIVE", "SOURCE_FILE"],
    companyMerge,
    ["TICKER"],
  ),
  indexMembership: target(
    "TBL_INDEX_MEMBERSHIP",
    "EGX_STG_INDEX_MEMBERSHIP",
    ["INDEX_CODE", "TICKER", "EFFECTIVE_FROM", "EFFECTIVE_TO", "WEIGHT", "SOURCE_FILE"],
    indexMembershipMerge,
    ["INDEX_CODE", "TICKER", "EFFECTIVE_FROM"],
  ),
  financial: target(
    "TBL_FINANCIAL",
    "EGX_STG_FINANCIAL",
    [
      "TICKER",
      "FISCAL_YEAR",
      "FISCAL_QUARTER",
      "PERIOD_END",
      "CURRENCY",
      "REVENUE",
      "GROSS_PROFIT",
      "OPERATING_INCOME",
      "NET_INCOME",
      "TOTAL_ASSETS",
      "TOTAL_LIABILITIES",
      "TOTAL_EQUITY",
      "OPERATING_CASH_FLOW",
      "SHARES_OUTSTANDING",
      "EPS",
      "DATA_SOURCE",
      "SOURCE_FILE",
    ],
    financialMerge,
    ["TICKER", "FISCAL_YEAR", "FISCAL_QUARTER"],
  ),
  marketStat: target(
    "TBL_MARKET_STAT",
    "EGX_STG_MARKET_STAT",
    [
      "TICKER",
      "SNAPSHOT_DATE",
      "LAST_PRICE",
      "CHANGE_PCT",
      "VOLUME",
      "MARKET_CAP",
      "PE_RATIO",
      "PB_RATIO",
      "DIVIDEND_YIELD",
      "EPS_TTM",
      "HIGH_52W",
      "LOW_52W",
      "DATA_SOURCE",
      "SOURCE_FILE",
    ],
    marketStatMerge,
    ["TICKER", "SNAPSHOT_DATE"],
  ),
  quarantine: target(
    "TBL_QUARANTINE",
    "EGX_STG_QUARANTINE",
    ["FILE_KEY", "ETAG", "LINE_NUMBER", "FORMAT", "REASON", "RECORD"],
    quarantineMerge,
    ["FILE_KEY", "ETAG", "LINE_NUMBER"],
    "FILE_KEY",
  ),
  loadLog: target(
    "TBL_LOAD_LOG",
    "EGX_STG_LOAD_LOG",
    [
      "FILE_KEY",
      "ETAG",
      "SIZE_BYTES",
      "FORMAT",
      "STATUS",
      "ROWS_READ",
      "ROWS_LOADED",
      "ROWS_QUARANTINED",
      "ERROR",
      "RUN_ID",
      "STARTED_AT",
      "FINISHED_AT",
    ],
    loadLogMerge,
    ["FILE_KEY", "ETAG"],
    "FILE_KEY",
  ),
} as const;

/** The tables a format's good rows go to (quarantine and load log are always published). */
export function targetsOf(format: FormatId): Target[] {
  switch (format) {
    case "companies":
      return [TARGETS.company];
    case "index_membership":
      return [TARGETS.indexMembership];
    case "financials":
      return [TARGETS.financial];
    case "screener":
      return [TARGETS.marketStat];
    case "bars_1m":
      return [TARGETS.intradayBar];
    default:
      return [TARGETS.stockPrice];
  }
}

/** The one statement of a SQL file, without its comments and semicolon. */
function statement(sql: string): string {
  return splitStatements(sql)[0];
}

/** A format's optional columns (formats.ts, lower case) and those the files being loaded lack. */
export interface OptionalColumns {
  optional: readonly string[];
  missing: readonly string[];
}

/**
 * `t`'s MERGE with each `{{name}}` (an optional column of the format) replaced by TRUE when the
 * files have that column and FALSE when they lack it, so that the update keeps what is stored in
 * a column they lack (as DuckDB's upserts, egx_given). Only TRUE or FALSE goes into the SQL, never
 * text from a file; a name that is not one of the format's optional columns is a programming
 * error, as is a merge with names and no columns.
 */
function mergeStatement(t: Target, columns: OptionalColumns | undefined): string {
  return statement(t.merge).replace(/\{\{([a-z0-9_]+)\}\}/g, (_, name: string) => {
    if (!columns?.optional.includes(name)) {
      throw new Error(`${t.table} merge: {{${name}}} is not an optional column of the files`);
    }
    return columns.missing.includes(name) ? "FALSE" : "TRUE";
  });
}

const ISO_UTC = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}\.\d{3})Z$/;

/** TIMESTAMP_NTZ values go to Snowflake as naive UTC text ("YYYY-MM-DD HH:MM:SS.mmm"). */
function forSnowflake(v: SqlValue): SqlValue {
  if (typeof v === "string") {
    const m = ISO_UTC.exec(v);
    if (m) return `${m[1]} ${m[2]}`;
  }
  return v;
}

/**
 * A new in-memory DuckDB with Snowflake's reference rows (companies, indices) for the checks.
 * Companies come with every column that is published (TARGETS.company): a company list is upserted
 * against them exactly as DuckDB would upsert it against its own TBL_COMPANY, and a row it changes
 * (any column, not only the name) gets this file as SOURCE_FILE, so localRows publishes it.
 */
export async function stagingEngine(sf: Warehouse): Promise<DuckDBWarehouse> {
  const companyColumns = TARGETS.company.columns;
  // Column names come from TARGETS above, never from a file.
  const companies = await sf.query<Row>(
    `SELECT ${companyColumns.join(", ")} FROM OPERATIONAL.TBL_COMPANY`,
  );
  const indices = await sf.query<Row>(
    "SELECT INDEX_CODE, INDEX_NAME, WEIGHTING, BASE_VALUE FROM OPERATIONAL.TBL_INDEX",
  );
  // Loaded on demand: importing this module must not load DuckDB's native binding (`--help`).
  const { DuckDBWarehouse } = await import("../warehouse/duckdb.ts");
  const local = await DuckDBWarehouse.open(":memory:");
  try {
    await local.migrate();
    await local.transaction(async (s) => {
      await s.execute("DELETE FROM OPERATIONAL.TBL_INDEX");
      await s.insertRows(
        "OPERATIONAL.TBL_INDEX",
        ["INDEX_CODE", "INDEX_NAME", "WEIGHTING", "BASE_VALUE"],
        indices.map((r) => [r.INDEX_CODE, r.INDEX_NAME, r.WEIGHTING, r.BASE_VALUE]),
      );
      await s.insertRows(
        "OPERATIONAL.TBL_COMPANY",
        companyColumns,
        companies.map((r) => companyColumns.map((c) => r[c])),
      );
    });
    return local;
  } catch (e) {
    await local.close();
    throw e;
  }
}

/** Rows of `t` that belong to `fileKeys`, read from the local staging engine's session. */
export async function localRows(
  query: (sql: string, params: SqlValue[]) => Promise<Row[]>,
  t: Target,
  fileKeys: readonly string[],
): Promise<SqlValue[][]> {
  const out: SqlValue[][] = [];
  for (const key of fileKeys) {
    // Table and column names come from TARGETS above, never from a file.
    const rows = await query(
      `SELECT ${t.columns.join(", ")} FROM OPERATIONAL.${t.table} WHERE ${t.fileColumn} = ?`,
      [key],
    );
    for (const r of rows) out.push(t.columns.map((c) => forSnowflake(r[c])));
  }
  return out;
}

/**
 * Send `batches` (rows per target) to Snowflake in one transaction; `aggregateBars` runs the daily
 * aggregation of bars inside it. With both the quarantine and the load log, a loaded version's
 * quarantine rows that are not staged are deleted (quarantine_stale.sql). `columns`: the optional
 * columns of the files the rows come from, for the merges that update only the columns the files
 * have (financials, screener, index list).
 *
 * `reloads`: the keys of the files that are reloads (load.ts, LandingObject.reloadOf). Their rows
 * are INSERT-ONLY: a staged row of theirs whose key the target table holds is dropped from the
 * staging table before the merge, so the merge never updates a stored row with it (as DuckDB's
 * egx_reload_file, prelude.sql; lib/stream/redrive.ts explains why: a stored row is newer).
 * `respelled`: versions (key, ETag) a reload records under another spelling of their ETag: their
 * quarantine and LOADED row under the older spelling are deleted (DuckDB: quarantine_stale.sql).
 */
export async function publish(
  sf: Warehouse,
  batches: readonly { target: Target; rows: SqlValue[][] }[],
  opts: {
    signal?: AbortSignal;
    label?: string;
    aggregateBars?: boolean;
    columns?: OptionalColumns;
    reloads?: readonly string[];
    respelled?: readonly (readonly [string, string])[];
  } = {},
): Promise<void> {
  const reloads = opts.reloads ?? [];
  for (const { target: t } of batches) {
    // DDL commits implicitly on Snowflake: the session's staging tables come first.
    await sf.query(`CREATE OR REPLACE TEMPORARY TABLE ${t.stage} LIKE OPERATIONAL.${t.table}`);
  }
  await sf.transaction(async (s) => {
    for (const { target: t, rows } of batches) {
      if (rows.length === 0) continue;
      await s.insertRows(t.stage, t.columns, rows);
      if (reloads.length > 0 && t.fileColumn === "SOURCE_FILE") {
        // Table and column names come from TARGETS above; the file keys are bound.
        await s.execute(
          `DELETE FROM ${t.stage} s WHERE s.SOURCE_FILE IN (${reloads.map(() => "?").join(", ")})` +
            ` AND EXISTS (SELECT 1 FROM OPERATIONAL.${t.table} t WHERE ` +
            t.key.map((k) => `t.${k} = s.${k}`).join(" AND ") + ")",
          reloads,
        );
      }
      await s.execute(mergeStatement(t, opts.columns));
    }
    for (const [key, etag] of opts.respelled ?? []) {
      await s.execute(
        "DELETE FROM OPERATIONAL.TBL_QUARANTINE WHERE FILE_KEY = ? AND ETAG = ?",
        [key, etag],
      );
      await s.execute(
        "DELETE FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY = ? AND ETAG = ? AND STATUS = 'LOADED'",
        [key, etag],
      );
    }
    const targets = batches.map((b) => b.target);
    if (targets.includes(TARGETS.quarantine) && targets.includes(TARGETS.loadLog)) {
      await s.execute(statement(quarantineStale));
    }
    if (opts.aggregateBars) await s.execute(statement(dailyFromBarsMerge));
  }, { signal: opts.signal, label: opts.label });
}

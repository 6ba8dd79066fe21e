/**
 * Test support for the model tests: a DuckDB warehouse in a temporary directory, migrated with
 * the real DDL and filled from tests/testdata/models/ (real EGX bars and companies, plus small
 * hand-made inputs, see the README there). TBL_INDEX comes from the migrations' seed.
 * Not a test file itself.
 */
import { join } from "node:path";
import { loadConfig, SAMPLE_AS_OF } from "../lib/config/config.ts";
import { localFileVersion } from "../lib/ingest/landing.ts";
import { loadProject, type Project } from "../lib/models/project.ts";
import { runModels, type RunResult } from "../lib/models/run.ts";
import { openWarehouse, type Warehouse } from "../lib/warehouse/warehouse.ts";

export const FIXTURES = new URL("./testdata/models/", import.meta.url).pathname;
export const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
export const AS_OF = new Date(SAMPLE_AS_OF);

export interface FixtureWarehouse {
  wh: Warehouse;
  dir: string;
  /** A target/ folder inside the temporary directory. */
  targetDir: string;
  close(): Promise<void>;
}

/** Statements loading every fixture file (paths bound as parameters). */
export const LOADS: [string, string][] = [
  [
    "companies.csv",
    `INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME, ISIN, SECTOR, SOURCE_FILE)
     SELECT ticker, company_name, nullif(isin, ''), nullif(sector, ''), 'companies.csv'
     FROM read_csv(?, header = true, all_varchar = true)`,
  ],
  [
    "daily_bars.csv",
    `INSERT INTO OPERATIONAL.TBL_STOCK_PRICE
       (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE)
     SELECT ticker, trade_date, 'BARS_1M', open, high, low, close, volume, 'daily_bars.csv'
     FROM read_csv(?, header = true)`,
  ],
  [
    "intraday_bars.csv",
    `INSERT INTO OPERATIONAL.TBL_INTRADAY_BAR (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE,
       TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE)
     SELECT ticker, bar_start::TIMESTAMP, 1, 'BARS_1M', trade_date, open, high, low, close,
       volume, 'intraday_bars.csv'
     FROM read_csv(?, header = true)`,
  ],
  [
    "index_membership.csv",
    `INSERT INTO OPERATIONAL.TBL_INDEX_MEMBERSHIP (INDEX_CODE, TICKER, EFFECTIVE_FROM,
       EFFECTIVE_TO, WEIGHT, SOURCE_FILE)
     SELECT index_code, ticker, effective_from, effective_to, weight, 'index_membership.csv'
     FROM read_csv(?, header = true, types = {'weight': 'DOUBLE', 'effective_to': 'DATE'})`,
  ],
  [
    "financials.csv",
    `INSERT INTO OPERATIONAL.TBL_FINANCIAL (TICKER, FISCAL_YEAR, FISCAL_QUARTER, PERIOD_END,
       CURRENCY, REVENUE, GROSS_PROFIT, OPERATING_INCOME, NET_INCOME, TOTAL_ASSETS,
       TOTAL_LIABILITIES, TOTAL_EQUITY, OPERATING_CASH_FLOW, SHARES_OUTSTANDING, EPS, DATA_SOURCE)
     SELECT ticker, fiscal_year, fiscal_quarter, period_end, currency, revenue, gross_profit,
       operating_income, net_income, total_assets, total_liabilities, total_equity,
       operating_cash_flow, shares_outstanding, eps, 'FIXTURE'
     FROM read_csv(?, header = true, types = {'eps': 'DOUBLE'})`,
  ],
  [
    "market_stats.csv",
    `INSERT INTO OPERATIONAL.TBL_MARKET_STAT (TICKER, SNAPSHOT_DATE, LAST_PRICE, CHANGE_PCT,
       VOLUME, MARKET_CAP, PE_RATIO, PB_RATIO, DIVIDEND_YIELD, EPS_TTM, HIGH_52W, LOW_52W,
       DATA_SOURCE)
     SELECT ticker, snapshot_date, last_price, change_pct, volume, market_cap, pe_ratio,
       pb_ratio, dividend_yield, eps_ttm, high_52w, low_52w, 'FIXTURE'
     FROM read_csv(?, header = true,
       types = {'dividend_yield': 'DOUBLE', 'eps_ttm': 'DOUBLE'})`,
  ],
];

/** A migrated DuckDB file in a temp dir, optionally filled with the fixtures. */
export async function fixtureWarehouse(
  opts: { load?: boolean; skip?: string[] } = {},
): Promise<FixtureWarehouse> {
  const dir = await Deno.makeTempDir({ prefix: "egx_models_" });
  const config = loadConfig((k) =>
    ({ EGX_WAREHOUSE: `${dir}/egx.duckdb` } as Record<string, string>)[k]
  );
  const wh = await openWarehouse(config.warehouse);
  if (opts.load ?? true) {
    await wh.transaction(async (s) => {
      for (const [file, sql] of LOADS) {
        if (opts.skip?.includes(file)) continue;
        await s.execute(sql, [FIXTURES + file]);
      }
    });
  }
  return {
    wh,
    dir,
    targetDir: `${dir}/target`,
    close: async () => {
      await wh.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

function expectError(e: unknown, cls: ErrorClass, includes: string): void {
  if (!(e instanceof cls)) throw new Error(`expected ${cls.name}, got ${e}`);
  if (!e.message.includes(includes)) {
    throw new Error(
      `expected message containing ${JSON.stringify(includes)}, got ${JSON.stringify(e.message)}`,
    );
  }
}

/** `fn` throws an instance of `cls` whose message contains `includes`. */
export function assertThrows(fn: () => unknown, cls: ErrorClass, includes: string): void {
  try {
    fn();
  } catch (e) {
    return expectError(e, cls, includes);
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

/** `fn()` rejects with an instance of `cls` whose message contains `includes`. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  cls: ErrorClass,
  includes: string,
): Promise<void> {
  try {
    await fn();
  } catch (e) {
    return expectError(e, cls, includes);
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

/** Copy a folder recursively (e.g. models/ into a temporary project to change it there). */
export async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(join(from, e.name), join(to, e.name));
    else await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

/** Build the repository's models (all, or the selected) into `fx`; throws if any model fails. */
export async function buildModels(
  fx: FixtureWarehouse,
  { select }: { select?: string[] } = {},
): Promise<{ project: Project; run: RunResult }> {
  const project = await loadProject(REPO);
  const run = await runModels(fx.wh, project, { asOf: AS_OF, targetDir: fx.targetDir, select });
  const failed = run.results.filter((r) => r.status !== "success");
  if (failed.length > 0) throw new Error(`models failed: ${JSON.stringify(failed)}`);
  return { project, run };
}

/** The bundled sample's files (data/sample), as the landing store lists them. */
export async function sampleFiles(
  dir = `${REPO}/data/sample`,
): Promise<{ key: string; etag: string; size: number; path: string }[]> {
  const out = [];
  for (const sub of ["", "bars_1m/"]) {
    for await (const e of Deno.readDir(`${dir}/${sub}`)) {
      if (!e.isFile || !e.name.endsWith(".csv")) continue;
      const path = `${dir}/${sub}${e.name}`;
      out.push({ key: sub + e.name, ...await localFileVersion(path), path });
    }
  }
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

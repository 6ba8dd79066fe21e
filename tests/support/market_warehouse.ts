/**
 * A market warehouse for the web and alert tests, built the way the product builds it: the
 * operational tables filled from real EGX data, then the real models (lib/models) run to build
 * DWH_SILVER and DWH_GOLD. The raw inputs are returned too, parsed independently in TypeScript,
 * so tests can compute the values they expect without asking the warehouse.
 *
 * Inputs: tests/testdata/models (real daily and one-minute bars of the 11 sample stocks, the
 * real company list, small hand-made index lists), loaded with the model tests' statements.
 */
import { loadConfig, SAMPLE_AS_OF } from "../../lib/config/config.ts";
import { loadProject } from "../../lib/models/project.ts";
import { runModels } from "../../lib/models/run.ts";
import { generateDocs } from "../../lib/models/docs.ts";
import { openWarehouse } from "../../lib/warehouse/warehouse.ts";
import { FIXTURES, LOADS } from "../models_fixture.ts";

export const AS_OF = new Date(SAMPLE_AS_OF);

export interface DailyInput {
  ticker: string;
  date: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface IntradayInput {
  ticker: string;
  /** UTC ISO instant. */
  time: string;
  date: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface CompanyInput {
  ticker: string;
  name: string;
  isin: string | null;
  /** "Unclassified" when the list leaves it blank (the staging model's rule). */
  sector: string;
}

export interface MembershipInput {
  index: string;
  ticker: string;
  from: string;
  to: string | null;
  weight: number | null;
}

export interface MarketInputs {
  /** Sorted by ticker, then date. */
  daily: DailyInput[];
  intraday: IntradayInput[];
  companies: Map<string, CompanyInput>;
  memberships: MembershipInput[];
}

/** Split one CSV line (double quotes, "" escapes). */
export function csvLine(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

async function csv(file: string): Promise<Record<string, string>[]> {
  const [head, ...lines] = (await Deno.readTextFile(FIXTURES + file)).trim().split(/\r?\n/);
  const cols = csvLine(head);
  return lines.map((l) => {
    const v = csvLine(l);
    return Object.fromEntries(cols.map((c, i) => [c, v[i] ?? ""]));
  });
}

/** Read the inputs with plain TypeScript (no warehouse involved). */
export async function readInputs(): Promise<MarketInputs> {
  const daily = (await csv("daily_bars.csv")).map((r) => ({
    ticker: r.ticker,
    date: r.trade_date,
    open: Number(r.open),
    high: Number(r.high),
    low: Number(r.low),
    close: Number(r.close),
    volume: Number(r.volume),
  })).sort((a, b) => a.ticker.localeCompare(b.ticker) || a.date.localeCompare(b.date));
  const intraday = (await csv("intraday_bars.csv")).map((r) => ({
    ticker: r.ticker,
    time: new Date(`${r.bar_start.replace(" ", "T")}Z`).toISOString(),
    date: r.trade_date,
    open: Number(r.open),
    high: Number(r.high),
    low: Number(r.low),
    close: Number(r.close),
    volume: Number(r.volume),
  }));
  const companies = new Map(
    (await csv("companies.csv")).map((r) => [r.ticker, {
      ticker: r.ticker,
      name: r.company_name.trim(),
      isin: r.isin === "" ? null : r.isin,
      sector: r.sector.trim() === "" ? "Unclassified" : r.sector.trim(),
    }]),
  );
  const memberships = (await csv("index_membership.csv")).map((r) => ({
    index: r.index_code,
    ticker: r.ticker,
    from: r.effective_from,
    to: r.effective_to === "" ? null : r.effective_to,
    weight: r.weight === "" ? null : Number(r.weight),
  }));
  return { daily, intraday, companies, memberships };
}

/**
 * Load the inputs into a new DuckDB file at `path` and build every model; with `docs`, also
 * generate the models' docs site into `<dir of path>/target/docs`.
 */
export async function buildMarketWarehouse(
  path: string,
  opts: { docs?: boolean } = {},
): Promise<void> {
  const config = loadConfig((k) => ({ EGX_WAREHOUSE: path } as Record<string, string>)[k]);
  const wh = await openWarehouse(config.warehouse);
  try {
    await wh.transaction(async (s) => {
      // The fixture lists its own indices (a migration may have seeded the real ones).
      await s.execute("DELETE FROM OPERATIONAL.TBL_INDEX");
      for (const [file, sql] of LOADS) await s.execute(sql, [FIXTURES + file]);
    });
    const dir = path.slice(0, path.lastIndexOf("/"));
    const project = await loadProject(".");
    const result = await runModels(wh, project, { asOf: AS_OF, targetDir: `${dir}/target` });
    const failed = result.results.filter((r) => r.status !== "success");
    if (failed.length > 0) {
      throw new Error(`models failed: ${failed.map((f) => `${f.name}: ${f.message}`).join("; ")}`);
    }
    if (opts.docs) await generateDocs(wh, project, { asOf: AS_OF, targetDir: `${dir}/target` });
  } finally {
    await wh.close();
  }
}

/** Daily rows of one ticker with the previous close, oldest first. */
export function withPrevClose(daily: readonly DailyInput[], ticker: string) {
  const rows = daily.filter((d) => d.ticker === ticker);
  return rows.map((r, i) => {
    const prevClose = i > 0 ? rows[i - 1].close : null;
    return {
      ...r,
      prevClose,
      changePct: prevClose !== null && prevClose > 0 ? (r.close / prevClose - 1) * 100 : null,
    };
  });
}

/**
 * A market warehouse for the web and alert tests, built the way the pipeline builds it: the
 * bundled sample (data/sample: real one-minute bars of 11 EGX stocks, the real company list, the
 * index lists) loaded by the real batch loader (lib/ingest), then the real models (lib/models)
 * run to build DWH_SILVER and DWH_GOLD (once per process, copied for each caller). The raw inputs
 * are returned too, read and aggregated independently in TypeScript (daily bars by Africa/Cairo
 * date), so tests can compute the values they expect without asking the warehouse.
 */
import { cp } from "node:fs/promises";
import { dirname } from "node:path";
import { loadConfig, SAMPLE_AS_OF, SAMPLE_DIR } from "../../lib/config/config.ts";
import { pendingObjects, runBatch } from "../../lib/ingest/batch.ts";
import { openLanding } from "../../lib/ingest/landing.ts";
import { generateDocs } from "../../lib/models/docs.ts";
import { loadProject } from "../../lib/models/project.ts";
import { runModels } from "../../lib/models/run.ts";
import { openWarehouse } from "../../lib/warehouse/warehouse.ts";

const SAMPLE = new URL(`../../${SAMPLE_DIR}/`, import.meta.url).pathname;

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

/** One bar of the one-minute files; `date` is its Cairo trade date. */
export interface IntradayInput extends DailyInput {
  /** UTC ISO instant. */
  time: string;
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
  const [head, ...lines] = (await Deno.readTextFile(SAMPLE + file)).trim().split(/\r?\n/);
  const cols = csvLine(head);
  return lines.map((l) => {
    const v = csvLine(l);
    return Object.fromEntries(cols.map((c, i) => [c, v[i] ?? ""]));
  });
}

const cairoDay = new Intl.DateTimeFormat("en-CA", {
  timeZone: "Africa/Cairo",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
});

/** Read the sample with plain TypeScript (no warehouse involved). */
export async function readInputs(): Promise<MarketInputs> {
  const intraday: IntradayInput[] = [];
  const files = [...Deno.readDirSync(`${SAMPLE}bars_1m`)].map((e) => e.name)
    .filter((n) => n.endsWith(".csv")).sort();
  for (const file of files) {
    const ticker = file.slice(0, -4);
    for (const r of await csv(`bars_1m/${file}`)) {
      const time = new Date(`${r.datetime.replace(" ", "T")}Z`);
      intraday.push({
        ticker,
        time: time.toISOString(),
        date: cairoDay.format(time),
        open: Number(r.open),
        high: Number(r.high),
        low: Number(r.low),
        close: Number(r.close),
        volume: Number(r.volume),
      });
    }
  }
  // Daily bars: first open, last close, extremes and total volume per ticker and Cairo date.
  const days = new Map<string, DailyInput>();
  for (const b of [...intraday].sort((x, y) => x.time.localeCompare(y.time))) {
    const key = `${b.ticker} ${b.date}`;
    const d = days.get(key);
    if (!d) days.set(key, { ...b });
    else {
      d.high = Math.max(d.high, b.high);
      d.low = Math.min(d.low, b.low);
      d.close = b.close;
      d.volume += b.volume;
    }
  }
  const daily = [...days.values()].map(({ ticker, date, open, high, low, close, volume }) => ({
    ticker,
    date,
    open,
    high,
    low,
    close,
    volume,
  })).sort((a, b) => a.ticker.localeCompare(b.ticker) || a.date.localeCompare(b.date));
  const companies = new Map((await csv("companies.csv")).map((r) => {
    const ticker = r.ticker.replace(/\.CA$/, ""); // the ticker rule: ACTF.CA is ACTF
    return [ticker, {
      ticker,
      name: r.company_name.trim(),
      isin: r.isin === "" ? null : r.isin,
      sector: r.sector.trim() === "" ? "Unclassified" : r.sector.trim(),
    }];
  }));
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
 * The bundled sample loaded into a new DuckDB file at `path` by the batch loader, with every
 * model built; with `docs`, the models' docs site too, in `<dir of path>/target/docs`. The
 * warehouse is built once per process and copied for each caller.
 */
export async function buildMarketWarehouse(
  path: string,
  opts: { docs?: boolean } = {},
): Promise<void> {
  built ??= buildOnce();
  const dir = await built;
  await Deno.copyFile(`${dir}/egx.duckdb`, path);
  if (opts.docs) {
    await cp(`${dir}/target/docs`, `${dirname(path)}/target/docs`, { recursive: true });
  }
}

let built: Promise<string> | undefined;

/** Build the warehouse and its docs in a temporary folder (removed when the process ends). */
async function buildOnce(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "egx-market-warehouse-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const config = loadConfig((k) =>
    ({ EGX_WAREHOUSE: `${dir}/egx.duckdb` } as Record<string, string>)[k]
  );
  const wh = await openWarehouse(config.warehouse);
  try {
    const landing = await openLanding(config.landing);
    const outcomes = await runBatch(wh, landing, await pendingObjects(wh, landing), {
      progress: false,
    });
    const failed = outcomes.filter((o) => o.status !== "LOADED");
    if (failed.length > 0) throw new Error(`batch load failed: ${JSON.stringify(failed)}`);
    const project = await loadProject(".");
    const result = await runModels(wh, project, { asOf: AS_OF, targetDir: `${dir}/target` });
    const bad = result.results.filter((r) => r.status !== "success");
    if (bad.length > 0) {
      throw new Error(`models failed: ${bad.map((f) => `${f.name}: ${f.message}`).join("; ")}`);
    }
    await generateDocs(wh, project, { asOf: AS_OF, targetDir: `${dir}/target` });
  } finally {
    await wh.close();
  }
  return dir;
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

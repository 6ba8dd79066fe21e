/**
 * The daily series alert rules are evaluated on: closes and volumes per ticker from the live
 * daily prices (the gold fact, overlaid with newer operational rows such as today's streamed
 * bar), and index levels from gold_fct_index_performance. Only as many days as the rules need.
 */
import { type Warehouse, WarehouseQueryError } from "../warehouse/warehouse.ts";
import type { DailyBar, SeriesSet } from "./evaluate.ts";
import type { Rule } from "./rules.ts";
import { ALERT_SQL as SQL } from "./sql.ts";

/** Days of history a rule needs: its window or look-back plus the day itself. */
export function daysNeeded(rule: Rule): number {
  switch (rule.kind) {
    case "ma_cross":
      return rule.window + 1;
    case "volume_spike":
      return rule.lookbackDays + 1;
    default:
      return 2;
  }
}

function group(rows: { key: string; bar: DailyBar }[]): Map<string, DailyBar[]> {
  const out = new Map<string, DailyBar[]>();
  for (const { key, bar } of rows) {
    const list = out.get(key) ?? [];
    list.push(bar);
    out.set(key, list);
  }
  return out;
}

/** Load the series `rules` need, up to `date` (default: everything). */
export async function loadSeries(
  wh: Warehouse,
  rules: readonly Rule[],
  opts: { date?: string; tickers?: readonly string[]; signal?: AbortSignal } = {},
): Promise<SeriesSet> {
  const stockRules = rules.filter((r) => r.kind !== "index_move");
  const indexRules = rules.filter((r) => r.kind === "index_move");
  const q = { signal: opts.signal, label: "alerts: series" };
  try {
    return await querySeries(wh, stockRules, indexRules, opts, q);
  } catch (e) {
    // A warehouse the models never built (a new file, or EGX_WAREHOUSE pointing astray): say
    // so, not the database's "Catalog Error ... does not exist" and the query's text.
    if (
      e instanceof WarehouseQueryError && /does not exist/i.test(e.message) &&
      /DWH_GOLD/i.test(e.message)
    ) {
      throw new Error(
        "the warehouse has no daily prices to evaluate: its gold models are not built " +
          "(DWH_GOLD missing); run the pipeline first (deno task run full_pipeline)",
        { cause: e },
      );
    }
    throw e;
  }
}

async function querySeries(
  wh: Warehouse,
  stockRules: readonly Rule[],
  indexRules: readonly Rule[],
  opts: { date?: string; tickers?: readonly string[] },
  q: { signal?: AbortSignal; label: string },
): Promise<SeriesSet> {
  let stocks = new Map<string, DailyBar[]>();
  if (stockRules.length > 0) {
    const days = Math.max(...stockRules.map(daysNeeded));
    const rows = await wh.query<
      { TICKER: string; TRADE_DATE: string; CLOSE: number; VOLUME: number | null }
    >(
      SQL.get("stock_series"),
      [opts.date ?? null, days],
      q,
    );
    const only = opts.tickers ? new Set(opts.tickers) : undefined;
    stocks = group(
      rows.filter((r) => !only || only.has(r.TICKER)).map((r) => ({
        key: r.TICKER,
        bar: {
          date: r.TRADE_DATE,
          close: r.CLOSE,
          volume: r.VOLUME === null ? null : Number(r.VOLUME),
        },
      })),
    );
  }
  let indices = new Map<string, DailyBar[]>();
  if (indexRules.length > 0 && !opts.tickers) {
    const rows = await wh.query<{ INDEX_CODE: string; TRADE_DATE: string; INDEX_LEVEL: number }>(
      SQL.get("index_series"),
      [opts.date ?? null, 2],
      q,
    );
    indices = group(rows.map((r) => ({
      key: r.INDEX_CODE,
      bar: { date: r.TRADE_DATE, close: r.INDEX_LEVEL, volume: 0 },
    })));
  }
  return { stocks, indices };
}

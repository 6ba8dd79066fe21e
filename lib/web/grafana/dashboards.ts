/**
 * Grafana dashboards for the same views as the built-in dashboard (market overview, ticker,
 * sectors, indices, pipeline health), reading our REST API through the Infinity data source
 * (provisioning/datasources/egx_api.yaml: base URL = EGX_API_URL, bearer token header).
 *
 * The JSON files in lib/web/grafana/dashboards/ are generated from this module by
 * `deno run --allow-write=lib/web/grafana lib/web/grafana/write_dashboards.ts`; a test checks
 * they are up to date and that every query URL is answered by the API with the selected fields.
 */

export const DATASOURCE = { type: "yesoreyeram-infinity-datasource", uid: "egx-api" };

export interface Column {
  selector: string;
  text: string;
  type: "string" | "number" | "timestamp";
}

export interface InfinityTarget {
  refId: string;
  datasource: typeof DATASOURCE;
  type: "json";
  parser: "backend";
  source: "url";
  format: "table" | "timeseries";
  /** Relative to the data source's base URL; may use dashboard variables. */
  url: string;
  url_options: { method: "GET"; data: "" };
  /** JSONata path to the rows inside the response, e.g. `data` or `data.stocks`. */
  root_selector: string;
  columns: Column[];
  filters: [];
}

type Panel = Record<string, unknown>;
type Dashboard = Record<string, unknown>;

const FROM = "${__from:date:YYYY-MM-DD}";
const TO = "${__to:date:YYYY-MM-DD}";

const col = (selector: string, text: string, type: Column["type"] = "string"): Column => ({
  selector,
  text,
  type,
});
const num = (selector: string, text: string) => col(selector, text, "number");
const time = (selector: string, text = "Time") => col(selector, text, "timestamp");

function target(
  refId: string,
  url: string,
  root: string,
  columns: Column[],
  format: InfinityTarget["format"] = "table",
): InfinityTarget {
  return {
    refId,
    datasource: DATASOURCE,
    type: "json",
    parser: "backend",
    source: "url",
    format,
    url,
    url_options: { method: "GET", data: "" },
    root_selector: root,
    columns,
    filters: [],
  };
}

interface Grid {
  x: number;
  y: number;
  w: number;
  h: number;
}

function panel(
  type: string,
  title: string,
  grid: Grid,
  targets: InfinityTarget[],
  extra: Panel = {},
): Panel {
  return {
    type,
    title,
    datasource: DATASOURCE,
    gridPos: grid,
    targets,
    fieldConfig: { defaults: {}, overrides: [] },
    options: {},
    ...extra,
  };
}

const table = (title: string, grid: Grid, t: InfinityTarget) => panel("table", title, grid, [t]);
const stat = (title: string, grid: Grid, t: InfinityTarget, color: string) =>
  panel("stat", title, grid, [t], {
    fieldConfig: { defaults: { color: { mode: "fixed", fixedColor: color } }, overrides: [] },
    options: { reduceOptions: { calcs: ["lastNotNull"], fields: "" }, colorMode: "value" },
  });
const lines = (title: string, grid: Grid, targets: InfinityTarget[], unit = "none") =>
  panel("timeseries", title, grid, targets, {
    fieldConfig: { defaults: { unit }, overrides: [] },
  });

const INDICES = ["EGX30", "EGX70_EWI", "EGX100_EWI"];

function indexLevelTargets(): InfinityTarget[] {
  return INDICES.map((code, i) =>
    target(
      String.fromCharCode(65 + i),
      `/api/v1/indices/performance?index=${code}&from=${FROM}&to=${TO}&limit=1000`,
      "data",
      [time("date"), num("level", code)],
      "timeseries",
    )
  );
}

const moverColumns = [
  col("ticker", "Ticker"),
  col("name", "Company"),
  num("close", "Close"),
  num("changePct", "Change %"),
  num("volume", "Volume"),
];

function dashboard(uid: string, title: string, panels: Panel[], extra: Dashboard = {}): Dashboard {
  return {
    uid,
    title,
    tags: ["egx"],
    timezone: "Africa/Cairo",
    schemaVersion: 41,
    version: 1,
    editable: true,
    refresh: "1m",
    time: { from: "now-1y", to: "now" },
    templating: { list: [] },
    links: [{ title: "EGX dashboards", type: "dashboards", tags: ["egx"], asDropdown: true }],
    panels: panels.map((p, i) => ({ id: i + 1, ...p })),
    ...extra,
  };
}

function market(): Dashboard {
  const snap = "/api/v1/market/snapshot";
  return dashboard("egx-market", "EGX · Market overview", [
    stat(
      "Advancers",
      { x: 0, y: 0, w: 4, h: 4 },
      target("A", snap, "data.breadth", [num("advancers", "Advancers")]),
      "green",
    ),
    stat(
      "Decliners",
      { x: 4, y: 0, w: 4, h: 4 },
      target("A", snap, "data.breadth", [num("decliners", "Decliners")]),
      "red",
    ),
    stat(
      "Unchanged",
      { x: 8, y: 0, w: 4, h: 4 },
      target("A", snap, "data.breadth", [num("unchanged", "Unchanged")]),
      "gray",
    ),
    stat(
      "Volume (shares)",
      { x: 12, y: 0, w: 6, h: 4 },
      target("A", snap, "data.totals", [num("volume", "Volume")]),
      "blue",
    ),
    stat(
      "Traded value (EGP)",
      { x: 18, y: 0, w: 6, h: 4 },
      target("A", snap, "data.totals", [num("value", "Value")]),
      "blue",
    ),
    lines("Index levels", { x: 0, y: 4, w: 24, h: 9 }, indexLevelTargets()),
    table(
      "Top gainers",
      { x: 0, y: 13, w: 8, h: 8 },
      target("A", "/api/v1/market/top-movers?direction=gainers&limit=10", "data", moverColumns),
    ),
    table(
      "Top losers",
      { x: 8, y: 13, w: 8, h: 8 },
      target("A", "/api/v1/market/top-movers?direction=losers&limit=10", "data", moverColumns),
    ),
    table(
      "Volume leaders",
      { x: 16, y: 13, w: 8, h: 8 },
      target("A", "/api/v1/market/volume-leaders?limit=10", "data", moverColumns),
    ),
    table(
      "All stocks",
      { x: 0, y: 21, w: 24, h: 12 },
      target("A", snap, "data.stocks", [
        col("ticker", "Ticker"),
        col("name", "Company"),
        col("sector", "Sector"),
        num("close", "Close"),
        num("prevClose", "Prev. close"),
        num("changePct", "Change %"),
        num("volume", "Volume"),
      ]),
    ),
  ]);
}

function ticker(): Dashboard {
  const daily = `/api/v1/prices/$ticker/daily?from=${FROM}&to=${TO}&limit=1000`;
  const indicators = `/api/v1/indicators/$ticker?from=${FROM}&to=${TO}&limit=1000`;
  return dashboard("egx-ticker", "EGX · Ticker detail", [
    panel("candlestick", "$ticker daily prices and volume", { x: 0, y: 0, w: 24, h: 12 }, [
      target("A", daily, "data", [
        time("date"),
        num("open", "open"),
        num("high", "high"),
        num("low", "low"),
        num("close", "close"),
        num("volume", "volume"),
      ], "timeseries"),
    ], {
      options: { mode: "candles+volume", candleStyle: "candles", colorStrategy: "open-close" },
    }),
    lines("Moving averages and Bollinger bands", { x: 0, y: 12, w: 24, h: 9 }, [
      target("A", indicators, "data", [
        time("date"),
        num("close", "close"),
        num("ma7", "MA 7"),
        num("ma30", "MA 30"),
        num("bbUpper", "BB upper"),
        num("bbLower", "BB lower"),
      ], "timeseries"),
    ]),
    lines("RSI (14)", { x: 0, y: 21, w: 12, h: 7 }, [
      target("A", indicators, "data", [time("date"), num("rsi14", "RSI 14")], "timeseries"),
    ]),
    lines("Intraday (latest day, Cairo time)", { x: 12, y: 21, w: 12, h: 7 }, [
      target("A", "/api/v1/prices/$ticker/intraday?limit=1000", "data", [
        time("time"),
        num("close", "close"),
      ], "timeseries"),
    ]),
  ], {
    templating: {
      list: [{
        name: "ticker",
        label: "Ticker",
        type: "query",
        datasource: DATASOURCE,
        refresh: 1,
        current: { text: "COMI", value: "COMI" },
        query: {
          queryType: "infinity",
          refId: "variable",
          infinityQuery: target("variable", "/api/v1/companies?hasPrices=true&limit=1000", "data", [
            col("ticker", "ticker"),
          ]),
        },
      }],
    },
  });
}

function sectors(): Dashboard {
  const url = "/api/v1/sectors/performance";
  return dashboard("egx-sectors", "EGX · Sector comparison", [
    panel("barchart", "Average change by sector (%)", { x: 0, y: 0, w: 12, h: 10 }, [
      target("A", url, "data", [col("sector", "Sector"), num("avgChangePct", "Avg change %")]),
    ], { options: { orientation: "horizontal", xField: "Sector" } }),
    table(
      "Sectors",
      { x: 12, y: 0, w: 12, h: 10 },
      target("A", url, "data", [
        col("sector", "Sector"),
        num("companies", "Stocks"),
        num("advancers", "Up"),
        num("decliners", "Down"),
        num("avgChangePct", "Avg change %"),
        num("medianChangePct", "Median change %"),
        num("volume", "Volume"),
      ]),
    ),
  ]);
}

function indices(): Dashboard {
  return dashboard("egx-indices", "EGX · Index performance", [
    lines("Index levels", { x: 0, y: 0, w: 24, h: 12 }, indexLevelTargets()),
    table(
      "Indices",
      { x: 0, y: 12, w: 24, h: 6 },
      target("A", "/api/v1/indices", "data", [
        col("code", "Index"),
        col("name", "Name"),
        col("weighting", "Weighting"),
        num("members", "Members"),
        col("lastDate", "Date"),
        num("level", "Level"),
        num("changePct", "Change %"),
      ]),
    ),
  ]);
}

function pipeline(): Dashboard {
  const health = "/api/v1/pipeline/health";
  return dashboard("egx-pipeline", "EGX · Pipeline health", [
    table(
      "Data freshness",
      { x: 0, y: 0, w: 12, h: 8 },
      target("A", health, "data.freshness", [
        col("dataset", "Data"),
        col("latest", "Latest"),
        num("ageHours", "Age (h)"),
        col("stale", "Stale"),
      ]),
    ),
    table(
      "Stream",
      { x: 12, y: 0, w: 12, h: 8 },
      target("A", health, "data.stream.partitions", [
        col("topic", "Topic"),
        num("partition", "Partition"),
        num("nextOffset", "Written up to"),
        num("lag", "Lag"),
        time("updatedAt", "Updated"),
      ]),
    ),
    panel("barchart", "Job durations, last run (ms)", { x: 0, y: 8, w: 12, h: 8 }, [
      target("A", health, "data.jobs", [col("job", "Job"), num("durationMs", "Duration ms")]),
    ], { options: { orientation: "horizontal", xField: "Job" } }),
    table(
      "Jobs",
      { x: 12, y: 8, w: 12, h: 8 },
      target("A", health, "data.jobs", [
        col("job", "Job"),
        col("status", "Status"),
        time("startedAt", "Started"),
        num("durationMs", "Duration ms"),
      ]),
    ),
    table(
      "Recent runs",
      { x: 0, y: 16, w: 12, h: 8 },
      target("A", health, "data.runs", [
        col("id", "Run"),
        col("target", "Target"),
        col("status", "Status"),
        time("startedAt", "Started"),
        num("durationMs", "Duration ms"),
      ]),
    ),
    table(
      "Recent alerts",
      { x: 12, y: 16, w: 12, h: 8 },
      target("A", "/api/v1/alerts?limit=50", "data", [
        col("date", "Date"),
        col("subject", "Subject"),
        col("ruleId", "Rule"),
        col("message", "Message"),
        time("triggeredAt", "Recorded"),
      ]),
    ),
  ]);
}

/** Every dashboard, by file name. */
export function grafanaDashboards(): Record<string, Dashboard> {
  return {
    "egx_market.json": market(),
    "egx_ticker.json": ticker(),
    "egx_sectors.json": sectors(),
    "egx_indices.json": indices(),
    "egx_pipeline.json": pipeline(),
  };
}

/** Every Infinity query of a dashboard (panels and variables). */
export function dashboardTargets(d: Dashboard): InfinityTarget[] {
  const panels = (d.panels as Panel[]).flatMap((p) => p.targets as InfinityTarget[]);
  const vars = (d.templating as { list: { query?: { infinityQuery?: InfinityTarget } }[] }).list
    .flatMap((v) => (v.query?.infinityQuery ? [v.query.infinityQuery] : []));
  return [...panels, ...vars];
}

/** The file text of a dashboard as committed. */
export function dashboardText(d: Dashboard): string {
  return JSON.stringify(d, null, 2) + "\n";
}

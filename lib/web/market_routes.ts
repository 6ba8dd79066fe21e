/**
 * Market-data endpoints over the gold layer (DWH_GOLD models and views) and the intraday bars.
 * The SQL (lib/web/api_queries.sql) names its output columns exactly as the JSON fields, so
 * rows pass through unchanged; this file validates input, binds it and paginates.
 */
import type { ApiDeps, ApiRequest, Endpoint, Param, Schema } from "./endpoint.ts";
import { pageInfo } from "./endpoint.ts";
import { API_SQL as SQL } from "./sql.ts";
import {
  BadRequestError,
  NotFoundError,
  type Page,
  parseChoice,
  parseCode,
  parseDate,
  parseInteger,
  parsePage,
  parseRange,
  parseText,
  parseTicker,
} from "./validate.ts";
import { isTradingDay } from "../market/calendar.ts";
import type { Row, SqlValue } from "../warehouse/warehouse.ts";
import { DATE_SCHEMA, int, list, nullable, num, obj, PARAMS, str } from "./api_schema.ts";

async function rows<T extends Row = Row>(
  deps: ApiDeps,
  name: string,
  params: readonly SqlValue[] = [],
): Promise<T[]> {
  return await deps.warehouse.query<T>(SQL.get(name), params, { label: `serve: ${name}` });
}

/** Count + one page of a query pair `<name>_count` / `<name>_page` sharing `params`. */
async function paged(
  req: ApiRequest,
  name: string,
  params: readonly SqlValue[],
  page: Page,
) {
  const [{ n }] = await rows<{ n: number }>(req.deps, `${name}_count`, params);
  const data = await rows(req.deps, `${name}_page`, [...params, page.limit, page.offset]);
  return { data, page: pageInfo(req.url, page, data.length, Number(n)) };
}

/** One page of a ticker's rows in a date range (`<name>_count` / `<name>_page`), oldest first. */
async function tickerRange(req: ApiRequest, name: string) {
  const range = parseRange(req.query);
  const page = parsePage(req.query, 1000); // every 400 before the lookup that may 404
  const ticker = await knownTicker(req);
  const params = [ticker, range.from ?? null, range.to ?? null];
  return paged(req, name, params, page);
}

/** `limit` of the top-N lists: 1-50, default 10. */
function topLimit(req: ApiRequest): number {
  return parseInteger(req.query.get("limit"), "limit", { min: 1, max: 50, fallback: 10 });
}

/** `q` for LIKE ... ESCAPE '!': escape the wildcards so user text matches literally. */
function likeText(q: string): string {
  return q.replace(/[!%_]/g, (c) => `!${c}`);
}

/** The upper-cased ticker when the company exists; 404 otherwise. */
async function knownTicker(req: ApiRequest): Promise<string> {
  const ticker = parseTicker(req.params.ticker);
  const found = await rows(req.deps, "company_exists", [ticker]);
  if (found.length === 0) {
    throw new NotFoundError(`unknown ticker ${ticker}: see /api/v1/companies for the list`);
  }
  return ticker;
}

/** The requested trade date, or the latest with data; 404 when that date has no data. */
async function marketDate(req: ApiRequest): Promise<string> {
  const raw = req.query.get("date");
  if (raw === undefined) {
    const [{ date }] = await rows<{ date: string | null }>(req.deps, "latest_trade_date");
    if (date === null) throw new NotFoundError("the warehouse holds no daily prices yet");
    return date;
  }
  const date = parseDate(raw, "date");
  const [{ n }] = await rows<{ n: number }>(req.deps, "trade_date_exists", [date]);
  if (Number(n) === 0) {
    const why = isTradingDay(date) ? "no data loaded for it" : "EGX did not trade that day";
    throw new NotFoundError(`no market data on ${date} (${why})`);
  }
  return date;
}

const COMPANY: Schema = obj({
  ticker: str(),
  name: str(),
  isin: nullable(str()),
  sector: str('GICS-style sector; "Unclassified" when unknown'),
  industry: nullable(str()),
  isActive: { type: "boolean" },
  indices: list(str("index code the company is a current member of")),
});

/** The dimension's comma-separated INDEX_CODES as a list. */
function withIndexList<T extends Row>(row: T): T {
  const raw = row.indices;
  return { ...row, indices: typeof raw === "string" && raw !== "" ? raw.split(",") : [] };
}

const VOLUME = nullable(int('shares traded; null when not known (an Investing.com export\'s "-")'));
/** A sum of volumes: of the known ones (null only when none is known). */
const VOLUME_SUM = nullable(int("shares traded, summed over the known volumes"));

const DAILY: Schema = obj({
  date: DATE_SCHEMA,
  open: num(),
  high: num(),
  low: num(),
  close: num(),
  volume: VOLUME,
  changePct: nullable(num("close vs the previous trading day's close, %")),
  live: {
    type: "boolean",
    description:
      "true: from the operational tables (e.g. the stream): not yet in the gold models, or changed since they were built",
  },
});

const INTRADAY: Schema = obj({
  time: str("bar start, UTC", { format: "date-time" }),
  date: DATE_SCHEMA,
  intervalMinutes: int(),
  open: num(),
  high: num(),
  low: num(),
  close: num(),
  volume: int(),
  source: str("BARS_1M (files) or STREAMING_API"),
});

const INDICATORS: Schema = obj({
  date: DATE_SCHEMA,
  close: num(),
  ma7: nullable(num("simple moving average, 7 days")),
  ma30: nullable(num("simple moving average, 30 days")),
  bbUpper: nullable(num("Bollinger band: 20-day average + 2 standard deviations")),
  bbMiddle: nullable(num()),
  bbLower: nullable(num()),
  ema12: nullable(num()),
  ema26: nullable(num()),
  macdLine: nullable(num()),
  macdSignal: nullable(num()),
  macdHistogram: nullable(num()),
  rsi14: nullable(num("Wilder's RSI, 14 days")),
  volumeAvg30: nullable(num()),
  volumeRatio: nullable(num()),
  trendSignal: str(),
  rsiSignal: str(),
  volumeSignal: str(),
  macdCross: str(),
});

const STOCK_ON_DAY: Schema = obj({
  ticker: str(),
  name: str(),
  sector: nullable(str()),
  close: num(),
  prevClose: nullable(num()),
  change: nullable(num()),
  changePct: nullable(num()),
  volume: VOLUME,
  value: nullable(num("estimated traded value, EGP (typical price x volume)")),
  live: {
    type: "boolean",
    description: "true: not yet in the gold models, or changed since (streamed today)",
  },
});

const SECTOR: Schema = obj({
  sector: str(),
  companies: int(),
  advancers: int(),
  decliners: int(),
  unchanged: int(),
  avgChangePct: nullable(num()),
  medianChangePct: nullable(num()),
  volume: VOLUME_SUM,
  value: nullable(num()),
});

const INDEX_LEVEL: Schema = obj({
  index: str(),
  date: DATE_SCHEMA,
  level: num("chained from the constituents' daily returns (gold_fct_index_performance)"),
  changePct: num(),
  members: int(),
  advancers: int(),
  decliners: int(),
  unchanged: int(),
  volume: VOLUME_SUM,
});

const BOOL = ["true", "false"] as const;
const DIRECTIONS = ["gainers", "losers"] as const;
const SOURCES = ["ANY", "BARS_1M", "STREAMING_API"] as const;

const RANKED_STOCK: Schema = {
  ...STOCK_ON_DAY,
  required: ["rank", ...(STOCK_ON_DAY.required as string[])],
  properties: { rank: int(), ...(STOCK_ON_DAY.properties as Record<string, Schema>) },
};

const tickerParam = PARAMS.ticker as Param;
const TICKER_RANGE: Param[] = [tickerParam, PARAMS.from, PARAMS.to, PARAMS.limit, PARAMS.offset];
const TOP_LIMIT: Param = {
  name: "limit",
  in: "query",
  description: "Rows, 1-50 (default 10)",
  schema: { type: "integer", minimum: 1, maximum: 50 },
};

export const marketEndpoints: Endpoint[] = [
  {
    id: "companies",
    path: "/api/v1/companies",
    summary: "Listed companies: search by ticker or name, filter by sector",
    tag: "companies",
    params: [
      {
        name: "q",
        in: "query",
        description: "Ticker prefix or part of the name",
        schema: { type: "string", maxLength: 60 },
      },
      {
        name: "sector",
        in: "query",
        description: "Exact sector (case-insensitive)",
        schema: { type: "string", maxLength: 80 },
      },
      {
        name: "hasPrices",
        in: "query",
        description: "true: only companies with daily prices",
        schema: { type: "string", enum: [...BOOL] },
      },
      PARAMS.limit,
      PARAMS.offset,
    ],
    data: list(COMPANY),
    paginated: true,
    cached: true,
    handle: async (req) => {
      const q = parseText(req.query.get("q"), "q");
      const sector = parseText(req.query.get("sector"), "sector", 80) ?? null;
      const hasPrices = parseChoice(req.query.get("hasPrices"), "hasPrices", BOOL, "false");
      const like = q === undefined ? null : likeText(q);
      const result = await paged(
        req,
        "companies",
        [like, like, like, sector, sector, hasPrices === "true"],
        parsePage(req.query),
      );
      return { ...result, data: result.data.map(withIndexList) };
    },
  },
  {
    id: "company",
    path: "/api/v1/companies/:ticker",
    summary: "One company, the span of its daily prices and its latest day",
    tag: "companies",
    params: [tickerParam],
    data: {
      ...COMPANY,
      required: [...(COMPANY.required as string[]), "firstDate", "lastDate", "latest"],
      properties: {
        ...(COMPANY.properties as Record<string, Schema>),
        firstDate: nullable(DATE_SCHEMA),
        lastDate: nullable(DATE_SCHEMA),
        latest: nullable(DAILY),
      },
    },
    notFound: true,
    cached: true,
    handle: async (req) => {
      const ticker = parseTicker(req.params.ticker);
      const [company] = await rows(req.deps, "company", [ticker]);
      if (!company) {
        throw new NotFoundError(`unknown ticker ${ticker}: see /api/v1/companies for the list`);
      }
      const [span] = await rows<{ firstDate: string | null; lastDate: string | null }>(
        req.deps,
        "company_span",
        [ticker],
      );
      const latest = span.lastDate
        ? (await rows(req.deps, "daily_on", [ticker, span.lastDate]))[0] ?? null
        : null;
      return { data: { ...withIndexList(company), ...span, latest } };
    },
  },
  {
    id: "dailyPrices",
    path: "/api/v1/prices/:ticker/daily",
    summary: "Daily OHLCV for a ticker and date range, oldest first (paginated)",
    tag: "prices",
    params: TICKER_RANGE,
    data: list(DAILY),
    paginated: true,
    notFound: true,
    cached: true,
    handle: (req) => tickerRange(req, "daily"),
  },
  {
    id: "intradayPrices",
    path: "/api/v1/prices/:ticker/intraday",
    summary: "Intraday bars for a ticker: one day (default the latest with bars) or a range",
    description: "Bars from files (BARS_1M) win over streamed bars for the same day unless " +
      "`source` says otherwise. Ranges are limited to 31 days; pages of up to 1000 bars.",
    tag: "prices",
    params: [
      tickerParam,
      {
        ...PARAMS.date,
        description: "One Cairo trade date (default: the latest with bars of `source`)",
      },
      PARAMS.from,
      PARAMS.to,
      {
        name: "source",
        in: "query",
        description: "BARS_1M, STREAMING_API or ANY (default: files first, then the stream)",
        schema: { type: "string", enum: [...SOURCES] },
      },
      PARAMS.limit,
      PARAMS.offset,
    ],
    data: list(INTRADAY),
    paginated: true,
    notFound: true,
    cached: true,
    handle: async (req) => {
      const q = req.query;
      if (q.get("date") !== undefined && (q.get("from") ?? q.get("to")) !== undefined) {
        throw new BadRequestError("give either date or from/to, not both");
      }
      let range = parseRange(q, { maxDays: 31 });
      if ((range.from === undefined) !== (range.to === undefined)) {
        throw new BadRequestError("from and to go together for intraday bars (at most 31 days)");
      }
      const source = parseChoice(q.get("source"), "source", SOURCES, "ANY");
      const day = q.get("date") === undefined ? undefined : parseDate(q.get("date")!, "date");
      const page = parsePage(q, 1000); // every 400 before the lookup that may 404
      const ticker = await knownTicker(req);
      if (day !== undefined) {
        range = { from: day, to: day };
      } else if (range.from === undefined) {
        const [{ date }] = await rows<{ date: string | null }>(req.deps, "intraday_latest_date", [
          ticker,
          source,
          source,
        ]);
        if (date === null) {
          return { data: [], page: pageInfo(req.url, page, 0, 0) };
        }
        range = { from: date, to: date };
      }
      const params = [ticker, range.from!, range.to!, source, source];
      const out = await paged(req, "intraday", params, page);
      // A day EGX did not trade is a 404, as for market/snapshot; a trading day without this
      // ticker's bars (it did not trade, or none loaded) is an empty list.
      if (day !== undefined && out.page.total === 0 && !isTradingDay(day)) {
        throw new NotFoundError(`no intraday bars on ${day} (EGX did not trade that day)`);
      }
      return out;
    },
  },
  {
    id: "indicators",
    path: "/api/v1/indicators/:ticker",
    summary: "Technical indicators from the gold daily fact (moving averages, RSI...)",
    tag: "prices",
    params: TICKER_RANGE,
    data: list(INDICATORS),
    paginated: true,
    notFound: true,
    cached: true,
    handle: (req) => tickerRange(req, "indicators"),
  },
  {
    id: "marketSnapshot",
    path: "/api/v1/market/snapshot",
    summary: "Every stock on a trade date with breadth and totals",
    tag: "market",
    params: [PARAMS.date],
    data: obj({
      date: DATE_SCHEMA,
      breadth: obj({
        advancers: int(),
        decliners: int(),
        unchanged: int(
          "change exactly 0; a stock without a previous close is in none of the three",
        ),
        total: int("every stock of the day, those without a previous close too"),
      }),
      totals: obj({ volume: int("shares traded, the known volumes"), value: num() }),
      stocks: list(STOCK_ON_DAY),
    }),
    notFound: true,
    cached: true,
    handle: async (req) => {
      const date = await marketDate(req);
      const stocks = await rows<
        { changePct: number | null; volume: number | null; value: number | null }
      >(
        req.deps,
        "snapshot",
        [date],
      );
      const breadth = { advancers: 0, decliners: 0, unchanged: 0, total: stocks.length };
      let volume = 0;
      let value = 0;
      for (const s of stocks) {
        if (s.changePct !== null) { // null: no previous close (a first day), so no change
          if (s.changePct > 0) breadth.advancers++;
          else if (s.changePct < 0) breadth.decliners++;
          else breadth.unchanged++;
        }
        volume += Number(s.volume ?? 0); // null: not known (not counted)
        value += s.value ?? 0;
      }
      return { data: { date, breadth, totals: { volume, value }, stocks } };
    },
  },
  {
    id: "topMovers",
    path: "/api/v1/market/top-movers",
    summary: "Biggest gainers or losers on a trade date",
    description: "Gainers are only stocks that rose, losers only stocks that fell: on a day " +
      "with fewer movers than `limit` the list is shorter (unchanged stocks are in neither).",
    tag: "market",
    params: [
      PARAMS.date,
      {
        name: "direction",
        in: "query",
        description: "gainers (default) or losers",
        schema: { type: "string", enum: [...DIRECTIONS] },
      },
      TOP_LIMIT,
    ],
    data: list(RANKED_STOCK),
    notFound: true,
    cached: true,
    handle: async (req) => {
      const direction = parseChoice(req.query.get("direction"), "direction", DIRECTIONS, "gainers");
      const limit = topLimit(req);
      const date = await marketDate(req);
      const name = direction === "gainers" ? "top_gainers" : "top_losers";
      return { data: await rows(req.deps, name, [date, limit]) };
    },
  },
  {
    id: "volumeLeaders",
    path: "/api/v1/market/volume-leaders",
    summary: "Most traded stocks (by shares) on a trade date",
    tag: "market",
    params: [PARAMS.date, TOP_LIMIT],
    data: list(RANKED_STOCK),
    notFound: true,
    cached: true,
    handle: async (req) => {
      const limit = topLimit(req);
      const date = await marketDate(req);
      return { data: await rows(req.deps, "volume_leaders", [date, limit]) };
    },
  },
  {
    id: "sectorPerformance",
    path: "/api/v1/sectors/performance",
    summary: "Per-sector breadth, average change and volume on a trade date",
    tag: "market",
    params: [PARAMS.date],
    data: list(SECTOR),
    notFound: true,
    cached: true,
    handle: async (req) => {
      const date = await marketDate(req);
      return { data: await rows(req.deps, "sector_performance", [date]) };
    },
  },
  {
    id: "indices",
    path: "/api/v1/indices",
    summary: "The indices (EGX30, EGX70 EWI, EGX100 EWI) with their latest level and members",
    tag: "indices",
    params: [],
    data: list(obj({
      code: str(),
      name: str(),
      weighting: str("CAP_WEIGHTED or EQUAL_WEIGHTED: the index's definition"),
      weightMethod: str(
        "how the level on lastDate was computed: EQUAL, LISTED_WEIGHTS, " +
          "LISTED_WEIGHTS_WITH_AVERAGE_FILL (members without a weight get the average), or " +
          "EQUAL_FALLBACK (a cap-weighted index without any listed weight, computed equal-weighted)",
      ),
      baseValue: num(),
      baseDate: DATE_SCHEMA,
      members: int("constituents on the latest day"),
      lastDate: DATE_SCHEMA,
      level: num("the level on lastDate"),
      changePct: num("the change on lastDate, %"),
    })),
    cached: true,
    handle: async (req) => ({ data: await rows(req.deps, "indices") }),
  },
  {
    id: "indexPerformance",
    path: "/api/v1/indices/performance",
    summary: "Daily index levels and changes, oldest first (paginated)",
    tag: "indices",
    params: [
      {
        name: "index",
        in: "query",
        description: "Index code, e.g. EGX30 (default: all)",
        schema: { type: "string" },
      },
      PARAMS.from,
      PARAMS.to,
      PARAMS.limit,
      PARAMS.offset,
    ],
    data: list(INDEX_LEVEL),
    paginated: true,
    notFound: true,
    cached: true,
    handle: async (req) => {
      const range = parseRange(req.query);
      const raw = req.query.get("index");
      const index = raw === undefined ? null : parseCode(raw, "index");
      const page = parsePage(req.query, 1000); // every 400 before the lookup that may 404
      if (index !== null && (await rows(req.deps, "index_exists", [index])).length === 0) {
        throw new NotFoundError(`unknown index ${index}: see /api/v1/indices`);
      }
      const params = [index, index, range.from ?? null, range.to ?? null];
      return paged(req, "index_performance", params, page);
    },
  },
];

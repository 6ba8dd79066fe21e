/**
 * The landing file formats batch_load recognises, told apart by their header line (and, for
 * per-ticker exports, the file name that carries the ticker). Each format names the SQL that
 * normalises and validates it (lib/ingest/sql) and the SQL that upserts its good rows.
 */

import { tickerCode } from "../market/ticker.ts";

export type FormatId =
  | "companies"
  | "index_membership"
  | "financials"
  | "screener"
  | "daily_canonical"
  | "daily_tradingview"
  | "daily_investing"
  | "bars_1m";

export interface FormatSpec {
  id: FormatId;
  /** What the file is, for messages. */
  title: string;
  /** Header columns (lower case) that must all be present. */
  required: readonly string[];
  /** Header columns that may be absent (added as blank). */
  optional: readonly string[];
  /**
   * How the ticker is taken from the file name, when the rows do not carry it: a code by the rule
   * of lib/market/ticker.ts (2-10 letters or digits starting with a letter; Yahoo's and
   * Investing.com's ".CA" after it is dropped), in upper case as EGX and the sites write it.
   */
  tickerFromName?: { pattern: RegExp; example: string };
  /**
   * For a chart export whose file name states its bar interval (`EGX_COMI, 1W.csv`): the
   * pattern capturing the interval and the intervals that are daily bars; any other is refused.
   */
  intervalFromName?: { pattern: RegExp; daily: readonly string[] };
  /** DATA_SOURCE written with the rows. */
  dataSource: string;
  /** SQL file (lib/ingest/sql) that reads the files into egx_raw_read (text or typed). */
  read: string;
  /** SQL files (lib/ingest/sql) that build egx_checked from egx_raw. */
  check: readonly string[];
  /** SQL files that upsert egx_checked's good rows, in order. */
  upsert: readonly string[];
  /** The natural key: columns of egx_checked that identify a row in its target table. */
  key: readonly string[];
  /** Load order within a batch: reference data (companies, indices) before what refers to it. */
  order: number;
}

const OHLC = ["open", "high", "low", "close"];

const FORMATS: readonly FormatSpec[] = [
  {
    id: "companies",
    title: "company list",
    required: ["ticker", "company_name", "isin", "sector"],
    optional: ["industry", "is_active"],
    dataSource: "COMPANY_LIST",
    read: "read_text.sql",
    check: ["companies.sql"],
    upsert: ["companies_upsert.sql"],
    key: ["ticker"],
    order: 0,
  },
  {
    id: "index_membership",
    title: "index constituent list",
    required: ["index_code", "ticker", "effective_from"],
    optional: ["effective_to", "weight"],
    dataSource: "INDEX_LIST",
    read: "read_text.sql",
    check: ["index_membership.sql"],
    upsert: ["index_membership_upsert.sql"],
    key: ["index_code", "ticker", "effective_from"],
    order: 1,
  },
  {
    id: "financials",
    title: "quarterly financials",
    required: ["ticker", "fiscal_year", "fiscal_quarter", "period_end"],
    optional: [
      "currency",
      "revenue",
      "gross_profit",
      "operating_income",
      "net_income",
      "total_assets",
      "total_liabilities",
      "total_equity",
      "operating_cash_flow",
      "shares_outstanding",
      "eps",
    ],
    dataSource: "FINANCIALS_CSV",
    read: "read_text.sql",
    check: ["financials.sql"],
    upsert: ["financials_upsert.sql"],
    key: ["ticker", "fiscal_year", "fiscal_quarter"],
    order: 2,
  },
  {
    id: "screener",
    title: "screener snapshot",
    required: ["ticker", "snapshot_date", "last_price"],
    optional: [
      "change_pct",
      "volume",
      "market_cap",
      "pe_ratio",
      "pb_ratio",
      "dividend_yield",
      "eps_ttm",
      "high_52w",
      "low_52w",
    ],
    dataSource: "SCREENER_CSV",
    read: "read_text.sql",
    check: ["screener.sql"],
    upsert: ["screener_upsert.sql"],
    key: ["ticker", "snapshot_date"],
    order: 2,
  },
  {
    id: "daily_canonical",
    title: "canonical daily OHLCV CSV",
    required: ["ticker", "trade_date", ...OHLC, "volume"],
    optional: [],
    dataSource: "BATCH_CSV",
    read: "read_daily_canonical.sql",
    check: ["daily_canonical.sql", "days.sql", "daily_check.sql"],
    upsert: ["daily_upsert.sql", "stock_price_merge.sql"],
    key: ["ticker", "trade_date"],
    order: 3,
  },
  {
    id: "daily_tradingview",
    title: "TradingView chart export",
    required: ["time", ...OHLC, "volume"],
    optional: [],
    tickerFromName: {
      pattern: /^(?:[A-Z]+_)?([A-Z][A-Z0-9]{1,9})(?:,|\s|\.csv$)/,
      example: "EGX_COMI, 1D.csv",
    },
    // TradingView names an export "<EXCHANGE>_<SYMBOL>, <interval>.csv": 1D or D is daily; 1W,
    // 1M, 60 (minutes), 1S ... are not, and would otherwise be stored as daily prices. Only what
    // follows the comma is an interval: a renamed "COMI 2024.csv" names a year, not 2024 minutes.
    intervalFromName: {
      pattern: /^(?:[A-Z]+_)?[A-Z][A-Z0-9]{1,9}\s*,\s*(\d+[A-Za-z]?|[A-Za-z])(?=[\s,._()-]|$)/,
      daily: ["1D", "D"],
    },
    dataSource: "TRADINGVIEW_EXPORT",
    read: "read_tradingview.sql",
    check: ["daily_tradingview.sql", "days.sql", "daily_check.sql"],
    upsert: ["daily_upsert.sql", "stock_price_merge.sql"],
    key: ["ticker", "trade_date"],
    order: 3,
  },
  {
    id: "daily_investing",
    title: "Investing.com historical data export",
    required: ["date", "price", ...OHLC.filter((c) => c !== "close"), "vol.", "change %"],
    optional: [],
    tickerFromName: {
      pattern: /^([A-Z][A-Z0-9]{1,9}(?:\.CA)?)(?:[\s_-]|\.csv$)/,
      example: "COMI Historical Data.csv",
    },
    dataSource: "INVESTING_EXPORT",
    read: "read_text.sql",
    check: ["daily_investing.sql", "days.sql", "daily_check.sql"],
    upsert: ["daily_upsert.sql", "stock_price_merge.sql"],
    key: ["ticker", "trade_date"],
    order: 3,
  },
  {
    id: "bars_1m",
    title: "one-minute bars",
    required: ["datetime", ...OHLC, "volume"],
    optional: [],
    tickerFromName: {
      pattern: /^([A-Z][A-Z0-9]{1,9}(?:\.CA)?)\.csv$/,
      example: "bars_1m/COMI.csv",
    },
    dataSource: "BARS_1M",
    read: "read_bars_1m.sql",
    check: ["bars_1m_norm.sql", "days.sql", "bars_1m.sql"],
    upsert: ["bars_1m_upsert.sql", "stock_price_merge.sql"],
    key: ["ticker", "bar_start"],
    order: 3,
  },
];

/** A file that is not one of the formats above, or whose name does not give its ticker. */
export class UnknownFormatError extends Error {
  override name = "UnknownFormatError";
}

/** Split a CSV header line (quotes allowed) into lower-case, trimmed column names. */
export function headerColumns(line: string): string[] {
  return headerFields(line).map((c) => c.trim().toLowerCase());
}

/** Split a CSV header line (quotes allowed) into its fields as written. */
function headerFields(line: string): string[] {
  const text = line.replace(/^\uFEFF/, "").replace(/\r$/, "");
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
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

/**
 * The names the CSV reader gives a file's columns (read_csv's `names`), in order. A column the
 * format reads: its name trimmed, as detected (the reader's own names keep a tab, "volume\t",
 * which the SQL would not find). Any other column keeps its name unless that could stand for a
 * name the SQL uses (DuckDB's rowid, the egx_* columns a load adds) or is blank or repeated
 * (names compare without case): then it is egx_extra_<position>. Extra columns are ignored.
 */
function readerNames(line: string, spec: FormatSpec): string[] {
  const used = new Set([...spec.required, ...spec.optional]);
  const seen = new Set<string>();
  return headerFields(line).map((field, i) => {
    const name = field.trim();
    const lower = name.toLowerCase();
    const own = used.has(lower) || (name !== "" && lower !== "rowid" &&
      !lower.startsWith("egx_") && !seen.has(lower));
    seen.add(lower);
    return own ? name : `egx_extra_${i + 1}`;
  });
}

export interface Detected {
  spec: FormatSpec;
  /** From the file name, for per-ticker formats. */
  ticker: string | null;
  /** Optional columns the file lacks (added blank before the SQL runs). */
  missingOptional: string[];
  /** The names the CSV reader gives the file's columns, in order (see readerNames). */
  readerNames: string[];
}

function describeExpected(): string {
  return FORMATS.map((f) => `${f.title} (${f.required.join(",")})`).join("; ");
}

/** Which format `key` (a landing key) with this header line is; throws UnknownFormatError. */
export function detectFormat(key: string, headerLine: string): Detected {
  // The header is the first line up to LF (its CR of a CRLF removed): a CR left in it is a file
  // whose lines end with CR alone (Excel for Mac's "CSV (Macintosh)"), so the "header" runs on
  // into the rows. Read so, its last column named something else (a file that failed as an
  // unknown format) or, when that column is optional, the load failed on a DuckDB catalog error
  // ('Column with name weight already exists!') that named neither the cause nor the fix.
  if (headerLine.replace(/\r$/, "").includes("\r")) {
    throw new UnknownFormatError(
      `${key}: its lines end with a carriage return (CR) alone, as "CSV (Macintosh)" writes ` +
        "them: save it with LF or CRLF line breaks",
    );
  }
  if (headerLine.trim() === "") {
    throw new UnknownFormatError(
      `${key}: the file is empty or its first line is blank: it must start with a header line, ` +
        `one of: ${describeExpected()}`,
    );
  }
  const cols = headerColumns(headerLine);
  const have = new Set(cols);
  const matches = FORMATS.filter((f) => f.required.every((c) => have.has(c)));
  // The most specific match wins (e.g. a screener file also has a "ticker" column).
  matches.sort((a, b) => b.required.length - a.required.length);
  const spec = matches[0];
  if (!spec) {
    throw new UnknownFormatError(
      `${key}: unknown file format: header ${JSON.stringify(headerLine.slice(0, 200))}; ` +
        `expected one of: ${describeExpected()}`,
    );
  }
  // DuckDB's reader renames a repeated column (close, close_1) and the checks read the first:
  // which of the two holds the values cannot be told, so the file fails. A repeated column the
  // format does not read (a chart export's indicator columns) is left alone.
  const used = new Set([...spec.required, ...spec.optional]);
  for (const col of used) {
    const at = cols.flatMap((c, i) => c === col ? [i + 1] : []);
    if (at.length > 1) {
      throw new UnknownFormatError(
        `${key}: the header names column "${col}" ${at.length} times (columns ` +
          `${at.join(", ")}): a ${spec.title} must name each of its columns once`,
      );
    }
  }
  let ticker: string | null = null;
  if (spec.tickerFromName) {
    const base = key.split("/").pop() ?? key;
    const m = spec.tickerFromName.pattern.exec(base);
    if (!m) {
      throw new UnknownFormatError(
        `${key}: a ${spec.title} must be named after its ticker, e.g. ` +
          `"${spec.tickerFromName.example}"`,
      );
    }
    // The code by the one ticker rule (ACTF.CA is ACTF): the pattern admits only what passes it.
    ticker = tickerCode(m[1])!;
    const interval = spec.intervalFromName?.pattern.exec(base)?.[1].toUpperCase();
    if (interval !== undefined && !spec.intervalFromName!.daily.includes(interval)) {
      throw new UnknownFormatError(
        `${key}: a ${spec.title} of interval ${interval} is not daily bars: only a daily ` +
          `export (interval ${spec.intervalFromName!.daily.join(" or ")}, e.g. ` +
          `"${spec.tickerFromName.example}") can be loaded`,
      );
    }
  }
  return {
    spec,
    ticker,
    missingOptional: spec.optional.filter((c) => !have.has(c)),
    readerNames: readerNames(headerLine, spec),
  };
}

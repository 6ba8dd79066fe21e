/** The ingestion SQL (DuckDB dialect), bundled as text modules so no read permission is needed. */
import bars_1m from "./sql/bars_1m.sql" with { type: "text" };
import bars_1m_norm from "./sql/bars_1m_norm.sql" with { type: "text" };
import bars_1m_upsert from "./sql/bars_1m_upsert.sql" with { type: "text" };
import companies from "./sql/companies.sql" with { type: "text" };
import companies_upsert from "./sql/companies_upsert.sql" with { type: "text" };
import daily_canonical from "./sql/daily_canonical.sql" with { type: "text" };
import daily_check from "./sql/daily_check.sql" with { type: "text" };
import daily_investing from "./sql/daily_investing.sql" with { type: "text" };
import daily_tradingview from "./sql/daily_tradingview.sql" with { type: "text" };
import daily_upsert from "./sql/daily_upsert.sql" with { type: "text" };
import days from "./sql/days.sql" with { type: "text" };
import financials from "./sql/financials.sql" with { type: "text" };
import financials_upsert from "./sql/financials_upsert.sql" with { type: "text" };
import index_membership from "./sql/index_membership.sql" with { type: "text" };
import index_membership_upsert from "./sql/index_membership_upsert.sql" with { type: "text" };
import load_log from "./sql/load_log.sql" with { type: "text" };
import load_log_failed from "./sql/load_log_failed.sql" with { type: "text" };
import number_lines from "./sql/number_lines.sql" with { type: "text" };
import number_lines_one from "./sql/number_lines_one.sql" with { type: "text" };
import number_lines_rejects from "./sql/number_lines_rejects.sql" with { type: "text" };
import prelude from "./sql/prelude.sql" with { type: "text" };
import quarantine from "./sql/quarantine.sql" with { type: "text" };
import quarantine_stale from "./sql/quarantine_stale.sql" with { type: "text" };
import read_bars_1m from "./sql/read_bars_1m.sql" with { type: "text" };
import read_daily_canonical from "./sql/read_daily_canonical.sql" with { type: "text" };
import read_text from "./sql/read_text.sql" with { type: "text" };
import read_tradingview from "./sql/read_tradingview.sql" with { type: "text" };
import reload_lines from "./sql/reload_lines.sql" with { type: "text" };
import screener from "./sql/screener.sql" with { type: "text" };
import screener_upsert from "./sql/screener_upsert.sql" with { type: "text" };
import stage_files from "./sql/stage_files.sql" with { type: "text" };
import stage_rejects from "./sql/stage_rejects.sql" with { type: "text" };
import stock_price_merge from "./sql/stock_price_merge.sql" with { type: "text" };

export const SQL: Readonly<Record<string, string>> = {
  "bars_1m.sql": bars_1m,
  "bars_1m_norm.sql": bars_1m_norm,
  "bars_1m_upsert.sql": bars_1m_upsert,
  "companies.sql": companies,
  "companies_upsert.sql": companies_upsert,
  "daily_canonical.sql": daily_canonical,
  "daily_check.sql": daily_check,
  "daily_investing.sql": daily_investing,
  "daily_tradingview.sql": daily_tradingview,
  "daily_upsert.sql": daily_upsert,
  "days.sql": days,
  "financials.sql": financials,
  "financials_upsert.sql": financials_upsert,
  "index_membership.sql": index_membership,
  "index_membership_upsert.sql": index_membership_upsert,
  "load_log.sql": load_log,
  "load_log_failed.sql": load_log_failed,
  "number_lines.sql": number_lines,
  "number_lines_one.sql": number_lines_one,
  "number_lines_rejects.sql": number_lines_rejects,
  "prelude.sql": prelude,
  "quarantine.sql": quarantine,
  "quarantine_stale.sql": quarantine_stale,
  "read_bars_1m.sql": read_bars_1m,
  "read_daily_canonical.sql": read_daily_canonical,
  "read_text.sql": read_text,
  "read_tradingview.sql": read_tradingview,
  "reload_lines.sql": reload_lines,
  "screener.sql": screener,
  "screener_upsert.sql": screener_upsert,
  "stage_files.sql": stage_files,
  "stage_rejects.sql": stage_rejects,
  "stock_price_merge.sql": stock_price_merge,
};

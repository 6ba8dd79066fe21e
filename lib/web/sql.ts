/**
 * The web layer's SQL files, parsed once: the API's statements (lib/web/api_queries.sql) and
 * the "live daily prices" fragment (lib/web/live_daily.sql: the gold daily fact overlaid with
 * operational rows of days the models have not built yet, or whose best row changed since the
 * build), shared by the API and the alerts.
 */
import { NamedSql } from "../warehouse/named_sql.ts";
import liveText from "./live_daily.sql" with { type: "text" };
import apiText from "./api_queries.sql" with { type: "text" };

export const LIVE_DAILY_SQL = new NamedSql(liveText, "lib/web/live_daily.sql");
export const API_SQL = new NamedSql(apiText, "lib/web/api_queries.sql", {
  includes: [LIVE_DAILY_SQL],
});

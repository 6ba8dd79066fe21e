/**
 * The alerts' SQL (lib/alerts/alert_queries.sql), parsed once: the store's statements and the
 * series the rules are evaluated on (which include the web layer's live daily prices).
 */
import { NamedSql } from "../warehouse/named_sql.ts";
import { LIVE_DAILY_SQL } from "../web/sql.ts";
import sqlText from "./alert_queries.sql" with { type: "text" };

export const ALERT_SQL = new NamedSql(sqlText, "lib/alerts/alert_queries.sql", {
  includes: [LIVE_DAILY_SQL],
});

/** The stream's SQL statements (the sink's and health_check's), kept in stream_queries.sql. */
import { NamedSql } from "../warehouse/named_sql.ts";
import text from "./stream_queries.sql" with { type: "text" };

export const SQL = new NamedSql(text, "lib/stream/stream_queries.sql");

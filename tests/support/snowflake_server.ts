/**
 * A local server speaking the Snowflake REST protocol for tests: fakesnow (PyPI) behind
 * fakesnow_json.py, which answers results in Snowflake's JSON format (what real Snowflake sends
 * the Node driver). Started once per test process, lazily, on a free port; stops when the test
 * process exits.
 *
 * What it can show: logins (password and key-pair JWT are accepted unchecked), DDL, DML row
 * counts, binds (single and array), transactions, and SELECT results; fakesnow runs every
 * statement through sqlglot's Snowflake dialect into DuckDB, so it is not Snowflake itself.
 */
import { validate } from "@polyglot-sql/sdk";
import type { WarehouseConfig } from "../../lib/config/config.ts";
import { type PythonServer, startPythonServer } from "./python_venv.ts";

let shared: Promise<PythonServer> | undefined;

function snowflakeServer(): Promise<PythonServer> {
  shared ??= startPythonServer(new URL("./fakesnow_json.py", import.meta.url).pathname);
  return shared;
}

/** A warehouse configuration for a fresh database on the test server. */
export async function snowflakeTestConfig(
  database = `EGX_TEST_${crypto.randomUUID().slice(0, 8).toUpperCase()}`,
): Promise<Extract<WarehouseConfig, { kind: "snowflake" }>> {
  const s = await snowflakeServer();
  return {
    kind: "snowflake",
    account: "egxtest",
    user: "egx_test",
    password: "test-password",
    database,
    warehouse: "EGX_WH",
    role: "EGX_ROLE",
    accessUrl: `http://127.0.0.1:${s.port}`,
  };
}

/** What a Snowflake-dialect parser finds wrong with `sql` (none = it parses as Snowflake SQL). */
export function snowflakeErrors(sql: string): string[] {
  return validate(sql, "snowflake").errors.filter((e) => e.severity === "error").map((e) =>
    `${e.message} at ${e.line}:${e.column} in: ${sql.replace(/\s+/g, " ").slice(0, 120)}`
  );
}

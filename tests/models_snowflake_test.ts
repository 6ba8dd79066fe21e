/**
 * The Snowflake side of "one SQL source for both warehouses": the models' Snowflake SQL sent
 * through the Snowflake implementation to a local Snowflake-protocol server (fakesnow, which
 * translates Snowflake SQL with sqlglot into its own DuckDB: an independent transpiler), and the
 * results compared with the DuckDB build of the same input (compiled by polyglot). Every
 * statement sent is checked with polyglot's Snowflake parser.
 *
 * fakesnow is not Snowflake: it lacks `ALTER TABLE ... SWAP WITH` and temporary tables outside
 * its temp schema, so only first builds (create + rename) are exercised here. stg_financials is
 * checked on the quarters of two currencies, with exact values.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Dialect, transpile } from "@polyglot-sql/sdk";
import { join } from "node:path";
import { definitionFingerprint } from "../lib/models/build_record.ts";
import { Compiler } from "../lib/models/compile.ts";
import { loadProject } from "../lib/models/project.ts";
import { runModels, type RunResult } from "../lib/models/run.ts";
import { runTests } from "../lib/models/test_run.ts";
import { SnowflakeWarehouse } from "../lib/warehouse/snowflake.ts";
import {
  inTransaction,
  type Row,
  type Session,
  type SqlValue,
  type Warehouse,
} from "../lib/warehouse/warehouse.ts";
import { AS_OF, FIXTURES, fixtureWarehouse, REPO } from "./models_fixture.ts";
import { snowflakeTestConfig } from "./support/snowflake_server.ts";

const SELECT = ["stg_companies", "stg_stock_prices_unified", "gold_fct_stock_daily_prices"];
const TICKERS = ["COMI", "ETEL"];

async function input(): Promise<{ companies: SqlValue[][]; bars: SqlValue[][] }> {
  const lines = (await Deno.readTextFile(FIXTURES + "daily_bars.csv")).trim().split("\n").slice(1);
  const bars = lines.map((l) => l.split(",")).filter((f) => TICKERS.includes(f[0])).map((f) => [
    f[0],
    f[1],
    "BARS_1M",
    Number(f[2]),
    Number(f[3]),
    Number(f[4]),
    Number(f[5]),
    Number(f[6]),
  ]);
  return { companies: [["COMI", "CIB", "Financials"], ["ETEL", "Telecom Egypt", null]], bars };
}

/**
 * Multi-row INSERT ... VALUES with bound parameters (not insertRows: the test server rejects an
 * array bind whose number column mixes whole and fractional values, e.g. 90 and 89.55).
 */
async function fill(wh: Warehouse): Promise<void> {
  const { companies, bars } = await input();
  const insert = async (table: string, cols: string[], rows: SqlValue[][]) => {
    const tuple = `(${cols.map(() => "?").join(", ")})`;
    for (let i = 0; i < rows.length; i += 100) {
      const chunk = rows.slice(i, i + 100);
      await wh.transaction((s) =>
        s.execute(
          `INSERT INTO ${table} (${cols.join(", ")}) VALUES ${chunk.map(() => tuple).join(", ")}`,
          chunk.flat(),
        )
      );
    }
  };
  await insert("OPERATIONAL.TBL_COMPANY", ["TICKER", "COMPANY_NAME", "SECTOR"], companies);
  await insert(
    "OPERATIONAL.TBL_STOCK_PRICE",
    ["TICKER", "TRADE_DATE", "DATA_SOURCE", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"],
    bars,
  );
}

const QUERY = "SELECT * FROM DWH_GOLD.GOLD_FCT_STOCK_DAILY_PRICES ORDER BY TICKER, TRADE_DATE";

Deno.test("the models' Snowflake SQL builds through the Snowflake driver and gives the DuckDB build's values", async () => {
  const sent: string[] = [];
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, {
    onStatement: (sql) => sent.push(sql),
    loginRetries: 0,
  });
  const duck = await fixtureWarehouse({ load: false });
  const target = await Deno.makeTempDir({ prefix: "egx_sf_models_" });
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    await fill(sf);
    await fill(duck.wh);
    const project = await loadProject(REPO);
    const first = sent.length;
    const r = await runModels(sf, project, { asOf: AS_OF, targetDir: target, select: SELECT });
    assert(r.ok, JSON.stringify(r.results.filter((x) => x.status !== "success")));
    assertEquals(r.target, "snowflake");
    assertEquals(r.results.map((x) => [x.name, x.rows]), [
      ["stg_companies", 2],
      ["stg_stock_prices_unified", 215],
      ["gold_fct_stock_daily_prices", 215],
    ]);
    // Every statement the engine sent parses as Snowflake SQL.
    for (const sql of sent.slice(first)) {
      const t = transpile(sql, Dialect.Snowflake, Dialect.Snowflake);
      assert(t.success, `${t.error}: ${sql.slice(0, 200)}`);
    }
    const d = await runModels(duck.wh, project, {
      asOf: AS_OF,
      targetDir: duck.targetDir,
      select: SELECT,
    });
    assert(d.ok);
    const a = await sf.query(QUERY);
    const b = await duck.wh.query(QUERY);
    assertEquals(a.length, 215);
    assertEquals(Object.keys(a[0]), Object.keys(b[0]));
    const diffs: string[] = [];
    for (let i = 0; i < a.length; i++) {
      for (const k of Object.keys(b[i]) as (keyof Row)[]) {
        // (A NULL double is null, not NaN: lib/warehouse/snowflake.ts, representNullAsStringNull.)
        const x = a[i][k];
        const y = b[i][k];
        if (k === "SOURCE_UPDATED_AT") continue; // load times differ between the two warehouses
        const same = typeof x === "number" && typeof y === "number"
          ? Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y))
          : x === y;
        if (!same) diffs.push(`${b[i].TICKER} ${b[i].TRADE_DATE} ${String(k)}: ${x} vs ${y}`);
      }
    }
    assertEquals(diffs, []);
  } finally {
    await sf.close();
    await duck.close();
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("stg_financials' Snowflake SQL leaves a TTM sum and a growth over two currencies NULL, as on DuckDB", async () => {
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, { loginRetries: 0 });
  const target = await Deno.makeTempDir({ prefix: "egx_sf_fin_" });
  try {
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    await sf.transaction((s) =>
      s.execute(
        `INSERT INTO OPERATIONAL.TBL_FINANCIAL (TICKER, FISCAL_YEAR, FISCAL_QUARTER, PERIOD_END,
           CURRENCY, REVENUE, NET_INCOME, SHARES_OUTSTANDING, DATA_SOURCE)
         VALUES ('COMI', 2024, 1, '2024-03-31', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2024, 2, '2024-06-30', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2024, 3, '2024-09-30', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2024, 4, '2024-12-31', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2025, 1, '2025-03-31', 'USD', 100, 20, 100, 'TEST')`,
      )
    );
    const project = await loadProject(REPO);
    const r = await runModels(sf, project, {
      asOf: AS_OF,
      targetDir: target,
      select: ["stg_financials"],
    });
    assert(r.ok, JSON.stringify(r.results.filter((x) => x.status !== "success")));
    const rows = await sf.query(
      `SELECT FISCAL_YEAR AS Y, FISCAL_QUARTER AS Q, REVENUE_TTM, EPS_TTM, REVENUE_GROWTH_YOY
       FROM DWH_SILVER.STG_FINANCIALS WHERE FISCAL_QUARTER IN (1, 4) ORDER BY Y, Q`,
    );
    assertEquals(rows.map((x) => [x.Y, x.Q, x.REVENUE_TTM, x.EPS_TTM, x.REVENUE_GROWTH_YOY]), [
      [2024, 1, null, null, null],
      [2024, 4, 20000, 40, null],
      [2025, 1, null, null, null],
    ]);
  } finally {
    await sf.close();
    await Deno.remove(target, { recursive: true });
  }
});

Deno.test("a model and a singular test ending in `;` build and run on Snowflake (the `;` is not wrapped into CREATE TABLE AS or the COUNT)", async () => {
  const cfg = await snowflakeTestConfig();
  const sf = await SnowflakeWarehouse.open(cfg, { loginRetries: 0 });
  const root = await Deno.makeTempDir({ prefix: "egx_sf_semi_" });
  const files: Record<string, string> = {
    "models/project.yml": "name: semi\nfolders:\n  staging: {schema: S1, materialized: table}\n",
    "models/staging/a.sql": "select 1 as X -- one row\n;\n",
    "models/tests/no_big_x.sql": "select * from {{ ref('a') }} where X > 1; -- done\n",
  };
  try {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(join(root, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(root, path), text);
    }
    await sf.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
    await sf.migrate();
    const project = await loadProject(root);
    const targetDir = join(root, "target");
    const r = await runModels(sf, project, { asOf: AS_OF, targetDir });
    assertEquals(r.results.map((x) => [x.name, x.status, x.rows, x.message]), [[
      "a",
      "success",
      1,
      undefined,
    ]]);
    const t = await runTests(sf, project, { asOf: AS_OF, targetDir, storeFailures: false });
    assertEquals(t.results.map((x) => [x.name, x.status, x.message]), [
      ["no_big_x", "pass", undefined],
    ]);
  } finally {
    await sf.close();
    await Deno.remove(root, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// The statements sent per target, in order, with the transaction's BEGIN and COMMIT: fakesnow
// (DuckDB underneath) keeps DDL inside a transaction, while Snowflake commits the open
// transaction at every DDL statement and runs the statements after it in autocommit. So these
// runs go to a recording warehouse (no server) that answers the engine's catalog queries, and
// the tests check which statements fall between BEGIN and COMMIT and that checks come before
// the real relation is touched.

const MINI_YML = "name: mini\nfolders:\n  staging: {schema: S1, materialized: table}\n";

/** A warehouse of `kind` that records every statement and answers the engine's reads. */
function recordingWarehouse(
  kind: "duckdb" | "snowflake",
  { relations, columns, fingerprints = {}, fail, nullKeys = 0, types = {} }: {
    relations: Record<string, "BASE TABLE" | "VIEW">;
    /** Columns by relation name (upper case). */
    columns: Record<string, string[]>;
    fingerprints?: Record<string, string>;
    /** NULLs in each key column of an incremental run's new rows. */
    nullKeys?: number;
    /** Column types by relation name (upper case), in the order of `columns`; default INTEGER. */
    types?: Record<string, string[]>;
    /** A statement for which this returns true fails (a SQL error). */
    fail?: (sql: string) => boolean;
  },
): Warehouse & { sent: string[] } {
  const sent: string[] = [];
  const run = (sql: string): Row[] => {
    sent.push(sql);
    if (fail?.(sql)) throw new Error(`SQL compilation error in: ${sql.split("\n")[0]}`);
    if (sql.includes("information_schema.tables")) {
      return Object.entries(relations).map(([name, type]) => ({
        SCHEMA_NAME: "S1",
        TABLE_NAME: name,
        TABLE_TYPE: type,
      }));
    }
    if (sql.includes("information_schema.columns")) {
      const name = /table_name\)? = (?:upper\()?'([^']+)'/.exec(sql)![1].toUpperCase();
      return (columns[name] ?? []).map((c, i) => ({
        COLUMN_NAME: c,
        DATA_TYPE: types[name]?.[i] ?? "INTEGER",
      }));
    }
    if (sql.startsWith("SELECT COUNT(*) - COUNT(")) {
      const n = sql.split(" FROM ")[0].match(/ AS N\d+/g)!.length;
      return [Object.fromEntries(Array.from({ length: n }, (_, i) => [`N${i}`, nullKeys]))];
    }
    if (sql.startsWith("SELECT RELATION_NAME, FINGERPRINT")) {
      return Object.entries(fingerprints).map(([k, f]) => ({ RELATION_NAME: k, FINGERPRINT: f }));
    }
    if (sql.startsWith("SELECT COUNT(*) AS FAILURES")) return [{ FAILURES: 2 }];
    if (sql.startsWith("SELECT COUNT(*)")) return [{ N: 3 }];
    return [];
  };
  const session: Session = {
    query: <T extends Row = Row>(sql: string) => Promise.resolve().then(() => run(sql) as T[]),
    execute: (sql: string) => Promise.resolve().then(() => (run(sql), 1)),
    insertRows: () => Promise.reject(new Error("not used")),
  };
  return {
    kind,
    sent,
    transaction: (fn, opts = {}) => inTransaction(session, fn, opts),
    query: <T extends Row = Row>(sql: string) => session.query<T>(sql),
    migrate: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  };
}

/** A statement shortened to what tells it apart: its first line, the catalog reads named. */
function short(sql: string): string {
  if (sql.includes("information_schema.columns")) {
    return `columns of ${/table_name\)? = (?:upper\()?'([^']+)'/.exec(sql)![1]}`;
  }
  if (sql.includes("information_schema.tables")) return "list relations";
  if (sql.includes("TBL_MODEL_BUILD")) return `build record: ${sql.split(" ")[0]}`;
  return sql.split("\n")[0].replace(/ AS$/, "");
}

/** The statements sent between BEGIN and COMMIT that are DDL (Snowflake commits on them). */
function ddlInTransaction(sent: string[]): string[] {
  const out: string[] = [];
  let open = false;
  for (const sql of sent) {
    if (sql === "BEGIN TRANSACTION") open = true;
    else if (sql === "COMMIT" || sql === "ROLLBACK") open = false;
    else if (open && /^\s*(CREATE|DROP|ALTER|TRUNCATE)\b/i.test(sql)) out.push(short(sql));
  }
  return out;
}

async function miniRun(
  kind: "duckdb" | "snowflake",
  models: Record<string, string>,
  wh: (fp: (name: string) => string) => Warehouse & { sent: string[] },
): Promise<{ sent: string[]; results: RunResult["results"] }> {
  const root = await Deno.makeTempDir({ prefix: "egx_sf_seq_" });
  try {
    await Deno.mkdir(join(root, "models/staging"), { recursive: true });
    await Deno.writeTextFile(join(root, "models/project.yml"), MINI_YML);
    for (const [name, sql] of Object.entries(models)) {
      await Deno.writeTextFile(join(root, `models/staging/${name}.sql`), sql);
    }
    const project = await loadProject(root);
    const compiler = new Compiler(project, { target: kind, asOf: AS_OF, write: false });
    const w = wh((name) => definitionFingerprint(compiler, project.models.get(name)!));
    const r = await runModels(w, project, { asOf: AS_OF, targetDir: join(root, "target") });
    return { sent: w.sent.map(short), results: r.results };
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const INC = (key = "ID") =>
  `/*---\nmaterialized: incremental\nunique_key: ${key}\n---*/\nselect 1 as ID, 7 as V`;

Deno.test("Snowflake incremental merge: the temporary table and the column checks before BEGIN, DELETE and INSERT with the build record in one transaction, the DROP after COMMIT", async () => {
  const setup = ["CREATE SCHEMA IF NOT EXISTS S1", "BEGIN TRANSACTION", "COMMIT"];
  const reads = [
    "list relations",
    "SELECT RELATION_NAME, FINGERPRINT FROM OPERATIONAL.TBL_MODEL_BUILD",
  ]
    .map(short);
  const sf = await miniRun("snowflake", { inc: INC() }, (fp) =>
    recordingWarehouse("snowflake", {
      relations: { INC: "BASE TABLE" },
      columns: { INC: ["ID", "V"], INC__EGX_NEW: ["ID", "V"] },
      fingerprints: { "S1.INC": fp("inc") },
    }));
  assertEquals(sf.results.map((r) => [r.status, r.mode]), [["success", "incremental"]]);
  assertEquals(sf.sent, [
    ...setup,
    ...reads,
    "CREATE OR REPLACE TEMPORARY TABLE S1.inc__egx_new",
    "columns of inc__egx_new",
    "columns of inc",
    "SELECT COUNT(*) - COUNT(ID) AS N0 FROM S1.inc__egx_new",
    "BEGIN TRANSACTION",
    "DELETE FROM S1.inc WHERE ID IN (SELECT ID FROM S1.inc__egx_new)",
    "INSERT INTO S1.inc (ID, V) SELECT ID, V FROM S1.inc__egx_new",
    "build record: DELETE",
    "build record: INSERT",
    "COMMIT",
    "DROP TABLE S1.inc__egx_new",
  ]);
  // DuckDB (DDL transactional): unchanged, everything in the one transaction.
  const duck = await miniRun("duckdb", { inc: INC() }, (fp) =>
    recordingWarehouse("duckdb", {
      relations: { inc: "BASE TABLE" },
      columns: { INC: ["ID", "V"], INC__EGX_NEW: ["ID", "V"] },
      fingerprints: { "S1.INC": fp("inc") },
    }));
  assertEquals(duck.results.map((r) => [r.status, r.mode]), [["success", "incremental"]]);
  assertEquals(duck.sent, [
    "BEGIN TRANSACTION",
    "CREATE SCHEMA IF NOT EXISTS S1",
    "COMMIT",
    ...reads,
    "BEGIN TRANSACTION",
    "DROP TABLE IF EXISTS inc__egx_new",
    "CREATE TEMP TABLE inc__egx_new",
    "columns of inc__egx_new",
    "columns of inc",
    "SELECT COUNT(*) - COUNT(ID) AS N0 FROM inc__egx_new",
    "DELETE FROM S1.inc WHERE ID IN (SELECT ID FROM inc__egx_new)",
    "INSERT INTO S1.inc (ID, V) SELECT ID, V FROM inc__egx_new",
    "DROP TABLE inc__egx_new",
    "build record: DELETE",
    "build record: INSERT",
    "COMMIT",
  ]);
});

/** What a full rebuild of the incremental model `inc` sends on Snowflake (after its set-up). */
const INC_FULL_REBUILD = [
  "CREATE OR REPLACE TABLE S1.inc__egx_tmp",
  "columns of inc__egx_tmp",
  "SELECT COUNT(*) - COUNT(ID) AS N0 FROM S1.inc__egx_tmp",
  "ALTER TABLE S1.inc SWAP WITH S1.inc__egx_tmp",
  "DROP TABLE S1.inc__egx_tmp",
  "BEGIN TRANSACTION",
  "SELECT COUNT(*) AS N FROM S1.inc",
  "build record: DELETE",
  "build record: INSERT",
  "COMMIT",
];

Deno.test("Snowflake incremental run: the NULL-key count and the column types are checked on the new rows before BEGIN (a NULL key sends nothing after the count, a type change rebuilds in full)", async () => {
  const wh =
    (extra: { nullKeys?: number; types?: Record<string, string[]> }) =>
    (fp: (n: string) => string) =>
      recordingWarehouse("snowflake", {
        relations: { INC: "BASE TABLE" },
        columns: { INC: ["ID", "V"], INC__EGX_NEW: ["ID", "V"], INC__EGX_TMP: ["ID", "V"] },
        fingerprints: { "S1.INC": fp("inc") },
        ...extra,
      });
  const nulls = await miniRun("snowflake", { inc: INC() }, wh({ nullKeys: 2 }));
  assertEquals(nulls.results.map((r) => r.status), ["error"]);
  assert(
    nulls.results[0].message!.includes(
      "unique_key/replace_by NULL in new rows of inc: ID (2 rows)",
    ),
    nulls.results[0].message,
  );
  assertEquals(nulls.sent.slice(5), [
    "CREATE OR REPLACE TEMPORARY TABLE S1.inc__egx_new",
    "columns of inc__egx_new",
    "columns of inc",
    "SELECT COUNT(*) - COUNT(ID) AS N0 FROM S1.inc__egx_new",
  ]);
  const retyped = await miniRun(
    "snowflake",
    { inc: INC() },
    wh({ types: { INC__EGX_NEW: ["INTEGER", "DOUBLE"] } }),
  );
  assertEquals(retyped.results.map((r) => [r.status, r.mode, r.reason]), [
    ["success", "full-refresh", "column types changed: V DOUBLE (was INTEGER)"],
  ]);
  assertEquals(retyped.sent.slice(5), [
    "CREATE OR REPLACE TEMPORARY TABLE S1.inc__egx_new",
    "columns of inc__egx_new",
    "columns of inc",
    ...INC_FULL_REBUILD,
  ]);
});

Deno.test("Snowflake table rebuild: the key check runs on __egx_tmp before the swap (a failed check leaves the old table), only DML in the transaction", async () => {
  const wh = (fp: (n: string) => string, nullKeys = 0) =>
    recordingWarehouse("snowflake", {
      relations: { INC: "BASE TABLE" },
      columns: { INC: ["ID", "V"], INC__EGX_TMP: ["ID", "V"] },
      fingerprints: { "S1.INC": fp("inc") + "-older" }, // definition changed: full rebuild
      nullKeys,
    });
  const ok = await miniRun("snowflake", { inc: INC() }, wh);
  assertEquals(ok.results.map((r) => [r.status, r.mode]), [["success", "full-refresh"]]);
  assertEquals(ok.sent.slice(5), INC_FULL_REBUILD);
  const bad = await miniRun("snowflake", { inc: INC("NOPE") }, wh);
  assertEquals(bad.results.map((r) => r.status), ["error"]);
  assert(bad.results[0].message!.includes("unique_key/replace_by NOPE: not a column of inc"));
  // Nothing touched S1.inc, and no transaction was started.
  assertEquals(bad.sent.slice(5), [
    "CREATE OR REPLACE TABLE S1.inc__egx_tmp",
    "columns of inc__egx_tmp",
  ]);
  // A NULL key in the new table: refused before the swap (the next incremental run would fail).
  const nulls = await miniRun("snowflake", { inc: INC() }, (fp) => wh(fp, 2));
  assertEquals(nulls.results.map((r) => r.status), ["error"]);
  assert(
    nulls.results[0].message!.includes(
      "unique_key/replace_by NULL in new rows of inc: ID (2 rows); a NULL key matches no row",
    ),
  );
  assertEquals(nulls.sent.slice(5), [
    "CREATE OR REPLACE TABLE S1.inc__egx_tmp",
    "columns of inc__egx_tmp",
    "SELECT COUNT(*) - COUNT(ID) AS N0 FROM S1.inc__egx_tmp",
  ]);
});

Deno.test("Snowflake table -> view: the view is created (its SQL checked) before the table is dropped; a SQL error leaves the table", async () => {
  const VIEW = "/*---\nmaterialized: view\n---*/\nselect 1 as ID";
  const wh = (fail?: (sql: string) => boolean) => () =>
    recordingWarehouse("snowflake", { relations: { VW: "BASE TABLE" }, columns: {}, fail });
  const ok = await miniRun("snowflake", { vw: VIEW }, wh());
  assertEquals(ok.results.map((r) => [r.status, r.mode]), [["success", "view"]]);
  assertEquals(ok.sent.slice(4), [
    "CREATE OR REPLACE VIEW S1.vw__egx_view",
    "DROP TABLE S1.vw",
    "ALTER VIEW S1.vw__egx_view RENAME TO S1.vw",
    "BEGIN TRANSACTION",
    "build record: DELETE",
    "build record: INSERT",
    "COMMIT",
  ]);
  const bad = await miniRun("snowflake", { vw: VIEW }, wh((sql) => sql.includes("VIEW")));
  assertEquals(bad.results.map((r) => r.status), ["error"]);
  assertEquals(bad.sent.slice(4), ["CREATE OR REPLACE VIEW S1.vw__egx_view"]);
});

Deno.test("Snowflake: no DDL statement is ever sent between BEGIN and COMMIT by a models run (first builds, rebuilds, merges, switches)", async () => {
  const models = {
    inc: INC(),
    tbl: "select 1 as ID",
    vw: "/*---\nmaterialized: view\n---*/\nselect 1 as ID",
    was_view: "select 2 as ID",
  };
  for (
    const relations of [
      {},
      { INC: "BASE TABLE", TBL: "BASE TABLE", VW: "BASE TABLE", WAS_VIEW: "VIEW" },
      { INC: "BASE TABLE", TBL: "BASE TABLE", VW: "VIEW", WAS_VIEW: "BASE TABLE" },
    ] as Record<string, "BASE TABLE" | "VIEW">[]
  ) {
    for (const merge of [false, true]) {
      const r = await miniRun("snowflake", models, (fp) =>
        recordingWarehouse("snowflake", {
          relations,
          columns: {
            INC: ["ID", "V"],
            INC__EGX_NEW: ["ID", "V"],
            INC__EGX_TMP: ["ID", "V"],
          },
          fingerprints: merge ? { "S1.INC": fp("inc") } : {},
        }));
      assert(r.results.every((x) => x.status === "success"), JSON.stringify(r.results));
      assertEquals(ddlInTransaction(r.sent), [], JSON.stringify(r.sent));
    }
  }
});

Deno.test("Snowflake models_test: the failing-rows tables and TEST_RESULTS' DDL before BEGIN, only its DELETE and INSERT in the transaction", async () => {
  const root = await Deno.makeTempDir({ prefix: "egx_sf_seq_" });
  try {
    await Deno.mkdir(join(root, "models/staging"), { recursive: true });
    await Deno.writeTextFile(join(root, "models/project.yml"), MINI_YML);
    await Deno.writeTextFile(join(root, "models/staging/a.sql"), "select 1 as N");
    await Deno.writeTextFile(
      join(root, "models/staging/_t.yml"),
      "models:\n  - name: a\n    columns:\n      - name: N\n        tests: [not_null]\n",
    );
    const project = await loadProject(root);
    for (const kind of ["snowflake", "duckdb"] as const) {
      const wh = recordingWarehouse(kind, { relations: { a: "BASE TABLE" }, columns: {} });
      const r = await runTests(wh, project, { asOf: AS_OF, targetDir: join(root, "target") });
      assertEquals(r.results.map((x) => [x.name, x.status]), [["not_null_a_n", "fail"]]);
      // After the check that the model is built and the test query in its transaction:
      assertEquals(wh.sent.map(short).slice(0, 2), ["list relations", "BEGIN TRANSACTION"]);
      const store = wh.sent.map(short).slice(4).map((x) => x.slice(0, 40));
      const ddl = [
        "CREATE SCHEMA IF NOT EXISTS DWH_AUDIT",
        "list relations",
        "CREATE OR REPLACE TABLE DWH_AUDIT.not_nu",
        "CREATE TABLE IF NOT EXISTS DWH_AUDIT.TES",
      ];
      const dml = [
        "DELETE FROM DWH_AUDIT.TEST_RESULTS",
        "INSERT INTO DWH_AUDIT.TEST_RESULTS (TEST",
      ];
      assertEquals(
        store,
        kind === "snowflake"
          ? [...ddl, "BEGIN TRANSACTION", ...dml, "COMMIT"]
          : ["BEGIN TRANSACTION", ...ddl, ...dml, "COMMIT"],
      );
      if (kind === "snowflake") assertEquals(ddlInTransaction(wh.sent), []);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

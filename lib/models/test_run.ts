/**
 * `models_test`: run the data tests, store the failing rows of each failing test in
 * `<failures schema>.<test name>` (at most FAILURE_ROWS rows, replaced every run, dropped once
 * the test passes), record every result in `<failures schema>.TEST_RESULTS` (the latest per
 * test), the run in `target/test_results.json` and the latest result of every test in
 * `target/test_status.json`. A full run (no selection) also forgets the results and failing
 * rows of tests the project no longer has. Error-severity failures fail the run; warnings are
 * reported.
 */
import { join } from "node:path";
import type { Session, SqlValue, Warehouse } from "../warehouse/warehouse.ts";
import { Compiler, type Target } from "./compile.ts";
import { buildGraph } from "./dag.ts";
import { collectTests, compileTest, type DataTest, testDependencies } from "./data_tests.ts";
import { errorLines, formatPos, ModelError, warehouseMessage } from "./errors.ts";
import { relationsQuery } from "./materialize.ts";
import type { Project } from "./project.ts";
import { writeJson } from "./run.ts";
import { SelectionError, selectModels } from "./select.ts";

export const FAILURE_ROWS = 1000;

export type TestStatus = "pass" | "fail" | "warn" | "error";

export interface TestResult {
  name: string;
  kind: DataTest["kind"];
  severity: DataTest["severity"];
  attachedTo: string;
  column?: string;
  description: string;
  status: TestStatus;
  /** Failing rows (0 when passing). */
  failures: number;
  durationMs: number;
  message?: string;
  compiledPath?: string;
  /** Where the failing rows were stored. */
  failuresRelation?: string;
  /** Not run: the relations of the models it reads that this warehouse has not built. */
  notBuilt?: string[];
  file: string;
  line: number;
}

export interface TestRunResult {
  target: Target;
  asOf: string;
  startedAt: string;
  durationMs: number;
  results: TestResult[];
  counts: Record<TestStatus, number>;
  /** False when an error-severity test failed or any test could not run. */
  ok: boolean;
  /** Every statement executed, in order (the benchmark replays them). */
  statements: string[];
  /** Bound parameters of some statements, by index in `statements`. */
  parameters: Record<number, SqlValue[]>;
}

export interface TestOptions {
  asOf: Date;
  /** Model selectors: run the tests of these models (default: every test). */
  select?: string[];
  /** Only the tests with these names. */
  names?: string[];
  signal?: AbortSignal;
  targetDir?: string;
  /** Store failing rows and TEST_RESULTS in the warehouse (default true). */
  storeFailures?: boolean;
  log?: (line: string) => void;
}

/** Pick the tests to run. */
export function selectTests(project: Project, tests: DataTest[], opts: TestOptions): DataTest[] {
  let out = tests;
  if (opts.select && opts.select.length > 0) {
    const chosen = new Set(selectModels(project, buildGraph(project), { select: opts.select }));
    out = out.filter((t) => testDependencies(t).models.some((m) => chosen.has(m)));
  }
  if (opts.names && opts.names.length > 0) {
    const unknown = opts.names.filter((n) => !tests.some((t) => t.name === n));
    if (unknown.length > 0) throw new SelectionError(`no such test: ${unknown.join(", ")}`);
    out = out.filter((t) => opts.names!.includes(t.name));
  }
  return out;
}

export async function runTests(
  wh: Warehouse,
  project: Project,
  opts: TestOptions,
): Promise<TestRunResult> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const log = opts.log ?? (() => {});
  const target: Target = wh.kind;
  const compiler = new Compiler(project, { target, asOf: opts.asOf, targetDir: opts.targetDir });
  const tests = selectTests(project, collectTests(project, opts.asOf), opts);
  const statements: string[] = [];
  const parameters: Record<number, SqlValue[]> = {};
  const results: TestResult[] = [];
  const compiled = new Map<string, { sql: string; path: string }>();
  for (const t of tests) {
    try {
      compiled.set(t.name, await compileTest(compiler, t));
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
      results.push(resultOf(t, "error", 0, 0, e.message));
    }
  }
  // A test of a model this warehouse has not built is not run: one reason, said once, instead
  // of the engine's catalog error for each test (a warehouse the models never ran on has ~90).
  const unbuilt = await unbuiltModels(wh, project, tests, opts.signal);
  const runnable = tests.filter((t) => {
    if (!compiled.has(t.name)) return false;
    const missing = testDependencies(t).models.filter((m) => unbuilt.has(m));
    if (missing.length === 0) return true;
    const which = missing.map((m) => unbuilt.get(m)).join(", ");
    results.push({
      ...resultOf(t, "error", 0, 0, `${formatPos(t.pos)}: not run: ${which} not built`),
      notBuilt: missing.map((m) => unbuilt.get(m)!),
    });
    return false;
  });
  // All counts in as few transactions as possible (each one opens the DuckDB file); a failing
  // query aborts its transaction, so the rest continue in a fresh one.
  let next = 0;
  while (next < runnable.length) {
    await wh.transaction(async (s) => {
      while (next < runnable.length) {
        opts.signal?.throwIfAborted();
        const t = runnable[next++];
        const c = compiled.get(t.name)!;
        const sql = `SELECT COUNT(*) AS FAILURES FROM (\n${c.sql}\n) AS failing_rows`;
        statements.push(sql);
        const s0 = performance.now();
        try {
          const [row] = await s.query<{ FAILURES: number }>(sql);
          const n = Number(row.FAILURES);
          const status = n === 0 ? "pass" : t.severity === "warn" ? "warn" : "fail";
          results.push({ ...resultOf(t, status, n, performance.now() - s0), compiledPath: c.path });
        } catch (e) {
          const r = resultOf(
            t,
            "error",
            0,
            performance.now() - s0,
            await runError(e, t, project, { statement: sql, compiled: c }),
          );
          results.push({ ...r, compiledPath: c.path });
          throw new Restart();
        }
      }
    }, { signal: opts.signal, label: "models_test" }).catch((e) => {
      if (!(e instanceof Restart)) throw e;
    });
  }
  const order = new Map(tests.map((t, i) => [t.name, i]));
  results.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  // A full run holds a result for every test of the project: anything else recorded is stale.
  const full = !opts.select?.length && !opts.names?.length;
  if (opts.storeFailures ?? true) {
    await storeResults(wh, project, results, compiled, { statements, parameters }, {
      ...opts,
      full,
    });
  }
  for (const r of results) {
    const tag = { pass: "PASS", fail: "FAIL", warn: "WARN", error: "ERROR" }[r.status];
    if (r.notBuilt) continue; // told once, below
    if (r.status === "pass") log(`${tag.padEnd(5)} ${r.name}`);
    else {
      const where = r.failuresRelation ? ` (rows in ${r.failuresRelation})` : "";
      const what = r.status === "error" ? r.message : `${r.failures} failing row(s)${where}`;
      log(`${tag.padEnd(5)} ${r.name}: ${what}`);
    }
  }
  const notRun = results.filter((r) => r.notBuilt);
  if (notRun.length > 0) {
    const relations = [...new Set(notRun.flatMap((r) => r.notBuilt!))].sort();
    log(
      `ERROR ${notRun.length} test(s) not run: ${relations.length} model relation(s) not built ` +
        `in this warehouse (${relations.join(", ")}): build them first (models_run, ` +
        "deno task run transformations)",
    );
  }
  await compiler.saveCache();
  const counts = { pass: 0, fail: 0, warn: 0, error: 0 };
  for (const r of results) counts[r.status]++;
  const run: TestRunResult = {
    target,
    asOf: opts.asOf.toISOString(),
    startedAt,
    durationMs: performance.now() - t0,
    results,
    counts,
    ok: counts.fail === 0 && counts.error === 0,
    statements,
    parameters,
  };
  await Deno.mkdir(compiler.targetDir, { recursive: true });
  await writeJson(join(compiler.targetDir, "test_results.json"), {
    ...run,
    statements: undefined,
    parameters: undefined,
  });
  await updateTestStatus(compiler.targetDir, run, full);
  return run;
}

/** The latest result of a test, whichever run it came from (target/test_status.json). */
export interface TestStatusEntry {
  status: TestStatus;
  failures: number;
  message?: string;
  at: string;
}

export const TEST_STATUS_FILE = "test_status.json";

/** Merge a run's results into test_status.json; a full run replaces it (removed tests go). */
async function updateTestStatus(targetDir: string, run: TestRunResult, full: boolean) {
  const path = join(targetDir, TEST_STATUS_FILE);
  let all: Record<string, TestStatusEntry> = {};
  if (!full) {
    try {
      all = JSON.parse(await Deno.readTextFile(path));
    } catch { /* first run, or unreadable: start afresh */ }
  }
  for (const r of run.results) {
    all[r.name] = { status: r.status, failures: r.failures, message: r.message, at: run.startedAt };
  }
  await writeJson(path, all);
}

class Restart extends Error {}

/**
 * Where a test that failed to run failed: a singular test's line when the warehouse names one
 * that reads the same in its file (else the test's declaration), the message, and the compiled
 * SQL with its line.
 */
async function runError(
  e: unknown,
  t: DataTest,
  project: Project,
  run: { statement: string; compiled: { sql: string; path: string } },
): Promise<string> {
  const source = t.kind === "singular"
    ? await Deno.readTextFile(join(project.root, t.file)).catch(() => "")
    : "";
  const lines = errorLines(e, { statement: run.statement, compiled: run.compiled.sql, source });
  const at = lines.source ? `${t.file}:${lines.source}` : formatPos(t.pos);
  const path = run.compiled.path.startsWith(project.root + "/")
    ? run.compiled.path.slice(project.root.length + 1)
    : run.compiled.path;
  const compiledAt = `${path}${lines.compiled ? `:${lines.compiled}` : ""}`;
  return `${at}: ${warehouseMessage(e)} (compiled SQL: ${compiledAt})`;
}

/** The models `tests` read whose relation the warehouse lacks, with that relation. */
async function unbuiltModels(
  wh: Warehouse,
  project: Project,
  tests: readonly DataTest[],
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const models = [...new Set(tests.flatMap((t) => testDependencies(t).models))]
    .map((name) => project.models.get(name))
    .filter((m) => m !== undefined);
  const schemas = [...new Set(models.map((m) => m.schema))];
  if (schemas.length === 0) return new Map();
  const rows = await wh.query<{ SCHEMA_NAME: string; TABLE_NAME: string }>(
    relationsQuery(schemas.length),
    schemas,
    { signal, label: "models_test: relations" },
  );
  const present = new Set(rows.map((r) => `${r.SCHEMA_NAME}.${r.TABLE_NAME}`.toUpperCase()));
  return new Map(
    models.filter((m) => !present.has(m.relation.toUpperCase())).map((m) => [m.name, m.relation]),
  );
}

function resultOf(
  t: DataTest,
  status: TestStatus,
  failures: number,
  durationMs: number,
  msg?: string,
): TestResult {
  return {
    name: t.name,
    kind: t.kind,
    severity: t.severity,
    attachedTo: t.attachedTo,
    column: t.column,
    description: t.description,
    status,
    failures,
    durationMs,
    message: msg,
    file: t.file,
    line: t.pos.line,
  };
}

const RESULT_COLUMNS = [
  "TEST_NAME",
  "KIND",
  "SEVERITY",
  "ATTACHED_TO",
  "STATUS",
  "FAILURES",
  "MESSAGE",
  "RUN_AT",
];

/** Failing rows into <schema>.<test>, stale failure tables dropped, TEST_RESULTS replaced. */
async function storeResults(
  wh: Warehouse,
  project: Project,
  results: TestResult[],
  compiled: Map<string, { sql: string }>,
  log: { statements: string[]; parameters: Record<number, SqlValue[]> },
  opts: TestOptions & { full: boolean },
): Promise<void> {
  const schema = project.failuresSchema;
  const runAt = new Date().toISOString().replace("T", " ").slice(0, 19);
  const record = (sql: string, params?: SqlValue[]) => {
    if (params) log.parameters[log.statements.length] = params;
    log.statements.push(sql);
  };
  const execIn = (s: Session) => (sql: string, params?: SqlValue[]) => {
    record(sql, params);
    return s.execute(sql, params);
  };
  // The DDL: failing rows replaced, stale failure tables dropped, TEST_RESULTS created.
  const ddl = async (s: Session) => {
    const exec = execIn(s);
    await exec(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    const tablesSql = "SELECT table_name AS TABLE_NAME FROM information_schema.tables " +
      "WHERE upper(table_schema) = upper(?) AND table_type = 'BASE TABLE'";
    record(tablesSql, [schema]);
    const existing = (await s.query<{ TABLE_NAME: string }>(tablesSql, [schema]))
      .map((r) => r.TABLE_NAME.toLowerCase());
    // The failing-rows tables this project wrote: of tests run now, or recorded by earlier runs.
    // Anything else in the schema (it can be shared: test_failures_schema) is not ours to drop.
    const ours = new Set(results.map((r) => r.name.toLowerCase()));
    if (opts.full && existing.includes("test_results")) {
      const recordedSql = `SELECT DISTINCT TEST_NAME FROM ${schema}.TEST_RESULTS`;
      record(recordedSql);
      for (const r of await s.query<{ TEST_NAME: string }>(recordedSql)) {
        ours.add(r.TEST_NAME.toLowerCase());
      }
    }
    const failing = new Set<string>();
    for (const r of results) {
      if (r.status !== "fail" && r.status !== "warn") continue;
      const rel = `${schema}.${r.name}`;
      await exec(
        `CREATE OR REPLACE TABLE ${rel} AS SELECT * FROM (\n${compiled.get(r.name)!.sql}\n) ` +
          `AS failing_rows LIMIT ${FAILURE_ROWS}`,
      );
      r.failuresRelation = rel;
      failing.add(r.name);
    }
    for (const name of existing) {
      if (name === "test_results" || failing.has(name) || !ours.has(name)) continue;
      await exec(`DROP TABLE ${schema}.${name}`);
    }
    await exec(
      `CREATE TABLE IF NOT EXISTS ${schema}.TEST_RESULTS (TEST_NAME VARCHAR, KIND VARCHAR, ` +
        `SEVERITY VARCHAR, ATTACHED_TO VARCHAR, STATUS VARCHAR, FAILURES BIGINT, ` +
        `MESSAGE VARCHAR, RUN_AT TIMESTAMP)`,
    );
  };
  // The DML: TEST_RESULTS replaced.
  const dml = async (s: Session) => {
    const exec = execIn(s);
    if (opts.full) await exec(`DELETE FROM ${schema}.TEST_RESULTS`);
    if (results.length === 0) return;
    if (!opts.full) {
      const names = results.map(() => "?").join(", ");
      await exec(
        `DELETE FROM ${schema}.TEST_RESULTS WHERE TEST_NAME IN (${names})`,
        results.map((r) => r.name),
      );
    }
    const tuple = `(${RESULT_COLUMNS.map(() => "?").join(", ")})`;
    await exec(
      `INSERT INTO ${schema}.TEST_RESULTS (${RESULT_COLUMNS.join(", ")}) VALUES ` +
        results.map(() => tuple).join(", "),
      results.flatMap((r) => [
        r.name,
        r.kind,
        r.severity,
        r.attachedTo,
        r.status,
        r.failures,
        r.message ?? null,
        runAt,
      ]),
    );
  };
  // DuckDB: one transaction (DDL is transactional). Snowflake commits the open transaction at
  // every DDL statement, so the DDL runs before BEGIN, each statement on its own, and only the
  // DELETE and INSERT of TEST_RESULTS are one transaction: a failure there leaves the previous
  // results (with this run's failing-rows tables already replaced).
  const snowflake = wh.kind === "snowflake";
  await wh.transaction(async (s: Session) => {
    if (!snowflake) await ddl(s);
    await dml(s);
  }, {
    signal: opts.signal,
    label: "models_test: store results",
    ...(snowflake ? { prepare: ddl } : {}),
  });
}

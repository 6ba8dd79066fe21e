/**
 * Models benchmark (issue 4): a full refresh of every model plus every data test on the bundled
 * sample (data/sample: 223 companies, ~225,000 one-minute bars of 11 stocks), side by side with
 *   (a) the very same SQL statements our engine executed, replayed back to back on ONE DuckDB
 *       connection (the engine's overhead; target: ours <= 1.5x), and
 *   (b) dbt-core + dbt-duckdb (installed from PyPI into bench/.work/dbt-venv on first use) running
 *       a throwaway dbt project made from our compiled SQL with equivalent tests
 *       (`dbt build --full-refresh`), against our two pipeline jobs as processes
 *       (models_run --full-refresh, then models_test); target: ours >= 3x faster end to end.
 * Every run starts from a fresh copy of the same warehouse file. Prints per-model timings,
 * medians of several runs and both ratios.
 *
 *   deno run --allow-all bench/models_bench.ts [--runs N] [--no-dbt]
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { loadConfig, SAMPLE_AS_OF } from "../lib/config/config.ts";
import { Compiler } from "../lib/models/compile.ts";
import { collectTests, type DataTest } from "../lib/models/data_tests.ts";
import { buildGraph } from "../lib/models/dag.ts";
import { loadProject, type Project } from "../lib/models/project.ts";
import { runModels } from "../lib/models/run.ts";
import { runTests } from "../lib/models/test_run.ts";
import { loadFiles } from "../lib/ingest/load.ts";
import { openWarehouse, type SqlValue } from "../lib/warehouse/warehouse.ts";
import { sampleFiles } from "../tests/models_fixture.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const WORK = join(REPO, "bench/.work/models");
const VENV = join(REPO, "bench/.work/dbt-venv");
const SAMPLE = join(REPO, "data/sample");
const AS_OF = new Date(SAMPLE_AS_OF);
const DBT_PINS = ["dbt-core==1.11.16", "dbt-duckdb==1.11.1", "duckdb==1.5.6"];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(0)} ms`;

async function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}):\n${text.slice(-3000)}`);
  }
  return text;
}

/** The warehouse all runs start from: migrated, with the bundled sample loaded. */
async function buildBase(): Promise<string> {
  const path = join(WORK, "base.duckdb");
  await Deno.remove(path).catch(() => {});
  await Deno.remove(`${path}.wal`).catch(() => {});
  const config = loadConfig((k) => ({ EGX_WAREHOUSE: path } as Record<string, string>)[k]);
  const wh = await openWarehouse(config.warehouse);
  // The sample loaded by the real batch loader (what `batch_load` does on a fresh clone).
  const outcomes = await loadFiles(wh, await sampleFiles(SAMPLE));
  const failed = outcomes.filter((o) => o.status !== "LOADED");
  if (failed.length > 0) throw new Error(`sample load failed: ${JSON.stringify(failed)}`);
  await wh.close();
  return path;
}

async function freshCopy(base: string, name: string): Promise<string> {
  const path = name.startsWith("/") ? name : join(WORK, name);
  await Deno.remove(`${path}.wal`).catch(() => {});
  await Deno.copyFile(base, path);
  return path;
}

interface Replay {
  groups: { name: string; statements: [string, SqlValue[] | undefined][] }[];
}

/** Ours, in process: load the project, full refresh of every model, every test. */
async function ours(path: string, targetDir: string) {
  const t0 = performance.now();
  const p = await loadProject(REPO);
  const config = loadConfig((k) => ({ EGX_WAREHOUSE: path } as Record<string, string>)[k]);
  const wh = await openWarehouse(config.warehouse);
  const run = await runModels(wh, p, { asOf: AS_OF, fullRefresh: true, targetDir });
  const tests = await runTests(wh, p, { asOf: AS_OF, targetDir });
  await wh.close();
  const total = performance.now() - t0;
  if (!run.ok || !tests.ok) {
    throw new Error(
      "our run failed: " + JSON.stringify(run.results.filter((r) => r.status !== "success")),
    );
  }
  const replay: Replay = {
    groups: [
      { name: "(schemas)", statements: run.setupStatements.map((s) => [s, undefined]) },
      ...run.results.map((r) => ({
        name: r.name,
        statements: r.statements.map((s) => [s, undefined] as [string, undefined]),
      })),
      {
        name: "(tests)",
        statements: tests.statements.map((s, i) =>
          [s, tests.parameters?.[i]] as [string, SqlValue[] | undefined]
        ),
      },
    ],
  };
  const perModel = new Map(run.results.map((r) => [r.name, r.durationMs]));
  return { total, replay, perModel, testsMs: tests.durationMs, tests: tests.results.length };
}

/** The same statements, back to back on one connection (the file opened once). */
async function baseline(path: string, replay: Replay) {
  const t0 = performance.now();
  const inst = await DuckDBInstance.create(path);
  const conn = await inst.connect();
  await conn.run("SET GLOBAL TimeZone = 'UTC'");
  const per = new Map<string, number>();
  for (const g of replay.groups) {
    const g0 = performance.now();
    for (const [sql, params] of g.statements) {
      const r = await conn.run(sql, params as never);
      await r.getRows();
    }
    per.set(g.name, performance.now() - g0);
  }
  conn.closeSync();
  inst.closeSync(); // checkpoint, like our per-transaction close
  return { total: performance.now() - t0, per };
}

// ---------------------------------------------------------------- dbt

async function ensureDbt(): Promise<string> {
  const dbt = join(VENV, "bin/dbt");
  const marker = join(VENV, "egx-pins.txt");
  const want = DBT_PINS.join("\n");
  if ((await Deno.readTextFile(marker).catch(() => "")) === want) return dbt;
  console.log(`installing ${DBT_PINS.join(" ")} into ${VENV} (first run only) ...`);
  await sh("python3", ["-m", "venv", VENV]);
  await sh(join(VENV, "bin/pip"), ["install", "--quiet", ...DBT_PINS]);
  await Deno.writeTextFile(marker, want);
  return dbt;
}

/** A dbt project from our compiled DuckDB SQL: refs/sources restored as dbt calls. */
async function writeDbtProject(project: Project, dir: string, dbPath: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  for (const d of ["models", "tests", "macros"]) {
    await Deno.mkdir(join(dir, d), { recursive: true });
  }
  // Placeholders survive transpilation as plain identifiers, then become ref()/source().
  const models = new Map(
    [...project.models].map(([n, m]) => [n, { ...m, relation: `__dbtref__${n}` }]),
  );
  const sources = new Map(
    [...project.sources].map((
      [id, s],
    ) => [id, { ...s, relation: `__dbtsrc__${s.source}__${s.name}` }]),
  );
  const placeholders: Project = { ...project, models, sources };
  const compiler = new Compiler(placeholders, { target: "duckdb", asOf: AS_OF, write: false });
  const toDbt = (sql: string) =>
    sql.replace(/__dbtref__([a-z0-9_]+)/g, "{{ ref('$1') }}")
      .replace(/__dbtsrc__([a-z0-9]+)__([A-Z0-9_]+)/g, "{{ source('$1', '$2') }}");
  for (const m of models.values()) {
    const sql = await compiler.transpile(compiler.render(m.template, { self: m.relation }), m.file);
    const mat = m.materialized === "view" ? "view" : "table";
    await Deno.writeTextFile(
      join(dir, "models", `${m.name}.sql`),
      `{{ config(materialized='${mat}', schema='${m.schema}') }}\n${toDbt(sql)}\n`,
    );
  }
  // Tests: dbt's own generic tests where dbt has them, our compiled SQL as singular tests for
  // the rest (expression, unique_combination, row_count, recency, singular).
  const tests = collectTests(project, AS_OF);
  const generic = new Map<string, { column: string; tests: unknown[] }[]>();
  const native = (t: DataTest) =>
    ["unique", "not_null", "accepted_values", "relationships"].includes(t.kind);
  const yamlTest = (t: DataTest): unknown => {
    const sev = t.severity === "warn" ? { config: { severity: "warn" } } : {};
    const spec = [...project.models.values(), ...project.sources.values()]
      .flatMap((n) => [...n.columns.flatMap((c) => c.tests), ...n.tests])
      .find((s) => s.pos === t.pos)!;
    if (t.kind === "unique" || t.kind === "not_null") {
      return Object.keys(sev).length ? { [t.kind]: sev } : t.kind;
    }
    if (t.kind === "accepted_values") {
      const quote = spec.values!.every((v) => typeof v === "string");
      return { accepted_values: { arguments: { values: spec.values, quote }, ...sev } };
    }
    const to = spec.to!.replace(/^\{\{\s*|\s*\}\}$/g, "");
    return { relationships: { arguments: { to, field: spec.field }, ...sev } };
  };
  for (const t of tests) {
    if (native(t)) {
      const key = t.attachedKind === "model" ? `model:${t.attachedTo}` : `source:${t.attachedTo}`;
      if (!generic.has(key)) generic.set(key, []);
      const cols = generic.get(key)!;
      let col = cols.find((c) => c.column === t.column);
      if (!col) cols.push(col = { column: t.column!, tests: [] });
      col.tests.push(yamlTest(t));
    } else {
      const sql = await compiler.transpile(compiler.render(t.template), t.file);
      const sev = t.severity === "warn" ? "{{ config(severity='warn') }}\n" : "";
      await Deno.writeTextFile(join(dir, "tests", `${t.name}.sql`), `${sev}${toDbt(sql)}\n`);
    }
  }
  const colsYaml = (key: string) =>
    (generic.get(key) ?? []).map((c) => ({ name: c.column, data_tests: c.tests }));
  const schema = {
    version: 2,
    sources: [{
      name: "operational",
      schema: "OPERATIONAL",
      tables: [...project.sources.values()].map((s) => ({
        name: s.name,
        columns: colsYaml(`source:${s.id}`),
      })),
    }],
    models: [...project.models.values()].map((m) => ({
      name: m.name,
      columns: colsYaml(`model:${m.name}`),
    })),
  };
  await Deno.writeTextFile(join(dir, "models", "schema.yml"), JSON.stringify(schema, null, 2));
  await Deno.writeTextFile(
    join(dir, "dbt_project.yml"),
    "name: egx_bench\nversion: '1.0'\nprofile: egx_bench\nmodel-paths: [models]\ntest-paths: [tests]\n" +
      "macro-paths: [macros]\n",
  );
  await Deno.writeTextFile(
    join(dir, "profiles.yml"),
    `egx_bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: ${dbPath}\n      threads: 2\n      settings:\n        TimeZone: UTC\n`,
  );
  await Deno.writeTextFile(
    join(dir, "macros", "schema.sql"),
    "{% macro generate_schema_name(custom_schema_name, node) %}" +
      "{{ custom_schema_name if custom_schema_name else target.schema }}{% endmacro %}\n",
  );
}

async function dbtBuild(dbt: string, dir: string) {
  const t0 = performance.now();
  const out = await sh(dbt, [
    "build",
    "--full-refresh",
    "--profiles-dir",
    dir,
    "--project-dir",
    dir,
  ], {
    cwd: dir,
    env: { DBT_SEND_ANONYMOUS_USAGE_STATS: "False", DO_NOT_TRACK: "1", DBT_NO_VERSION_CHECK: "1" },
  });
  const total = performance.now() - t0;
  const rr = JSON.parse(await Deno.readTextFile(join(dir, "target/run_results.json")));
  const per = new Map<string, number>();
  let tests = 0;
  for (const r of rr.results) {
    const [kind, , name] = r.unique_id.split(".");
    if (kind === "model") per.set(name, r.execution_time * 1000);
    else if (kind === "test") tests++;
    // A warn-severity test that finds rows (EXPA's documented seam) warns in both builds.
    if (r.status !== "success" && r.status !== "pass" && r.status !== "warn") {
      throw new Error(`dbt ${r.unique_id}: ${r.status} ${r.message}`);
    }
  }
  return { total, per, tests, summary: /Done\..*$/m.exec(out)?.[0] ?? "" };
}

/** Our two pipeline jobs as processes (models_run --full-refresh, models_test). */
async function oursProcesses(dir: string, dbPath: string) {
  const perms = [
    `--config=${REPO}/deno.json`,
    `--allow-read=models,target,data,${REPO}/node_modules`,
    "--allow-write=target,data",
    "--allow-ffi",
    "--allow-env=EGX_WAREHOUSE,EGX_AS_OF,EGX_LANDING,LOG_TOKENS,LOG_STREAM",
  ];
  const env = { EGX_WAREHOUSE: dbPath, EGX_AS_OF: AS_OF.toISOString() };
  const t0 = performance.now();
  await sh(Deno.execPath(), ["run", ...perms, `${REPO}/jobs/models_run.ts`, "--full-refresh"], {
    cwd: dir,
    env,
  });
  const t1 = performance.now();
  await sh(Deno.execPath(), ["run", ...perms, `${REPO}/jobs/models_test.ts`, "--quiet"], {
    cwd: dir,
    env,
  });
  const t2 = performance.now();
  return { total: t2 - t0, run: t1 - t0, test: t2 - t1 };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      "no-dbt": { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log("Usage: deno run --allow-all bench/models_bench.ts [--runs N] [--no-dbt]");
    return 0;
  }
  const runs = Number(values.runs);
  await Deno.mkdir(WORK, { recursive: true });
  const project = await loadProject(REPO);
  const order = buildGraph(project).order;
  const base = await buildBase();
  const counts = await (async () => {
    const inst = await DuckDBInstance.create(base, { access_mode: "READ_ONLY" });
    const c = await inst.connect();
    const r = await (await c.run(
      "SELECT (SELECT count(*) FROM OPERATIONAL.TBL_INTRADAY_BAR), (SELECT count(*) FROM OPERATIONAL.TBL_STOCK_PRICE), (SELECT count(*) FROM OPERATIONAL.TBL_COMPANY)",
    )).getRows();
    c.closeSync();
    inst.closeSync();
    return r[0].map(Number);
  })();
  console.log(
    `sample: ${counts[0]} one-minute bars, ${counts[1]} daily bars, ${counts[2]} companies; ` +
      `${project.models.size} models, ${
        collectTests(project, AS_OF).length
      } tests; ${runs} run(s) each, medians`,
  );

  // (a) ours in process vs the same statements on one connection. Run 0 is cold (no transpile
  // cache: the WASM transpiler loads), then warm runs alternate with the baseline.
  const target = join(WORK, "target");
  await Deno.remove(target, { recursive: true }).catch(() => {});
  const cold = await ours(await freshCopy(base, "ours.duckdb"), target);
  const oursT: number[] = [], baseT: number[] = [];
  const oursPer = new Map<string, number[]>(), basePer = new Map<string, number[]>();
  for (let i = 0; i < runs; i++) {
    const o = await ours(await freshCopy(base, "ours.duckdb"), target);
    const b = await baseline(await freshCopy(base, "baseline.duckdb"), cold.replay);
    oursT.push(o.total);
    baseT.push(b.total);
    for (const [k, v] of o.perModel) oursPer.set(k, [...(oursPer.get(k) ?? []), v]);
    oursPer.set("(tests)", [...(oursPer.get("(tests)") ?? []), o.testsMs]);
    for (const [k, v] of b.per) basePer.set(k, [...(basePer.get(k) ?? []), v]);
  }

  // (b) end to end: our two jobs as processes vs dbt build.
  let dbt:
    | { total: number[]; per: Map<string, number[]>; tests: number; summary: string }
    | undefined;
  const e2e: number[] = [];
  const e2eDir = join(WORK, "e2e");
  await Deno.remove(e2eDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(join(e2eDir, "data"), { recursive: true });
  await Deno.symlink(join(REPO, "models"), join(e2eDir, "models"));
  for (let i = 0; i < runs + 1; i++) {
    await freshCopy(base, join(e2eDir, "data/egx.duckdb"));
    const r = await oursProcesses(e2eDir, "data/egx.duckdb");
    if (i > 0) e2e.push(r.total); // run 0 warms the transpile cache in e2e/target
  }
  if (!values["no-dbt"]) {
    const bin = await ensureDbt();
    const dir = join(WORK, "dbt_project");
    const dbPath = join(WORK, "dbt.duckdb");
    await writeDbtProject(project, dir, dbPath);
    dbt = { total: [], per: new Map(), tests: 0, summary: "" };
    for (let i = 0; i < runs + 1; i++) {
      await freshCopy(base, "dbt.duckdb");
      const r = await dbtBuild(bin, dir);
      if (i === 0) continue; // run 0 writes dbt's partial-parse cache
      dbt.total.push(r.total);
      dbt.tests = r.tests;
      dbt.summary = r.summary;
      for (const [k, v] of r.per) dbt.per.set(k, [...(dbt.per.get(k) ?? []), v]);
    }
  }

  console.log("\nper model (median ms)         ours  same SQL, 1 conn      dbt");
  for (const name of [...order, "(tests)"]) {
    const o = oursPer.get(name), b = basePer.get(name), d = dbt?.per.get(name);
    console.log(
      `  ${name.padEnd(28)} ${(o ? median(o).toFixed(0) : "-").padStart(6)} ${
        (b ? median(b).toFixed(0) : "-").padStart(17)
      } ${(d ? median(d).toFixed(0) : "-").padStart(8)}`,
    );
  }
  const o = median(oursT), b = median(baseT);
  console.log(
    `\n(a) full refresh + ${cold.tests} tests, in process (project loaded, warehouse opened, models, tests):`,
  );
  console.log(`    ours (cold: transpiler loaded, cache empty)  ${ms(cold.total)}`);
  console.log(`    ours (warm transpile cache)                  ${ms(o)}`);
  console.log(`    same statements back to back on 1 connection ${ms(b)}`);
  console.log(
    `    ratio ours / same SQL = ${(o / b).toFixed(2)}x (target <= 1.5x); cold: ${
      (cold.total / b).toFixed(2)
    }x`,
  );
  const e = median(e2e);
  console.log(`\n(b) end to end, processes:`);
  console.log(`    ours: deno run models_run --full-refresh + models_test  ${ms(e)}`);
  if (dbt) {
    const d = median(dbt.total);
    console.log(
      `    dbt build --full-refresh (dbt-core 1.11.16, dbt-duckdb 1.11.1, ${dbt.tests} tests)  ${
        ms(d)
      }`,
    );
    console.log(`    ${dbt.summary}`);
    console.log(`    ratio dbt / ours = ${(d / e).toFixed(2)}x faster (target >= 3x)`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());

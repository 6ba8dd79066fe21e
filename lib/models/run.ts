/**
 * `models_run`: build the selected models in DAG order, one transaction per model.
 *
 * A model that fails is reported with its file, the warehouse's message and the compiled SQL
 * path; everything downstream of it is skipped (never built on stale inputs), and what was
 * already built stays as it was (see materialize.ts).
 */
import { join } from "node:path";
import type { Session, Warehouse } from "../warehouse/warehouse.ts";
import { Compiler, type Target } from "./compile.ts";
import { buildGraph } from "./dag.ts";
import { ModelError, warehouseMessage } from "./errors.ts";
import {
  columnsQuery,
  incrementalMergeStatements,
  incrementalStageStatements,
  newRowsRelation,
  relationsQuery,
  type RelationType,
  tableStatements,
  viewStatements,
} from "./materialize.ts";
import type { ModelNode, Project } from "./project.ts";
import { selectModels } from "./select.ts";

export interface RunOptions {
  /** Selectors (see select.ts); empty = every model. */
  select?: string[];
  /** Rebuild incremental models from scratch. */
  fullRefresh?: boolean;
  /** config.asOf: "now" for the models' `var('as_of_date')`. */
  asOf: Date;
  signal?: AbortSignal;
  /** Where compiled SQL and run_results.json go (default `<root>/target`). */
  targetDir?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export type ModelRunStatus = "success" | "error" | "skipped";

export interface ModelResult {
  name: string;
  file: string;
  materialized: ModelNode["materialized"];
  /** How it was built this time. */
  mode: "table" | "view" | "full-refresh" | "incremental";
  status: ModelRunStatus;
  durationMs: number;
  /** Rows in the relation after the build (tables), or rows inserted (incremental). */
  rows?: number;
  message?: string;
  compiledPath?: string;
  /** Every statement executed for this model, in order (the benchmark replays them). */
  statements: string[];
}

export interface RunResult {
  target: Target;
  startedAt: string;
  durationMs: number;
  results: ModelResult[];
  /** Statements run before the models (schemas). */
  setupStatements: string[];
  ok: boolean;
}

/** Thrown by a model build; carries the text printed for the failure. */
export class ModelBuildError extends Error {
  override name = "ModelBuildError";
}

function rel(m: ModelNode) {
  return { schema: m.schema, name: m.name };
}

async function existingRelations(
  wh: Warehouse,
  schemas: string[],
  signal?: AbortSignal,
): Promise<Map<string, RelationType>> {
  const rows = await wh.query<{ SCHEMA_NAME: string; TABLE_NAME: string; TABLE_TYPE: string }>(
    relationsQuery(schemas.length),
    schemas,
    { signal, label: "models_run: list relations" },
  );
  const out = new Map<string, RelationType>();
  for (const r of rows) {
    const type = r.TABLE_TYPE === "VIEW" ? "view" : "table";
    out.set(`${r.SCHEMA_NAME}.${r.TABLE_NAME}`.toUpperCase(), type);
  }
  return out;
}

/** Build the selected models. Never throws for a model failure: see `result.ok`. */
export async function runModels(
  wh: Warehouse,
  project: Project,
  opts: RunOptions,
): Promise<RunResult> {
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const log = opts.log ?? (() => {});
  const graph = buildGraph(project);
  const selected = selectModels(project, graph, { select: opts.select ?? [] });
  const target: Target = wh.kind;
  const compiler = new Compiler(project, { target, asOf: opts.asOf, targetDir: opts.targetDir });
  const schemas = [...new Set(selected.map((n) => project.models.get(n)!.schema))];
  const setupStatements = schemas.map((s) => `CREATE SCHEMA IF NOT EXISTS ${s}`);
  if (setupStatements.length > 0) {
    await wh.transaction(async (s) => {
      for (const st of setupStatements) await s.execute(st);
    }, { signal: opts.signal, label: "models_run: schemas" });
  }
  const existing = await existingRelations(wh, schemas, opts.signal);
  const results: ModelResult[] = [];
  const failed = new Map<string, string>(); // model -> the failed model that stopped it
  const width = Math.max(0, ...selected.map((n) => n.length));
  for (const [i, name] of selected.entries()) {
    opts.signal?.throwIfAborted();
    const m = project.models.get(name)!;
    const head = `${String(i + 1).padStart(String(selected.length).length)}/${selected.length} ${
      name.padEnd(width)
    }`;
    const blockedBy = [...graph.parents.get(name)!].find((p) => failed.has(p));
    if (blockedBy !== undefined) {
      const root = failed.get(blockedBy)!;
      failed.set(name, root);
      const message = `skipped: upstream ${root} failed`;
      results.push({
        name,
        file: m.file,
        materialized: m.materialized,
        mode: m.materialized === "view" ? "view" : "table",
        status: "skipped",
        durationMs: 0,
        message,
        statements: [],
      });
      log(`${head}  SKIP   ${message}`);
      continue;
    }
    const r = await buildModel(wh, compiler, m, existing, opts);
    results.push(r);
    if (r.status === "error") {
      failed.set(name, name);
      log(`${head}  ERROR  ${r.message}`);
    } else {
      const rows = r.rows === undefined ? "" : ` ${r.rows} rows`;
      log(`${head}  OK     ${r.mode}${rows} in ${r.durationMs.toFixed(0)} ms`);
    }
  }
  await compiler.saveCache();
  const result: RunResult = {
    target,
    startedAt,
    durationMs: performance.now() - t0,
    results,
    setupStatements,
    ok: results.every((r) => r.status === "success"),
  };
  await Deno.mkdir(compiler.targetDir, { recursive: true });
  await Deno.writeTextFile(
    join(compiler.targetDir, "run_results.json"),
    JSON.stringify(result, null, 2) + "\n",
  );
  await updateModelStatus(compiler.targetDir, result);
  return result;
}

async function buildModel(
  wh: Warehouse,
  compiler: Compiler,
  m: ModelNode,
  existing: Map<string, RelationType>,
  opts: RunOptions,
): Promise<ModelResult> {
  const t0 = performance.now();
  const key = m.relation.toUpperCase();
  const now = existing.get(key);
  const incremental = m.materialized === "incremental" && !opts.fullRefresh && now === "table";
  const mode: ModelResult["mode"] = m.materialized === "view"
    ? "view"
    : m.materialized === "table"
    ? "table"
    : incremental
    ? "incremental"
    : "full-refresh";
  const base = { name: m.name, file: m.file, materialized: m.materialized, mode };
  const statements: string[] = [];
  let compiledPath: string | undefined;
  try {
    const compiled = await compiler.compileModel(m, incremental);
    compiledPath = compiled.path;
    let rows: number | undefined;
    await wh.transaction(async (s) => {
      statements.length = 0;
      const exec = async (sql: string) => {
        statements.push(sql);
        return await s.execute(sql);
      };
      if (m.materialized === "view") {
        const b = { rel: rel(m), sql: compiled.sql, existing: now };
        for (const st of viewStatements(compiler.target, b)) await exec(st);
      } else if (!incremental) {
        for (
          const st of tableStatements(compiler.target, {
            rel: rel(m),
            sql: compiled.sql,
            existing: now,
          })
        ) {
          await exec(st);
        }
        rows = await countRows(s, m.relation, statements);
      } else {
        rows = await incrementalBuild(s, compiler.target, m, compiled.sql, statements, exec);
      }
    }, { signal: opts.signal, label: `models_run ${m.name}` });
    await compiler.writeRun(m.file, statements);
    existing.set(key, m.materialized === "view" ? "view" : "table");
    return {
      ...base,
      status: "success",
      durationMs: performance.now() - t0,
      rows,
      compiledPath,
      statements,
    };
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    const where = e instanceof ModelError || e instanceof ModelBuildError
      ? e.message
      : `${m.file}: ${warehouseMessage(e)}`;
    const message = compiledPath
      ? `${where} (compiled SQL: ${relativeTo(compiler.project.root, compiledPath)})`
      : where;
    return { ...base, status: "error", durationMs: performance.now() - t0, message, statements };
  }
}

function relativeTo(root: string, path: string): string {
  return path.startsWith(root + "/") ? path.slice(root.length + 1) : path;
}

async function countRows(s: Session, relation: string, statements: string[]): Promise<number> {
  const sql = `SELECT COUNT(*) AS N FROM ${relation}`;
  statements.push(sql);
  const [row] = await s.query<{ N: number }>(sql);
  return Number(row.N);
}

async function incrementalBuild(
  s: Session,
  target: Target,
  m: ModelNode,
  sql: string,
  statements: string[],
  exec: (sql: string) => Promise<number>,
): Promise<number> {
  for (const st of incrementalStageStatements(target, { rel: rel(m), sql })) await exec(st);
  const newRel = newRowsRelation(target, rel(m));
  const colsOf = async (temp: boolean, params: string[]) => {
    const q = columnsQuery(target, temp);
    statements.push(q);
    const rows = await s.query<{ COLUMN_NAME: string }>(q, params);
    return rows.map((r) => r.COLUMN_NAME);
  };
  const newCols = target === "duckdb"
    ? await colsOf(true, [newRel])
    : await colsOf(false, [m.schema, `${m.name}__egx_new`]);
  const oldCols = await colsOf(false, [m.schema, m.name]);
  const same = newCols.length === oldCols.length &&
    newCols.every((c, i) => c.toUpperCase() === oldCols[i].toUpperCase());
  if (!same) {
    throw new ModelBuildError(
      `${m.file}: the model's columns changed (${newCols.join(", ")} vs ${oldCols.join(", ")} ` +
        `in ${m.relation}): run with --full-refresh`,
    );
  }
  let inserted = 0;
  const merge = incrementalMergeStatements(target, {
    rel: rel(m),
    replaceBy: m.replaceBy,
    columns: newCols,
  });
  for (const [i, st] of merge.entries()) {
    const n = await exec(st);
    if (i === 1) inserted = n;
  }
  return inserted;
}

/** The latest result of each model across runs (a run may select only some models). */
export interface ModelStatus {
  status: ModelRunStatus;
  mode: ModelResult["mode"];
  durationMs: number;
  rows?: number;
  message?: string;
  at: string;
}

export const MODEL_STATUS_FILE = "model_status.json";

async function updateModelStatus(targetDir: string, run: RunResult): Promise<void> {
  const path = join(targetDir, MODEL_STATUS_FILE);
  let all: Record<string, ModelStatus> = {};
  try {
    all = JSON.parse(await Deno.readTextFile(path));
  } catch { /* first run, or unreadable: start afresh */ }
  for (const r of run.results) {
    all[r.name] = {
      status: r.status,
      mode: r.mode,
      durationMs: Math.round(r.durationMs),
      rows: r.rows,
      message: r.message,
      at: run.startedAt,
    };
  }
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(all, null, 2) + "\n");
  await Deno.rename(tmp, path);
}

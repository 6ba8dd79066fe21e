/**
 * `models_run`: build the selected models in DAG order, one transaction per model (on Snowflake
 * the transaction holds only the DML; the DDL runs before BEGIN or after COMMIT, committing on its
 * own: see materialize.ts for what that leaves atomic).
 *
 * A model that fails is reported with its file, the warehouse's message and the compiled SQL
 * path; everything downstream of it is skipped (never built on stale inputs), and what was
 * already built stays as it was (see materialize.ts).
 *
 * An incremental model is merged into its table only when the table was built from the model's
 * current definition; otherwise (definition changed, or no record: built by an older version)
 * it is rebuilt in full, reported as mode "full-refresh" with the reason (see build_record.ts).
 */
import { join } from "node:path";
import type { Session, Warehouse } from "../warehouse/warehouse.ts";
import {
  definitionFingerprint,
  readBuildRecords,
  relationKey,
  writeBuildRecord,
} from "./build_record.ts";
import { Compiler, type Target } from "./compile.ts";
import { buildGraph } from "./dag.ts";
import { errorLines, ModelError, warehouseMessage } from "./errors.ts";
import {
  type ColumnRow,
  columnsQueryOf,
  columnType,
  incrementalDropStatement,
  incrementalMergeStatements,
  incrementalStageStatements,
  newRowsRelation,
  nullKeysQuery,
  relationsQuery,
  type RelationType,
  tableSteps,
  tmpTableRelation,
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
  /** Why an incremental model was built in full (e.g. "definition changed since the last build"). */
  reason?: string;
  status: ModelRunStatus;
  durationMs: number;
  /** Rows in the relation after the build (tables), or rows inserted (incremental). */
  rows?: number;
  message?: string;
  compiledPath?: string;
  /**
   * Every statement executed for this model, in order (the benchmark replays them); the build
   * record written after them (build_record.ts, bound parameters) is not listed.
   */
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
    const setup = async (s: Session) => {
      for (const st of setupStatements) await s.execute(st);
    };
    // Snowflake: DDL commits on its own, so not between BEGIN and COMMIT (see materialize.ts).
    await wh.transaction(
      target === "snowflake" ? async () => {} : setup,
      {
        signal: opts.signal,
        label: "models_run: schemas",
        ...(target === "snowflake" ? { prepare: setup } : {}),
      },
    );
  }
  const existing = await existingRelations(wh, schemas, opts.signal);
  const needRecords = selected.some((n) => {
    const m = project.models.get(n)!;
    return m.materialized === "incremental" && existing.get(relationKey(m)) === "table";
  });
  const records = needRecords ? await readBuildRecords(wh, opts.signal) : new Map<string, string>();
  const results: ModelResult[] = [];
  const failed = new Map<string, string>(); // model -> the failed model that stopped it
  const width = Math.max(0, ...selected.map((n) => n.length));
  try {
    await buildSelected();
  } catch (e) {
    // Stopped (SIGTERM): the models built before the stop are committed, so their status is
    // recorded (the docs showed the previous run's for them); the run itself has no result.
    if (opts.signal?.aborted && results.length > 0) {
      await Deno.mkdir(compiler.targetDir, { recursive: true });
      await updateModelStatus(compiler.targetDir, {
        target,
        startedAt,
        durationMs: performance.now() - t0,
        results,
        setupStatements,
        ok: false,
      });
    }
    throw e;
  }
  async function buildSelected(): Promise<void> {
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
      const r = await buildModel(wh, compiler, m, { existing, records }, opts);
      results.push(r);
      if (r.status === "error") {
        failed.set(name, name);
        log(`${head}  ERROR  ${r.message}`);
      } else {
        const rows = r.rows === undefined ? "" : ` ${r.rows} rows`;
        const why = r.reason === undefined ? "" : ` (${r.reason})`;
        log(`${head}  OK     ${r.mode}${why}${rows} in ${r.durationMs.toFixed(0)} ms`);
      }
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
  await writeJson(join(compiler.targetDir, "run_results.json"), result);
  await updateModelStatus(compiler.targetDir, result);
  return result;
}

/**
 * How an incremental model is built: merged into its table, or in full and why. Merging needs a
 * table built from the same definition (`recorded` is the fingerprint recorded with it).
 */
export function incrementalPlan(
  { fullRefresh, existing, recorded, fingerprint }: {
    fullRefresh: boolean;
    existing?: RelationType;
    recorded?: string;
    fingerprint: string;
  },
): { incremental: true } | { incremental: false; reason: string } {
  if (fullRefresh) return { incremental: false, reason: "--full-refresh" };
  if (existing === undefined) return { incremental: false, reason: "first build" };
  if (existing === "view") return { incremental: false, reason: "replaces a view" };
  if (recorded === undefined) {
    return { incremental: false, reason: "no recorded definition (built by an older version)" };
  }
  if (recorded !== fingerprint) {
    return { incremental: false, reason: "definition changed since the last build" };
  }
  return { incremental: true };
}

async function buildModel(
  wh: Warehouse,
  compiler: Compiler,
  m: ModelNode,
  { existing, records }: { existing: Map<string, RelationType>; records: Map<string, string> },
  opts: RunOptions,
): Promise<ModelResult> {
  const t0 = performance.now();
  const key = relationKey(m);
  const now = existing.get(key);
  let base: Pick<ModelResult, "name" | "file" | "materialized" | "mode" | "reason"> = {
    name: m.name,
    file: m.file,
    materialized: m.materialized,
    mode: m.materialized === "incremental" ? "full-refresh" : m.materialized,
  };
  const statements: string[] = [];
  let compiledPath: string | undefined;
  let compiledSql: string | undefined;
  try {
    const fingerprint = definitionFingerprint(compiler, m);
    let incremental = false;
    if (m.materialized === "incremental") {
      const plan = incrementalPlan({
        fullRefresh: opts.fullRefresh ?? false,
        existing: now,
        recorded: records.get(key),
        fingerprint,
      });
      incremental = plan.incremental;
      base = plan.incremental
        ? { ...base, mode: "incremental" }
        : { ...base, mode: "full-refresh", reason: plan.reason };
    }
    let rows: number | undefined;
    for (;;) {
      const compiled = await compiler.compileModel(m, incremental);
      compiledPath = compiled.path;
      compiledSql = compiled.sql;
      const mode = base.mode;
      try {
        const snowflake = compiler.target === "snowflake";
        const exec = (s: Session) => async (sql: string) => {
          statements.push(sql);
          return await s.execute(sql);
        };
        const phases = buildPhases(compiler.target, m, {
          sql: compiled.sql,
          existing: now,
          incremental,
          statements,
          setRows: (n) => rows = n,
        });
        // DuckDB: everything in one transaction (DDL is transactional). Snowflake: the DDL and
        // the checks before BEGIN (each DDL statement commits there), only DML inside, and the
        // temporary table dropped after COMMIT (see materialize.ts).
        const stage = async (s: Session) => {
          statements.length = 0;
          await phases.stage(s, exec(s));
        };
        await wh.transaction(async (s) => {
          if (!snowflake) await stage(s);
          await phases.apply(s, exec(s));
          await writeBuildRecord(s, m, { mode, fingerprint });
        }, {
          signal: opts.signal,
          label: `models_run ${m.name}`,
          ...(snowflake ? { prepare: stage } : {}),
        });
        for (const st of phases.after) {
          statements.push(st);
          // Committed already: a temporary table left by a failed DROP goes with the session.
          await wh.query(st, [], { label: `models_run ${m.name}` }).catch(() => {});
        }
        break;
      } catch (e) {
        // Same definition, other columns (names or types): an upstream model's columns changed
        // under a `select *`. Rebuild in full, like a changed definition.
        if (!(e instanceof ColumnsChangedError) || !incremental) throw e;
        incremental = false;
        base = { ...base, mode: "full-refresh", reason: e.reason };
      }
    }
    await compiler.writeRun(m.file, statements);
    existing.set(key, m.materialized === "view" ? "view" : "table");
    records.set(key, fingerprint);
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
    const failed = statements.at(-1);
    const lines = compiledSql !== undefined && failed !== undefined
      ? errorLines(e, { statement: failed, compiled: compiledSql, source: m.sql })
      : {};
    const where = e instanceof ModelError || e instanceof ModelBuildError
      ? e.message
      : `${m.file}${lines.source ? `:${lines.source}` : ""}: ${warehouseMessage(e)}`;
    const compiledAt = compiledPath &&
      relativeTo(compiler.project.root, compiledPath) +
        (lines.compiled ? `:${lines.compiled}` : "");
    const message = compiledAt ? `${where} (compiled SQL: ${compiledAt})` : where;
    return { ...base, status: "error", durationMs: performance.now() - t0, message, statements };
  }
}

/**
 * An incremental model's unique_key and replace_by must be among its columns: otherwise its first
 * (full) build succeeded and every later run failed in the DELETE with a binder error. Thrown
 * before anything is written: DuckDB, inside the build's transaction (rolled back); Snowflake, on
 * the new table `__egx_tmp` or the new rows, before the swap or the merge.
 */
function checkKeyColumns(m: ModelNode, columns: string[]): void {
  const have = new Set(columns.map((c) => c.toUpperCase()));
  const missing = [...new Set([...m.uniqueKey, ...m.replaceBy])]
    .filter((k) => !have.has(k.toUpperCase()));
  if (missing.length > 0) {
    throw new ModelError(
      m.pos,
      `unique_key/replace_by ${missing.join(", ")}: not a column of ${m.name} ` +
        `(it has ${columns.join(", ")})`,
    );
  }
}

/**
 * An incremental model's rows must not hold NULL in a unique_key/replace_by column: NULL matches
 * no row in the DELETE, so such a row was inserted again on every run (a duplicate per run). A
 * NULL key is a data bug: an incremental run fails naming the column before the DELETE, and a
 * full build before the new table replaces the old one (else the next run would fail on it), so
 * the table stays as it was. `from`: the new rows, or the new table.
 */
async function checkNullKeys(
  s: Session,
  m: ModelNode,
  from: string,
  statements: string[],
): Promise<void> {
  const keys = [...new Set([...m.uniqueKey, ...m.replaceBy])];
  const sql = nullKeysQuery(from, keys);
  statements.push(sql);
  const [row] = await s.query(sql);
  const found = keys.flatMap((k, i) => {
    const n = Number(row[`N${i}`]);
    return n > 0 ? [`${k} (${n} ${n === 1 ? "row" : "rows"})`] : [];
  });
  if (found.length > 0) {
    throw new ModelError(
      m.pos,
      `unique_key/replace_by NULL in ${from === m.relation ? "the" : "new"} rows of ${m.name}: ` +
        `${found.join(", ")}; ` +
        "a NULL key matches no row, so they would be inserted again on every run",
    );
  }
}

/** An incremental run's new rows have other columns than the table (nothing was written). */
class ColumnsChangedError extends Error {
  override name = "ColumnsChangedError";
  constructor(readonly reason: string) {
    super(reason);
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

interface Phases {
  /** DDL and checks (Snowflake: before BEGIN, each statement committing on its own). */
  stage: (s: Session, exec: (sql: string) => Promise<number>) => Promise<void>;
  /** DML, in the transaction with the build record. */
  apply: (s: Session, exec: (sql: string) => Promise<number>) => Promise<void>;
  /** DDL after COMMIT (Snowflake only). */
  after: string[];
}

/**
 * The statements building `m`, in the phases of its build. DuckDB runs `stage` and `apply` in one
 * transaction, in the order it always ran them; on Snowflake every DDL statement is in `stage`
 * (or `after`) and whatever is checked is checked before the real relation is touched.
 */
function buildPhases(
  target: Target,
  m: ModelNode,
  { sql, existing, incremental, statements, setRows }: {
    sql: string;
    existing?: RelationType;
    incremental: boolean;
    statements: string[];
    setRows: (n: number) => void;
  },
): Phases {
  const snowflake = target === "snowflake";
  const b = { rel: rel(m), sql, existing };
  const none = async () => {};
  const colsOf = async (s: Session, temp: boolean, params: string[]) => {
    const q = columnsQueryOf(target, temp, params);
    statements.push(q);
    const rows = await s.query<ColumnRow>(q);
    return rows.map((r) => ({ name: r.COLUMN_NAME, type: columnType(target, r) }));
  };
  const names = (cols: { name: string }[]) => cols.map((c) => c.name);
  if (m.materialized === "view") {
    return {
      stage: async (_s, exec) => {
        for (const st of viewStatements(target, b)) await exec(st);
      },
      apply: none,
      after: [],
    };
  }
  if (!incremental) {
    const { build, replace } = tableSteps(target, b);
    if (!snowflake) {
      return {
        stage: async (s, exec) => {
          for (const st of [...build, ...replace]) await exec(st);
          setRows(await countRows(s, m.relation, statements));
          if (m.materialized === "incremental") {
            checkKeyColumns(m, names(await colsOf(s, false, [m.schema, m.name])));
            await checkNullKeys(s, m, m.relation, statements);
          }
        },
        apply: none,
        after: [],
      };
    }
    return {
      stage: async (s, exec) => {
        for (const st of build) await exec(st);
        if (m.materialized === "incremental") {
          const tmp = tmpTableRelation(rel(m));
          checkKeyColumns(m, names(await colsOf(s, false, [tmp.schema, tmp.name])));
          await checkNullKeys(s, m, `${tmp.schema}.${tmp.name}`, statements);
        }
        for (const st of replace) await exec(st);
      },
      apply: async (s) => setRows(await countRows(s, m.relation, statements)),
      after: [],
    };
  }
  let merge: string[] = [];
  const drop = incrementalDropStatement(target, rel(m));
  return {
    stage: async (s, exec) => {
      for (const st of incrementalStageStatements(target, b)) await exec(st);
      const newRel = newRowsRelation(target, rel(m));
      const newTyped = snowflake
        ? await colsOf(s, false, [m.schema, `${m.name}__egx_new`])
        : await colsOf(s, true, [newRel]);
      const oldTyped = await colsOf(s, false, [m.schema, m.name]);
      const newCols = names(newTyped);
      const oldCols = names(oldTyped);
      const same = newCols.length === oldCols.length &&
        newCols.every((c, i) => c.toUpperCase() === oldCols[i].toUpperCase());
      checkKeyColumns(m, newCols);
      if (!same) {
        throw new ColumnsChangedError(
          `columns changed: ${newCols.join(", ")} (was ${oldCols.join(", ")})`,
        );
      }
      // Same names, other types (an upstream column became DOUBLE under a `select *`): the INSERT
      // would cast the new values to the old type (10.75 into an INTEGER column is 11) without a
      // word. Rebuilt in full like a change of names.
      const retyped = newTyped.flatMap((c, i) =>
        c.type === oldTyped[i].type ? [] : [`${c.name} ${c.type} (was ${oldTyped[i].type})`]
      );
      if (retyped.length > 0) {
        throw new ColumnsChangedError(`column types changed: ${retyped.join(", ")}`);
      }
      // Snowflake: on the new rows, before BEGIN; DuckDB: last before the DELETE, as before.
      await checkNullKeys(s, m, newRel, statements);
      merge = incrementalMergeStatements(target, {
        rel: rel(m),
        replaceBy: m.replaceBy,
        columns: newCols,
      });
    },
    apply: async (_s, exec) => {
      await exec(merge[0]);
      setRows(await exec(merge[1]));
      if (!snowflake) await exec(drop);
    },
    after: snowflake ? [drop] : [],
  };
}

/** The latest result of each model across runs (a run may select only some models). */
export interface ModelStatus {
  status: ModelRunStatus;
  mode: ModelResult["mode"];
  reason?: string;
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
      reason: r.reason,
      durationMs: Math.round(r.durationMs),
      rows: r.rows,
      message: r.message,
      at: run.startedAt,
    };
  }
  await writeJson(path, all);
}

/**
 * Write a result file under target/ as a new file renamed over the old one: written in place, a
 * run stopped mid-write left half a JSON file, and docs_generate then failed on it ("cannot read
 * target/run_results.json") until the next complete run.
 */
export async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n");
  await Deno.rename(tmp, path);
}

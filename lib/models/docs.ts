/**
 * `docs_generate`: the documentation of the models as a static site under `target/docs/` plus
 * `target/docs/manifest.json`. Every source and model with its description, grain, columns and
 * their types (read from the warehouse), tests with their last results
 * (`target/test_status.json`), compiled SQL for both warehouses, and the lineage graph.
 */
import { join } from "node:path";
import type { Warehouse } from "../warehouse/warehouse.ts";
import { Compiler, type Target } from "./compile.ts";
import { buildGraph } from "./dag.ts";
import { collectTests, compileTest, testDependencies } from "./data_tests.ts";
import { renderSite } from "./docs_html.ts";
import type { ColumnDoc, Project } from "./project.ts";
import { MODEL_STATUS_FILE, type ModelStatus, type RunResult } from "./run.ts";
import { TEST_STATUS_FILE, type TestRunResult, type TestStatusEntry } from "./test_run.ts";

export interface DocColumn {
  name: string;
  /** Type reported by the warehouse; null when the relation or column does not exist there. */
  type: string | null;
  description: string;
  tests: string[];
  /** Declared in YAML (false: found in the warehouse only). */
  documented: boolean;
}

export interface DocNode {
  id: string;
  kind: "model" | "source";
  name: string;
  relation: string;
  file: string;
  yamlFile?: string;
  description: string;
  grain?: string;
  materialized?: string;
  uniqueKey?: string[];
  tags?: string[];
  /** Whether the relation exists in the warehouse. */
  built: boolean;
  columns: DocColumn[];
  parents: string[];
  children: string[];
  tests: string[];
  rawSql?: string;
  compiledSql?: Record<Target, string>;
  lastRun?: ModelStatus;
}

export interface DocTest {
  name: string;
  kind: string;
  severity: string;
  attachedTo: string;
  column?: string;
  description: string;
  file: string;
  line: number;
  dependsOn: string[];
  compiledSql: Record<Target, string>;
  lastResult?: { status: string; failures: number; message?: string; at: string };
}

export interface Manifest {
  project: string;
  generatedAt: string;
  asOf: string;
  warehouse: Target;
  nodes: Record<string, DocNode>;
  tests: Record<string, DocTest>;
  lineage: { nodes: string[]; edges: [string, string][] };
  lastRun?: { at: string; ok: boolean; durationMs: number };
  lastTestRun?: { at: string; ok: boolean; counts: Record<string, number> };
}

export interface DocsOptions {
  asOf: Date;
  targetDir?: string;
  signal?: AbortSignal;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export const modelId = (name: string) => `model.${name}`;
export const sourceId = (id: string) => `source.${id}`;

/** Build the manifest (reads column types from the warehouse). */
export async function buildManifest(
  wh: Warehouse,
  project: Project,
  opts: DocsOptions,
): Promise<Manifest> {
  const graph = buildGraph(project);
  const targetDir = opts.targetDir ?? join(project.root, "target");
  const compilers = {
    duckdb: new Compiler(project, { target: "duckdb", asOf: opts.asOf, targetDir }),
    snowflake: new Compiler(project, { target: "snowflake", asOf: opts.asOf, targetDir }),
  };
  const tests = collectTests(project, opts.asOf);
  const runResults = await readJson<RunResult>(join(targetDir, "run_results.json"));
  const modelStatus = await readJson<Record<string, ModelStatus>>(
    join(targetDir, MODEL_STATUS_FILE),
  ) ?? {};
  const testResults = await readJson<TestRunResult>(join(targetDir, "test_results.json"));
  const testStatus = await readJson<Record<string, TestStatusEntry>>(
    join(targetDir, TEST_STATUS_FILE),
  ) ?? {};

  const schemas = [
    ...new Set([
      ...[...project.sources.values()].map((s) => s.schema),
      ...[...project.models.values()].map((m) => m.schema),
    ]),
  ];
  const marks = schemas.map(() => "upper(?)").join(", ");
  const rows = await wh.query<
    { SCHEMA_NAME: string; TABLE_NAME: string; COLUMN_NAME: string; DATA_TYPE: string }
  >(
    "SELECT table_schema AS SCHEMA_NAME, table_name AS TABLE_NAME, column_name AS COLUMN_NAME, " +
      "data_type AS DATA_TYPE FROM information_schema.columns " +
      `WHERE upper(table_schema) IN (${marks}) ORDER BY table_schema, table_name, ordinal_position`,
    schemas,
    { signal: opts.signal, label: "docs_generate: columns" },
  );
  const actual = new Map<string, { name: string; type: string }[]>();
  for (const r of rows) {
    const key = `${r.SCHEMA_NAME}.${r.TABLE_NAME}`.toUpperCase();
    if (!actual.has(key)) actual.set(key, []);
    actual.get(key)!.push({ name: r.COLUMN_NAME, type: r.DATA_TYPE });
  }

  const testsOf = new Map<string, string[]>();
  const columnTests = new Map<string, string[]>();
  for (const t of tests) {
    const owner = t.attachedKind === "model"
      ? modelId(t.attachedTo)
      : t.attachedKind === "source"
      ? sourceId(t.attachedTo)
      : undefined;
    const deps = testDependencies(t);
    const ids = owner ? [owner] : [...deps.models.map(modelId), ...deps.sources.map(sourceId)];
    for (const id of ids) {
      if (!testsOf.has(id)) testsOf.set(id, []);
      testsOf.get(id)!.push(t.name);
    }
    if (owner && t.column) {
      const k = `${owner}.${t.column.toUpperCase()}`;
      if (!columnTests.has(k)) columnTests.set(k, []);
      columnTests.get(k)!.push(t.name);
    }
  }
  const columnsOf = (id: string, relation: string, declared: ColumnDoc[]): DocColumn[] => {
    const have = actual.get(relation.toUpperCase()) ?? [];
    const out: DocColumn[] = declared.map((c) => ({
      name: c.name,
      type: have.find((h) => h.name.toUpperCase() === c.name.toUpperCase())?.type ?? null,
      description: c.description,
      tests: columnTests.get(`${id}.${c.name.toUpperCase()}`) ?? [],
      documented: true,
    }));
    for (const h of have) {
      if (!declared.some((c) => c.name.toUpperCase() === h.name.toUpperCase())) {
        out.push({ name: h.name, type: h.type, description: "", tests: [], documented: false });
      }
    }
    return out;
  };

  const nodes: Record<string, DocNode> = {};
  const edges: [string, string][] = [];
  const sourceChildren = new Map<string, string[]>();
  for (const [m, srcs] of graph.sources) {
    for (const s of srcs) {
      if (!sourceChildren.has(s)) sourceChildren.set(s, []);
      sourceChildren.get(s)!.push(modelId(m));
      edges.push([sourceId(s), modelId(m)]);
    }
  }
  for (const s of project.sources.values()) {
    const id = sourceId(s.id);
    nodes[id] = {
      id,
      kind: "source",
      name: s.id,
      relation: s.relation,
      file: s.file,
      description: s.description,
      built: actual.has(s.relation.toUpperCase()),
      columns: columnsOf(id, s.relation, s.columns),
      parents: [],
      children: sourceChildren.get(s.id) ?? [],
      tests: testsOf.get(id) ?? [],
    };
  }
  for (const name of graph.order) {
    const m = project.models.get(name)!;
    const id = modelId(name);
    for (const p of graph.parents.get(name)!) edges.push([modelId(p), id]);
    const compiledSql = {} as Record<Target, string>;
    for (const target of ["duckdb", "snowflake"] as const) {
      compiledSql[target] = (await compilers[target].compileModel(m, false)).sql;
    }
    const r = modelStatus[name];
    nodes[id] = {
      id,
      kind: "model",
      name,
      relation: m.relation,
      file: m.file,
      yamlFile: m.yamlFile,
      description: m.description,
      grain: m.grain,
      materialized: m.materialized,
      uniqueKey: m.uniqueKey,
      tags: m.tags,
      built: actual.has(m.relation.toUpperCase()),
      columns: columnsOf(id, m.relation, m.columns),
      parents: [
        ...[...graph.sources.get(name)!].map(sourceId),
        ...[...graph.parents.get(name)!].map(modelId),
      ],
      children: [...graph.children.get(name)!].map(modelId),
      tests: testsOf.get(id) ?? [],
      rawSql: m.sql.replace(/^\s+\n/, ""),
      compiledSql,
      lastRun: r,
    };
  }
  const docTests: Record<string, DocTest> = {};
  for (const t of tests) {
    const compiledSql = {} as Record<Target, string>;
    for (const target of ["duckdb", "snowflake"] as const) {
      const c = compilers[target];
      compiledSql[target] = (await compileTest(c, t)).sql;
    }
    const deps = testDependencies(t);
    const r = testStatus[t.name];
    docTests[t.name] = {
      name: t.name,
      kind: t.kind,
      severity: t.severity,
      attachedTo: t.attachedKind === "model"
        ? modelId(t.attachedTo)
        : t.attachedKind === "source"
        ? sourceId(t.attachedTo)
        : "",
      column: t.column,
      description: t.description,
      file: t.file,
      line: t.pos.line,
      dependsOn: [...deps.sources.map(sourceId), ...deps.models.map(modelId)],
      compiledSql,
      lastResult: r
        ? { status: r.status, failures: r.failures, message: r.message, at: r.at }
        : undefined,
    };
  }
  await compilers.duckdb.saveCache();
  await compilers.snowflake.saveCache();
  return {
    project: project.name,
    generatedAt: new Date().toISOString(),
    asOf: opts.asOf.toISOString(),
    warehouse: wh.kind,
    nodes,
    tests: docTests,
    lineage: { nodes: Object.keys(nodes), edges },
    lastRun: runResults
      ? {
        at: runResults.startedAt,
        ok: runResults.ok,
        durationMs: Math.round(runResults.durationMs),
      }
      : undefined,
    lastTestRun: testResults
      ? { at: testResults.startedAt, ok: testResults.ok, counts: testResults.counts }
      : undefined,
  };
}

/** Write target/docs/: manifest.json and the HTML pages. Returns the folder. */
export async function generateDocs(
  wh: Warehouse,
  project: Project,
  opts: DocsOptions,
): Promise<{ dir: string; manifest: Manifest; pages: number }> {
  const manifest = await buildManifest(wh, project, opts);
  const dir = join(opts.targetDir ?? join(project.root, "target"), "docs");
  const pages = renderSite(manifest);
  const tmp = `${dir}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    for (const [path, html] of pages) {
      await Deno.mkdir(join(tmp, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(tmp, path), html);
    }
    await Deno.writeTextFile(join(tmp, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  } catch (e) {
    // A page that cannot be written (a full disk, a folder without write permission) left the
    // half-written site beside the old one, one more folder per attempt. (Page names are kept
    // short enough for any file system: see pageFileName.)
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  // Replace the old site in one step (a server reading it never sees half a site).
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await Deno.rename(tmp, dir);
  return { dir, manifest, pages: pages.size };
}

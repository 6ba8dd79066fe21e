/**
 * Loading the model project from `models/`: the project file, every model's SQL (with its
 * optional config header), the YAML beside the models (descriptions, columns, tests) and the
 * sources. Every problem is collected with its file, line and column and reported at once.
 *
 * Layout:
 *   models/project.yml          name, folder defaults (schema, materialization, tags), vars
 *   models/<folder>/*.sql       one model per file; the file name is the model name
 *   models/<folder>/*.yml       `models:` docs/config/tests and `sources:`
 *   models/tests/*.sql          singular data tests (a query returning the failing rows)
 *
 * A model file may start with a YAML header in a comment (only comments may come before it; a
 * header further down is a finding):
 *   /*---
 *   materialized: incremental
 *   unique_key: [TICKER, TRADE_DATE]
 *   ---*\/
 */
import { join, relative } from "node:path";
import { lineCol, ModelError, type Position, ProjectError } from "./errors.ts";
import { parseTemplate, type Template } from "./template.ts";
import { mapOf, num, plain, readYaml, reqStr, seqOf, str, strList, type Y } from "./yaml_read.ts";

export type Materialization = "view" | "table" | "incremental";
export type Severity = "error" | "warn";
export type TestKind =
  | "unique"
  | "not_null"
  | "accepted_values"
  | "relationships"
  | "expression"
  | "unique_combination"
  | "row_count"
  | "recency";

export const TEST_KINDS: readonly TestKind[] = [
  "unique",
  "not_null",
  "accepted_values",
  "relationships",
  "expression",
  "unique_combination",
  "row_count",
  "recency",
];

/** A generic test as declared in YAML (turned into SQL by data_tests.ts). */
export interface TestSpec {
  kind: TestKind;
  /** The column it is declared under (column-level tests). */
  column?: string;
  severity: Severity;
  name?: string;
  description?: string;
  /** SQL filter applied to the tested relation first. */
  where?: string;
  values?: (string | number | boolean)[];
  /** relationships: `ref('x')` or `source('a', 'b')`, and the column there. */
  to?: string;
  field?: string;
  expr?: string;
  columns?: string[];
  min?: number;
  max?: number;
  /** row_count/recency apply only when this relation has rows (e.g. optional inputs). */
  whenNonempty?: string;
  maxTradingDays?: number;
  pos: Position;
}

export interface ColumnDoc {
  name: string;
  description: string;
  tests: TestSpec[];
  pos: Position;
}

export interface ModelNode {
  kind: "model";
  name: string;
  /** Path relative to the project root, e.g. `models/staging/stg_companies.sql`. */
  file: string;
  /** Folders under models/, e.g. ["staging"]. */
  path: string[];
  schema: string;
  /** `SCHEMA.name`, how other models reach it. */
  relation: string;
  materialized: Materialization;
  uniqueKey: string[];
  /** incremental (delete+insert): target rows matching new rows on these columns are replaced. */
  replaceBy: string[];
  tags: string[];
  description: string;
  grain: string;
  columns: ColumnDoc[];
  tests: TestSpec[];
  /** The template text (header blanked out, so line numbers match the file). */
  sql: string;
  template: Template;
  yamlFile?: string;
  pos: Position;
}

export interface SourceNode {
  kind: "source";
  /** `operational.TBL_COMPANY` */
  id: string;
  source: string;
  name: string;
  schema: string;
  relation: string;
  description: string;
  columns: ColumnDoc[];
  tests: TestSpec[];
  file: string;
  pos: Position;
}

export interface SingularTest {
  name: string;
  file: string;
  sql: string;
  template: Template;
  severity: Severity;
  description: string;
  pos: Position;
}

export interface FolderConfig {
  schema?: string;
  materialized?: Materialization;
  tags: string[];
}

export interface Project {
  root: string;
  name: string;
  models: Map<string, ModelNode>;
  sources: Map<string, SourceNode>;
  singularTests: SingularTest[];
  folders: Map<string, FolderConfig>;
  vars: Record<string, string | number | boolean>;
  /** Schema holding the failing rows of the last test run. */
  failuresSchema: string;
}

export const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MODEL_NAME = /^[a-z_][a-z0-9_]*$/;
const MATERIALIZATIONS: readonly Materialization[] = ["view", "table", "incremental"];
const CONFIG_KEYS = ["materialized", "unique_key", "replace_by", "tags"] as const;
// \r?: a file saved with Windows line ends kept its header as a plain comment, its config unread.
const HEADER = /^(\s*)\/\*---\r?\n([\s\S]*?)\r?\n---\*\//;
/** A file that starts like a header: without its `---*\/` the whole file was one comment. */
const HEADER_START = /^(\s*)\/\*---\r?\n/;
/** A line opening a header further down, where it is only a comment (its config unread). */
const LATE_HEADER = /^[ \t]*\/\*---\r?$/m;

/**
 * Length of the comments and whitespace a file starts with (`-- ...`, `// ...`, `/* ... *\/`),
 * up to a header's `/*---`: a header after a comment line is still the file's header.
 */
function leadingComments(text: string): number {
  let i = 0;
  for (;;) {
    const rest = text.slice(i);
    const m = /^\s*(--|\/\/)[^\n]*(\n|$)/.exec(rest) ??
      (HEADER_START.test(rest) ? null : /^\s*\/\*[\s\S]*?\*\//.exec(rest));
    if (!m || m[0].length === 0) return i;
    i += m[0].length;
  }
}

/**
 * Words a model cannot be named, as its name is written unquoted (`DWH_SILVER.select`): DuckDB's
 * reserved and type/function keywords (duckdb_keywords(), DuckDB 1.5) and Snowflake's reserved
 * keywords. A model named `select` passed --check (the transpiler quotes refs) and then failed at
 * `ALTER TABLE ... RENAME TO select` on every run.
 */
const SQL_KEYWORDS = new Set(
  (
    // DuckDB reserved
    "all analyse analyze and any array as asc asymmetric both case cast check collate column " +
    "constraint create default deferrable desc describe distinct do else end except false fetch " +
    "for foreign from group having in initially intersect into lambda lateral leading limit not " +
    "null offset on only or order pivot pivot_longer pivot_wider placing primary qualify " +
    "references returning select show some summarize symmetric table then to trailing true union " +
    "unique unpivot using variadic when where window with " +
    // DuckDB type_function
    "anti asof at authorization binary by collation columns concurrently cross freeze full " +
    "generated glob ilike inner is isnull join left like map natural notnull outer overlaps " +
    "positional right semi similar struct tablesample try_cast unpack verbose " +
    // Snowflake reserved (beyond the above)
    "account alter between connect connection current current_date current_time " +
    "current_timestamp current_user database delete drop exists following grant gscluster " +
    "increment insert issue localtime localtimestamp minus of organization regexp revoke rlike " +
    "row rows sample schema set start trigger update values view whenever"
  ).split(" "),
);

interface Findings {
  errors: ModelError[];
  /** Run `fn`, collecting a ModelError instead of stopping. */
  guard<T>(fn: () => T): T | undefined;
}

function findings(): Findings {
  const errors: ModelError[] = [];
  return {
    errors,
    guard(fn) {
      try {
        return fn();
      } catch (e) {
        if (e instanceof ModelError) errors.push(e);
        else throw e;
        return undefined;
      }
    },
  };
}

function ident(value: string, what: string, pos: Position): string {
  if (!IDENT.test(value)) throw new ModelError(pos, `${what} "${value}" is not a plain identifier`);
  return value;
}

/**
 * A project file's text, or undefined with a finding at the first byte that is not UTF-8
 * (Deno.readTextFile turns such bytes into U+FFFD silently, and that was built into the warehouse
 * or the docs as if it had been written so).
 */
async function readUtf8(path: string, file: string, f: Findings): Promise<string | undefined> {
  const bytes = await Deno.readFile(path);
  const valid = (n: number) => {
    try {
      // stream: a sequence cut by the end of the prefix is not an error yet
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), {
        stream: true,
      });
    } catch {
      return undefined;
    }
  };
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // The longest prefix that decodes (valid(n) holds for every n up to it): the bad bytes follow.
    let [lo, hi] = [0, bytes.length];
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (valid(mid) !== undefined) lo = mid;
      else hi = mid - 1;
    }
    const before = valid(lo)!;
    const { line, col } = lineCol(before + "?", before.length);
    const at = new TextEncoder().encode(before).length;
    f.errors.push(
      new ModelError(
        { file, line, col },
        `is not UTF-8 (byte 0x${bytes[at].toString(16).toUpperCase()} at offset ${at}); ` +
          "save the file as UTF-8",
      ),
    );
    return undefined;
  }
}

/** Files under `dir`, sorted; symbolic links are listed in `links` (they are not followed). */
async function walk(dir: string, links: string[] = []): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...await walk(p, links));
    else if (e.isFile) out.push(p);
    else if (e.isSymlink) links.push(p);
  }
  return out.sort();
}

interface RawConfig {
  materialized?: Materialization;
  uniqueKey?: string[];
  replaceBy?: string[];
  tags?: string[];
}

function readConfig(y: Y, what: string): RawConfig {
  const m = mapOf(y, what, CONFIG_KEYS);
  const out: RawConfig = {};
  const mat = str(m.get("materialized"), "materialized");
  if (mat !== undefined) {
    if (!MATERIALIZATIONS.includes(mat as Materialization)) {
      throw new ModelError(
        m.get("materialized")!.pos,
        `materialized must be one of ${MATERIALIZATIONS.join(", ")}, got "${mat}"`,
      );
    }
    out.materialized = mat as Materialization;
  }
  const key = (k: string) => {
    const v = strList(m.get(k), k);
    v?.forEach((c) => ident(c, k, m.get(k)!.pos));
    return v;
  };
  out.uniqueKey = key("unique_key");
  out.replaceBy = key("replace_by");
  out.tags = strList(m.get("tags"), "tags");
  return out;
}

const TEST_COMMON = ["severity", "name", "description", "where"];
const TEST_ARGS: Record<TestKind, string[]> = {
  unique: ["column"],
  not_null: ["column"],
  accepted_values: ["column", "values"],
  relationships: ["column", "to", "field"],
  expression: ["expr"],
  unique_combination: ["columns"],
  row_count: ["min", "max", "when_nonempty"],
  recency: ["field", "max_trading_days", "when_nonempty"],
};

/** Read one entry of a `tests:` list: `unique` or `{accepted_values: {values: [...]}}`. */
export function readTest(y: Y, column: string | undefined): TestSpec {
  let kind: string;
  let argsNode: Y | undefined;
  let pos = y.pos;
  if (typeof y.value === "string") {
    kind = y.value;
  } else if (y.map && y.map.size === 1) {
    const [[name, v]] = [...y.map];
    [kind, pos, argsNode] = [name, v.keyPos, v.node];
  } else {
    throw new ModelError(y.pos, "a test is a name (`unique`) or a one-key mapping");
  }
  if (!(TEST_KINDS as string[]).includes(kind)) {
    throw new ModelError(pos, `unknown test "${kind}" (have: ${TEST_KINDS.join(", ")})`);
  }
  const k = kind as TestKind;
  const args = argsNode && argsNode.value !== null
    ? mapOf(argsNode, `test ${k}`, [...TEST_ARGS[k], ...TEST_COMMON])
    : new Map<string, Y>();
  const severity = str(args.get("severity"), "severity") ?? "error";
  if (severity !== "error" && severity !== "warn") {
    throw new ModelError(args.get("severity")!.pos, `severity must be error or warn`);
  }
  const spec: TestSpec = {
    kind: k,
    column: str(args.get("column"), "column") ?? column,
    severity,
    name: str(args.get("name"), "name"),
    description: str(args.get("description"), "description"),
    where: str(args.get("where"), "where"),
    pos,
  };
  if (spec.column !== undefined) ident(spec.column, "column", pos);
  if (spec.name !== undefined && !MODEL_NAME.test(spec.name)) {
    throw new ModelError(pos, `test name "${spec.name}" must be lower_snake_case`);
  }
  const need = (key: string) => {
    const v = args.get(key);
    if (v === undefined) throw new ModelError(pos, `test ${k} needs "${key}"`);
    return v;
  };
  switch (k) {
    case "unique":
    case "not_null":
      if (spec.column === undefined) throw new ModelError(pos, `test ${k} needs a column`);
      break;
    case "accepted_values": {
      if (spec.column === undefined) throw new ModelError(pos, `test ${k} needs a column`);
      const v = plain(need("values"));
      if (!Array.isArray(v) || v.length === 0) {
        throw new ModelError(need("values").pos, "values must be a non-empty list");
      }
      // A list, mapping or null among them crashed --check and the test run (a TypeError with no
      // file or line) when turned into a SQL literal.
      need("values").seq!.forEach((item, i) => {
        const x = v[i];
        const ok = typeof x === "string" || typeof x === "boolean" ||
          (typeof x === "number" && Number.isFinite(x));
        if (!ok) {
          throw new ModelError(
            item.pos,
            `values must be strings, finite numbers or booleans, got ${
              typeof x === "number" ? x : JSON.stringify(x)
            }`,
          );
        }
      });
      spec.values = v as (string | number | boolean)[];
      break;
    }
    case "relationships":
      if (spec.column === undefined) throw new ModelError(pos, `test ${k} needs a column`);
      spec.to = reqStr(need("to"), "to", y);
      spec.field = ident(reqStr(need("field"), "field", y), "field", pos);
      break;
    case "expression":
      spec.expr = reqStr(need("expr"), "expr", y);
      if (spec.name === undefined) throw new ModelError(pos, `an expression test needs a name`);
      break;
    case "unique_combination":
      spec.columns = strList(need("columns"), "columns")!;
      spec.columns.forEach((c) => ident(c, "columns", pos));
      break;
    case "row_count":
      spec.min = num(args.get("min"), "min");
      spec.max = num(args.get("max"), "max");
      if (spec.min === undefined && spec.max === undefined) {
        throw new ModelError(pos, "row_count needs min or max");
      }
      spec.whenNonempty = str(args.get("when_nonempty"), "when_nonempty");
      break;
    case "recency":
      spec.field = ident(reqStr(need("field"), "field", y), "field", pos);
      spec.maxTradingDays = num(need("max_trading_days"), "max_trading_days");
      if (!Number.isInteger(spec.maxTradingDays) || spec.maxTradingDays! < 0) {
        throw new ModelError(pos, "max_trading_days must be a whole number >= 0");
      }
      spec.whenNonempty = str(args.get("when_nonempty"), "when_nonempty");
      break;
  }
  return spec;
}

function readColumns(y: Y | undefined, f: Findings): ColumnDoc[] {
  return seqOf(y, "columns").flatMap((c) =>
    f.guard(() => {
      const m = mapOf(c, "a column", ["name", "description", "tests"]);
      const name = ident(reqStr(m.get("name"), "column name", c), "column name", c.pos);
      const tests = seqOf(m.get("tests"), "tests").flatMap((t) =>
        f.guard(() => readTest(t, name)) ?? []
      );
      return {
        name,
        description: str(m.get("description"), "description") ?? "",
        tests,
        pos: c.pos,
      };
    }) ?? []
  );
}

interface ModelDoc {
  description: string;
  grain: string;
  config: RawConfig;
  columns: ColumnDoc[];
  tests: TestSpec[];
  file: string;
  pos: Position;
}

/** Load and check the project under `root` (the repository checkout). */
export async function loadProject(root: string): Promise<Project> {
  const f = findings();
  const dir = join(root, "models");
  const rel = (p: string) => relative(root, p);
  const projectFile = join(dir, "project.yml");
  let projectText: string | undefined;
  try {
    projectText = await readUtf8(projectFile, rel(projectFile), f);
  } catch (e) {
    throw new ProjectError([
      new ModelError(
        { file: rel(projectFile), line: 0, col: 0 },
        e instanceof Deno.errors.NotFound
          ? "not found: run the job from the folder that holds models/ (the repository root)"
          : `cannot read: ${e}`,
      ),
    ]);
  }
  const project: Project = {
    root,
    name: "",
    models: new Map(),
    sources: new Map(),
    singularTests: [],
    folders: new Map(),
    vars: {},
    failuresSchema: "DWH_AUDIT",
  };
  if (projectText !== undefined) {
    f.guard(() => {
      const y = readYaml(projectText, rel(projectFile));
      const m = mapOf(y, "project.yml", ["name", "folders", "vars", "test_failures_schema"]);
      project.name = reqStr(m.get("name"), "name", y);
      // A list or a scalar here was skipped silently, and every model then had "no schema".
      const entries = (key: string) => {
        const y = m.get(key);
        if (y === undefined || y.value === null) return [];
        if (!y.map) throw new ModelError(y.pos, `${key} must be a mapping (name: value)`);
        return [...y.map];
      };
      for (const [folder, { node }] of entries("folders")) {
        f.guard(() => {
          const fm = mapOf(node, `folder ${folder}`, ["schema", "materialized", "tags"]);
          const schema = str(fm.get("schema"), "schema");
          if (schema !== undefined) ident(schema, "schema", node.pos);
          const cfg = readConfig(
            { pos: node.pos, map: new Map([...node.map!].filter(([k]) => k !== "schema")) },
            `folder ${folder}`,
          );
          project.folders.set(folder, {
            schema,
            materialized: cfg.materialized,
            tags: cfg.tags ?? [],
          });
        });
      }
      for (const [k, { node }] of entries("vars")) {
        const v = node.value;
        if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
          throw new ModelError(node.pos, `var ${k} must be a string, number or boolean`);
        }
        project.vars[k] = v;
      }
      const fsch = str(m.get("test_failures_schema"), "test_failures_schema");
      if (fsch) project.failuresSchema = ident(fsch, "test_failures_schema", y.pos);
    });
  }

  const links: string[] = [];
  const files = await walk(dir, links);
  const unreadable = new Set<string>();
  // Skipped without a word, a model saved as X.SQL or linked in was simply not built.
  for (const p of links.sort()) {
    f.errors.push(
      new ModelError(
        { file: rel(p), line: 0, col: 0 },
        "is a symbolic link, which the engine does not follow: copy the file here",
      ),
    );
  }
  for (const p of files) {
    const ext = /\.(sql|ya?ml)$/i.exec(p)?.[0];
    if (ext !== undefined && ext !== ext.toLowerCase()) {
      f.errors.push(
        new ModelError(
          { file: rel(p), line: 0, col: 0 },
          `is not read (the extension ${ext} is upper case): rename it to ${ext.toLowerCase()}`,
        ),
      );
    }
  }
  const docs = new Map<string, ModelDoc>();
  for (const file of files.filter((p) => /\.ya?ml$/.test(p) && p !== projectFile)) {
    const text = await readUtf8(file, rel(file), f);
    if (text === undefined) continue;
    f.guard(() => {
      const y = readYaml(text, rel(file));
      if (y.value === null) return;
      const m = mapOf(y, "a models YAML file", ["models", "sources"]);
      for (const item of seqOf(m.get("models"), "models")) {
        f.guard(() => {
          const mm = mapOf(item, "a model", [
            "name",
            "description",
            "grain",
            "config",
            "columns",
            "tests",
          ]);
          const name = reqStr(mm.get("name"), "model name", item);
          if (docs.has(name)) {
            throw new ModelError(
              item.pos,
              `model ${name} is documented twice (also in ${docs.get(name)!.file})`,
            );
          }
          docs.set(name, {
            description: str(mm.get("description"), "description") ?? "",
            grain: str(mm.get("grain"), "grain") ?? "",
            config: mm.get("config") ? readConfig(mm.get("config")!, "config") : {},
            columns: readColumns(mm.get("columns"), f),
            tests: seqOf(mm.get("tests"), "tests").flatMap((t) =>
              f.guard(() => readTest(t, undefined)) ?? []
            ),
            file: rel(file),
            pos: item.pos,
          });
        });
      }
      for (const src of seqOf(m.get("sources"), "sources")) {
        f.guard(() => {
          const sm = mapOf(src, "a source", ["name", "schema", "description", "tables"]);
          // An identifier like the schema: the name becomes a docs page's file name
          // (sources/<name>.<table>.html), and "../../data/x" wrote outside target/docs/.
          const source = ident(reqStr(sm.get("name"), "source name", src), "source name", src.pos);
          const schema = ident(reqStr(sm.get("schema"), "schema", src), "schema", src.pos);
          for (const t of seqOf(sm.get("tables"), "tables")) {
            f.guard(() => {
              const tm = mapOf(t, "a source table", ["name", "description", "columns", "tests"]);
              const name = ident(reqStr(tm.get("name"), "table name", t), "table name", t.pos);
              const id = `${source}.${name}`;
              if (project.sources.has(id)) {
                throw new ModelError(t.pos, `source ${id} is declared twice`);
              }
              const twin = caseTwin(project.sources.keys(), id);
              if (twin !== undefined) {
                throw new ModelError(
                  t.pos,
                  `source ${id} differs from source ${twin} only in case: SQL names ignore ` +
                    "case, so both would be one table; declare it once",
                );
              }
              project.sources.set(id, {
                kind: "source",
                id,
                source,
                name,
                schema,
                relation: `${schema}.${name}`,
                description: str(tm.get("description"), "description") ??
                  str(sm.get("description"), "description") ?? "",
                columns: readColumns(tm.get("columns"), f),
                tests: seqOf(tm.get("tests"), "tests").flatMap((x) =>
                  f.guard(() => readTest(x, undefined)) ?? []
                ),
                file: rel(file),
                pos: t.pos,
              });
            });
          }
        });
      }
    });
  }

  for (const file of files.filter((p) => p.endsWith(".sql"))) {
    const relFile = rel(file);
    const parts = relative(dir, file).split(/[\\/]/);
    const base = parts.pop()!.replace(/\.sql$/, "");
    const fileText = await readUtf8(file, relFile, f);
    // A file with problems is no model: refs to its name are not reported as well.
    unreadable.add(base);
    if (fileText === undefined) continue;
    f.guard(() => {
      const pos0: Position = { file: relFile, line: 1, col: 1 };
      if (!MODEL_NAME.test(base)) {
        throw new ModelError(pos0, `file name "${base}" must be lower_snake_case (it is the name)`);
      }
      // The engine's own working relations are `<model>__egx_tmp` (a table being built),
      // `<model>__egx_new` (an incremental run's rows) and `<model>__egx_view` (Snowflake: a view
      // replacing a table, before it is renamed): building stg_a dropped a model named
      // stg_a__egx_tmp.
      if (/__egx_(tmp|new|view)$/.test(base)) {
        throw new ModelError(
          pos0,
          `file name "${base}" ends like the engine's working tables (__egx_tmp, __egx_new, ` +
            "__egx_view): " +
            "rename it",
        );
      }
      if (SQL_KEYWORDS.has(base)) {
        throw new ModelError(
          pos0,
          `file name "${base}" is a reserved SQL word (it is the name, written unquoted): rename it`,
        );
      }
      let header: Y | undefined;
      let sql = fileText;
      // Only comments may come before the header (a description line, say).
      const lead = leadingComments(fileText);
      const rest = fileText.slice(lead);
      const hm = HEADER.exec(rest);
      const start = HEADER_START.exec(rest);
      if (!hm && start) {
        const before = fileText.slice(0, lead + start[1].length).split("\n");
        throw new ModelError(
          { file: relFile, line: before.length, col: before.at(-1)!.length + 1 },
          "the /*--- header is never closed: end it with a line ---*/",
        );
      }
      let body = lead; // where the SQL after the header starts
      if (hm) {
        const headerLine = fileText.slice(0, lead + hm[1].length).split("\n").length + 1;
        header = readYaml(hm[2], relFile, { lineOffset: headerLine - 1 });
        // Blank the header but keep its newlines, so line numbers still match the file.
        sql = fileText.slice(0, lead) + hm[0].replace(/[^\n]/g, " ") + rest.slice(hm[0].length);
        body = lead + hm[0].length;
      }
      // A header after SQL is only a comment: its config was silently not applied.
      const late = LATE_HEADER.exec(fileText.slice(body));
      if (late) {
        const at = body + late.index + late[0].indexOf("/");
        throw new ModelError(
          { file: relFile, ...lineCol(fileText, at) },
          "a /*--- config header must come first in the file (only comments may precede it); " +
            "here it is a comment and its config is not read",
        );
      }
      const template = parseTemplate(sql, relFile);
      if (parts[0] === "tests") {
        const hmap = header
          ? mapOf(header, "a test header", ["severity", "description"])
          : new Map();
        const severity = str(hmap.get("severity"), "severity") ?? "error";
        if (severity !== "error" && severity !== "warn") {
          throw new ModelError(hmap.get("severity")!.pos, "severity must be error or warn");
        }
        project.singularTests.push({
          name: base,
          file: relFile,
          sql,
          template,
          severity,
          description: str(hmap.get("description"), "description") ?? "",
          pos: pos0,
        });
        return;
      }
      if (project.models.has(base)) {
        throw new ModelError(
          pos0,
          `model ${base} is defined twice (also ${project.models.get(base)!.file})`,
        );
      }
      const doc = docs.get(base);
      const headerCfg = header ? readConfig(header, "the config header") : {};
      let folderCfg: FolderConfig = { tags: [] };
      for (let i = 1; i <= parts.length; i++) {
        const fc = project.folders.get(parts.slice(0, i).join("/"));
        if (fc) {
          folderCfg = {
            schema: fc.schema ?? folderCfg.schema,
            materialized: fc.materialized ?? folderCfg.materialized,
            tags: [...folderCfg.tags, ...fc.tags],
          };
        }
      }
      const schema = folderCfg.schema;
      if (!schema) {
        throw new ModelError(
          pos0,
          `no schema for folder "${parts.join("/")}": add it to models/project.yml folders`,
        );
      }
      const materialized = headerCfg.materialized ?? doc?.config.materialized ??
        folderCfg.materialized ?? "view";
      const uniqueKey = headerCfg.uniqueKey ?? doc?.config.uniqueKey ?? [];
      const replaceBy = headerCfg.replaceBy ?? doc?.config.replaceBy ?? uniqueKey;
      if (materialized === "incremental" && uniqueKey.length === 0) {
        throw new ModelError(pos0, "an incremental model needs a unique_key");
      }
      const tags = [
        ...new Set([...folderCfg.tags, ...(doc?.config.tags ?? []), ...(headerCfg.tags ?? [])]),
      ];
      project.models.set(base, {
        kind: "model",
        name: base,
        file: relFile,
        path: parts,
        schema,
        relation: `${schema}.${base}`,
        materialized,
        uniqueKey,
        replaceBy,
        tags,
        description: doc?.description ?? "",
        grain: doc?.grain ?? "",
        columns: doc?.columns ?? [],
        tests: doc?.tests ?? [],
        sql,
        template,
        yamlFile: doc?.file,
        pos: pos0,
      });
    });
  }
  for (const [name, doc] of docs) {
    if (!project.models.has(name)) {
      f.errors.push(
        new ModelError(doc.pos, `YAML documents model ${name}, but there is no ${name}.sql`),
      );
    }
  }
  // A model is built by dropping and replacing its relation: in a schema holding sources (the
  // loaders' OPERATIONAL tables) or the test failures it replaced that data (a model
  // tbl_company in a folder with schema OPERATIONAL dropped the company list).
  const kept = new Map<string, string>([["OPERATIONAL", "the loaders' tables"]]);
  for (const src of project.sources.values()) {
    kept.set(src.schema.toUpperCase(), `source ${src.source}`);
  }
  kept.set(project.failuresSchema.toUpperCase(), "test_failures_schema");
  for (const m of project.models.values()) {
    const holds = kept.get(m.schema.toUpperCase());
    if (holds !== undefined) {
      f.errors.push(
        new ModelError(
          m.pos,
          `model ${m.name} would be built in schema ${m.schema}, which holds ${holds}: ` +
            `give folder "${m.path.join("/")}" its own schema in models/project.yml`,
        ),
      );
    }
  }
  for (const t of project.singularTests) {
    if (project.models.has(t.name)) {
      f.errors.push(new ModelError(t.pos, `singular test ${t.name} has the name of a model`));
    }
  }
  if (f.errors.length > 0) {
    for (const name of project.models.keys()) unreadable.delete(name);
    throw new ProjectError(f.errors, { project, unreadable });
  }
  return project;
}

/**
 * A name among `names` that differs from `name` only in case. SQL identifiers ignore case
 * (DuckDB always, Snowflake unquoted), so two such source tables are one table, and their docs
 * pages would be one file on a case-insensitive file system. (Model names are lower_snake_case.)
 */
function caseTwin(names: Iterable<string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const n of names) if (n !== name && n.toLowerCase() === lower) return n;
  return undefined;
}

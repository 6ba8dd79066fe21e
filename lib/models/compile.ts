/**
 * Compilation: a model's template is rendered into Snowflake SQL (the one source dialect), then
 * transpiled for the target warehouse with @polyglot-sql/sdk (Snowflake -> DuckDB), or only
 * parsed (Snowflake). The result is written under `target/compiled/<target>/` for inspection.
 *
 * Transpiling is deterministic, so results are cached by a hash of the rendered SQL in
 * `target/.cache/`; with a warm cache the WASM transpiler is not even loaded (~250 ms saved).
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { ModelError, type Position } from "./errors.ts";
import type { ModelNode, Project } from "./project.ts";
import { renderTemplate, type Template } from "./template.ts";
import { cairoDate } from "../market/calendar.ts";

export type Target = "duckdb" | "snowflake";

export interface CompileOptions {
  target: Target;
  /** "Now" for `var('as_of_date')` / `var('as_of_ts')` (config.asOf). */
  asOf: Date;
  /** Where compiled SQL goes (default `<root>/target`). */
  targetDir?: string;
  /** Write compiled files (default true). */
  write?: boolean;
}

type Polyglot = typeof import("@polyglot-sql/sdk");
let polyglot: Promise<Polyglot> | undefined;
const CACHE_VERSION = "polyglot-sql@0.12.1/2";
const CACHE_LIMIT = 2000;

/** A SQL string literal (single quotes doubled). */
export function sqlString(v: string): string {
  return `'${v.replaceAll("'", "''")}'`;
}

/** A value from YAML or configuration as a SQL literal. */
export function sqlLiteral(v: string | number | boolean): string {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new RangeError(`not a finite number: ${v}`);
    return String(v);
  }
  if (typeof v === "boolean") return v ? "TRUE" : "FALSE";
  return sqlString(v);
}

/** Variables whose value changes with every run ("now"), unlike the project's `vars`. */
export const RUN_VARS: readonly string[] = ["as_of_date", "as_of_ts"];

/**
 * One statement's text without the `;` that closes it and what follows (more `;`, whitespace,
 * comments): `select 1; -- end` -> `select 1`. Quoted text and comments are skipped over, so a
 * `;` inside them is kept. Anything else is only trimmed.
 */
export function withoutClosingSemicolons(sql: string): string {
  let cut = -1; // the first `;` after the last token that is not a `;`
  let i = 0;
  const skipTo = (end: string, from: number) => {
    const j = sql.indexOf(end, from);
    return j < 0 ? sql.length : j + end.length;
  };
  while (i < sql.length) {
    const ch = sql[i];
    const two = sql.slice(i, i + 2);
    if (/\s/.test(ch)) i++;
    else if (two === "--" || two === "//") i = skipTo("\n", i + 2);
    else if (two === "/*") i = skipTo("*/", i + 2);
    else if (ch === ";") {
      if (cut < 0) cut = i;
      i++;
    } else {
      cut = -1;
      if (two === "$$") i = skipTo("$$", i + 2);
      else if (ch === "'" || ch === '"') {
        // '' and "" double the quote; Snowflake also takes \' in a string.
        i++;
        while (i < sql.length && sql[i] !== ch) i += sql[i] === "\\" && ch === "'" ? 2 : 1;
        i++;
      } else i++;
    }
  }
  return (cut < 0 ? sql : sql.slice(0, cut)).trim();
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export class Compiler {
  readonly target: Target;
  readonly targetDir: string;
  readonly vars: Record<string, string | number | boolean>;
  #cache = new Map<string, string>();
  #used = new Set<string>();
  /** Hash of what was last written to each compiled file (unchanged files are not rewritten). */
  #written = new Map<string, string>();
  #cacheDirty = false;
  #cacheLoaded = false;
  #write: boolean;

  constructor(readonly project: Project, opts: CompileOptions) {
    this.target = opts.target;
    this.targetDir = opts.targetDir ?? join(project.root, "target");
    this.#write = opts.write ?? true;
    const iso = opts.asOf.toISOString();
    this.vars = {
      ...project.vars,
      as_of_date: cairoDate(opts.asOf),
      as_of_ts: `${iso.slice(0, 10)} ${iso.slice(11, 19)}`,
    };
  }

  /**
   * Render a template to Snowflake SQL. `self` is the relation `{{ this }}` stands for.
   * `runVarsAsNames`: the per-run variables (`as_of_date`, `as_of_ts`) render as their call
   * `var('as_of_date')` instead of today's value (a model's definition, see build_record.ts).
   */
  render(
    t: Template,
    opts: { self?: string; isIncremental?: boolean; runVarsAsNames?: boolean } = {},
  ): string {
    const p = this.project;
    return renderTemplate(t, {
      isIncremental: opts.isIncremental ?? false,
      ref: (name, pos) => {
        const m = p.models.get(name);
        if (!m) throw new ModelError(pos, `ref('${name}'): no model named ${name}`);
        return m.relation;
      },
      source: (source, table, pos) => {
        const s = p.sources.get(`${source}.${table}`);
        if (!s) throw new ModelError(pos, `source('${source}', '${table}') is not declared`);
        return s.relation;
      },
      var: (name, pos) => {
        if (!(name in this.vars)) throw new ModelError(pos, `var('${name}') is not defined`);
        if (opts.runVarsAsNames && RUN_VARS.includes(name)) return `var('${name}')`;
        return sqlLiteral(this.vars[name]);
      },
      this: (pos) => {
        if (!opts.self) throw new ModelError(pos, "{{ this }} is only meaningful in a model");
        return opts.self;
      },
    });
  }

  /** Render and compile a model's SELECT for the target; writes the compiled file. */
  async compileModel(m: ModelNode, isIncremental: boolean): Promise<CompiledSql> {
    const snowflake = this.render(m.template, { self: m.relation, isIncremental });
    const sql = await this.transpile(snowflake, m.file);
    const suffix = isIncremental ? ".incremental.sql" : ".sql";
    const path = join(this.targetDir, "compiled", this.target, m.file.replace(/\.sql$/, suffix));
    await this.#writeFile(path, sql);
    return { sql, path };
  }

  /** Compile a test or ad-hoc query (Snowflake SQL) and write it as `name` under compiled/. */
  async compileQuery(snowflake: string, file: string, name: string): Promise<CompiledSql> {
    const sql = await this.transpile(snowflake, file);
    const path = join(this.targetDir, "compiled", this.target, name);
    await this.#writeFile(path, sql);
    return { sql, path };
  }

  /** Write executed statements for inspection (target/run/<target>/...). */
  async writeRun(file: string, statements: string[]): Promise<string> {
    const path = join(this.targetDir, "run", this.target, file);
    await this.#writeFile(path, statements.map((s) => s.trimEnd() + ";\n").join("\n"));
    return path;
  }

  async #writeFile(path: string, text: string): Promise<void> {
    if (!this.#write) return;
    const body = text.endsWith("\n") ? text : text + "\n";
    await this.#loadCache();
    const hash = sha256(body);
    if (this.#written.get(path) === hash) {
      try {
        if ((await Deno.stat(path)).size === new TextEncoder().encode(body).length) return;
      } catch { /* gone: write it again */ }
    }
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, body);
    this.#written.set(path, hash);
    this.#cacheDirty = true;
  }

  /**
   * Snowflake SQL -> target SQL (one statement). A parse error becomes a ModelError at the
   * file's line: rendering keeps line numbers, so polyglot's line is the file's line.
   */
  async transpile(snowflake: string, file: string): Promise<string> {
    await this.#loadCache();
    const key = sha256(`${this.target}\n${snowflake}`);
    this.#used.add(key);
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    polyglot ??= import("@polyglot-sql/sdk");
    const { transpile, Dialect } = await polyglot;
    const write = this.target === "duckdb" ? Dialect.DuckDB : Dialect.Snowflake;
    const r = transpile(snowflake, Dialect.Snowflake, write, { pretty: true });
    if (!r.success || !r.sql) {
      const pos: Position = { file, line: r.errorLine ?? 0, col: r.errorColumn ?? 0 };
      const msg = (r.error ?? "unknown error").replace(
        /^Parse error at line \d+, column \d+: /,
        "",
      );
      throw new ModelError(pos, `Snowflake SQL does not parse: ${msg}`);
    }
    if (r.sql.length !== 1) {
      throw new ModelError(
        { file, line: 0, col: 0 },
        `expected one SQL statement, found ${r.sql.length}`,
      );
    }
    // Snowflake: keep the text as written (comments and layout); it parsed, which is the check.
    // Either way without a closing `;`: the text is wrapped (CREATE TABLE AS, a test's COUNT).
    const out = withoutClosingSemicolons(this.target === "snowflake" ? snowflake : r.sql[0]);
    this.#cache.set(key, out);
    this.#cacheDirty = true;
    return out;
  }

  get #cachePath(): string {
    return join(this.targetDir, ".cache", `transpile_${this.target}.json`);
  }

  async #loadCache(): Promise<void> {
    if (this.#cacheLoaded) return;
    this.#cacheLoaded = true;
    try {
      const j = JSON.parse(await Deno.readTextFile(this.#cachePath));
      if (j.version === CACHE_VERSION) {
        this.#cache = new Map(Object.entries(j.entries));
        this.#written = new Map(Object.entries(j.written ?? {}));
      }
    } catch { /* no cache yet, or unreadable: start empty */ }
  }

  /**
   * Persist new transpile results (called at the end of a run). Entries used by this run come
   * first; older ones are kept up to CACHE_LIMIT (other jobs' queries, other as-of dates).
   */
  async saveCache(): Promise<void> {
    if (!this.#cacheDirty || !this.#write) return;
    const keys = [...this.#used, ...[...this.#cache.keys()].filter((k) => !this.#used.has(k))]
      .slice(0, CACHE_LIMIT);
    const entries = Object.fromEntries(keys.map((k) => [k, this.#cache.get(k)!]));
    const written = Object.fromEntries(
      [...this.#written].filter(([p]) => !p.endsWith(".tmp")).slice(-CACHE_LIMIT),
    );
    const tmp = `${this.#cachePath}.${crypto.randomUUID()}.tmp`;
    await Deno.mkdir(dirname(tmp), { recursive: true });
    await Deno.writeTextFile(tmp, JSON.stringify({ version: CACHE_VERSION, entries, written }));
    await Deno.rename(tmp, this.#cachePath);
    this.#cacheDirty = false;
  }
}

export interface CompiledSql {
  sql: string;
  /** The compiled file written under target/. */
  path: string;
}

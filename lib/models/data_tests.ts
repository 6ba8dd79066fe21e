/**
 * Data tests: the generic tests declared in YAML (unique, not_null, accepted_values,
 * relationships, expression, unique_combination, row_count, recency) and the singular SQL tests
 * in models/tests/, each turned into one Snowflake-SQL query returning the failing rows.
 *
 * Recency is calendar-aware: the newest value must be on or after the trading day that lies
 * `max_trading_days` trading days before the latest trading day whose session has closed by
 * config.asOf (weekends and announced closures are skipped, see lib/market/calendar.ts).
 */
import { formatPos, ModelError, type Position, ProjectError } from "./errors.ts";
import { type CompiledSql, type Compiler, sqlLiteral, sqlString } from "./compile.ts";
import type { Project, Severity, TestKind, TestSpec } from "./project.ts";
import { parseCall, parseTemplate, type Template } from "./template.ts";
import { addDays, cairoParts, isTradingDay, sessionOn } from "../market/calendar.ts";

export interface DataTest {
  name: string;
  kind: TestKind | "singular";
  severity: Severity;
  /** What it tests: a model name or a source id (`operational.TBL_X`); singular tests: "". */
  attachedTo: string;
  attachedKind: "model" | "source" | "singular";
  column?: string;
  description: string;
  /** The failing-rows query, as a template (relations still as ref()/source()). */
  template: Template;
  file: string;
  pos: Position;
}

/** The latest trade date whose session had closed at `asOf` (Cairo calendar). */
export function lastClosedTradingDay(asOf: Date): string {
  const p = cairoParts(asOf);
  const hm = `${String(p.hour).padStart(2, "0")}:${String(p.minute).padStart(2, "0")}`;
  const today = sessionOn(p.date);
  let d = today && hm >= today.close ? p.date : addDays(p.date, -1);
  for (let i = 0; i < 60 && !isTradingDay(d); i++) d = addDays(d, -1);
  return d;
}

/** The trade date `n` trading days before `date` (a trading day). */
export function tradingDaysBefore(date: string, n: number): string {
  let d = date;
  for (let k = 0; k < n; k++) {
    d = addDays(d, -1);
    for (let i = 0; i < 60 && !isTradingDay(d); i++) d = addDays(d, -1);
  }
  return d;
}

/** The oldest acceptable newest value for a recency test. */
export function recencyThreshold(asOf: Date, maxTradingDays: number): string {
  return tradingDaysBefore(lastClosedTradingDay(asOf), maxTradingDays);
}

function relationCall(text: string, pos: Position): string {
  const inner = text.trim().replace(/^\{\{\s*/, "").replace(/\s*\}\}$/, "");
  const c = parseCall(inner, pos);
  if (c.kind !== "ref" && c.kind !== "source") {
    throw new ModelError(pos, `expected ref('model') or source('name', 'table'), got ${text}`);
  }
  return `{{ ${inner} }}`;
}

function defaultName(spec: TestSpec, target: string): string {
  const t = target.toLowerCase();
  const col = spec.column?.toLowerCase();
  switch (spec.kind) {
    case "unique":
    case "not_null":
    case "accepted_values":
      return `${spec.kind}_${t}_${col}`;
    case "relationships": {
      const to = /'([^']+)'\s*\)\s*$/.exec(spec.to ?? "")?.[1]?.toLowerCase() ?? "x";
      return `relationships_${t}_${col}__${to}`;
    }
    case "unique_combination":
      return `unique_combination_${t}_${spec.columns!.map((c) => c.toLowerCase()).join("__")}`;
    case "row_count":
      return `row_count_${t}`;
    case "recency":
      return `recency_${t}_${spec.field!.toLowerCase()}`;
    case "expression":
      return spec.name!;
  }
}

/** The failing-rows query of a generic test (Snowflake SQL with ref()/source() calls). */
export function genericTestSql(
  spec: TestSpec,
  { relation, asOf }: { relation: string; asOf: Date },
): string {
  // The tested rows under an alias (a `where:` makes them a subquery, which needs one).
  const rows = (alias: string) =>
    spec.where
      ? `(SELECT * FROM ${relation} WHERE ${spec.where}) AS ${alias}`
      : `${relation} AS ${alias}`;
  const base = spec.where ? rows("t") : relation;
  const c = spec.column;
  const onlyIf = spec.whenNonempty
    ? `\n  AND EXISTS (SELECT 1 FROM ${relationCall(spec.whenNonempty, spec.pos)})`
    : "";
  switch (spec.kind) {
    case "unique":
      return `SELECT ${c} AS UNIQUE_FIELD, COUNT(*) AS N_RECORDS\nFROM ${base}\n` +
        `WHERE ${c} IS NOT NULL\nGROUP BY ${c}\nHAVING COUNT(*) > 1`;
    case "not_null":
      return `SELECT *\nFROM ${base}\nWHERE ${c} IS NULL`;
    case "accepted_values":
      return `SELECT ${c} AS VALUE_FIELD, COUNT(*) AS N_RECORDS\nFROM ${base}\n` +
        `WHERE ${c} IS NOT NULL AND ${c} NOT IN (${spec.values!.map(sqlLiteral).join(", ")})\n` +
        `GROUP BY ${c}`;
    case "relationships":
      return `SELECT child.${c} AS CHILD_VALUE, COUNT(*) AS N_RECORDS\n` +
        `FROM ${rows("child")}\nLEFT JOIN ${relationCall(spec.to!, spec.pos)} AS parent\n` +
        `  ON child.${c} = parent.${spec.field}\n` +
        `WHERE child.${c} IS NOT NULL AND parent.${spec.field} IS NULL\nGROUP BY child.${c}`;
    case "expression":
      return `SELECT *\nFROM ${base}\nWHERE NOT (${spec.expr})`;
    case "unique_combination": {
      const cols = spec.columns!.join(", ");
      return `SELECT ${cols}, COUNT(*) AS N_RECORDS\nFROM ${base}\nGROUP BY ${cols}\n` +
        `HAVING COUNT(*) > 1`;
    }
    case "row_count": {
      const cond = [
        spec.min !== undefined ? `N_ROWS < ${sqlLiteral(spec.min)}` : "",
        spec.max !== undefined ? `N_ROWS > ${sqlLiteral(spec.max)}` : "",
      ].filter(Boolean).join(" OR ");
      return `SELECT N_ROWS\nFROM (SELECT COUNT(*) AS N_ROWS FROM ${base}) AS counted\n` +
        `WHERE (${cond})${onlyIf}`;
    }
    case "recency": {
      const threshold = recencyThreshold(asOf, spec.maxTradingDays!);
      return `SELECT NEWEST, ${sqlString(threshold)}::DATE AS OLDEST_ACCEPTED\n` +
        `FROM (SELECT MAX(${spec.field})::DATE AS NEWEST FROM ${base}) AS newest\n` +
        `WHERE (NEWEST IS NULL OR NEWEST < ${sqlString(threshold)}::DATE)${onlyIf}`;
    }
  }
}

/** Every data test of the project, generic and singular. Names are unique (checked). */
export function collectTests(project: Project, asOf: Date): DataTest[] {
  const out: DataTest[] = [];
  const errors: ModelError[] = [];
  const add = (
    spec: TestSpec,
    attachedTo: string,
    attachedKind: "model" | "source",
    relationCall: string,
    shortName: string,
    file: string,
  ) => {
    try {
      const name = spec.name ?? defaultName(spec, shortName);
      const sql = genericTestSql(spec, { relation: relationCall, asOf });
      // A generated query is one line per clause; parse errors point at the YAML entry.
      const template = parseTemplate(sql, file, { lineOffset: spec.pos.line - 1 });
      // A ref() or source() here was written on the YAML entry (`to:`), not on the line of the
      // generated query it lands on: "ref('nope'): no such model" named the next test's line.
      for (const c of template.calls) c.pos = spec.pos;
      out.push({
        name,
        kind: spec.kind,
        severity: spec.severity,
        attachedTo,
        attachedKind,
        column: spec.column,
        description: spec.description ?? describe(spec),
        template,
        file,
        pos: spec.pos,
      });
    } catch (e) {
      if (e instanceof ModelError) errors.push(e);
      else throw e;
    }
  };
  for (const s of project.sources.values()) {
    const call = `{{ source('${s.source}', '${s.name}') }}`;
    for (const col of s.columns) {
      for (const t of col.tests) add(t, s.id, "source", call, s.name, s.file);
    }
    for (const t of s.tests) add(t, s.id, "source", call, s.name, s.file);
  }
  for (const m of project.models.values()) {
    const call = `{{ ref('${m.name}') }}`;
    const file = m.yamlFile ?? m.file;
    for (const col of m.columns) {
      for (const t of col.tests) add(t, m.name, "model", call, m.name, file);
    }
    for (const t of m.tests) add(t, m.name, "model", call, m.name, file);
  }
  for (const t of project.singularTests) {
    out.push({
      name: t.name,
      kind: "singular",
      severity: t.severity,
      attachedTo: "",
      attachedKind: "singular",
      description: t.description,
      template: t.template,
      file: t.file,
      pos: t.pos,
    });
  }
  const seen = new Map<string, DataTest>();
  for (const t of out) {
    const prev = seen.get(t.name);
    if (prev) {
      errors.push(
        new ModelError(
          t.pos,
          `test name ${t.name} is used twice (also ${prev.pos.file}:${prev.pos.line}): give one a name`,
        ),
      );
    }
    seen.set(t.name, t);
    // Failing rows go to <failures schema>.<test name>: a failing test named test_results
    // replaced the TEST_RESULTS table, and the run could then never record its results.
    if (t.name === "test_results") {
      errors.push(
        new ModelError(
          t.pos,
          "test name test_results is the results table's name: give it another",
        ),
      );
    }
  }
  for (const t of out) {
    for (const c of t.template.calls) {
      if (c.kind === "ref" && !project.models.has(c.name)) {
        errors.push(new ModelError(c.pos, `test ${t.name}: ref('${c.name}'): no such model`));
      }
      if (c.kind === "source" && !project.sources.has(`${c.source}.${c.table}`)) {
        errors.push(
          new ModelError(
            c.pos,
            `test ${t.name}: source('${c.source}', '${c.table}') is not declared`,
          ),
        );
      }
    }
  }
  if (errors.length > 0) throw new ProjectError(errors);
  return out;
}

function describe(s: TestSpec): string {
  switch (s.kind) {
    case "unique":
      return `${s.column} is unique`;
    case "not_null":
      return `${s.column} is never NULL`;
    case "accepted_values":
      return `${s.column} is one of ${s.values!.join(", ")}`;
    case "relationships":
      return `every ${s.column} exists as ${s.field} in ${s.to}`;
    case "expression":
      return `every row satisfies ${s.expr}`;
    case "unique_combination":
      return `one row per ${s.columns!.join(" + ")}`;
    case "row_count":
      return `row count between ${s.min ?? 0} and ${s.max ?? "any"}` +
        (s.whenNonempty ? ` (when ${s.whenNonempty} has rows)` : "");
    case "recency":
      return `newest ${s.field} at most ${s.maxTradingDays} trading day(s) behind the last closed session`;
  }
}

/**
 * Render and compile a test's failing-rows query (written as `tests/<name>.sql` under the
 * compiled folder). A singular test's parse error points at its file's line; a YAML test's query
 * is generated, so a parse error there (in `expr` or `where`, say) points at the YAML entry that
 * declares the test, not at a line of the generated text.
 */
export async function compileTest(compiler: Compiler, t: DataTest): Promise<CompiledSql> {
  try {
    return await compiler.compileQuery(compiler.render(t.template), t.file, `tests/${t.name}.sql`);
  } catch (e) {
    if (!(e instanceof ModelError) || t.kind === "singular") throw e;
    const message = e.message.slice(formatPos(e.pos).length + 1);
    throw new ModelError(t.pos, `test ${t.name}: ${message}`, { cause: e });
  }
}

/** Which models/sources a test reads (for selection and docs). */
export function testDependencies(t: DataTest): { models: string[]; sources: string[] } {
  const models = new Set<string>();
  const sources = new Set<string>();
  for (const c of t.template.calls) {
    if (c.kind === "ref") models.add(c.name);
    if (c.kind === "source") sources.add(`${c.source}.${c.table}`);
  }
  return { models: [...models], sources: [...sources] };
}

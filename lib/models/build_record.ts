/**
 * Build records: the definition each model relation was last built from, kept in
 * OPERATIONAL.TBL_MODEL_BUILD (migration 005_model_build) and written in the build's own
 * transaction, after its statements.
 *
 * A definition is the model's config (materialization, unique_key, replace_by) and its rendered
 * Snowflake SQL, both the full build and the incremental branch, with comments and layout
 * normalised away and the per-run variables (`var('as_of_date')`, `var('as_of_ts')`) left as
 * names: a new day is not a new definition, a changed line of logic or a new column is. Its
 * fingerprint is a SHA-256 of that.
 *
 * An incremental model whose table was built from another definition (or has no record: built
 * before records existed) is rebuilt in full instead of merged into: its incremental SQL may
 * read columns the old table lacks, and merging would mix rows of two logics in one table.
 *
 * On Snowflake a table build's DDL commits on its own; since the record is written last, a
 * failure in between leaves the previous record and the next run rebuilds again (never the
 * reverse: a record claiming a definition the table was not built from).
 */
import { createHash } from "node:crypto";
import type { Session, Warehouse } from "../warehouse/warehouse.ts";
import type { Compiler } from "./compile.ts";
import type { ModelNode } from "./project.ts";

/** Bump when what goes into a fingerprint changes (every incremental model rebuilds once). */
const FINGERPRINT_VERSION = 1;

export const READ_BUILD_RECORDS_SQL =
  "SELECT RELATION_NAME, FINGERPRINT FROM OPERATIONAL.TBL_MODEL_BUILD";

const DELETE_SQL = "DELETE FROM OPERATIONAL.TBL_MODEL_BUILD WHERE RELATION_NAME = ?";
const INSERT_SQL = "INSERT INTO OPERATIONAL.TBL_MODEL_BUILD " +
  "(RELATION_NAME, MODEL_NAME, MATERIALIZED, BUILD_MODE, FINGERPRINT) VALUES (?, ?, ?, ?, ?)";

/** The key of a relation in the records (and in models_run's map of existing relations). */
export function relationKey(m: ModelNode): string {
  return m.relation.toUpperCase();
}

/** The fingerprint of a model's definition (see the header). */
export function definitionFingerprint(compiler: Compiler, m: ModelNode): string {
  const render = (isIncremental: boolean) =>
    normalizeSql(
      compiler.render(m.template, { self: m.relation, isIncremental, runVarsAsNames: true }),
    );
  const definition = {
    version: FINGERPRINT_VERSION,
    materialized: m.materialized,
    uniqueKey: m.uniqueKey,
    replaceBy: m.replaceBy,
    full: render(false),
    incremental: m.materialized === "incremental" ? render(true) : null,
  };
  return createHash("sha256").update(JSON.stringify(definition)).digest("hex");
}

/** Recorded fingerprints by relation key (SCHEMA.NAME, upper case). */
export async function readBuildRecords(
  wh: Warehouse,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const rows = await wh.query<{ RELATION_NAME: string; FINGERPRINT: string }>(
    READ_BUILD_RECORDS_SQL,
    [],
    { signal, label: "models_run: build records" },
  );
  return new Map(rows.map((r) => [r.RELATION_NAME.toUpperCase(), r.FINGERPRINT]));
}

/** Record that `m` was built from `fingerprint` (inside the build's transaction). */
export async function writeBuildRecord(
  s: Session,
  m: ModelNode,
  { mode, fingerprint }: { mode: string; fingerprint: string },
): Promise<void> {
  const key = relationKey(m);
  await s.execute(DELETE_SQL, [key]);
  await s.execute(INSERT_SQL, [key, m.name, m.materialized, mode, fingerprint]);
}

/**
 * SQL text without comments, with every run of whitespace outside quotes made one space and
 * none at either end. Quoted strings and identifiers are kept exactly.
 */
export function normalizeSql(sql: string): string {
  let out = "";
  let space = false;
  let i = 0;
  const emit = (text: string) => {
    if (space && out !== "") out += " ";
    space = false;
    out += text;
  };
  while (i < sql.length) {
    const ch = sql[i];
    if (ch === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? sql.length : end;
      space = true;
    } else if (ch === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end === -1 ? sql.length : end + 2;
      space = true;
    } else if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === ch && sql[j + 1] === ch) j += 2;
        else if (sql[j] === ch) break;
        else j++;
      }
      emit(sql.slice(i, j + 1));
      i = j + 1;
    } else if (/\s/.test(ch)) {
      space = true;
      i++;
    } else {
      emit(ch);
      i++;
    }
  }
  return out;
}

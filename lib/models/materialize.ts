/**
 * Materializations: the statements that turn a model's compiled SELECT into a relation.
 *
 * DuckDB: DDL is transactional, so a model's statements all run in one transaction (run.ts) and a
 * failure anywhere (a SQL error, a failed key check) leaves everything as it was.
 *
 * Snowflake: a DDL statement (CREATE, DROP, ALTER, also CREATE TEMPORARY TABLE) commits any open
 * transaction and then commits itself, so run.ts sends the DDL and the checks before BEGIN
 * (TransactionOptions.prepare), each statement committing on its own, and keeps only DML between
 * BEGIN and COMMIT (the merge's DELETE and INSERT, the build record). What that gives:
 *   table        built into `<name>__egx_tmp` and checked there (an incremental model's key columns)
 *                before the old table is touched, then `ALTER TABLE ... SWAP WITH` (or, replacing a
 *                view or nothing, DROP VIEW + RENAME). A failure before the swap leaves the old
 *                table (and possibly a `__egx_tmp` table, replaced by the next build). Not atomic:
 *                after a failed DROP of `__egx_tmp` the new table is in place but the build record is
 *                not, so the next run rebuilds it in full.
 *   view         CREATE OR REPLACE VIEW (atomic). Replacing a table: the view is created first as
 *                `<name>__egx_view` (so a SQL error fails before the table is dropped), then DROP
 *                TABLE and ALTER VIEW ... RENAME. Not atomic: between the DROP and the RENAME the
 *                relation does not exist, and a failed RENAME leaves only `<name>__egx_view`.
 *   incremental  the new rows into a temporary table and checked (before BEGIN: their columns'
 *                names and types, and no NULL in a key column, see nullKeysQuery); then
 *                DELETE of the target rows they replace (matching `replace_by`, default the unique
 *                key) and INSERT in one transaction with the build record (atomic); the temporary
 *                table is dropped after COMMIT.
 */
import type { Target } from "./compile.ts";

export type RelationType = "table" | "view";

export interface Relation {
  schema: string;
  name: string;
}

const q = (r: Relation, suffix = "") => `${r.schema}.${r.name}${suffix}`;

/** What to build: the relation, its compiled SELECT, and what exists there now. */
export interface Build {
  rel: Relation;
  sql: string;
  existing?: RelationType;
}

/** Statements building `rel` as a table from `sql`, given what exists there now. */
export function tableStatements(target: Target, b: Build): string[] {
  const { build, replace } = tableSteps(target, b);
  return [...build, ...replace];
}

/** The table a table build is built into before it replaces `rel`. */
export function tmpTableRelation(rel: Relation): Relation {
  return { schema: rel.schema, name: `${rel.name}__egx_tmp` };
}

/**
 * A table build in two steps: `build` makes the new table `<name>__egx_tmp` (and touches nothing
 * else), `replace` puts it in the place of what exists there now. Snowflake checks the new table
 * in between (DDL commits there: nothing after `replace` can undo it).
 */
export function tableSteps(
  target: Target,
  { rel, sql, existing }: Build,
): { build: string[]; replace: string[] } {
  const tmp = q(tmpTableRelation(rel));
  if (target === "duckdb") {
    const replace: string[] = [];
    if (existing === "table") replace.push(`DROP TABLE ${q(rel)}`);
    if (existing === "view") replace.push(`DROP VIEW ${q(rel)}`);
    replace.push(`ALTER TABLE ${tmp} RENAME TO ${rel.name}`);
    return { build: [`DROP TABLE IF EXISTS ${tmp}`, `CREATE TABLE ${tmp} AS\n${sql}`], replace };
  }
  const build = [`CREATE OR REPLACE TABLE ${tmp} AS\n${sql}`];
  if (existing === "table") {
    return { build, replace: [`ALTER TABLE ${q(rel)} SWAP WITH ${tmp}`, `DROP TABLE ${tmp}`] };
  }
  const replace: string[] = [];
  if (existing === "view") replace.push(`DROP VIEW ${q(rel)}`);
  replace.push(`ALTER TABLE ${tmp} RENAME TO ${q(rel)}`);
  return { build, replace };
}

/**
 * Statements building `rel` as a view. Snowflake, replacing a table: the view is created under
 * another name first, so an error in its SQL fails before the table is dropped (DROP TABLE commits
 * there), then renamed into place. DuckDB drops and creates in one transaction.
 */
export function viewStatements(target: Target, { rel, sql, existing }: Build): string[] {
  if (target === "snowflake" && existing === "table") {
    const tmp = q(rel, "__egx_view");
    return [
      `CREATE OR REPLACE VIEW ${tmp} AS\n${sql}`,
      `DROP TABLE ${q(rel)}`,
      `ALTER VIEW ${tmp} RENAME TO ${q(rel)}`,
    ];
  }
  const out: string[] = [];
  if (existing === "table") out.push(`DROP TABLE ${q(rel)}`);
  out.push(`CREATE OR REPLACE VIEW ${q(rel)} AS\n${sql}`);
  return out;
}

/** The temporary relation holding an incremental run's new rows. */
export function newRowsRelation(target: Target, rel: Relation): string {
  return target === "duckdb" ? `${rel.name}__egx_new` : q(rel, "__egx_new");
}

/** Step 1 of an incremental run: the new rows into a temporary table. */
export function incrementalStageStatements(target: Target, { rel, sql }: Build): string[] {
  const tmp = newRowsRelation(target, rel);
  return target === "duckdb"
    ? [`DROP TABLE IF EXISTS ${tmp}`, `CREATE TEMP TABLE ${tmp} AS\n${sql}`]
    : [`CREATE OR REPLACE TEMPORARY TABLE ${tmp} AS\n${sql}`];
}

/**
 * How many rows of `from` hold NULL in each key column (N0, N1, ... in the order of `keys`):
 * between steps 1 and 2, the new rows (newRowsRelation); in a full build, the new table. The
 * DELETE matches keys with IN, and NULL matches nothing: a row with a NULL key would be inserted
 * again on every run. Such rows are refused before anything is written.
 */
export function nullKeysQuery(from: string, keys: readonly string[]): string {
  const counts = keys.map((k, i) => `COUNT(*) - COUNT(${k}) AS N${i}`).join(", ");
  return `SELECT ${counts} FROM ${from}`;
}

/**
 * Step 2 (after the columns and keys were checked): replace matching rows, insert the new ones.
 * DML only (on Snowflake these two are the transaction); step 3 drops the temporary table.
 */
export function incrementalMergeStatements(
  target: Target,
  { rel, replaceBy, columns }: {
    rel: Relation;
    replaceBy: readonly string[];
    columns: readonly string[];
  },
): string[] {
  const tmp = newRowsRelation(target, rel);
  const keys = replaceBy.length === 1 ? replaceBy[0] : `(${replaceBy.join(", ")})`;
  const cols = columns.join(", ");
  return [
    `DELETE FROM ${q(rel)} WHERE ${keys} IN (SELECT ${replaceBy.join(", ")} FROM ${tmp})`,
    `INSERT INTO ${q(rel)} (${cols}) SELECT ${cols} FROM ${tmp}`,
  ];
}

/**
 * Step 3: drop the temporary table (DuckDB: in the transaction; Snowflake: DDL, after COMMIT).
 */
export function incrementalDropStatement(target: Target, rel: Relation): string {
  return `DROP TABLE ${newRowsRelation(target, rel)}`;
}

/**
 * columnsQuery with its parameters (schema and name, or a temporary table's name) written in as
 * literals: a statement complete in itself, as the statements a model records are (they are
 * shown and replayed without parameters).
 */
export function columnsQueryOf(target: Target, temp: boolean, params: readonly string[]): string {
  let i = 0;
  return columnsQuery(target, temp).replace(/\?/g, () => `'${params[i++].replaceAll("'", "''")}'`);
}

/**
 * Columns of a relation, in order, with their types (information_schema works on both
 * warehouses; see columnType).
 */
export function columnsQuery(target: Target, temp: boolean): string {
  const cols = "SELECT column_name AS COLUMN_NAME, data_type AS DATA_TYPE, " +
    "numeric_precision AS NUMERIC_PRECISION, numeric_scale AS NUMERIC_SCALE " +
    "FROM information_schema.columns ";
  if (target === "duckdb" && temp) {
    return cols + "WHERE table_catalog = 'temp' AND table_name = ? ORDER BY ordinal_position";
  }
  return cols + "WHERE upper(table_schema) = upper(?) AND upper(table_name) = upper(?) " +
    "ORDER BY ordinal_position";
}

/** A row of columnsQuery. */
export type ColumnRow = {
  COLUMN_NAME: string;
  DATA_TYPE: string;
  NUMERIC_PRECISION?: number | null;
  NUMERIC_SCALE?: number | null;
};

/**
 * A column's type spelled one way, so that identical types compare equal: upper case, no
 * spaces (DuckDB spells `DECIMAL(18,3)` in data_type). Snowflake's data_type is `NUMBER` whatever
 * the scale: its precision and scale are added, or NUMBER(38,0) and NUMBER(38,2) compared equal
 * and an insert rounded the new values to the old scale.
 */
export function columnType(target: Target, r: ColumnRow): string {
  const t = String(r.DATA_TYPE).toUpperCase().replace(/\s+/g, "");
  if (target === "snowflake" && t === "NUMBER" && r.NUMERIC_SCALE != null) {
    return `NUMBER(${Number(r.NUMERIC_PRECISION)},${Number(r.NUMERIC_SCALE)})`;
  }
  return t;
}

/** Existing relations in some schemas: rows of (SCHEMA_NAME, TABLE_NAME, TABLE_TYPE). */
export function relationsQuery(schemaCount: number): string {
  const marks = Array.from({ length: schemaCount }, () => "upper(?)").join(", ");
  return "SELECT table_schema AS SCHEMA_NAME, table_name AS TABLE_NAME, " +
    "table_type AS TABLE_TYPE FROM information_schema.tables " +
    `WHERE upper(table_schema) IN (${marks})`;
}

/**
 * Ordered schema migrations, shared by both warehouses.
 *
 * A DDL file (`migrations_duckdb.sql`, `migrations_snowflake.sql`) is a preamble followed by
 * migrations, each starting with a line `-- migration: NNN_name`. The preamble holds idempotent
 * bootstrap statements (the OPERATIONAL schema and the SCHEMA_MIGRATION table that records what
 * was applied) and runs on every `migrate()`. Each migration runs once, in version order, and is
 * recorded with a checksum of its text. A migration whose text changed
 * after it was applied is an error: schema changes are new migrations, never edits.
 *
 * After the migrations, OPERATIONAL.TBL_MARKET_CLOSURE is synchronised with the closures in
 * lib/market/egx_calendar.json (rows added, renamed or removed only when they differ).
 */
import { allClosures } from "../market/calendar.ts";
import type { Session, TransactionOptions } from "./warehouse.ts";

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationFile {
  /** Idempotent statements run before any migration (may be empty). */
  preamble: string;
  migrations: Migration[];
}

const MARKER = /^--\s*migration:\s*(\d+)_([A-Za-z0-9_]+)\s*$/;

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Split a DDL file into its preamble and ordered migrations; `file` names it in errors. */
export async function parseMigrations(text: string, file: string): Promise<MigrationFile> {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const preamble: string[] = [];
  const parts: { version: number; name: string; line: number; body: string[] }[] = [];
  lines.forEach((line, i) => {
    const m = MARKER.exec(line.trim());
    if (m) parts.push({ version: Number(m[1]), name: `${m[1]}_${m[2]}`, line: i + 1, body: [] });
    else if (parts.length === 0) preamble.push(line);
    else parts[parts.length - 1].body.push(line);
  });
  const migrations: Migration[] = [];
  for (const [i, p] of parts.entries()) {
    if (i > 0 && p.version <= parts[i - 1].version) {
      throw new Error(
        `${file}:${p.line}: migration ${p.name} is out of order (after ${parts[i - 1].name})`,
      );
    }
    const sql = p.body.join("\n").trim();
    migrations.push({ version: p.version, name: p.name, sql, checksum: await sha256(sql) });
  }
  return { preamble: stripComments(preamble.join("\n")).trim(), migrations };
}

/** Remove `--` comment lines (the preamble is mostly prose). */
function stripComments(sql: string): string {
  return sql.split("\n").filter((l) => !l.trim().startsWith("--")).join("\n");
}

/** How a warehouse runs one unit of migration work (its own transaction). */
export type RunInTransaction = <T>(
  fn: (s: Session) => Promise<T>,
  opts?: TransactionOptions,
) => Promise<T>;

/** Record a migration (guarded, since Snowflake does not enforce the primary key). */
const RECORD_SQL = "INSERT INTO OPERATIONAL.SCHEMA_MIGRATION (VERSION, NAME, CHECKSUM) " +
  "SELECT ?, ?, ? WHERE NOT EXISTS " +
  "(SELECT 1 FROM OPERATIONAL.SCHEMA_MIGRATION WHERE VERSION = ?)";

function checkRecorded(m: Migration, sum: string, fileName: string): void {
  if (sum !== m.checksum) {
    throw new Error(
      `${fileName}: migration ${m.name} was edited after it was applied (checksum ` +
        `${sum.slice(0, 12)} recorded, ${m.checksum.slice(0, 12)} in the file): ` +
        "add a new migration instead",
    );
  }
}

/** The migrations not applied yet, in order; an applied one that was edited is an error. */
async function pending(s: Session, file: MigrationFile, fileName: string): Promise<Migration[]> {
  const rows = await s.query<{ VERSION: number; CHECKSUM: string }>(
    "SELECT VERSION, CHECKSUM FROM OPERATIONAL.SCHEMA_MIGRATION",
  );
  const have = new Map(rows.map((r) => [Number(r.VERSION), r.CHECKSUM]));
  return file.migrations.filter((m) => {
    const sum = have.get(m.version);
    if (sum !== undefined) checkRecorded(m, sum, fileName);
    return sum === undefined;
  });
}

export interface ApplyOptions extends TransactionOptions {
  /** Run a multi-statement script inside a session (dialects differ in how). */
  runScript: (s: Session, sql: string) => Promise<void>;
  /** Names the DDL file in errors. */
  fileName: string;
  /**
   * For warehouses whose DDL commits implicitly (Snowflake): run DDL outside any explicit
   * transaction with this. Without it, everything runs in one transaction (DuckDB: atomic).
   */
  autocommit?: <T>(fn: (s: Session) => Promise<T>) => Promise<T>;
}

/**
 * Apply pending migrations and sync market closures; returns the names applied. On DuckDB it
 * is one transaction. On Snowflake each migration's DDL runs on its own (DDL commits
 * implicitly there), then its record; a migration interrupted midway runs again from its start
 * next time, which is why every migration is written to be re-runnable (IF NOT EXISTS).
 */
export async function applyMigrations(
  file: MigrationFile,
  tx: RunInTransaction,
  opts: ApplyOptions,
): Promise<string[]> {
  const { runScript, fileName, autocommit, ...txOpts } = opts;
  const o = { ...txOpts, label: txOpts.label ?? "migrate" };
  if (!autocommit) {
    return tx(async (s) => {
      if (file.preamble) await runScript(s, file.preamble);
      const todo = await pending(s, file, fileName);
      for (const m of todo) {
        await runScript(s, m.sql);
        await s.execute(RECORD_SQL, [m.version, m.name, m.checksum, m.version]);
      }
      await syncClosures(s);
      return todo.map((m) => m.name);
    }, o);
  }
  if (file.preamble) await autocommit((s) => runScript(s, file.preamble));
  const todo = await autocommit((s) => pending(s, file, fileName));
  for (const m of todo) {
    o.signal?.throwIfAborted();
    await autocommit((s) => runScript(s, m.sql));
    await tx((s) => s.execute(RECORD_SQL, [m.version, m.name, m.checksum, m.version]), o);
  }
  await tx((s) => syncClosures(s), o);
  return todo.map((m) => m.name);
}

/** Make OPERATIONAL.TBL_MARKET_CLOSURE equal to the calendar's closures; returns rows changed. */
async function syncClosures(s: Session): Promise<number> {
  const rows = await s.query<{ CLOSURE_DATE: string; NAME: string; SOURCE: string | null }>(
    "SELECT CLOSURE_DATE, NAME, SOURCE FROM OPERATIONAL.TBL_MARKET_CLOSURE",
  );
  const have = new Map(rows.map((r) => [r.CLOSURE_DATE, r]));
  const want = allClosures();
  let changed = 0;
  for (const c of want) {
    const h = have.get(c.date);
    have.delete(c.date);
    if (h && h.NAME === c.name && h.SOURCE === c.source) continue;
    if (h) {
      await s.execute("DELETE FROM OPERATIONAL.TBL_MARKET_CLOSURE WHERE CLOSURE_DATE = ?", [
        c.date,
      ]);
    }
    await s.execute(
      "INSERT INTO OPERATIONAL.TBL_MARKET_CLOSURE (CLOSURE_DATE, NAME, SOURCE) VALUES (?, ?, ?)",
      [c.date, c.name, c.source],
    );
    changed++;
  }
  for (const date of have.keys()) {
    await s.execute("DELETE FROM OPERATIONAL.TBL_MARKET_CLOSURE WHERE CLOSURE_DATE = ?", [date]);
    changed++;
  }
  return changed;
}

/**
 * Split a script into statements at `;` outside quotes and comments (for warehouses that run
 * one statement per request). Comment-only pieces are dropped.
 */
export function splitStatements(script: string): string[] {
  const out: string[] = [];
  let cur = "";
  let i = 0;
  while (i < script.length) {
    const ch = script[i];
    if (ch === "-" && script[i + 1] === "-") {
      const end = script.indexOf("\n", i);
      i = end === -1 ? script.length : end;
      continue;
    }
    if (ch === "/" && script[i + 1] === "*") {
      const end = script.indexOf("*/", i + 2);
      i = end === -1 ? script.length : end + 2;
      cur += " ";
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < script.length) {
        if (script[j] === ch && script[j + 1] === ch) j += 2;
        else if (script[j] === ch) break;
        else j++;
      }
      cur += script.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ";") {
      if (cur.trim()) out.push(cur.trim());
      cur = "";
    } else {
      cur += ch;
    }
    i++;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

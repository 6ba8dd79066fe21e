/**
 * Ordered schema migrations, shared by both warehouses.
 *
 * A DDL file (`migrations_duckdb.sql`, `migrations_snowflake.sql`) is a preamble followed by
 * migrations, each starting with a line `-- migration: NNN_name`. The preamble holds idempotent
 * bootstrap statements (the OPERATIONAL schema and the SCHEMA_MIGRATION table that records what
 * was applied) and runs on every `migrate()`. Each migration runs once, in version order, and is
 * recorded with a checksum of its text in the same transaction. A migration whose text changed
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

/**
 * Apply pending migrations and sync market closures, all in one transaction (on DuckDB the
 * schema change is atomic; Snowflake commits DDL implicitly); returns the names applied.
 * `runScript` runs a multi-statement script inside a session (dialects differ in how).
 */
export function applyMigrations(
  file: MigrationFile,
  tx: RunInTransaction,
  opts: TransactionOptions & {
    runScript: (s: Session, sql: string) => Promise<void>;
    fileName: string;
  },
): Promise<string[]> {
  const { runScript, fileName, ...txOpts } = opts;
  return tx(async (s) => {
    if (file.preamble) await runScript(s, file.preamble);
    const rows = await s.query<{ VERSION: number; CHECKSUM: string }>(
      "SELECT VERSION, CHECKSUM FROM OPERATIONAL.SCHEMA_MIGRATION",
    );
    const recorded = new Map(rows.map((r) => [Number(r.VERSION), r.CHECKSUM]));
    const applied: string[] = [];
    for (const m of file.migrations) {
      const sum = recorded.get(m.version);
      if (sum !== undefined) {
        if (sum !== m.checksum) {
          throw new Error(
            `${fileName}: migration ${m.name} was edited after it was applied (checksum ` +
              `${sum.slice(0, 12)} recorded, ${m.checksum.slice(0, 12)} in the file): ` +
              "add a new migration instead",
          );
        }
        continue;
      }
      await runScript(s, m.sql);
      await s.execute(
        "INSERT INTO OPERATIONAL.SCHEMA_MIGRATION (VERSION, NAME, CHECKSUM) VALUES (?, ?, ?)",
        [m.version, m.name, m.checksum],
      );
      applied.push(m.name);
    }
    await syncClosures(s);
    return applied;
  }, { ...txOpts, label: txOpts.label ?? "migrate" });
}

/** Make OPERATIONAL.TBL_MARKET_CLOSURE equal to the calendar's closures; returns rows changed. */
export async function syncClosures(s: Session): Promise<number> {
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

/**
 * The warehouse contract: one interface, two implementations (DuckDB embedded default,
 * Snowflake production). Everything that reads or writes warehouse tables goes through it.
 *
 * Value mapping (both implementations return the same JavaScript values):
 *   DATE -> "YYYY-MM-DD" string; TIMESTAMP (always UTC) -> ISO string "YYYY-MM-DDTHH:MM:SS.sssZ";
 *   BIGINT/INTEGER -> number (bigint only beyond 2^53); DOUBLE/DECIMAL -> number;
 *   VARCHAR -> string; BOOLEAN -> boolean; NULL -> null.
 * Column names come back as the warehouse reports them (upper case for the OPERATIONAL tables).
 *
 * Parameters are positional (`?` in DuckDB SQL; the Snowflake implementation binds `?` too).
 * Identifiers are never built from untrusted input.
 */
import { ConfigError, type WarehouseConfig } from "../config/config.ts";

export type SqlValue = string | number | bigint | boolean | null | Date;
export type Row = Record<string, SqlValue>;

/** A connection inside one transaction. */
export interface Session {
  /** Run a statement and return its rows. */
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Run a statement; returns the number of rows changed when the warehouse reports it. */
  execute(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /**
   * Bulk-insert rows into a table (typically a temporary staging table before an upsert):
   * the DuckDB Appender, or multi-row binds on Snowflake.
   */
  insertRows(table: string, columns: readonly string[], rows: readonly SqlValue[][]): Promise<void>;
}

/** How far the statement running now has got, as the warehouse estimates it. */
export interface StatementProgress {
  /** Percent of the statement done, 0-100. */
  percentage: number;
  /** Rows (an estimate, in the warehouse's own units) the statement has processed so far. */
  rowsProcessed: number;
  /** Rows it expects to process in all (an estimate; may change while it runs). */
  totalRows: number;
}

export interface TransactionOptions {
  signal?: AbortSignal;
  /** Names the work in lock-wait and error messages, e.g. "batch_load bars_1m/COMI.csv". */
  label?: string;
  /**
   * Called every `progressIntervalMs` while a statement of the transaction (or the read) runs,
   * with that statement's progress; each statement starts again from 0 %. DuckDB polls its
   * connection (statements run on DuckDB's own threads, so the poll is not blocked by them);
   * Snowflake reports no progress: there it is never called.
   */
  onProgress?: (p: StatementProgress) => void;
  /** How often `onProgress` is polled (default 500 ms). */
  progressIntervalMs?: number;
  /**
   * Staging before the transaction: run on the transaction's own connection just before BEGIN,
   * each statement committing on its own, within the same hold of the warehouse (no other writer
   * of this process runs in between). Its temporary tables are there for `fn`. (DuckDB scans a
   * temporary table created and filled inside the transaction 2-3x slower than a committed one,
   * e.g. a large file staged for an upsert.) On Snowflake it is where DDL goes (models_run's
   * builds, models_test's tables): see `transaction`. When it throws, the transaction does not
   * start and the error is thrown.
   */
  prepare?: (s: Session) => Promise<void>;
}

export interface Warehouse {
  readonly kind: "duckdb" | "snowflake";
  /**
   * Run `fn` in one transaction: commit when it resolves, roll back when it throws (nothing
   * half-written). On DuckDB the file is held only for the transaction; a lock conflict with
   * another process is retried with backoff until `signal` aborts. On Snowflake that holds only
   * for DML and queries: a DDL statement (CREATE, DROP, ALTER, also of a temporary table) commits
   * the open transaction, commits itself, and leaves the statements after it in autocommit (a
   * later ROLLBACK undoes nothing). DDL goes in `prepare` (before BEGIN) or after the commit.
   */
  transaction<T>(fn: (s: Session) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /** A read outside any explicit transaction (DuckDB: the file is held only for the query). */
  query<T extends Row = Row>(
    sql: string,
    params?: readonly SqlValue[],
    opts?: TransactionOptions,
  ): Promise<T[]>;
  /** Apply pending migrations in order, record them, and return the names applied. */
  migrate(opts?: TransactionOptions): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * For implementations: run `opts.prepare` on `s`, then `fn` on `s` between BEGIN and COMMIT;
 * ROLLBACK and rethrow when `fn` throws or `opts.signal` aborts before the commit.
 */
export async function inTransaction<T>(
  s: Session,
  fn: (s: Session) => Promise<T>,
  opts: Pick<TransactionOptions, "signal" | "prepare"> = {},
): Promise<T> {
  const { signal } = opts;
  if (opts.prepare) {
    await opts.prepare(s);
    signal?.throwIfAborted();
  }
  await s.execute("BEGIN TRANSACTION");
  let result: T;
  try {
    result = await fn(s);
    signal?.throwIfAborted();
  } catch (e) {
    try {
      await s.execute("ROLLBACK");
    } catch { /* the original error is the one to report */ }
    throw e;
  }
  await s.execute("COMMIT");
  return result;
}

/** A write could not get the warehouse (lock held elsewhere, service down) before giving up. */
export class WarehouseBusyError extends Error {
  override name = "WarehouseBusyError";
}

/**
 * A reader was pointed at a DuckDB file that does not exist (a mistyped EGX_WAREHOUSE, or a
 * pipeline never run): nothing was created. A configuration error (exit 2, not retried).
 */
export class WarehouseMissingError extends ConfigError {
  override name = "WarehouseMissingError";
  constructor(readonly path: string) {
    super(
      `DuckDB warehouse file ${path} (EGX_WAREHOUSE, default data/egx.duckdb) does not exist: ` +
        `run "deno task run full_pipeline" first to create it, or fix EGX_WAREHOUSE`,
    );
  }
}

/** A statement failed; `sql` is the statement (never with secret values). */
export class WarehouseQueryError extends Error {
  override name = "WarehouseQueryError";
  constructor(message: string, readonly sql: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export interface OpenOptions {
  /** Apply pending migrations on open (default true; idempotent and cheap when up to date). */
  migrate?: boolean;
  signal?: AbortSignal;
  /** DuckDB: give up waiting for another process's file lock after this long (default 5 min). */
  lockTimeoutMs?: number;
  /**
   * DuckDB: keep the file open this long after a transaction in case another follows at once
   * (default 25 ms, 0 = close immediately). Other processes wait at most ~1/4 s for it.
   */
  lingerMs?: number;
  /**
   * DuckDB: the file must exist already (for commands that only read the warehouse: the server,
   * health and data checks, docs, alerts). A missing file is a WarehouseMissingError, here and
   * at every later open of the file, and nothing is created (no file, no `.wal`): DuckDB would
   * otherwise create an empty database wherever a mistyped EGX_WAREHOUSE points. Default false:
   * writers (batch_load, models_run, the stream consumer) create the file on first use.
   */
  mustExist?: boolean;
}

/**
 * Open the configured warehouse (`loadConfig().warehouse`) and, unless `migrate: false`, bring
 * its schema up to date. Implementations are loaded on demand, so importing this module loads
 * neither the DuckDB native binding nor the Snowflake driver.
 */
export async function openWarehouse(
  config: WarehouseConfig,
  opts: OpenOptions = {},
): Promise<Warehouse> {
  let wh: Warehouse;
  if (config.kind === "duckdb") {
    const { DuckDBWarehouse } = await import("./duckdb.ts");
    wh = await DuckDBWarehouse.open(config.path, {
      lockTimeoutMs: opts.lockTimeoutMs,
      lingerMs: opts.lingerMs,
      mustExist: opts.mustExist,
    });
  } else {
    await import("./job_env.ts"); // before the driver loads: it reads process.env freely
    const { SnowflakeWarehouse } = await import("./snowflake.ts");
    wh = await SnowflakeWarehouse.open(config, { signal: opts.signal });
  }
  if (opts.migrate ?? true) {
    try {
      await wh.migrate({ signal: opts.signal, label: "migrate" });
    } catch (e) {
      await wh.close();
      throw e;
    }
  }
  return wh;
}

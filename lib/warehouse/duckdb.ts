/**
 * The DuckDB warehouse (the embedded default): a database file, held only for each transaction
 * or read (see duckdb_file.ts), or an in-memory database (`:memory:`, kept for the warehouse's
 * lifetime, used as a local staging engine).
 */
import {
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBMaterializedResult,
} from "@duckdb/node-api";
import ddl from "./migrations_duckdb.sql" with { type: "text" };
import { appendFnFor, fromDuckDB, toParam } from "./duckdb_values.ts";
import { checkFileExists, closeIdle, createInstance, withFile } from "./duckdb_file.ts";
import { applyMigrations, parseMigrations } from "./migrations.ts";
import {
  inTransaction,
  type Row,
  type Session,
  type SqlValue,
  type TransactionOptions,
  type Warehouse,
  WarehouseQueryError,
} from "./warehouse.ts";

export interface DuckDBOptions {
  /** Give up waiting for another process's lock after this long (default 5 minutes). */
  lockTimeoutMs?: number;
  /** Where to report long lock waits (default: console.error). */
  onWait?: (message: string) => void;
  /**
   * Keep the file open this long after a transaction in case another follows (default 25 ms;
   * bounded by the share window, so other processes wait at most ~1/4 s for it).
   */
  lingerMs?: number;
  /**
   * Refuse a missing file (WarehouseMissingError) at open and at every later open of it, and
   * never create one: for readers (see OpenOptions.mustExist). Default false.
   */
  mustExist?: boolean;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

function queryError(e: unknown, sql: string, label?: string): WarehouseQueryError {
  if (e instanceof WarehouseQueryError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const oneLine = sql.replace(/\s+/g, " ").trim();
  const shown = oneLine.length > 160 ? `${oneLine.slice(0, 157)}...` : oneLine;
  return new WarehouseQueryError(`${label ? `${label}: ` : ""}${msg} [in: ${shown}]`, sql, {
    cause: e,
  });
}

async function rowsOf<T extends Row>(result: DuckDBMaterializedResult): Promise<T[]> {
  const names = result.deduplicatedColumnNames();
  const types = result.columnTypes();
  const out: T[] = [];
  for (const chunk of await result.fetchAllChunks()) {
    const cols = names.map((_, i) => chunk.getColumnValues(i));
    for (let r = 0; r < chunk.rowCount; r++) {
      const row: Row = {};
      for (let c = 0; c < names.length; c++) row[names[c]] = fromDuckDB(cols[c][r], types[c]);
      out.push(row as T);
    }
  }
  return out;
}

/**
 * Run `fn` on `conn` while polling the statement it runs for `opts.onProgress`. DuckDB executes a
 * statement on its own threads (the binding's query is asynchronous native work), so the event
 * loop stays free and the interval fires while the statement runs. DuckDB measures progress only
 * with its progress bar enabled (its printing stays off). A callback that throws stops the
 * polling, and its error is thrown once `fn` has settled (inside a transaction: rolling it back).
 */
async function withProgress<T>(
  conn: DuckDBConnection,
  opts: TransactionOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const report = opts.onProgress;
  if (!report) return await fn();
  await conn.run("SET enable_progress_bar = true");
  await conn.run("SET enable_progress_bar_print = false");
  let failure: { error: unknown } | null = null;
  const timer = setInterval(() => {
    const p = conn.progress;
    // -1: no statement running, or one whose progress DuckDB cannot estimate.
    if (p.percentage < 0) return;
    try {
      report({
        percentage: p.percentage,
        rowsProcessed: Number(p.rows_processed),
        totalRows: Number(p.total_rows_to_process),
      });
    } catch (error) {
      failure = { error };
      clearInterval(timer);
    }
  }, opts.progressIntervalMs ?? 500);
  let result: T;
  try {
    result = await fn();
  } finally {
    clearInterval(timer);
  }
  if (failure) throw (failure as { error: unknown }).error;
  return result;
}

class DuckDBSession implements Session {
  constructor(private readonly conn: DuckDBConnection, private readonly label?: string) {}

  private async run(sql: string, params?: readonly SqlValue[]): Promise<DuckDBMaterializedResult> {
    try {
      return await this.conn.run(
        sql,
        params && params.length > 0 ? params.map(toParam) : undefined,
      );
    } catch (e) {
      throw queryError(e, sql, this.label);
    }
  }

  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    const result = await this.run(sql, params);
    try {
      return await rowsOf<T>(result);
    } catch (e) {
      throw queryError(e, sql, this.label);
    }
  }

  async execute(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return (await this.run(sql, params)).rowsChanged;
  }

  async insertRows(
    table: string,
    columns: readonly string[],
    rows: readonly SqlValue[][],
  ): Promise<void> {
    if (!TABLE_NAME.test(table)) throw new TypeError(`insertRows: bad table name ${table}`);
    const [schema, name] = table.includes(".") ? table.split(".") : [null, table];
    const probe = await this.run(`SELECT * FROM ${table} LIMIT 0`);
    const tableCols = probe.columnNames();
    const sameShape = tableCols.length === columns.length &&
      tableCols.every((c, i) => c.toUpperCase() === columns[i].toUpperCase());
    if (!sameShape) {
      // The Appender fills every column in table order: go through a scratch table of `columns`.
      for (const c of columns) {
        if (!tableCols.some((t) => t.toUpperCase() === c.toUpperCase())) {
          throw new TypeError(`insertRows: ${table} has no column ${c}`);
        }
      }
      const scratch = `__insert_rows_${crypto.randomUUID().replaceAll("-", "")}`;
      const list = columns.map((c) => `"${c.replaceAll('"', '""')}"`).join(", ");
      await this.run(`CREATE TEMP TABLE ${scratch} AS SELECT ${list} FROM ${table} LIMIT 0`);
      try {
        await this.insertRows(scratch, columns, rows);
        await this.run(`INSERT INTO ${table} (${list}) SELECT ${list} FROM ${scratch}`);
      } finally {
        await this.run(`DROP TABLE IF EXISTS ${scratch}`);
      }
      return;
    }
    const types = probe.columnTypes();
    const appenders = types.map((t, i) => appendFnFor(t, columns[i]));
    let appender;
    try {
      appender = await this.conn.createAppender(name, schema);
    } catch (e) {
      throw queryError(e, `APPEND INTO ${table}`, this.label);
    }
    try {
      for (const [n, row] of rows.entries()) {
        if (row.length !== columns.length) {
          throw new TypeError(
            `insertRows ${table}: row ${n} has ${row.length} values, expected ${columns.length}`,
          );
        }
        for (let c = 0; c < row.length; c++) appenders[c](appender, row[c]);
        appender.endRow();
      }
      appender.flushSync();
    } catch (e) {
      if (e instanceof TypeError) throw e;
      throw queryError(e, `APPEND INTO ${table}`, this.label);
    } finally {
      try {
        appender.closeSync();
      } catch { /* the error that got us here is the one to report */ }
    }
  }
}

export class DuckDBWarehouse implements Warehouse {
  readonly kind = "duckdb";
  readonly #path: string;
  readonly #memory: DuckDBInstance | null;
  readonly #lockTimeoutMs: number;
  readonly #onWait: (m: string) => void;
  readonly #lingerMs: number;
  readonly #mustExist: boolean;
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;
  #memoryWriters: Promise<void> = Promise.resolve();

  private constructor(path: string, memory: DuckDBInstance | null, opts: DuckDBOptions) {
    this.#path = path;
    this.#memory = memory;
    this.#lockTimeoutMs = opts.lockTimeoutMs ?? 300_000;
    this.#onWait = opts.onWait ?? ((m) => console.error(m));
    this.#lingerMs = opts.lingerMs ?? 25;
    this.#mustExist = opts.mustExist ?? false;
  }

  /**
   * Open the file `path` (created at its first use when missing, unless `mustExist`; its folder
   * is never created: a missing one is a ConfigError then), or an in-memory database for
   * ":memory:".
   */
  static async open(path: string, opts: DuckDBOptions = {}): Promise<DuckDBWarehouse> {
    if (path === ":memory:") {
      const memory = await createInstance(":memory:");
      return new DuckDBWarehouse(path, memory, opts);
    }
    if (opts.mustExist) await checkFileExists(path);
    return new DuckDBWarehouse(path, null, opts);
  }

  get path(): string {
    return this.#path;
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const forget = () => this.#inflight.delete(p);
    p.then(forget, forget);
    return p;
  }

  #with<T>(
    mode: "read" | "write",
    opts: TransactionOptions,
    fn: (conn: DuckDBConnection) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("warehouse is closed"));
    const inConnection = async (instance: DuckDBInstance) => {
      const conn = await instance.connect();
      try {
        return await fn(conn);
      } finally {
        conn.closeSync();
      }
    };
    if (this.#memory) {
      const memory = this.#memory;
      if (mode === "read") return this.#track(inConnection(memory));
      const before = this.#memoryWriters;
      let done = () => {};
      this.#memoryWriters = new Promise((r) => done = r);
      return this.#track(before.then(() => inConnection(memory)).finally(done));
    }
    return this.#track(withFile(this.#path, mode, {
      signal: opts.signal,
      label: opts.label,
      lockTimeoutMs: this.#lockTimeoutMs,
      onWait: this.#onWait,
      lingerMs: this.#lingerMs,
      mustExist: this.#mustExist,
    }, inConnection));
  }

  transaction<T>(fn: (s: Session) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    return this.#with(
      "write",
      opts,
      (conn) =>
        inTransaction(
          new DuckDBSession(conn, opts.label),
          (s) => withProgress(conn, opts, () => fn(s)),
          {
            signal: opts.signal,
            prepare: opts.prepare && ((s) => withProgress(conn, opts, () => opts.prepare!(s))),
          },
        ),
    );
  }

  query<T extends Row = Row>(
    sql: string,
    params?: readonly SqlValue[],
    opts: TransactionOptions = {},
  ): Promise<T[]> {
    return this.#with(
      "read",
      opts,
      (conn) =>
        withProgress(conn, opts, () => new DuckDBSession(conn, opts.label).query<T>(sql, params)),
    );
  }

  async migrate(opts: TransactionOptions = {}): Promise<string[]> {
    const file = await parseMigrations(ddl, "lib/warehouse/migrations_duckdb.sql");
    const applied = await applyMigrations(file, (fn, o) => this.transaction(fn, o), {
      ...opts,
      fileName: "lib/warehouse/migrations_duckdb.sql",
      runScript: async (s, sql) => void await s.execute(sql),
    });
    // Into the database file at once, not left in its write-ahead log: DuckDB 1.5 fails to
    // replay migration 007's ALTER COLUMN ... DROP NOT NULL (an InternalException binding the
    // table's DEFAULT now() at open), so a process killed before its next checkpoint (a consumer
    // killed with SIGKILL on a new warehouse) left a file no process could open.
    if (applied.length > 0) {
      await this.#with("write", opts, async (conn) => void await conn.run("CHECKPOINT"));
    }
    return applied;
  }

  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inflight.size > 0) {
      await Promise.allSettled([...this.#inflight]);
    }
    if (this.#memory) this.#memory.closeSync();
    else closeIdle(this.#path);
  }
}

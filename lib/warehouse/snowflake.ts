/**
 * The Snowflake warehouse (production): one `snowflake-sdk` connection (password or key-pair
 * auth), every operation serialised on it, explicit BEGIN/COMMIT for transactions.
 *
 * Results follow the value mapping of warehouse.ts: NUMBER(p,0) -> number (bigint beyond 2^53,
 * read as text so no precision is lost), FLOAT/NUMBER(p,s) -> number, DATE -> "YYYY-MM-DD",
 * TIMESTAMP_NTZ -> ISO "...Z" (NTZ columns hold UTC by convention: our SQL writes SYSDATE(), the
 * current UTC time, never the session-zone CURRENT_TIMESTAMP).
 * Binds: a Date binds as a naive UTC timestamp string, a bigint as its digits.
 */
import snowflake from "snowflake-sdk";
import type { Column, Connection, RowStatement, SnowflakeError } from "snowflake-sdk";
import type { WarehouseConfig } from "../config/config.ts";
import { redact } from "../config/config.ts";
import ddl from "./migrations_snowflake.sql" with { type: "text" };
import { applyMigrations, parseMigrations, splitStatements } from "./migrations.ts";
import {
  inTransaction,
  type Row,
  type Session,
  type SqlValue,
  type TransactionOptions,
  type Warehouse,
  WarehouseBusyError,
  WarehouseQueryError,
} from "./warehouse.ts";

type SnowflakeConfig = Extract<WarehouseConfig, { kind: "snowflake" }>;
type Bind = string | number | boolean | null;

/**
 * Array binds go inline, in requests of at most MAX_BIND_VALUES values: below Snowflake's
 * default CLIENT_STAGE_ARRAY_BINDING_THRESHOLD (65,280), above which the driver would stage
 * them through a temporary stage (PUT) instead. The threshold is pinned on the connection so a
 * server-side setting cannot switch our inserts to staging.
 */
const MAX_BIND_VALUES = 50_000;
const ARRAY_BINDING_THRESHOLD = 65_280;
const MAX_ROWS_PER_INSERT = 10_000;
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

let configured = false;

function configureDriver(): void {
  if (configured) return;
  // The driver's own log lines would duplicate (and could leak into) our error reporting.
  snowflake.configure({ logLevel: "OFF" });
  configured = true;
}

/** A bind value in the driver's terms. */
function toBind(v: SqlValue): Bind {
  if (v instanceof Date) return v.toISOString().replace("T", " ").replace("Z", "");
  if (typeof v === "bigint") return v.toString();
  return v;
}

function fromSnowflake(v: unknown, col: Column): SqlValue {
  if (v === null || v === undefined) return null;
  switch (col.getType()) {
    case "fixed": {
      const s = String(v);
      if (col.getScale() > 0) return Number(s);
      const b = BigInt(s);
      return b <= SAFE && b >= -SAFE ? Number(b) : b;
    }
    case "real":
      return Number(v);
    case "date":
      return (v as Date).toISOString().slice(0, 10);
    case "timestamp_ntz":
    case "timestamp_ltz":
    case "timestamp_tz":
      return new Date((v as Date).getTime()).toISOString();
    case "boolean":
      return Boolean(v);
    case "text":
      return String(v);
    default:
      return typeof v === "object" ? JSON.stringify(v) : String(v);
  }
}

function oneLine(sql: string): string {
  const s = sql.replace(/\s+/g, " ").trim();
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

interface Result {
  rows: Row[];
  changed: number;
}

const observers = new WeakMap<Connection, (sql: string) => void>();

function run(
  conn: Connection,
  sql: string,
  binds: readonly Bind[] | readonly Bind[][] | undefined,
  label?: string,
): Promise<Result> {
  observers.get(conn)?.(sql);
  return new Promise((resolve, reject) => {
    conn.execute({
      sqlText: sql,
      binds: binds as Bind[] | undefined,
      rowMode: "array",
      fetchAsString: ["Number"],
      complete: (err: SnowflakeError | undefined, stmt: RowStatement, rows?: unknown[]) => {
        if (err) {
          const what = label ? `${label}: ` : "";
          reject(
            new WarehouseQueryError(
              redact(`${what}${err.message} [in: ${oneLine(sql)}]`),
              sql,
              { cause: err },
            ),
          );
          return;
        }
        try {
          const cols = stmt.getColumns() ?? [];
          const names = cols.map((c) => c.getName());
          const out: Row[] = (rows ?? []).map((r) => {
            const values = r as unknown[];
            const row: Row = {};
            cols.forEach((c, i) => row[names[i]] = fromSnowflake(values[i], c));
            return row;
          });
          const n = stmt.getNumUpdatedRows();
          resolve({ rows: out, changed: typeof n === "number" && n > 0 ? n : 0 });
        } catch (e) {
          reject(new WarehouseQueryError(`reading the result failed: ${e}`, sql, { cause: e }));
        }
      },
    });
  });
}

class SnowflakeSession implements Session {
  constructor(private readonly conn: Connection, private readonly label?: string) {}

  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return (await run(this.conn, sql, params?.map(toBind), this.label)).rows as T[];
  }

  async execute(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return (await run(this.conn, sql, params?.map(toBind), this.label)).changed;
  }

  async insertRows(
    table: string,
    columns: readonly string[],
    rows: readonly SqlValue[][],
  ): Promise<void> {
    if (!TABLE_NAME.test(table)) throw new TypeError(`insertRows: bad table name ${table}`);
    for (const c of columns) {
      if (!COLUMN_NAME.test(c)) throw new TypeError(`insertRows: bad column name ${c}`);
    }
    if (rows.length === 0) return;
    const sql = `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${
      columns.map(() => "?").join(", ")
    })`;
    const perBatch = Math.max(
      1,
      Math.min(MAX_ROWS_PER_INSERT, Math.floor(MAX_BIND_VALUES / columns.length)),
    );
    for (let i = 0; i < rows.length; i += perBatch) {
      const batch = rows.slice(i, i + perBatch).map((r, k) => {
        if (r.length !== columns.length) {
          throw new TypeError(
            `insertRows ${table}: row ${i + k} has ${r.length} values, expected ${columns.length}`,
          );
        }
        // Array binds take each column's type from its first row: a column of numbers whose
        // first value is whole would be sent as FIXED and a later 91.5 rejected. Numbers go as
        // text, which Snowflake converts to the column's type.
        return r.map((v) => typeof v === "number" ? String(v) : toBind(v));
      });
      await run(this.conn, sql, batch, this.label);
    }
  }
}

export interface SnowflakeOptions {
  signal?: AbortSignal;
  /** Called with every statement sent (tests validate them with a Snowflake-dialect parser). */
  onStatement?: (sql: string) => void;
  /** Login retries on network errors before giving up (the driver's default is 7, ~2 min). */
  loginRetries?: number;
}

export class SnowflakeWarehouse implements Warehouse {
  readonly kind = "snowflake";
  readonly #conn: Connection;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** Connect with a password or a key pair (JWT). */
  static async open(
    config: SnowflakeConfig,
    opts: SnowflakeOptions = {},
  ): Promise<SnowflakeWarehouse> {
    configureDriver();
    opts.signal?.throwIfAborted();
    const auth = config.privateKeyPath
      ? {
        authenticator: "SNOWFLAKE_JWT",
        privateKeyPath: config.privateKeyPath,
        privateKeyPass: config.privateKeyPassphrase,
      }
      : { password: config.password };
    const conn = snowflake.createConnection({
      account: config.account,
      username: config.user,
      database: config.database,
      warehouse: config.warehouse,
      role: config.role,
      application: "egx-pipeline",
      arrayBindingThreshold: ARRAY_BINDING_THRESHOLD,
      ...(opts.loginRetries !== undefined ? { sfRetryMaxLoginRetries: opts.loginRetries } : {}),
      ...auth,
      ...(config.accessUrl ? { accessUrl: config.accessUrl } : {}),
      // The default OCSP agent calls node:https's Agent without `new`, which Deno's Node
      // compatibility rejects; the CRL agent is a proper class (advisory: fail open).
      certRevocationCheckMode: "ADVISORY",
      // Numbers are fetched as text (fetchAsString, for exact big integers): by default the
      // driver then gives a NULL number as the text "NULL", read as NaN (or failing the whole
      // result, for an integer), so a NULL must stay null.
      representNullAsStringNull: false,
    });
    const where = config.accessUrl
      ? new URL(config.accessUrl).host
      : `${config.account}.snowflakecomputing.com`;
    await new Promise<void>((resolve, reject) => {
      conn.connect((err) => {
        if (err) {
          // A server that is not Snowflake gets an OperationFailedError with no message at all.
          const reason = err.message ||
            `${err.name}, with no details from the driver (is ${where} a Snowflake endpoint?)`;
          reject(
            new WarehouseBusyError(
              redact(
                `cannot connect to Snowflake account ${config.account} at ${where}: ${reason}`,
              ),
              { cause: err },
            ),
          );
        } else resolve();
      });
    });
    if (opts.onStatement) observers.set(conn, opts.onStatement);
    const wh = new SnowflakeWarehouse(conn);
    return wh;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("warehouse is closed"));
    const p = this.#queue.then(fn, fn);
    this.#queue = p.catch(() => {});
    return p;
  }

  // opts.onProgress: Snowflake reports no statement progress here, so it is never called.
  transaction<T>(fn: (s: Session) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    return this.#serial(() => {
      opts.signal?.throwIfAborted();
      return inTransaction(new SnowflakeSession(this.#conn, opts.label), fn, {
        signal: opts.signal,
        prepare: opts.prepare,
      });
    });
  }

  query<T extends Row = Row>(
    sql: string,
    params?: readonly SqlValue[],
    opts: TransactionOptions = {},
  ): Promise<T[]> {
    return this.#serial(() => {
      opts.signal?.throwIfAborted();
      return new SnowflakeSession(this.#conn, opts.label).query<T>(sql, params);
    });
  }

  async migrate(opts: TransactionOptions = {}): Promise<string[]> {
    const file = await parseMigrations(ddl, "lib/warehouse/migrations_snowflake.sql");
    return applyMigrations(file, (fn, o) => this.transaction(fn, o), {
      ...opts,
      fileName: "lib/warehouse/migrations_snowflake.sql",
      autocommit: (fn) => this.#serial(() => fn(new SnowflakeSession(this.#conn, "migrate"))),
      runScript: async (s, sql) => {
        for (const stmt of splitStatements(sql)) await s.execute(stmt);
      },
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#queue;
    this.#closed = true;
    await new Promise<void>((resolve) => this.#conn.destroy(() => resolve()));
  }
}

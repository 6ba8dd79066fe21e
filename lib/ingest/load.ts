/**
 * Loading landing files into the DuckDB warehouse. DuckDB reads and validates them in SQL
 * (lib/ingest/sql): bad rows are quarantined with their reasons, good rows upserted, and each
 * file's load recorded in OPERATIONAL.TBL_LOAD_LOG, in ONE transaction per group of files. The
 * reading and checking just before it writes only temporary tables and runs outside the
 * transaction (TransactionOptions.prepare, same connection and hold of the file): DuckDB scans
 * temporary tables filled inside a transaction 2-3x slower.
 *
 * Files of the same format and header are loaded together (one read_csv over all of them), which
 * is what makes many small files (e.g. the eleven bars_1m files) fast. A file's load is atomic
 * either way: a group commits all of its files' good rows or nothing, and when a group fails
 * its files are loaded one by one, so one broken file neither blocks the others nor leaves
 * anything half-loaded. A failed file is recorded as FAILED (in its own transaction).
 *
 * A reload (LandingObject.reloadOf: a version loaded before, again for tickers listed since,
 * reload.ts) is checked whole but writes only the lines its earlier load quarantined (egx_upserts
 * in prelude.sql), INSERT-ONLY: a line whose key the target table holds is left out, the stored
 * row (newer: lib/stream/redrive.ts gives the same rule and why) is never updated (egx_reload_file
 * in prelude.sql; on Snowflake publish_snowflake.ts drops such staged rows before the merges). Any
 * load of a version loaded before replaces that version's quarantine (quarantine_stale.sql), under
 * an older spelling of its ETag too.
 */
import calendar from "../market/egx_calendar.json" with { type: "json" };
import { redact } from "../config/config.ts";
import { cairoDate } from "../market/calendar.ts";
import { splitStatements } from "../warehouse/migrations.ts";
import type {
  Session,
  SqlValue,
  StatementProgress,
  TransactionOptions,
  Warehouse,
} from "../warehouse/warehouse.ts";
import { type Detected, detectFormat, headerColumns } from "./formats.ts";
import { compareKeys } from "./landing.ts";
import { type BrokenLine, screenLines, writeWithout } from "./quotes.ts";
import { SQL } from "./sql_files.ts";
import { localRows, publish, stagingEngine, TARGETS, targetsOf } from "./publish_snowflake.ts";

export interface LandingObject {
  /** Identity of the file in the landing store (relative path, or s3://bucket/key). */
  key: string;
  etag: string;
  size: number;
  /**
   * When the object was last modified, epoch ms (a folder file's modification time, an S3
   * object's LastModified), when the landing store tells it: after reference data (companies,
   * then indices), the files found in one scan load in this order, oldest first, then in key
   * order (loadGroups), so that of two files with a key in common the newer one's row stays.
   */
  modified?: number;
  /**
   * The reload marker, set only for a reload (batch.ts: a version loaded before whose quarantine
   * names tickers listed since) and only while the object is at that version (`etag`, read from
   * its header and again before it is read: batch.ts runBatch, currentVersions): the ETag its
   * earlier load was recorded under, `etag` itself or an older spelling of it (a local file's
   * `<size>-<mtime>`, landing.ts olderLocalVersion). The load inserts only the lines that load
   * quarantined whose keys are not stored (insert-only: egx_reload_file, prelude.sql) and
   * replaces the version's quarantine (under either spelling) with what it finds; when it fails,
   * the failure is not recorded in the load log (the earlier load's LOADED row, what the warehouse
   * holds of the file, stays) and the reload is tried again by the next run.
   */
  reloadOf?: string;
}

/** A landing object available as a local file. */
export interface LocalFile extends LandingObject {
  path: string;
  /**
   * The file's version now, for a file that can change after it was listed (a landing folder's
   * file is read in place): the load records the version it read, not the one listed, and fails
   * a file whose version changes while it is read.
   */
  current?: () => Promise<{ etag: string; size: number }>;
}

export interface LoadOutcome {
  key: string;
  etag: string;
  format: string | null;
  status: "LOADED" | "FAILED";
  rowsRead: number;
  rowsLoaded: number;
  rowsQuarantined: number;
  error?: string;
}

/**
 * How far the group of files being loaded has got. DuckDB measures the read of the files (its
 * progress is by bytes); the validation and upsert that follow report no usable progress
 * (their statements' estimates stay put), so after the read only the time tells.
 */
export interface GroupProgress {
  /** Numbers the groups of one loadFiles call (a new number: a new group has started). */
  group: number;
  /** Files in the group and their total size in bytes. */
  files: number;
  bytes: number;
  /** Fraction of the group's bytes read so far (0-1). */
  read: number;
  /** Rows read so far: DuckDB's estimate while reading, the exact count once read. */
  rows: number;
  /** The files are read; validation and upsert are running. */
  readDone: boolean;
}

export interface LoadOptions {
  runId?: string;
  signal?: AbortSignal;
  /** Called after each group or file, e.g. for progress. */
  onLoaded?: (outcomes: LoadOutcome[]) => void;
  /**
   * Called while a group loads: when it starts, every `progressIntervalMs` while its files are
   * read (DuckDB's progress, polled), and when they are read.
   */
  onProgress?: (p: GroupProgress) => void;
  /** How often DuckDB's progress is polled for `onProgress` (default 500 ms). */
  progressIntervalMs?: number;
  /** Most files loaded in one group (default 64). */
  maxGroupFiles?: number;
  /**
   * Where a copy of a file without its lines of broken quoting is written while it loads
   * (default: the system's temporary folder).
   */
  tmpDir?: string;
  /**
   * "Now" for the checks: a price or bar whose Cairo trade date is after this instant's Cairo
   * date is quarantined (default: the real clock; batch_load gives the configured EGX_AS_OF).
   */
  asOf?: Date;
}

/**
 * The earliest trade date accepted: a price before it is quarantined as a typo or a misread date
 * (1900-01-01, a two-digit year). EGX has traded since 1883, but no source of its daily prices
 * (EGX, TradingView, Investing.com) goes back before the 1990s: the 1992 Capital Market Law
 * revived a market that had been dormant for decades, and the bundled data starts in 2024.
 */
export const EARLIEST_TRADE_DATE = "1990-01-01";

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const VARIABLE = /^[a-z_]+$/;

/**
 * A group's progress for LoadOptions.onProgress: the transaction's polled statement progress
 * counts only while the read statement runs (and never goes back within it).
 */
class GroupWatch {
  #reading = false;
  #state: GroupProgress;

  constructor(
    private readonly report: (p: GroupProgress) => void,
    group: number,
    files: readonly Detection[],
    private readonly intervalMs?: number,
  ) {
    const bytes = files.reduce((a, d) => a + d.file.size, 0);
    this.#state = { group, files: files.length, bytes, read: 0, rows: 0, readDone: false };
    report({ ...this.#state });
  }

  /** For the group's transaction: its statements' progress, polled. */
  options(): Pick<TransactionOptions, "onProgress" | "progressIntervalMs"> {
    return { onProgress: (p) => this.#poll(p), progressIntervalMs: this.intervalMs };
  }

  #poll(p: StatementProgress): void {
    if (!this.#reading) return;
    const read = Math.min(Math.max(p.percentage / 100, this.#state.read), 1);
    const rows = Math.max(p.rowsProcessed, this.#state.rows);
    if (read === this.#state.read && rows === this.#state.rows) return;
    this.#state = { ...this.#state, read, rows };
    this.report({ ...this.#state });
  }

  startRead(): void {
    this.#reading = true;
  }

  endRead(rows: number): void {
    this.#reading = false;
    this.#state = { ...this.#state, read: 1, rows, readDone: true };
    this.report({ ...this.#state });
  }
}

/**
 * The group's files at their current versions (see LocalFile.current), before they are read. A
 * reload of a file that changed since it was listed is an ordinary load of its new version.
 */
async function currentVersions(group: readonly Detection[]): Promise<Detection[]> {
  const out: Detection[] = [];
  for (const d of group) {
    if (!d.file.current) {
      out.push(d);
      continue;
    }
    const now = await d.file.current();
    const reloadOf = now.etag === d.file.etag ? d.file.reloadOf : undefined;
    out.push({ ...d, file: { ...d.file, ...now, reloadOf } });
  }
  return out;
}

/**
 * After the files were read, before anything is written: a file whose version is no longer the
 * one read fails the load (DuckDB may have read part of the old and part of the new content).
 */
async function assertUnchanged(files: readonly LocalFile[]): Promise<void> {
  for (const f of files) {
    if (!f.current) continue;
    const now = await f.current().then(
      (v) => v.etag,
      (e) => {
        if (e instanceof Deno.errors.NotFound) return "deleted";
        throw e;
      },
    );
    if (now !== f.etag) {
      throw new Error(
        `${f.key}: changed while it was being loaded (version ${f.etag}, now ${now}): ` +
          "not loaded; the next load reads it again",
      );
    }
  }
}

/** Raised inside a group's transaction to roll it back and load its files one by one. */
class SplitGroup extends Error {
  override name = "SplitGroup";
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  return h * 60 + m;
}

/** Read the first line of a local file (at most 64 KiB). */
async function readHeaderLine(path: string): Promise<string> {
  const f = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(65536);
    const n = await f.read(buf) ?? 0;
    const text = new TextDecoder().decode(buf.subarray(0, n));
    const nl = text.indexOf("\n");
    return (nl === -1 ? text : text.slice(0, nl)).replace(/\r$/, "");
  } finally {
    f.close();
  }
}

async function runSqlFile(
  s: Session,
  name: string,
  opts: { reloading?: boolean } = {},
): Promise<void> {
  let text = SQL[name];
  if (text === undefined) throw new Error(`no SQL file lib/ingest/sql/${name}`);
  if (opts.reloading === false) text = withoutReloadClauses(text);
  for (const stmt of splitStatements(text)) await s.execute(stmt);
}

/** How a reload's insert-only condition starts in the upserts (egx_reload_file, prelude.sql). */
const RELOAD_CLAUSE = "AND NOT (egx_reload_file(";

/**
 * `sql` without its reloads' insert-only conditions (`AND NOT (egx_reload_file(...) AND EXISTS
 * (...))`, up to the parenthesis that closes them), for a group without a reload: the condition
 * is false for each of its rows, but DuckDB still plans its subquery over the whole target table
 * (the million-row daily benchmark's MERGE took 550 ms instead of 250-400 ms, measured).
 */
export function withoutReloadClauses(sql: string): string {
  let out = sql;
  for (let at = out.indexOf(RELOAD_CLAUSE); at !== -1; at = out.indexOf(RELOAD_CLAUSE, at)) {
    let depth = 0;
    let end = -1;
    for (let i = at + RELOAD_CLAUSE.length - "egx_reload_file(".length - 1; i < out.length; i++) {
      if (out[i] === "(") depth++;
      else if (out[i] === ")" && --depth === 0) {
        end = i;
        break;
      }
    }
    if (end === -1) throw new Error(`unbalanced reload condition in: ${out.slice(at, at + 80)}`);
    out = out.slice(0, at) + out.slice(end + 1);
  }
  return out;
}

async function setVariables(s: Session, vars: Record<string, SqlValue>): Promise<void> {
  for (const [name, value] of Object.entries(vars)) {
    if (!VARIABLE.test(name)) throw new TypeError(`bad variable name ${name}`);
    await s.execute(`SET VARIABLE ${name} = ?`, [value]);
  }
}

/** Temporary calendar tables the checks use (from lib/market/egx_calendar.json). */
async function fillCalendar(s: Session): Promise<void> {
  await s.insertRows("egx_weekday", ["dow"], calendar.weekdays.map((d) => [WEEKDAYS.indexOf(d)]));
  const regular = calendar.session;
  await s.insertRows(
    "egx_session",
    ["from_date", "to_date", "open_min", "close_min", "label", "priority"],
    [
      [
        "0001-01-01",
        "9999-12-31",
        minutes(regular.open),
        minutes(regular.close),
        `session ${regular.open}-${regular.close}`,
        0,
      ],
      ...calendar.special_sessions.map((x) => [
        x.from,
        x.to,
        minutes(x.open),
        minutes(x.close),
        `${x.name} session ${x.open}-${x.close}`,
        1,
      ]),
    ],
  );
}

/** A file with its first line and the format detected from it (formats.ts). */
export interface Detection<F extends LandingObject = LocalFile> {
  file: F;
  detected: Detected;
  header: string;
}

/**
 * A file of a group as DuckDB reads it: `file.path` may be a copy without `broken` and `blank`
 * lines (and with LF line breaks only, for a file whose lines end both with LF and CRLF), or a
 * copy of a file whose path DuckDB would read as a pattern (GLOB).
 */
interface Entry {
  file: LocalFile;
  ticker: string | null;
  broken: BrokenLine[];
  /** Empty lines (1-based numbers), left out of the copy so that line numbers stay exact. */
  blank: number[];
}

/**
 * Characters that make DuckDB's read_csv take a path for a pattern: DuckDB 1.5 expands `*`, `**`,
 * `?` and `[...]` (`prices_[1].csv` read `prices_1.csv`, and `prices_[1].csv` was lost); `]`, `{`
 * and `}` too, lest a later version read `{a,b}` as other globbers do.
 */
const GLOB = /[*?[\]{}]/;

/**
 * The group's files screened for lines with broken quoting (quotes.ts): a file that has some is
 * read from a copy without them (in `tmpDir`), and they are quarantined as rejected lines. A file
 * whose path DuckDB would read as a pattern (GLOB) is read from a plain copy. The quarantine and
 * the load log name the file by its key either way. Returns the entries and a function that
 * removes the copies.
 */
async function screenGroup(
  group: readonly Detection[],
  tmpDir: string | undefined,
): Promise<{ entries: Entry[]; release: () => Promise<void> }> {
  const copies: string[] = [];
  const release = async () => {
    for (const c of copies) await Deno.remove(c).catch(() => {});
  };
  try {
    const entries: Entry[] = [];
    for (const g of group) {
      const { broken, blank, mixedBreaks } = await screenLines(g.file.path);
      let file = g.file;
      const screened = broken.length > 0 || blank.length > 0 || mixedBreaks;
      if (screened || GLOB.test(g.file.path)) {
        if (tmpDir !== undefined) await Deno.mkdir(tmpDir, { recursive: true });
        const copy = await Deno.makeTempFile({
          dir: tmpDir,
          prefix: screened ? "egx_quotes_" : "egx_name_",
          suffix: ".csv",
        });
        copies.push(copy);
        if (GLOB.test(copy)) {
          throw new Error(
            `${g.file.key}: DuckDB would read its copy ${copy} as a pattern: ` +
              "the temporary folder's path must not hold * ? [ ] { }",
          );
        }
        if (screened) {
          await writeWithout(
            g.file.path,
            [...broken.map((b) => b.line), ...blank],
            copy,
            mixedBreaks,
          );
        } else await Deno.copyFile(g.file.path, copy);
        file = { ...g.file, path: copy };
      }
      entries.push({ file, ticker: g.detected.ticker, broken, blank });
    }
    return { entries, release };
  } catch (e) {
    await release();
    throw e;
  }
}

/**
 * Whether a natural key of `spec` appears in more than one file of the group: loaded together,
 * those files would write the key twice (or quarantine it as a duplicate) instead of the later
 * file updating what the earlier one wrote.
 */
async function keyInSeveralFiles(s: Session, key: readonly string[]): Promise<boolean> {
  // Column names come from the format's fixed key (formats.ts), never from the file.
  const rows = await s.query(
    `SELECT 1 FROM egx_checked WHERE ${key.map((c) => `${c} IS NOT NULL`).join(" AND ")} ` +
      `GROUP BY ${key.join(", ")} HAVING min(egx_file_key) <> max(egx_file_key) LIMIT 1`,
  );
  return rows.length > 0;
}

/**
 * In session `s`, before the group's transaction (temporary tables only, see
 * TransactionOptions.prepare): stage and validate `files` (one format and header), ready for the
 * quarantine and the upsert (egx_checked). Returns whether there is anything to quarantine. A
 * group of several files that must be loaded one at a time throws SplitGroup: some of their lines
 * were rejected by the CSV reader (line numbers need one file at a time), or a natural key
 * appears in more than one of them (the later file must win).
 */
async function stageAndCheck(
  s: Session,
  files: readonly Entry[],
  detected: Detected,
  vars: { runId?: string; startedAt: Date; asOf?: Date; reloadLines?: SqlValue[][] },
  watch?: GroupWatch,
): Promise<boolean> {
  await runSqlFile(s, "prelude.sql");
  await fillCalendar(s);
  await s.insertRows(
    "egx_file",
    ["ord", "path", "file_key", "etag", "size_bytes", "ticker", "reloads"],
    files.map(({ file: f, ticker }, i) => [
      i,
      f.path,
      f.key,
      f.etag,
      f.size,
      ticker,
      f.reloadOf ?? null,
    ]),
  );
  const reloading = files.some((f) => f.file.reloadOf !== undefined);
  if (reloading) {
    // The lines a reload upserts (egx_upserts): given (Snowflake's quarantine), or read here.
    if (vars.reloadLines) {
      await s.insertRows("egx_reload_line", ["file_key", "line"], vars.reloadLines);
    } else await runSqlFile(s, "reload_lines.sql");
  }
  await s.insertRows(
    "egx_quote_rejects",
    ["path", "line", "csv_line", "problem"],
    files.flatMap(({ file: f, broken }) => broken.map((b) => [f.path, b.line, b.text, b.problem])),
  );
  await s.insertRows(
    "egx_blank_lines",
    ["path", "line"],
    files.flatMap(({ file: f, blank }) => blank.map((line) => [f.path, line])),
  );
  await setVariables(s, {
    format: detected.spec.id,
    data_source: detected.spec.dataSource,
    run_id: vars.runId ?? null,
    started_at: vars.startedAt,
    as_of_date: cairoDate(vars.asOf ?? new Date()),
    min_trade_date: EARLIEST_TRADE_DATE,
    reloading,
  });
  if (!reloading) {
    // No reload in the group (nearly every load): the reload conditions become constants, so the
    // upserts plan without their subqueries (as per-row tests of the variable they cost the
    // daily benchmark's million rows ~30%, measured).
    await s.execute(
      "CREATE OR REPLACE TEMP MACRO egx_upserts(fk, ln) AS true; " +
        "CREATE OR REPLACE TEMP MACRO egx_reload_file(fk) AS false",
    );
  }
  await s.insertRows(
    "egx_column",
    ["pos", "name"],
    detected.readerNames.map((name, i) => [i, name]),
  );
  await runSqlFile(s, "stage_files.sql");
  watch?.startRead();
  await runSqlFile(s, detected.spec.read);
  await runSqlFile(s, "stage_rejects.sql");
  for (const col of detected.missingOptional) {
    // Column names come from the format's fixed list (formats.ts), never from the file.
    await s.execute(`ALTER TABLE egx_raw_read ADD COLUMN "${col}" VARCHAR`);
  }
  const [{ N: rejected }] = await s.query<{ N: number }>(
    "SELECT count(*)::INTEGER AS N FROM egx_reject_lines",
  );
  if (watch) {
    const [{ N: read }] = await s.query<{ N: number }>(
      "SELECT count(*)::BIGINT AS N FROM egx_raw_read",
    );
    watch.endRead(Number(read) + rejected);
  }
  // Blank lines left out of a copy need the same renumbering as rejected ones.
  const skipped = rejected > 0 || files.some((f) => f.blank.length > 0);
  if (skipped && files.length > 1) throw new SplitGroup("rejected or blank lines");
  await runSqlFile(
    s,
    skipped
      ? "number_lines_rejects.sql"
      : files.length === 1
      ? "number_lines_one.sql"
      : "number_lines.sql",
  );
  for (const f of detected.spec.check) await runSqlFile(s, f);
  // A problem of a whole file (see prelude.sql) fails it: in a group, its files are then loaded
  // one by one, and only the file with the problem fails.
  const problems = await s.query<{ K: string; P: string }>(
    "SELECT file_key AS K, problem AS P FROM egx_file_problem ORDER BY 1, 2",
  );
  if (problems.length > 0) throw new Error(problems.map((p) => `${p.K}: ${p.P}`).join("\n"));
  // Per-ticker files (the ticker from the file name, in every row and in the key) of different
  // tickers cannot share a key: no need to look.
  const separate = detected.spec.tickerFromName !== undefined &&
    detected.spec.key.includes("ticker") &&
    new Set(files.map((f) => f.ticker)).size === files.length;
  if (files.length > 1 && !separate && await keyInSeveralFiles(s, detected.spec.key)) {
    throw new SplitGroup("a key in several files");
  }
  const [{ BAD: bad }] = await s.query<{ BAD: number }>(
    "SELECT count(reason)::INTEGER AS BAD FROM egx_checked",
  );
  return bad > 0 || rejected > 0;
}

/**
 * In the group's transaction, after stageAndCheck: quarantine (replacing what an earlier load of
 * the same version quarantined), upsert, record the files.
 */
async function quarantineAndUpsert(s: Session, detected: Detected, quarantine: boolean) {
  const [{ N: stored }] = await s.query<{ N: number }>(
    "SELECT count(*)::INTEGER AS N FROM OPERATIONAL.TBL_QUARANTINE q " +
      "JOIN egx_file f ON f.file_key = q.FILE_KEY AND (f.etag = q.ETAG OR f.reloads = q.ETAG)",
  );
  if (stored > 0) await runSqlFile(s, "quarantine_stale.sql");
  if (quarantine) await runSqlFile(s, "quarantine.sql");
  const [{ R: reloading }] = await s.query<{ R: boolean }>(
    "SELECT getvariable('reloading') AS R",
  );
  for (const f of detected.spec.upsert) await runSqlFile(s, f, { reloading });
  await runSqlFile(s, "load_log.sql");
}

async function loadGroup(
  wh: Warehouse,
  listed: Detection[],
  opts: LoadOptions,
  watch?: GroupWatch,
): Promise<LoadOutcome[]> {
  const group = await currentVersions(listed);
  if (wh.kind === "snowflake") return await loadGroupSnowflake(wh, group, opts, watch);
  const startedAt = new Date();
  const { detected } = group[0];
  const files = group.map((g) => g.file);
  const label = files.length === 1
    ? `batch_load ${files[0].key}`
    : `batch_load ${files.length} ${detected.spec.id} files`;
  const { entries, release } = await screenGroup(group, opts.tmpDir);
  let quarantine = false;
  const prepare = async (s: Session) => {
    quarantine = await stageAndCheck(
      s,
      entries,
      detected,
      { runId: opts.runId, startedAt, asOf: opts.asOf },
      watch,
    );
  };
  let rows;
  try {
    rows = await wh.transaction(async (s) => {
      await assertUnchanged(files);
      await quarantineAndUpsert(s, detected, quarantine);
      return await s.query<{ K: string; R: number; L: number; Q: number }>(
        "SELECT l.FILE_KEY AS K, l.ROWS_READ AS R, l.ROWS_LOADED AS L, l.ROWS_QUARANTINED AS Q " +
          "FROM OPERATIONAL.TBL_LOAD_LOG l JOIN egx_file f ON f.file_key = l.FILE_KEY " +
          "AND f.etag = l.ETAG",
      );
    }, { signal: opts.signal, label, prepare, ...watch?.options() });
  } finally {
    await release();
  }
  const byKey = new Map(rows.map((r) => [r.K, r]));
  return files.map((f) => {
    const r = byKey.get(f.key)!;
    return {
      key: f.key,
      etag: f.etag,
      format: detected.spec.id,
      status: "LOADED" as const,
      rowsRead: Number(r.R),
      rowsLoaded: Number(r.L),
      rowsQuarantined: Number(r.Q),
    };
  });
}

/**
 * Snowflake: the same SQL stages, checks and upserts the group in a local in-memory DuckDB;
 * its resulting rows are then published to Snowflake in one transaction (publish_snowflake.ts).
 */
async function loadGroupSnowflake(
  sf: Warehouse,
  group: Detection[],
  opts: LoadOptions,
  watch?: GroupWatch,
): Promise<LoadOutcome[]> {
  const startedAt = new Date();
  const { detected } = group[0];
  const files = group.map((g) => g.file);
  const keys = files.map((f) => f.key);
  const label = `batch_load ${files.length === 1 ? files[0].key : `${files.length} files`}`;
  const reloadLines = await snowflakeReloadLines(sf, files);
  const { entries, release } = await screenGroup(group, opts.tmpDir);
  const local = await stagingEngine(sf).catch(async (e) => {
    await release();
    throw e;
  });
  try {
    const targets = [...targetsOf(detected.spec.id), TARGETS.quarantine, TARGETS.loadLog];
    let quarantine = false;
    const prepare = async (s: Session) => {
      quarantine = await stageAndCheck(
        s,
        entries,
        detected,
        { runId: opts.runId, startedAt, asOf: opts.asOf, reloadLines },
        watch,
      );
    };
    const staged = await local.transaction(async (s) => {
      await assertUnchanged(files);
      await quarantineAndUpsert(s, detected, quarantine);
      const q = (sql: string, params: SqlValue[]) => s.query(sql, params);
      const batches = [];
      for (const t of targets) batches.push({ target: t, rows: await localRows(q, t, keys) });
      return batches;
    }, { label, prepare, ...watch?.options() });
    opts.signal?.throwIfAborted();
    await publish(sf, staged, {
      signal: opts.signal,
      label,
      aggregateBars: detected.spec.id === "bars_1m",
      columns: { optional: detected.spec.optional, missing: detected.missingOptional },
      reloads: files.filter((f) => f.reloadOf !== undefined).map((f) => f.key),
      respelled: files.flatMap((f) =>
        f.reloadOf !== undefined && f.reloadOf !== f.etag ? [[f.key, f.reloadOf] as const] : []
      ),
    });
    const log = staged.find((b) => b.target === TARGETS.loadLog)!;
    const col = (name: string) => TARGETS.loadLog.columns.indexOf(name);
    return log.rows.map((r) => ({
      key: String(r[col("FILE_KEY")]),
      etag: String(r[col("ETAG")]),
      format: detected.spec.id,
      status: "LOADED" as const,
      rowsRead: Number(r[col("ROWS_READ")]),
      rowsLoaded: Number(r[col("ROWS_LOADED")]),
      rowsQuarantined: Number(r[col("ROWS_QUARANTINED")]),
    }));
  } finally {
    await local.close();
    await release();
  }
}

/** The lines of the group's reloads that their earlier loads quarantined, from Snowflake. */
async function snowflakeReloadLines(
  sf: Warehouse,
  files: readonly LocalFile[],
): Promise<SqlValue[][]> {
  const out: SqlValue[][] = [];
  for (const f of files) {
    if (f.reloadOf === undefined) continue;
    const rows = await sf.query<{ L: number }>(
      "SELECT LINE_NUMBER AS L FROM OPERATIONAL.TBL_QUARANTINE WHERE FILE_KEY = ? AND ETAG = ?",
      [f.key, f.reloadOf],
    );
    for (const r of rows) out.push([f.key, r.L]);
  }
  return out;
}

/**
 * Record `file` as FAILED in OPERATIONAL.TBL_LOAD_LOG (with the error's message) and return its
 * outcome: for a file that could not be loaded, or not even fetched (batch.ts).
 */
export async function recordFailure(
  wh: Warehouse,
  file: LandingObject,
  format: string | null,
  error: unknown,
  opts: Pick<LoadOptions, "runId">,
): Promise<LoadOutcome> {
  // Stored in the load log and printed: a secret in a driver's message must not reach either.
  const message = redact(error instanceof Error ? error.message : String(error));
  if (file.reloadOf !== undefined) {
    // A reload's failure leaves the load log alone: its LOADED row is the record of what the
    // warehouse holds of this version (the reload wrote nothing), and the reload stays pending.
    return failedOutcome(
      file,
      format,
      `${message} (a reload for tickers listed since: the earlier load of this version stays ` +
        "as it was, and the next run tries again)",
    );
  }
  const startedAt = new Date();
  if (wh.kind === "snowflake") {
    const now = startedAt.toISOString().replace("T", " ").replace("Z", "");
    await publish(wh, [{
      target: TARGETS.loadLog,
      rows: [[
        file.key,
        file.etag,
        file.size,
        format,
        "FAILED",
        0,
        0,
        0,
        message,
        opts.runId ?? null,
        now,
        now,
      ]],
    }], { label: `batch_load ${file.key} (recording the failure)` });
    return failedOutcome(file, format, message);
  }
  await wh.transaction(async (s) => {
    await setVariables(s, {
      file_key: file.key,
      etag: file.etag,
      size_bytes: file.size,
      format,
      error: message,
      run_id: opts.runId ?? null,
      started_at: startedAt,
    });
    await runSqlFile(s, "load_log_failed.sql");
  }, { label: `batch_load ${file.key} (recording the failure)` });
  return failedOutcome(file, format, message);
}

function failedOutcome(file: LandingObject, format: string | null, message: string): LoadOutcome {
  return {
    key: file.key,
    etag: file.etag,
    format,
    status: "FAILED",
    rowsRead: 0,
    rowsLoaded: 0,
    rowsQuarantined: 0,
    error: message,
  };
}

/** Group key: same format, same header (columns in the same order), same optional gaps. */
function groupKey(d: Detection<LandingObject>): string {
  return `${d.detected.spec.id}\u0000${headerColumns(d.header).join(",")}`;
}

/**
 * The files' load order and groups: reference data first (companies, indices), then by the
 * format's rank (FormatSpec.order), then oldest first (LandingObject.modified; a file that does
 * not tell it comes first), then by key; files of one format and header that load together (one
 * transaction), at most `maxGroupFiles` of them. loadFiles loads its files so; batch.ts fetches
 * an S3 backlog one group at a time in this order.
 */
export function loadGroups<F extends LandingObject>(
  detections: readonly Detection<F>[],
  maxGroupFiles = 64,
): Detection<F>[][] {
  // Of two files with a key in common, the one loaded later wins (its rows update the other's).
  // By key alone, a browser's re-download "prices (1).csv" (" " is U+0020) loaded before the
  // older "prices.csv" ("." is U+002E), whose rows then stayed: the newer file loads later, as it
  // would had it landed after the other's load; files of the same time (a folder file's
  // modification time is in ms, S3's LastModified in seconds) load in key order.
  const sorted = [...detections].sort((a, b) =>
    a.detected.spec.order - b.detected.spec.order ||
    (a.file.modified ?? 0) - (b.file.modified ?? 0) ||
    compareKeys(a.file.key, b.file.key)
  );
  // Groups come out in load order, since the detections are sorted. Files of one format load in
  // that order, so the later of two files with a key in common wins: a file with another header
  // closes the group filling with that format's other header (a later file of it starts a new
  // group, after this one), else that later file would load before this one and lose to it.
  const groups: Detection<F>[][] = [];
  const filling = new Map<string, Detection<F>[]>();
  for (const d of sorted) {
    const k = groupKey(d);
    for (const [open, g] of filling) {
      if (open !== k && g[0].detected.spec.id === d.detected.spec.id) filling.delete(open);
    }
    let g = filling.get(k);
    if (!g || g.length >= maxGroupFiles) {
      g = [];
      groups.push(g);
      filling.set(k, g);
    }
    g.push(d);
  }
  return groups;
}

/**
 * Load `files` (local copies of landing objects) into the DuckDB warehouse `wh`, reference data
 * first (companies, indices), then the rest. Returns one outcome per file, in load order;
 * failures are recorded and returned, not thrown (except an abort).
 */
export async function loadFiles(
  wh: Warehouse,
  files: readonly LocalFile[],
  opts: LoadOptions = {},
): Promise<LoadOutcome[]> {
  const outcomes: LoadOutcome[] = [];
  const report = (o: LoadOutcome[]) => {
    outcomes.push(...o);
    opts.onLoaded?.(o);
  };
  const detections: Detection[] = [];
  for (const file of files) {
    try {
      const header = await readHeaderLine(file.path);
      detections.push({ file, header, detected: detectFormat(file.key, header) });
    } catch (e) {
      report([await recordFailure(wh, file, null, e, opts)]);
    }
  }
  const groups = loadGroups(detections, opts.maxGroupFiles);
  let groupNumber = 0;
  const watch = (g: Detection[]) =>
    opts.onProgress
      ? new GroupWatch(opts.onProgress, ++groupNumber, g, opts.progressIntervalMs)
      : undefined;
  for (const group of groups) {
    opts.signal?.throwIfAborted();
    try {
      report(await loadGroup(wh, group, opts, watch(group)));
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      if (group.length === 1) {
        report([await recordFailure(wh, group[0].file, group[0].detected.spec.id, e, opts)]);
        continue;
      }
      for (const one of group) {
        opts.signal?.throwIfAborted();
        try {
          report(await loadGroup(wh, [one], opts, watch([one])));
        } catch (e1) {
          if (opts.signal?.aborted) throw e1;
          report([await recordFailure(wh, one.file, one.detected.spec.id, e1, opts)]);
        }
      }
    }
  }
  return outcomes;
}

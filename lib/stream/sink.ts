/**
 * The warehouse side of the stream: upsert a batch of quotes by natural key and record the
 * partition's next offset in the SAME transaction (so a restart resumes exactly after the last
 * written record, the way the Snowflake Kafka connector does it).
 *
 *  - intraday quotes (interval < 1d) -> OPERATIONAL.TBL_INTRADAY_BAR
 *      key (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE = 'STREAMING_API');
 *    then the daily bar of each touched Cairo trade date is recomputed from the stored intraday
 *    bars (first open, max high, min low, last close, summed volume) -> TBL_STOCK_PRICE
 *      key (TICKER, TRADE_DATE, DATA_SOURCE = 'STREAMING_API'), SOURCE_FILE 'stream-aggregate:<n>m';
 *  - daily quotes (a scanner snapshot of the session) -> TBL_STOCK_PRICE directly. A snapshot
 *    is the exchange's own daily figure: a later aggregate does not overwrite it.
 *  - OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID) -> NEXT_OFFSET, and the
 *    Kafka timestamp and key of the record before it (LAST_TIMESTAMP, LAST_KEY).
 *
 * The SQL (stream_queries.sql) is plain MERGE (DuckDB >= 1.4 and Snowflake) with bound parameters
 * only. Within a batch the last quote per key wins (the caller passes quotes in offset order).
 *
 * The staging table is created by DDL (CREATE OR REPLACE TEMPORARY TABLE), which on Snowflake
 * commits the open transaction and leaves the statements after it in autocommit: the merges and
 * the offset mark would commit one by one and an OffsetMovedError would roll nothing back. So on
 * Snowflake the stage is created before BEGIN (`writeQuotesIn`, TransactionOptions.prepare) and
 * only emptied (DELETE) inside; DuckDB creates it inside the transaction as before.
 */
import { cairoDate } from "../market/calendar.ts";
import { INTERVAL_MINUTES, type Quote } from "../market/sources/source.ts";
import type { Session, SqlValue, TransactionOptions, Warehouse } from "../warehouse/warehouse.ts";
import { SQL } from "./sql.ts";

export const STREAM_DATA_SOURCE = "STREAMING_API";

/** A quote and the record it came from. */
export interface SinkRow {
  quote: Quote;
  /** `kafka:<topic>/<partition>/<offset>` (stored in SOURCE_FILE). */
  ref: string;
}

/** What tells a record from another at the same offset of a recreated topic. */
export interface RecordMark {
  /** Kafka timestamp, epoch ms. */
  timestamp: number;
  /** The key as text (null: none, or not valid UTF-8). */
  key: string | null;
}

export interface OffsetMark {
  group: string;
  topic: string;
  partition: number;
  /** The next offset to read (last written + 1). */
  nextOffset: number;
  /** The record at nextOffset - 1 (omitted: not known). */
  last?: RecordMark;
  /**
   * Compare and set: the NEXT_OFFSET the partition's row must hold (null: the partition must have
   * no row), else the write fails with OffsetMovedError. Omitted: set whatever is stored.
   */
  expected?: number | null;
}

/** A conditional offset update found another offset stored (see OffsetMark.expected). */
export class OffsetMovedError extends Error {
  override name = "OffsetMovedError";
}

/** A partition's stored offset and the record before it (when stored with it). */
export interface StoredOffset {
  nextOffset: number;
  last?: RecordMark;
}

export interface WriteResult {
  /** Distinct natural keys written (after the in-batch dedupe). */
  rows: number;
  intraday: number;
  daily: number;
}

// The temporary staging table of create_stage and the merges in stream_queries.sql.
const STAGE = "EGX_STREAM_STAGE";
const STAGE_COLUMNS = [
  "TICKER",
  "BAR_START",
  "INTERVAL_MINUTES",
  "TRADE_DATE",
  "OPEN",
  "HIGH",
  "LOW",
  "CLOSE",
  "VOLUME",
  "SOURCE_FILE",
  "WRITTEN_AT",
] as const;

// Cairo's offset changes only on whole hours, so the trade date is cached per UTC hour.
const dateByHour = new Map<number, string>();
function tradeDateOf(t: number): string {
  const hour = Math.floor(t / 3_600_000);
  let d = dateByHour.get(hour);
  if (d === undefined) {
    d = cairoDate(hour * 3_600_000);
    if (dateByHour.size > 100_000) dateByHour.clear();
    dateByHour.set(hour, d);
  }
  return d;
}

/**
 * A quote's natural key as text: ticker, bar start and interval for an intraday bar; ticker and
 * Cairo trade date for a daily one.
 */
export function barKey(q: Quote): string {
  return q.interval === "1d"
    ? `${q.ticker}|${tradeDateOf(Date.parse(q.barStart))}|1d`
    : `${q.ticker}|${q.barStart}|${q.interval}`;
}

/** Keep the last row per natural key, in first-seen key order. */
function dedupeByKey(rows: readonly SinkRow[]): SinkRow[] {
  const byKey = new Map<string, SinkRow>();
  for (const r of rows) byKey.set(barKey(r.quote), r);
  return [...byKey.values()];
}

/** What stageQuotes put in the staging table. */
export interface Staged {
  intraday: number;
  daily: number;
  /** The intraday rows' first and last Cairo trade dates (when intraday > 0). */
  minDate: string;
  maxDate: string;
}

/**
 * Create the session's (empty) staging table EGX_STREAM_STAGE. DDL: on Snowflake run it before
 * BEGIN (TransactionOptions.prepare), then stage with `created: true` (see the header).
 */
export async function createStage(s: Session): Promise<void> {
  await s.execute(SQL.get("create_stage"));
}

/** Whether a transaction on `kind` creates the staging table before BEGIN (see the header). */
export function stageBeforeBegin(kind: Warehouse["kind"]): boolean {
  return kind === "snowflake";
}

/**
 * Fill the session's staging table EGX_STREAM_STAGE with `rows` (one per natural key: the caller
 * dedupes), `now` as their write time: (re)created first, or with `created` (made by createStage
 * before the transaction) emptied by a DELETE.
 */
export async function stageQuotes(
  s: Session,
  rows: readonly SinkRow[],
  now: Date,
  opts: { created?: boolean } = {},
): Promise<Staged> {
  const staged: Staged = { intraday: 0, daily: 0, minDate: "9999-12-31", maxDate: "0000-01-01" };
  const values: SqlValue[][] = rows.map(({ quote: q, ref }) => {
    const minutes = INTERVAL_MINUTES[q.interval];
    const date = tradeDateOf(Date.parse(q.barStart));
    if (minutes < 1440) {
      staged.intraday++;
      if (date < staged.minDate) staged.minDate = date;
      if (date > staged.maxDate) staged.maxDate = date;
    } else staged.daily++;
    return [
      q.ticker,
      q.barStart,
      minutes,
      date,
      q.open,
      q.high,
      q.low,
      q.close,
      q.volume,
      ref,
      now,
    ];
  });
  await s.execute(SQL.get(opts.created ? "clear_stage" : "create_stage"));
  await s.insertRows(STAGE, STAGE_COLUMNS, values);
  return staged;
}

/**
 * Recompute the daily bar of every (ticker, trade date) of the staged intraday rows from the
 * stored intraday bars (merge_daily_aggregate: a daily snapshot is left as it is).
 */
export async function mergeDailyAggregate(s: Session, staged: Staged): Promise<void> {
  // The dates' UTC span, widened by a day on each side (Cairo is UTC+2/+3).
  const from = new Date(Date.parse(`${staged.minDate}T00:00:00Z`) - 86_400_000);
  const to = new Date(Date.parse(`${staged.maxDate}T00:00:00Z`) + 2 * 86_400_000);
  await s.execute(SQL.get("merge_daily_aggregate"), [staged.minDate, staged.maxDate, from, to]);
}

/**
 * Upsert `rows` and set the offset mark(s), inside the caller's transaction. Returns what was
 * written. `offsets` may be empty (e.g. a benchmark writing rows without Kafka). `stageCreated`:
 * the staging table was created before the transaction (createStage; required on Snowflake, see
 * the header and `writeQuotesIn`).
 */
export async function writeQuotes(
  s: Session,
  rows: readonly SinkRow[],
  opts: { offsets: readonly OffsetMark[]; now?: Date; stageCreated?: boolean },
): Promise<WriteResult> {
  const now = opts.now ?? new Date();
  const unique = dedupeByKey(rows);
  let staged: Staged | undefined;
  if (unique.length > 0) {
    staged = await stageQuotes(s, unique, now, { created: opts.stageCreated });
    if (staged.intraday > 0) {
      await s.execute(SQL.get("merge_intraday"));
      await mergeDailyAggregate(s, staged);
    }
    if (staged.daily > 0) await s.execute(SQL.get("merge_daily_snapshot"));
    // The temporary table goes with the session; CREATE OR REPLACE resets it for the next batch.
  }
  for (const o of opts.offsets) {
    const key = [o.group, o.topic, o.partition];
    const set = [o.nextOffset, o.last?.timestamp ?? null, o.last?.key ?? null, now];
    let changed = 0;
    if (o.expected === undefined) {
      changed = await s.execute(SQL.get("update_offset"), [...set, ...key]);
    } else if (o.expected !== null) {
      changed = await s.execute(SQL.get("update_offset_from"), [...set, ...key, o.expected]);
    }
    if (changed === 0 && o.expected !== undefined && o.expected !== null) {
      throw new OffsetMovedError(
        `${o.topic}/${o.partition}: the stored offset of group ${o.group} is no longer ` +
          `${o.expected} (another consumer wrote the partition)`,
      );
    }
    if (changed === 0) {
      changed = await s.execute(SQL.get("insert_offset"), [
        ...key,
        ...set.slice(0, 3),
        now,
        ...key,
      ]);
      if (changed === 0 && o.expected === null) {
        throw new OffsetMovedError(
          `${o.topic}/${o.partition}: group ${o.group} has a stored offset now (another ` +
            "consumer wrote the partition)",
        );
      }
    }
  }
  return { rows: unique.length, intraday: staged?.intraday ?? 0, daily: staged?.daily ?? 0 };
}

/**
 * `writeQuotes` in a transaction of its own on `wh`: on Snowflake the staging table is created
 * before BEGIN, so the merges and the offset mark commit (or roll back) together.
 */
export function writeQuotesIn(
  wh: Warehouse,
  rows: readonly SinkRow[],
  opts: { offsets: readonly OffsetMark[]; now?: Date },
  txOpts: TransactionOptions = {},
): Promise<WriteResult> {
  const early = stageBeforeBegin(wh.kind) && rows.length > 0;
  return wh.transaction(
    (s) => writeQuotes(s, rows, { ...opts, stageCreated: early }),
    { ...txOpts, ...(early ? { prepare: createStage } : {}) },
  );
}

/** The next offset to read per partition, as last stored with the rows, and the record before. */
export async function storedOffsets(
  wh: Warehouse,
  group: string,
  topic: string,
  opts: { signal?: AbortSignal } = {},
): Promise<Map<number, StoredOffset>> {
  const rows = await wh.query<
    {
      PARTITION_ID: number;
      NEXT_OFFSET: number;
      LAST_TIMESTAMP: number | null;
      LAST_KEY: string | null;
    }
  >(SQL.get("select_offsets"), [group, topic], { signal: opts.signal, label: "stream offsets" });
  return new Map(rows.map((r) => [
    Number(r.PARTITION_ID),
    {
      nextOffset: Number(r.NEXT_OFFSET),
      ...(r.LAST_TIMESTAMP === null
        ? {}
        : { last: { timestamp: Number(r.LAST_TIMESTAMP), key: r.LAST_KEY } }),
    },
  ]));
}

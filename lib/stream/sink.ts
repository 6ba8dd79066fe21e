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
 *  - OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID) -> NEXT_OFFSET.
 *
 * The SQL (stream_queries.sql) is plain MERGE (DuckDB >= 1.4 and Snowflake) with bound parameters
 * only. Within a batch the last quote per key wins (the caller passes quotes in offset order).
 */
import { cairoDate } from "../market/calendar.ts";
import { INTERVAL_MINUTES, type Quote } from "../market/sources/source.ts";
import type { Session, SqlValue, Warehouse } from "../warehouse/warehouse.ts";
import { SQL } from "./sql.ts";

export const STREAM_DATA_SOURCE = "STREAMING_API";

/** A quote and the record it came from. */
export interface SinkRow {
  quote: Quote;
  /** `kafka:<topic>/<partition>/<offset>` (stored in SOURCE_FILE). */
  ref: string;
}

export interface OffsetMark {
  group: string;
  topic: string;
  partition: number;
  /** The next offset to read (last written + 1). */
  nextOffset: number;
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
 * (Re)create the session's staging table EGX_STREAM_STAGE and fill it with `rows` (one per
 * natural key: the caller dedupes), `now` as their write time.
 */
export async function stageQuotes(
  s: Session,
  rows: readonly SinkRow[],
  now: Date,
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
  await s.execute(SQL.get("create_stage"));
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
 * written. `offsets` may be empty (e.g. a benchmark writing rows without Kafka).
 */
export async function writeQuotes(
  s: Session,
  rows: readonly SinkRow[],
  opts: { offsets: readonly OffsetMark[]; now?: Date },
): Promise<WriteResult> {
  const now = opts.now ?? new Date();
  const unique = dedupeByKey(rows);
  let staged: Staged | undefined;
  if (unique.length > 0) {
    staged = await stageQuotes(s, unique, now);
    if (staged.intraday > 0) {
      await s.execute(SQL.get("merge_intraday"));
      await mergeDailyAggregate(s, staged);
    }
    if (staged.daily > 0) await s.execute(SQL.get("merge_daily_snapshot"));
    // The temporary table goes with the session; CREATE OR REPLACE resets it for the next batch.
  }
  for (const o of opts.offsets) {
    const changed = await s.execute(SQL.get("update_offset"), [
      o.nextOffset,
      now,
      o.group,
      o.topic,
      o.partition,
    ]);
    if (changed === 0) {
      await s.execute(SQL.get("insert_offset"), [o.group, o.topic, o.partition, o.nextOffset, now]);
    }
  }
  return { rows: unique.length, intraday: staged?.intraday ?? 0, daily: staged?.daily ?? 0 };
}

/** The next offset to read per partition, as last stored with the rows. */
export async function storedOffsets(
  wh: Warehouse,
  group: string,
  topic: string,
  opts: { signal?: AbortSignal } = {},
): Promise<Map<number, number>> {
  const rows = await wh.query<{ PARTITION_ID: number; NEXT_OFFSET: number }>(
    SQL.get("select_offsets"),
    [group, topic],
    { signal: opts.signal, label: "stream offsets" },
  );
  return new Map(rows.map((r) => [Number(r.PARTITION_ID), Number(r.NEXT_OFFSET)]));
}

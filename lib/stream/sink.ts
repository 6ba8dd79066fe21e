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
 * The SQL is plain MERGE (DuckDB >= 1.4 and Snowflake) with bound parameters only. Within a batch
 * the last quote per key wins (the caller passes quotes in offset order).
 */
import { cairoDate } from "../market/calendar.ts";
import { INTERVAL_MINUTES, type Quote } from "../market/sources/source.ts";
import type { Session, SqlValue, Warehouse } from "../warehouse/warehouse.ts";

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

const CREATE_STAGE = `CREATE OR REPLACE TEMPORARY TABLE ${STAGE} (
  TICKER VARCHAR, BAR_START TIMESTAMP, INTERVAL_MINUTES INTEGER, TRADE_DATE DATE,
  OPEN DOUBLE, HIGH DOUBLE, LOW DOUBLE, CLOSE DOUBLE, VOLUME BIGINT,
  SOURCE_FILE VARCHAR, WRITTEN_AT TIMESTAMP)`;

const MERGE_INTRADAY = `MERGE INTO OPERATIONAL.TBL_INTRADAY_BAR t
USING (SELECT * FROM ${STAGE} WHERE INTERVAL_MINUTES < 1440) s
ON t.TICKER = s.TICKER AND t.BAR_START = s.BAR_START
  AND t.INTERVAL_MINUTES = s.INTERVAL_MINUTES AND t.DATA_SOURCE = '${STREAM_DATA_SOURCE}'
WHEN MATCHED THEN UPDATE SET
  TRADE_DATE = s.TRADE_DATE, OPEN = s.OPEN, HIGH = s.HIGH, LOW = s.LOW, CLOSE = s.CLOSE,
  VOLUME = s.VOLUME, SOURCE_FILE = s.SOURCE_FILE, UPDATED_AT = s.WRITTEN_AT
WHEN NOT MATCHED THEN INSERT
  (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME,
   SOURCE_FILE, CREATED_AT, UPDATED_AT)
VALUES (s.TICKER, s.BAR_START, s.INTERVAL_MINUTES, '${STREAM_DATA_SOURCE}', s.TRADE_DATE, s.OPEN,
  s.HIGH, s.LOW, s.CLOSE, s.VOLUME, s.SOURCE_FILE, s.WRITTEN_AT, s.WRITTEN_AT)`;

// The daily bar of every (ticker, trade date) the batch touched, from all of that day's stored
// bars of the finest interval the batch carried. Bounded by the batch's date range so the scan
// of TBL_INTRADAY_BAR prunes by zone maps.
const MERGE_DAILY_AGGREGATE = `MERGE INTO OPERATIONAL.TBL_STOCK_PRICE t
USING (
  SELECT b.TICKER, b.TRADE_DATE,
    MIN_BY(b.OPEN, b.BAR_START) AS OPEN, MAX(b.HIGH) AS HIGH, MIN(b.LOW) AS LOW,
    MAX_BY(b.CLOSE, b.BAR_START) AS CLOSE, CAST(SUM(b.VOLUME) AS BIGINT) AS VOLUME,
    'stream-aggregate:' || CAST(MIN(b.INTERVAL_MINUTES) AS VARCHAR) || 'm' AS SOURCE_FILE,
    MAX(k.WRITTEN_AT) AS WRITTEN_AT
  FROM OPERATIONAL.TBL_INTRADAY_BAR b
  JOIN (
    SELECT TICKER, TRADE_DATE, MIN(INTERVAL_MINUTES) AS INTERVAL_MINUTES,
      MAX(WRITTEN_AT) AS WRITTEN_AT
    FROM ${STAGE} WHERE INTERVAL_MINUTES < 1440 GROUP BY TICKER, TRADE_DATE
  ) k ON b.TICKER = k.TICKER AND b.TRADE_DATE = k.TRADE_DATE
    AND b.INTERVAL_MINUTES = k.INTERVAL_MINUTES
  WHERE b.DATA_SOURCE = '${STREAM_DATA_SOURCE}'
    AND b.TRADE_DATE BETWEEN ? AND ? AND b.BAR_START >= ? AND b.BAR_START < ?
  GROUP BY b.TICKER, b.TRADE_DATE
) s
ON t.TICKER = s.TICKER AND t.TRADE_DATE = s.TRADE_DATE AND t.DATA_SOURCE = '${STREAM_DATA_SOURCE}'
WHEN MATCHED AND (t.SOURCE_FILE IS NULL OR t.SOURCE_FILE LIKE 'stream-aggregate:%') THEN UPDATE SET
  OPEN = s.OPEN, HIGH = s.HIGH, LOW = s.LOW, CLOSE = s.CLOSE, VOLUME = s.VOLUME,
  SOURCE_FILE = s.SOURCE_FILE, UPDATED_AT = s.WRITTEN_AT
WHEN NOT MATCHED THEN INSERT
  (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE, CREATED_AT,
   UPDATED_AT)
VALUES (s.TICKER, s.TRADE_DATE, '${STREAM_DATA_SOURCE}', s.OPEN, s.HIGH, s.LOW, s.CLOSE, s.VOLUME,
  s.SOURCE_FILE, s.WRITTEN_AT, s.WRITTEN_AT)`;

const MERGE_DAILY_SNAPSHOT = `MERGE INTO OPERATIONAL.TBL_STOCK_PRICE t
USING (SELECT * FROM ${STAGE} WHERE INTERVAL_MINUTES = 1440) s
ON t.TICKER = s.TICKER AND t.TRADE_DATE = s.TRADE_DATE AND t.DATA_SOURCE = '${STREAM_DATA_SOURCE}'
WHEN MATCHED THEN UPDATE SET
  OPEN = s.OPEN, HIGH = s.HIGH, LOW = s.LOW, CLOSE = s.CLOSE, VOLUME = s.VOLUME,
  SOURCE_FILE = s.SOURCE_FILE, UPDATED_AT = s.WRITTEN_AT
WHEN NOT MATCHED THEN INSERT
  (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE, CREATED_AT,
   UPDATED_AT)
VALUES (s.TICKER, s.TRADE_DATE, '${STREAM_DATA_SOURCE}', s.OPEN, s.HIGH, s.LOW, s.CLOSE, s.VOLUME,
  s.SOURCE_FILE, s.WRITTEN_AT, s.WRITTEN_AT)`;

// Offsets: an UPDATE by key (the common case, cheaper than a one-row MERGE), else an INSERT.
const UPDATE_OFFSET = `UPDATE OPERATIONAL.TBL_STREAM_OFFSET SET NEXT_OFFSET = ?, UPDATED_AT = ?
WHERE CONSUMER_GROUP = ? AND TOPIC = ? AND PARTITION_ID = ?`;

const INSERT_OFFSET = `INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET
  (CONSUMER_GROUP, TOPIC, PARTITION_ID, NEXT_OFFSET, UPDATED_AT) VALUES (?, ?, ?, ?, ?)`;

const SELECT_OFFSETS = `SELECT PARTITION_ID, NEXT_OFFSET FROM OPERATIONAL.TBL_STREAM_OFFSET
WHERE CONSUMER_GROUP = ? AND TOPIC = ?`;

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

/** Keep the last row per natural key, in first-seen key order. */
function dedupeByKey(rows: readonly SinkRow[]): SinkRow[] {
  const byKey = new Map<string, SinkRow>();
  for (const r of rows) {
    const q = r.quote;
    const key = q.interval === "1d"
      ? `${q.ticker}|${tradeDateOf(Date.parse(q.barStart))}|1d`
      : `${q.ticker}|${q.barStart}|${q.interval}`;
    byKey.set(key, r);
  }
  return [...byKey.values()];
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
  let intraday = 0;
  let daily = 0;
  let minDate = "9999-12-31";
  let maxDate = "0000-01-01";
  if (unique.length > 0) {
    const values: SqlValue[][] = unique.map(({ quote: q, ref }) => {
      const minutes = INTERVAL_MINUTES[q.interval];
      const date = tradeDateOf(Date.parse(q.barStart));
      if (minutes < 1440) {
        intraday++;
        if (date < minDate) minDate = date;
        if (date > maxDate) maxDate = date;
      } else daily++;
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
    await s.execute(CREATE_STAGE);
    await s.insertRows(STAGE, STAGE_COLUMNS, values);
    if (intraday > 0) {
      await s.execute(MERGE_INTRADAY);
      // The dates' UTC span, widened by a day on each side (Cairo is UTC+2/+3).
      const from = new Date(Date.parse(`${minDate}T00:00:00Z`) - 86_400_000);
      const to = new Date(Date.parse(`${maxDate}T00:00:00Z`) + 2 * 86_400_000);
      await s.execute(MERGE_DAILY_AGGREGATE, [minDate, maxDate, from, to]);
    }
    if (daily > 0) await s.execute(MERGE_DAILY_SNAPSHOT);
    // The temporary table goes with the session; CREATE OR REPLACE resets it for the next batch.
  }
  for (const o of opts.offsets) {
    const changed = await s.execute(UPDATE_OFFSET, [
      o.nextOffset,
      now,
      o.group,
      o.topic,
      o.partition,
    ]);
    if (changed === 0) {
      await s.execute(INSERT_OFFSET, [o.group, o.topic, o.partition, o.nextOffset, now]);
    }
  }
  return { rows: unique.length, intraday, daily };
}

/** The next offset to read per partition, as last stored with the rows. */
export async function storedOffsets(
  wh: Warehouse,
  group: string,
  topic: string,
  opts: { signal?: AbortSignal } = {},
): Promise<Map<number, number>> {
  const rows = await wh.query<{ PARTITION_ID: number; NEXT_OFFSET: number }>(
    SELECT_OFFSETS,
    [group, topic],
    { signal: opts.signal, label: "stream offsets" },
  );
  return new Map(rows.map((r) => [Number(r.PARTITION_ID), Number(r.NEXT_OFFSET)]));
}

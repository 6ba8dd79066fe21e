-- The stream sink's statements (lib/stream/sink.ts), health_check's freshness queries
-- (lib/stream/health.ts) and redrive's (lib/stream/redrive.ts). Plain MERGE/UPDATE (DuckDB >= 1.4
-- and Snowflake); values are bound as ? parameters. EGX_STREAM_STAGE is the sink's temporary
-- staging table, STREAMING_API the DATA_SOURCE of every streamed row (STREAM_DATA_SOURCE in
-- sink.ts).

-- name: create_stage
CREATE OR REPLACE TEMPORARY TABLE EGX_STREAM_STAGE (
  TICKER VARCHAR, BAR_START TIMESTAMP, INTERVAL_MINUTES INTEGER, TRADE_DATE DATE,
  OPEN DOUBLE, HIGH DOUBLE, LOW DOUBLE, CLOSE DOUBLE, VOLUME BIGINT,
  SOURCE_FILE VARCHAR, WRITTEN_AT TIMESTAMP);

-- name: clear_stage
-- The staging table emptied inside a transaction (DML) when create_stage ran before BEGIN
-- (Snowflake: DDL would commit the transaction).
DELETE FROM EGX_STREAM_STAGE;

-- name: merge_intraday
MERGE INTO OPERATIONAL.TBL_INTRADAY_BAR t
USING (SELECT * FROM EGX_STREAM_STAGE WHERE INTERVAL_MINUTES < 1440) s
ON t.TICKER = s.TICKER AND t.BAR_START = s.BAR_START
  AND t.INTERVAL_MINUTES = s.INTERVAL_MINUTES AND t.DATA_SOURCE = 'STREAMING_API'
WHEN MATCHED THEN UPDATE SET
  TRADE_DATE = s.TRADE_DATE, OPEN = s.OPEN, HIGH = s.HIGH, LOW = s.LOW, CLOSE = s.CLOSE,
  VOLUME = s.VOLUME, SOURCE_FILE = s.SOURCE_FILE, UPDATED_AT = s.WRITTEN_AT
WHEN NOT MATCHED THEN INSERT
  (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME,
   SOURCE_FILE, CREATED_AT, UPDATED_AT)
VALUES (s.TICKER, s.BAR_START, s.INTERVAL_MINUTES, 'STREAMING_API', s.TRADE_DATE, s.OPEN,
  s.HIGH, s.LOW, s.CLOSE, s.VOLUME, s.SOURCE_FILE, s.WRITTEN_AT, s.WRITTEN_AT);

-- name: merge_daily_aggregate
-- The daily bar of every (ticker, trade date) the batch touched, from all of that day's stored
-- bars of the finest interval the batch carried. Bounded by the batch's date range so the scan
-- of TBL_INTRADAY_BAR prunes by zone maps.
MERGE INTO OPERATIONAL.TBL_STOCK_PRICE t
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
    FROM EGX_STREAM_STAGE WHERE INTERVAL_MINUTES < 1440 GROUP BY TICKER, TRADE_DATE
  ) k ON b.TICKER = k.TICKER AND b.TRADE_DATE = k.TRADE_DATE
    AND b.INTERVAL_MINUTES = k.INTERVAL_MINUTES
  WHERE b.DATA_SOURCE = 'STREAMING_API'
    AND b.TRADE_DATE BETWEEN ? AND ? AND b.BAR_START >= ? AND b.BAR_START < ?
  GROUP BY b.TICKER, b.TRADE_DATE
) s
ON t.TICKER = s.TICKER AND t.TRADE_DATE = s.TRADE_DATE AND t.DATA_SOURCE = 'STREAMING_API'
WHEN MATCHED AND (t.SOURCE_FILE IS NULL OR t.SOURCE_FILE LIKE 'stream-aggregate:%') THEN UPDATE SET
  OPEN = s.OPEN, HIGH = s.HIGH, LOW = s.LOW, CLOSE = s.CLOSE, VOLUME = s.VOLUME,
  SOURCE_FILE = s.SOURCE_FILE, UPDATED_AT = s.WRITTEN_AT
WHEN NOT MATCHED THEN INSERT
  (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE, CREATED_AT,
   UPDATED_AT)
VALUES (s.TICKER, s.TRADE_DATE, 'STREAMING_API', s.OPEN, s.HIGH, s.LOW, s.CLOSE, s.VOLUME,
  s.SOURCE_FILE, s.WRITTEN_AT, s.WRITTEN_AT);

-- name: merge_daily_snapshot
MERGE INTO OPERATIONAL.TBL_STOCK_PRICE t
USING (SELECT * FROM EGX_STREAM_STAGE WHERE INTERVAL_MINUTES = 1440) s
ON t.TICKER = s.TICKER AND t.TRADE_DATE = s.TRADE_DATE AND t.DATA_SOURCE = 'STREAMING_API'
WHEN MATCHED THEN UPDATE SET
  OPEN = s.OPEN, HIGH = s.HIGH, LOW = s.LOW, CLOSE = s.CLOSE, VOLUME = s.VOLUME,
  SOURCE_FILE = s.SOURCE_FILE, UPDATED_AT = s.WRITTEN_AT
WHEN NOT MATCHED THEN INSERT
  (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE, CREATED_AT,
   UPDATED_AT)
VALUES (s.TICKER, s.TRADE_DATE, 'STREAMING_API', s.OPEN, s.HIGH, s.LOW, s.CLOSE, s.VOLUME,
  s.SOURCE_FILE, s.WRITTEN_AT, s.WRITTEN_AT);

-- name: update_offset
-- Offsets: an UPDATE by key (the common case, cheaper than a one-row MERGE), else an INSERT.
-- LAST_TIMESTAMP and LAST_KEY: the record at NEXT_OFFSET - 1 (NULL when not known).
UPDATE OPERATIONAL.TBL_STREAM_OFFSET
SET NEXT_OFFSET = ?, LAST_TIMESTAMP = ?, LAST_KEY = ?, UPDATED_AT = ?
WHERE CONSUMER_GROUP = ? AND TOPIC = ? AND PARTITION_ID = ?;

-- name: update_offset_from
-- The consumer's update: only from the NEXT_OFFSET it read or wrote last (compare and set). No
-- row changed means another consumer wrote the partition since (it was taken over while this
-- transaction waited): the caller rolls back rather than move the offset under the new owner.
UPDATE OPERATIONAL.TBL_STREAM_OFFSET
SET NEXT_OFFSET = ?, LAST_TIMESTAMP = ?, LAST_KEY = ?, UPDATED_AT = ?
WHERE CONSUMER_GROUP = ? AND TOPIC = ? AND PARTITION_ID = ? AND NEXT_OFFSET = ?;

-- name: insert_offset
-- Only when the partition has no row (no row inserted: another consumer inserted it first).
INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET
  (CONSUMER_GROUP, TOPIC, PARTITION_ID, NEXT_OFFSET, LAST_TIMESTAMP, LAST_KEY, UPDATED_AT)
SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (
  SELECT 1 FROM OPERATIONAL.TBL_STREAM_OFFSET
  WHERE CONSUMER_GROUP = ? AND TOPIC = ? AND PARTITION_ID = ?);

-- name: select_offsets
SELECT PARTITION_ID, NEXT_OFFSET, LAST_TIMESTAMP, LAST_KEY FROM OPERATIONAL.TBL_STREAM_OFFSET
WHERE CONSUMER_GROUP = ? AND TOPIC = ?;

-- name: health_intraday_freshness
SELECT MAX(UPDATED_AT) AS LAST_WRITE, MAX(BAR_START) AS LATEST_BAR
FROM OPERATIONAL.TBL_INTRADAY_BAR WHERE DATA_SOURCE = ?;

-- name: health_daily_freshness
SELECT MAX(UPDATED_AT) AS LAST_WRITE FROM OPERATIONAL.TBL_STOCK_PRICE WHERE DATA_SOURCE = ?;

-- name: company_tickers
-- The consumer's company list (lib/stream/companies.ts): a record of any other ticker is
-- dead-lettered, as a batch load quarantines its row. The consumer and redrive take each ticker
-- as its EGX code (lib/market/ticker.ts: ACTF.CA, stored by a list loaded before the rule, is
-- ACTF), as batch loads do (egx_company in lib/ingest/sql/prelude.sql).
SELECT TICKER FROM OPERATIONAL.TBL_COMPANY;

-- name: redrive_existing_intraday
-- `deno task stream redrive` (lib/stream/redrive.ts): the staged dead letters whose intraday bar
-- the warehouse has already (kept as it is: redrive only inserts).
SELECT s.SOURCE_FILE FROM EGX_STREAM_STAGE s
JOIN OPERATIONAL.TBL_INTRADAY_BAR t ON t.TICKER = s.TICKER AND t.BAR_START = s.BAR_START
  AND t.INTERVAL_MINUTES = s.INTERVAL_MINUTES AND t.DATA_SOURCE = 'STREAMING_API'
WHERE s.INTERVAL_MINUTES < 1440;

-- name: redrive_existing_snapshot
-- The staged daily snapshots whose (ticker, trade date) has a snapshot already; a daily bar
-- aggregated from intraday bars is no snapshot (merge_daily_aggregate's rule): it is replaced.
SELECT s.SOURCE_FILE FROM EGX_STREAM_STAGE s
JOIN OPERATIONAL.TBL_STOCK_PRICE t ON t.TICKER = s.TICKER AND t.TRADE_DATE = s.TRADE_DATE
  AND t.DATA_SOURCE = 'STREAMING_API'
WHERE s.INTERVAL_MINUTES = 1440
  AND t.SOURCE_FILE IS NOT NULL AND t.SOURCE_FILE NOT LIKE 'stream-aggregate:%';

-- name: redrive_insert_intraday
-- Insert-only: a bar the warehouse has (written since the staging read) is left as it is.
MERGE INTO OPERATIONAL.TBL_INTRADAY_BAR t
USING (SELECT * FROM EGX_STREAM_STAGE WHERE INTERVAL_MINUTES < 1440) s
ON t.TICKER = s.TICKER AND t.BAR_START = s.BAR_START
  AND t.INTERVAL_MINUTES = s.INTERVAL_MINUTES AND t.DATA_SOURCE = 'STREAMING_API'
WHEN NOT MATCHED THEN INSERT
  (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME,
   SOURCE_FILE, CREATED_AT, UPDATED_AT)
VALUES (s.TICKER, s.BAR_START, s.INTERVAL_MINUTES, 'STREAMING_API', s.TRADE_DATE, s.OPEN,
  s.HIGH, s.LOW, s.CLOSE, s.VOLUME, s.SOURCE_FILE, s.WRITTEN_AT, s.WRITTEN_AT);

-- name: redrive_merge_snapshot
-- A daily snapshot is inserted, or replaces a daily bar aggregated from intraday bars (as
-- merge_daily_snapshot does); an existing snapshot is left as it is.
MERGE INTO OPERATIONAL.TBL_STOCK_PRICE t
USING (SELECT * FROM EGX_STREAM_STAGE WHERE INTERVAL_MINUTES = 1440) s
ON t.TICKER = s.TICKER AND t.TRADE_DATE = s.TRADE_DATE AND t.DATA_SOURCE = 'STREAMING_API'
WHEN MATCHED AND (t.SOURCE_FILE IS NULL OR t.SOURCE_FILE LIKE 'stream-aggregate:%') THEN UPDATE SET
  OPEN = s.OPEN, HIGH = s.HIGH, LOW = s.LOW, CLOSE = s.CLOSE, VOLUME = s.VOLUME,
  SOURCE_FILE = s.SOURCE_FILE, UPDATED_AT = s.WRITTEN_AT
WHEN NOT MATCHED THEN INSERT
  (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE, CREATED_AT,
   UPDATED_AT)
VALUES (s.TICKER, s.TRADE_DATE, 'STREAMING_API', s.OPEN, s.HIGH, s.LOW, s.CLOSE, s.VOLUME,
  s.SOURCE_FILE, s.WRITTEN_AT, s.WRITTEN_AT);

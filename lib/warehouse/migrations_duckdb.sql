-- Warehouse DDL for DuckDB, as ordered migrations. Each migration starts with a line
-- `-- migration: NNN_name`; applied migrations are recorded in OPERATIONAL.SCHEMA_MIGRATION
-- (version, name, checksum) and never edited afterwards: change the schema with a new migration.
-- Conventions: every TIMESTAMP column holds UTC; TRADE_DATE is the Cairo calendar date; prices
-- are DOUBLE (EGP); natural keys are declared as PRIMARY KEY here (DuckDB enforces them) but
-- writes never rely on that: every write is an upsert by the natural key.

-- Bootstrap (runs before every migrate, idempotent): the schema and the migration record.
CREATE SCHEMA IF NOT EXISTS OPERATIONAL;
CREATE TABLE IF NOT EXISTS OPERATIONAL.SCHEMA_MIGRATION (
  VERSION     INTEGER   NOT NULL PRIMARY KEY,
  NAME        VARCHAR   NOT NULL,
  CHECKSUM    VARCHAR   NOT NULL,                -- SHA-256 of the migration's text
  APPLIED_AT  TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
);

-- migration: 001_operational
CREATE SCHEMA IF NOT EXISTS OPERATIONAL;

CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_COMPANY (
  TICKER        VARCHAR   NOT NULL PRIMARY KEY,  -- local EGX code, e.g. COMI
  COMPANY_NAME  VARCHAR   NOT NULL,
  ISIN          VARCHAR,                         -- 12 chars, EG....; unknown for some names
  SECTOR        VARCHAR,                         -- GICS-style sector; blank in the source = NULL
  INDUSTRY      VARCHAR,
  IS_ACTIVE     BOOLEAN   NOT NULL DEFAULT TRUE,
  SOURCE_FILE   VARCHAR,
  CREATED_AT    TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  UPDATED_AT    TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
);

-- Daily OHLCV per company, trade date and source (BATCH_CSV, TRADINGVIEW_EXPORT,
-- INVESTING_EXPORT, BARS_1M, STREAMING_API). Staging picks one source per ticker and day.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_STOCK_PRICE (
  TICKER       VARCHAR   NOT NULL,
  TRADE_DATE   DATE      NOT NULL,
  DATA_SOURCE  VARCHAR   NOT NULL,
  OPEN         DOUBLE    NOT NULL,
  HIGH         DOUBLE    NOT NULL,
  LOW          DOUBLE    NOT NULL,
  CLOSE        DOUBLE    NOT NULL,
  VOLUME       BIGINT    NOT NULL,
  SOURCE_FILE  VARCHAR,                          -- landing key, or kafka topic/partition/offset
  CREATED_AT   TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  UPDATED_AT   TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  PRIMARY KEY (TICKER, TRADE_DATE, DATA_SOURCE)
);

-- Intraday bars: one-minute bars from files, poll bars from the stream.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_INTRADAY_BAR (
  TICKER            VARCHAR   NOT NULL,
  BAR_START         TIMESTAMP NOT NULL,          -- UTC
  INTERVAL_MINUTES  INTEGER   NOT NULL,
  DATA_SOURCE       VARCHAR   NOT NULL,
  TRADE_DATE        DATE      NOT NULL,          -- Cairo date of BAR_START
  OPEN              DOUBLE    NOT NULL,
  HIGH              DOUBLE    NOT NULL,
  LOW               DOUBLE    NOT NULL,
  CLOSE             DOUBLE    NOT NULL,
  VOLUME            BIGINT    NOT NULL,
  SOURCE_FILE       VARCHAR,
  CREATED_AT        TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  UPDATED_AT        TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  PRIMARY KEY (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE)
);

-- Quarterly statements (EGP unless CURRENCY says otherwise).
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_FINANCIAL (
  TICKER               VARCHAR   NOT NULL,
  FISCAL_YEAR          INTEGER   NOT NULL,
  FISCAL_QUARTER       INTEGER   NOT NULL,       -- 1..4
  PERIOD_END           DATE      NOT NULL,
  CURRENCY             VARCHAR   NOT NULL DEFAULT 'EGP',
  REVENUE              DOUBLE,
  GROSS_PROFIT         DOUBLE,
  OPERATING_INCOME     DOUBLE,
  NET_INCOME           DOUBLE,
  TOTAL_ASSETS         DOUBLE,
  TOTAL_LIABILITIES    DOUBLE,
  TOTAL_EQUITY         DOUBLE,
  OPERATING_CASH_FLOW  DOUBLE,
  SHARES_OUTSTANDING   BIGINT,
  EPS                  DOUBLE,
  DATA_SOURCE          VARCHAR   NOT NULL,
  SOURCE_FILE          VARCHAR,
  CREATED_AT           TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  UPDATED_AT           TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  PRIMARY KEY (TICKER, FISCAL_YEAR, FISCAL_QUARTER)
);

-- Screener snapshots (one per ticker and snapshot date).
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_MARKET_STAT (
  TICKER          VARCHAR   NOT NULL,
  SNAPSHOT_DATE   DATE      NOT NULL,
  LAST_PRICE      DOUBLE,
  CHANGE_PCT      DOUBLE,
  VOLUME          BIGINT,
  MARKET_CAP      DOUBLE,
  PE_RATIO        DOUBLE,
  PB_RATIO        DOUBLE,
  DIVIDEND_YIELD  DOUBLE,
  EPS_TTM         DOUBLE,
  HIGH_52W        DOUBLE,
  LOW_52W         DOUBLE,
  DATA_SOURCE     VARCHAR   NOT NULL,
  SOURCE_FILE     VARCHAR,
  CREATED_AT      TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  UPDATED_AT      TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  PRIMARY KEY (TICKER, SNAPSHOT_DATE)
);

-- Indices: EGX30 (cap-weighted), EGX70_EWI and EGX100_EWI (equal-weighted).
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_INDEX (
  INDEX_CODE   VARCHAR   NOT NULL PRIMARY KEY,   -- EGX30, EGX70_EWI, EGX100_EWI
  INDEX_NAME   VARCHAR   NOT NULL,
  WEIGHTING    VARCHAR   NOT NULL,               -- CAP_WEIGHTED | EQUAL_WEIGHTED
  BASE_VALUE   DOUBLE    NOT NULL,
  BASE_DATE    DATE,
  DESCRIPTION  VARCHAR,
  CREATED_AT   TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  UPDATED_AT   TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
);

CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_INDEX_MEMBERSHIP (
  INDEX_CODE      VARCHAR   NOT NULL,
  TICKER          VARCHAR   NOT NULL,
  EFFECTIVE_FROM  DATE      NOT NULL,
  EFFECTIVE_TO    DATE,                          -- NULL = still a member
  WEIGHT          DOUBLE,                        -- fraction 0..1 when known, else NULL
  SOURCE_FILE     VARCHAR,
  CREATED_AT      TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  UPDATED_AT      TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  PRIMARY KEY (INDEX_CODE, TICKER, EFFECTIVE_FROM)
);

-- Announced market closures, seeded from lib/market/egx_calendar.json.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_MARKET_CLOSURE (
  CLOSURE_DATE  DATE    NOT NULL PRIMARY KEY,
  NAME          VARCHAR NOT NULL,
  SOURCE        VARCHAR
);

-- One row per landing object loaded (key + ETag identify a version of a file).
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_LOAD_LOG (
  FILE_KEY          VARCHAR   NOT NULL,
  ETAG              VARCHAR   NOT NULL,
  SIZE_BYTES        BIGINT    NOT NULL,
  FORMAT            VARCHAR,
  STATUS            VARCHAR   NOT NULL,          -- LOADED | FAILED
  ROWS_READ         BIGINT    NOT NULL DEFAULT 0,
  ROWS_LOADED       BIGINT    NOT NULL DEFAULT 0,
  ROWS_QUARANTINED  BIGINT    NOT NULL DEFAULT 0,
  ERROR             VARCHAR,
  RUN_ID            VARCHAR,
  STARTED_AT        TIMESTAMP NOT NULL,
  FINISHED_AT       TIMESTAMP,
  PRIMARY KEY (FILE_KEY, ETAG)
);

-- Rows rejected by validation, with the reason; never silently dropped.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_QUARANTINE (
  FILE_KEY        VARCHAR   NOT NULL,
  ETAG            VARCHAR   NOT NULL,
  LINE_NUMBER     BIGINT    NOT NULL,            -- 1-based line in the file (header = 1)
  FORMAT          VARCHAR,
  REASON          VARCHAR   NOT NULL,
  RECORD          VARCHAR,                       -- the raw line or JSON of the record
  QUARANTINED_AT  TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  PRIMARY KEY (FILE_KEY, ETAG, LINE_NUMBER)
);

-- Streaming: last written offset per partition, written in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_STREAM_OFFSET (
  CONSUMER_GROUP  VARCHAR   NOT NULL,
  TOPIC           VARCHAR   NOT NULL,
  PARTITION_ID    INTEGER   NOT NULL,
  NEXT_OFFSET     BIGINT    NOT NULL,            -- the next offset to read (Kafka convention)
  UPDATED_AT      TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  PRIMARY KEY (CONSUMER_GROUP, TOPIC, PARTITION_ID)
);

-- migration: 002_alert_event
-- Alerts fired by the rules in alerts.yaml (lib/alerts): one row per rule, subject (ticker or
-- index code), Cairo trade date and direction, so each condition fires at most once a day.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_ALERT_EVENT (
  RULE_ID         VARCHAR   NOT NULL,
  SUBJECT         VARCHAR   NOT NULL,            -- ticker or index code
  ALERT_DATE      DATE      NOT NULL,            -- Cairo trade date the condition held on
  DIRECTION       VARCHAR   NOT NULL,            -- up | down | above | below
  KIND            VARCHAR   NOT NULL,            -- price_move | volume_spike | ma_cross | index_move
  OBSERVED        DOUBLE    NOT NULL,            -- change %, volume multiple or close
  THRESHOLD       DOUBLE    NOT NULL,            -- threshold %, multiple or moving average
  MESSAGE         VARCHAR   NOT NULL,
  SOURCE          VARCHAR   NOT NULL,            -- pipeline | stream
  TRIGGERED_AT    TIMESTAMP NOT NULL,            -- UTC
  DELIVERED_AT    TIMESTAMP,                     -- UTC; NULL until every channel took it
  DELIVERY_ERROR  VARCHAR,                       -- last failure; retried at the next evaluation
  PRIMARY KEY (RULE_ID, SUBJECT, ALERT_DATE, DIRECTION)
);

-- migration: 003_index_seed
-- The three EGX indices (reference data; membership comes from index constituent files).
-- BASE_VALUE 1000 is a nominal base, not checked against EGX publications; BASE_DATE unknown.
INSERT INTO OPERATIONAL.TBL_INDEX (INDEX_CODE, INDEX_NAME, WEIGHTING, BASE_VALUE, DESCRIPTION)
SELECT v.code, v.name, v.weighting, v.base_value, v.description
FROM (VALUES
  ('EGX30', 'EGX 30', 'CAP_WEIGHTED', 1000.0,
    'The 30 most active and liquid EGX stocks, weighted by free-float market capitalisation'),
  ('EGX70_EWI', 'EGX 70 EWI', 'EQUAL_WEIGHTED', 1000.0,
    'The 70 stocks after the EGX30 by activity, equally weighted'),
  ('EGX100_EWI', 'EGX 100 EWI', 'EQUAL_WEIGHTED', 1000.0,
    'The EGX30 and EGX70 constituents together, equally weighted')
) AS v (code, name, weighting, base_value, description)
WHERE v.code NOT IN (SELECT INDEX_CODE FROM OPERATIONAL.TBL_INDEX);

-- migration: 004_unindexed_facts
-- The two large fact tables lose their enforced PRIMARY KEY: maintaining DuckDB's index made a
-- 1,000,000-row load ~4x slower than reading the file (measured 1.24 s for the index alone vs
-- 0.33 s for read_csv), and correctness never relied on it. Uniqueness of the natural keys
-- (TICKER, TRADE_DATE, DATA_SOURCE) and (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE) is
-- kept by every writer upserting with MERGE on a deduplicated source, as on Snowflake (which
-- never enforces it), and checked by validate_data. Same columns, same order.
CREATE TABLE OPERATIONAL.TBL_STOCK_PRICE_004 (
  TICKER       VARCHAR   NOT NULL,
  TRADE_DATE   DATE      NOT NULL,
  DATA_SOURCE  VARCHAR   NOT NULL,
  OPEN         DOUBLE    NOT NULL,
  HIGH         DOUBLE    NOT NULL,
  LOW          DOUBLE    NOT NULL,
  CLOSE        DOUBLE    NOT NULL,
  VOLUME       BIGINT    NOT NULL,
  SOURCE_FILE  VARCHAR,
  CREATED_AT   TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  UPDATED_AT   TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
);
INSERT INTO OPERATIONAL.TBL_STOCK_PRICE_004 SELECT * FROM OPERATIONAL.TBL_STOCK_PRICE;
DROP TABLE OPERATIONAL.TBL_STOCK_PRICE;
ALTER TABLE OPERATIONAL.TBL_STOCK_PRICE_004 RENAME TO TBL_STOCK_PRICE;

CREATE TABLE OPERATIONAL.TBL_INTRADAY_BAR_004 (
  TICKER            VARCHAR   NOT NULL,
  BAR_START         TIMESTAMP NOT NULL,
  INTERVAL_MINUTES  INTEGER   NOT NULL,
  DATA_SOURCE       VARCHAR   NOT NULL,
  TRADE_DATE        DATE      NOT NULL,
  OPEN              DOUBLE    NOT NULL,
  HIGH              DOUBLE    NOT NULL,
  LOW               DOUBLE    NOT NULL,
  CLOSE             DOUBLE    NOT NULL,
  VOLUME            BIGINT    NOT NULL,
  SOURCE_FILE       VARCHAR,
  CREATED_AT        TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP),
  UPDATED_AT        TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
);
INSERT INTO OPERATIONAL.TBL_INTRADAY_BAR_004 SELECT * FROM OPERATIONAL.TBL_INTRADAY_BAR;
DROP TABLE OPERATIONAL.TBL_INTRADAY_BAR;
ALTER TABLE OPERATIONAL.TBL_INTRADAY_BAR_004 RENAME TO TBL_INTRADAY_BAR;

-- migration: 005_model_build
-- The definition each model relation was last built from (lib/models/build_record.ts): a SHA-256
-- of its rendered SQL (full and incremental branches) and config, written in the transaction of
-- the build. An incremental model whose definition differs, or whose table has no row here (built
-- before this table existed), is rebuilt in full instead of merged into.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_MODEL_BUILD (
  RELATION_NAME  VARCHAR   NOT NULL PRIMARY KEY,  -- SCHEMA.NAME in upper case
  MODEL_NAME     VARCHAR   NOT NULL,
  MATERIALIZED   VARCHAR   NOT NULL,              -- table | view | incremental
  BUILD_MODE     VARCHAR   NOT NULL,              -- table | view | full-refresh | incremental
  FINGERPRINT    VARCHAR   NOT NULL,              -- SHA-256 of the definition, hex
  BUILT_AT       TIMESTAMP NOT NULL DEFAULT (now()::TIMESTAMP)
);

-- migration: 006_alert_claim
-- Delivery claims (lib/alerts/store.ts): an evaluation claims the undelivered alerts before it
-- sends them, so two evaluations at once (the pipeline job and the stream side) never deliver
-- the same alert twice. A claim older than the lease (an evaluator that died mid-delivery) may be
-- taken over; delivering or failing clears it.
ALTER TABLE OPERATIONAL.TBL_ALERT_EVENT ADD COLUMN CLAIMED_BY VARCHAR;   -- the evaluation's token
ALTER TABLE OPERATIONAL.TBL_ALERT_EVENT ADD COLUMN CLAIMED_AT TIMESTAMP; -- UTC

-- migration: 007_unknown_volume
-- A daily bar's VOLUME may be unknown (NULL): an Investing.com export writes "-" for a day it has
-- prices but no volume for, and that day's prices are loaded with no volume
-- (lib/ingest/sql/daily_investing.sql) rather than quarantined. Every other source always has
-- one; the models and the API treat NULL as "not known", never as 0 (README, "Landing store and
-- file formats").
ALTER TABLE OPERATIONAL.TBL_STOCK_PRICE ALTER COLUMN VOLUME DROP NOT NULL;

-- migration: 008_ticker_codes
-- Tickers are stored as EGX codes (lib/market/ticker.ts): a company list loaded before that rule
-- kept Yahoo's and Investing.com's Cairo suffix (ACTF.CA in the bundled list), which
-- validate_data now flags. Such a company takes its code, unless a row of the code exists (that
-- row is the company: the suffixed one goes). Price and other rows are not touched: the loaders
-- accepted only listed tickers, and nothing listed ACTF (its prices were quarantined).
INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME, ISIN, SECTOR, INDUSTRY, IS_ACTIVE,
  SOURCE_FILE, CREATED_AT, UPDATED_AT)
SELECT upper(regexp_replace(trim(c.TICKER), '[.][Cc][Aa]$', '')), c.COMPANY_NAME, c.ISIN,
  c.SECTOR, c.INDUSTRY, c.IS_ACTIVE, c.SOURCE_FILE, c.CREATED_AT, c.UPDATED_AT
FROM OPERATIONAL.TBL_COMPANY c
WHERE upper(trim(c.TICKER)) LIKE '%.CA'
  AND NOT EXISTS (SELECT 1 FROM OPERATIONAL.TBL_COMPANY d
    WHERE d.TICKER = upper(regexp_replace(trim(c.TICKER), '[.][Cc][Aa]$', '')))
QUALIFY row_number() OVER (
  PARTITION BY upper(regexp_replace(trim(c.TICKER), '[.][Cc][Aa]$', '')) ORDER BY c.TICKER) = 1;
DELETE FROM OPERATIONAL.TBL_COMPANY WHERE upper(trim(TICKER)) LIKE '%.CA';

-- migration: 009_stream_offset_mark
-- The record each stored stream offset follows (lib/stream/sink.ts): its Kafka timestamp and key.
-- On assignment the consumer compares them with the record at NEXT_OFFSET - 1; another record
-- there (or none) means the topic was deleted and created again since, and the partition is read
-- from its start. NULL in a row written before: that row keeps the old rule (only an offset past
-- the partition's end tells a recreated topic).
ALTER TABLE OPERATIONAL.TBL_STREAM_OFFSET ADD COLUMN LAST_TIMESTAMP BIGINT;  -- epoch ms
ALTER TABLE OPERATIONAL.TBL_STREAM_OFFSET ADD COLUMN LAST_KEY VARCHAR;      -- NULL: no key

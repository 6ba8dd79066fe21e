-- Warehouse DDL for Snowflake: the same ordered migrations as migrations_duckdb.sql (same tables,
-- columns, order and natural keys), in Snowflake types: TIMESTAMP_NTZ (always UTC; SYSDATE() is
-- the current UTC time), FLOAT for prices, NUMBER(38,0) for integers. Each migration starts with
-- a line `-- migration: NNN_name`; applied migrations are recorded in OPERATIONAL.SCHEMA_MIGRATION
-- and never edited afterwards. Snowflake accepts but does not enforce PRIMARY KEY: every write is
-- an upsert (MERGE with a deduplicated source) by the natural key declared here.
-- The database itself (SNOWFLAKE_DATABASE) is created by an administrator, not by migrations.

-- Bootstrap (runs before every migrate, idempotent): the schema and the migration record.
CREATE SCHEMA IF NOT EXISTS OPERATIONAL;
CREATE TABLE IF NOT EXISTS OPERATIONAL.SCHEMA_MIGRATION (
  VERSION             NUMBER(38,0)  NOT NULL PRIMARY KEY,
  NAME                VARCHAR       NOT NULL,
  CHECKSUM            VARCHAR       NOT NULL,    -- SHA-256 of the migration's text
  APPLIED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE()
);

-- migration: 001_operational
CREATE SCHEMA IF NOT EXISTS OPERATIONAL;

CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_COMPANY (
  TICKER              VARCHAR       NOT NULL PRIMARY KEY, -- local EGX code, e.g. COMI
  COMPANY_NAME        VARCHAR       NOT NULL,
  ISIN                VARCHAR,                   -- 12 chars, EG....; unknown for some names
  SECTOR              VARCHAR,                   -- GICS-style sector; blank in the source = NULL
  INDUSTRY            VARCHAR,
  IS_ACTIVE           BOOLEAN       NOT NULL DEFAULT TRUE,
  SOURCE_FILE         VARCHAR,
  CREATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  UPDATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE()
);

-- Daily OHLCV per company, trade date and source (BATCH_CSV, TRADINGVIEW_EXPORT,
-- INVESTING_EXPORT, BARS_1M, STREAMING_API). Staging picks one source per ticker and day.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_STOCK_PRICE (
  TICKER              VARCHAR       NOT NULL,
  TRADE_DATE          DATE          NOT NULL,
  DATA_SOURCE         VARCHAR       NOT NULL,
  OPEN                FLOAT         NOT NULL,
  HIGH                FLOAT         NOT NULL,
  LOW                 FLOAT         NOT NULL,
  CLOSE               FLOAT         NOT NULL,
  VOLUME              NUMBER(38,0)  NOT NULL,
  SOURCE_FILE         VARCHAR,                   -- landing key, or kafka topic/partition/offset
  CREATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  UPDATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  PRIMARY KEY (TICKER, TRADE_DATE, DATA_SOURCE)
);

-- Intraday bars: one-minute bars from files, poll bars from the stream.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_INTRADAY_BAR (
  TICKER              VARCHAR       NOT NULL,
  BAR_START           TIMESTAMP_NTZ NOT NULL,    -- UTC
  INTERVAL_MINUTES    NUMBER(38,0)  NOT NULL,
  DATA_SOURCE         VARCHAR       NOT NULL,
  TRADE_DATE          DATE          NOT NULL,    -- Cairo date of BAR_START
  OPEN                FLOAT         NOT NULL,
  HIGH                FLOAT         NOT NULL,
  LOW                 FLOAT         NOT NULL,
  CLOSE               FLOAT         NOT NULL,
  VOLUME              NUMBER(38,0)  NOT NULL,
  SOURCE_FILE         VARCHAR,
  CREATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  UPDATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  PRIMARY KEY (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE)
);

-- Quarterly statements (EGP unless CURRENCY says otherwise).
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_FINANCIAL (
  TICKER              VARCHAR       NOT NULL,
  FISCAL_YEAR         NUMBER(38,0)  NOT NULL,
  FISCAL_QUARTER      NUMBER(38,0)  NOT NULL,    -- 1..4
  PERIOD_END          DATE          NOT NULL,
  CURRENCY            VARCHAR       NOT NULL DEFAULT 'EGP',
  REVENUE             FLOAT,
  GROSS_PROFIT        FLOAT,
  OPERATING_INCOME    FLOAT,
  NET_INCOME          FLOAT,
  TOTAL_ASSETS        FLOAT,
  TOTAL_LIABILITIES   FLOAT,
  TOTAL_EQUITY        FLOAT,
  OPERATING_CASH_FLOW FLOAT,
  SHARES_OUTSTANDING  NUMBER(38,0),
  EPS                 FLOAT,
  DATA_SOURCE         VARCHAR       NOT NULL,
  SOURCE_FILE         VARCHAR,
  CREATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  UPDATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  PRIMARY KEY (TICKER, FISCAL_YEAR, FISCAL_QUARTER)
);

-- Screener snapshots (one per ticker and snapshot date).
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_MARKET_STAT (
  TICKER              VARCHAR       NOT NULL,
  SNAPSHOT_DATE       DATE          NOT NULL,
  LAST_PRICE          FLOAT,
  CHANGE_PCT          FLOAT,
  VOLUME              NUMBER(38,0),
  MARKET_CAP          FLOAT,
  PE_RATIO            FLOAT,
  PB_RATIO            FLOAT,
  DIVIDEND_YIELD      FLOAT,
  EPS_TTM             FLOAT,
  HIGH_52W            FLOAT,
  LOW_52W             FLOAT,
  DATA_SOURCE         VARCHAR       NOT NULL,
  SOURCE_FILE         VARCHAR,
  CREATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  UPDATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  PRIMARY KEY (TICKER, SNAPSHOT_DATE)
);

-- Indices: EGX30 (cap-weighted), EGX70_EWI and EGX100_EWI (equal-weighted).
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_INDEX (
  INDEX_CODE          VARCHAR       NOT NULL PRIMARY KEY, -- EGX30, EGX70_EWI, EGX100_EWI
  INDEX_NAME          VARCHAR       NOT NULL,
  WEIGHTING           VARCHAR       NOT NULL,    -- CAP_WEIGHTED | EQUAL_WEIGHTED
  BASE_VALUE          FLOAT         NOT NULL,
  BASE_DATE           DATE,
  DESCRIPTION         VARCHAR,
  CREATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  UPDATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE()
);

CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_INDEX_MEMBERSHIP (
  INDEX_CODE          VARCHAR       NOT NULL,
  TICKER              VARCHAR       NOT NULL,
  EFFECTIVE_FROM      DATE          NOT NULL,
  EFFECTIVE_TO        DATE,                      -- NULL = still a member
  WEIGHT              FLOAT,                     -- fraction 0..1 when known, else NULL
  SOURCE_FILE         VARCHAR,
  CREATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  UPDATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  PRIMARY KEY (INDEX_CODE, TICKER, EFFECTIVE_FROM)
);

-- Announced market closures, seeded from lib/market/egx_calendar.json.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_MARKET_CLOSURE (
  CLOSURE_DATE        DATE          NOT NULL PRIMARY KEY,
  NAME                VARCHAR       NOT NULL,
  SOURCE              VARCHAR
);

-- One row per landing object loaded (key + ETag identify a version of a file).
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_LOAD_LOG (
  FILE_KEY            VARCHAR       NOT NULL,
  ETAG                VARCHAR       NOT NULL,
  SIZE_BYTES          NUMBER(38,0)  NOT NULL,
  FORMAT              VARCHAR,
  STATUS              VARCHAR       NOT NULL,    -- LOADED | FAILED
  ROWS_READ           NUMBER(38,0)  NOT NULL DEFAULT 0,
  ROWS_LOADED         NUMBER(38,0)  NOT NULL DEFAULT 0,
  ROWS_QUARANTINED    NUMBER(38,0)  NOT NULL DEFAULT 0,
  ERROR               VARCHAR,
  RUN_ID              VARCHAR,
  STARTED_AT          TIMESTAMP_NTZ NOT NULL,
  FINISHED_AT         TIMESTAMP_NTZ,
  PRIMARY KEY (FILE_KEY, ETAG)
);

-- Rows rejected by validation, with the reason; never silently dropped.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_QUARANTINE (
  FILE_KEY            VARCHAR       NOT NULL,
  ETAG                VARCHAR       NOT NULL,
  LINE_NUMBER         NUMBER(38,0)  NOT NULL,    -- 1-based line in the file (header = 1)
  FORMAT              VARCHAR,
  REASON              VARCHAR       NOT NULL,
  RECORD              VARCHAR,                   -- the raw line or JSON of the record
  QUARANTINED_AT      TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  PRIMARY KEY (FILE_KEY, ETAG, LINE_NUMBER)
);

-- Streaming: last written offset per partition, written in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_STREAM_OFFSET (
  CONSUMER_GROUP      VARCHAR       NOT NULL,
  TOPIC               VARCHAR       NOT NULL,
  PARTITION_ID        NUMBER(38,0)  NOT NULL,
  NEXT_OFFSET         NUMBER(38,0)  NOT NULL,    -- the next offset to read (Kafka convention)
  UPDATED_AT          TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  PRIMARY KEY (CONSUMER_GROUP, TOPIC, PARTITION_ID)
);

-- migration: 002_alert_event
-- Alerts fired by the rules in alerts.yaml (lib/alerts): one row per rule, subject (ticker or
-- index code), Cairo trade date and direction, so each condition fires at most once a day.
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_ALERT_EVENT (
  RULE_ID             VARCHAR       NOT NULL,
  SUBJECT             VARCHAR       NOT NULL,    -- ticker or index code
  ALERT_DATE          DATE          NOT NULL,    -- Cairo trade date the condition held on
  DIRECTION           VARCHAR       NOT NULL,    -- up | down | above | below
  KIND                VARCHAR       NOT NULL,    -- price_move | volume_spike | ma_cross | index_move
  OBSERVED            FLOAT         NOT NULL,    -- change %, volume multiple or close
  THRESHOLD           FLOAT         NOT NULL,    -- threshold %, multiple or moving average
  MESSAGE             VARCHAR       NOT NULL,
  SOURCE              VARCHAR       NOT NULL,    -- pipeline | stream
  TRIGGERED_AT        TIMESTAMP_NTZ NOT NULL,    -- UTC
  DELIVERED_AT        TIMESTAMP_NTZ,             -- UTC; NULL until every channel took it
  DELIVERY_ERROR      VARCHAR,                   -- last failure; retried at the next evaluation
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
-- Nothing to change on Snowflake: its PRIMARY KEY on TBL_STOCK_PRICE and TBL_INTRADAY_BAR was
-- never enforced. (On DuckDB this migration drops the enforced key of those two tables; writers
-- keep the natural keys unique with MERGE on a deduplicated source, validate_data checks it.)

-- migration: 005_model_build
-- The definition each model relation was last built from (lib/models/build_record.ts), see
-- migrations_duckdb.sql. Written after the build's statements in the build's transaction (table
-- DDL commits implicitly here: a failure in between leaves the old record, so the next run
-- rebuilds again rather than merging into a table of another definition).
CREATE TABLE IF NOT EXISTS OPERATIONAL.TBL_MODEL_BUILD (
  RELATION_NAME       VARCHAR       NOT NULL,    -- SCHEMA.NAME in upper case
  MODEL_NAME          VARCHAR       NOT NULL,
  MATERIALIZED        VARCHAR       NOT NULL,    -- table | view | incremental
  BUILD_MODE          VARCHAR       NOT NULL,    -- table | view | full-refresh | incremental
  FINGERPRINT         VARCHAR       NOT NULL,    -- SHA-256 of the definition, hex
  BUILT_AT            TIMESTAMP_NTZ NOT NULL DEFAULT SYSDATE(),
  PRIMARY KEY (RELATION_NAME)
);

-- migration: 006_alert_claim
-- Delivery claims (lib/alerts/store.ts), see migrations_duckdb.sql: two evaluations at once never
-- deliver the same alert twice. IF NOT EXISTS: each statement commits on its own here, so an
-- interrupted migrate runs this again.
ALTER TABLE OPERATIONAL.TBL_ALERT_EVENT ADD COLUMN IF NOT EXISTS CLAIMED_BY VARCHAR;
ALTER TABLE OPERATIONAL.TBL_ALERT_EVENT ADD COLUMN IF NOT EXISTS CLAIMED_AT TIMESTAMP_NTZ;

-- migration: 007_unknown_volume
-- A daily bar's VOLUME may be unknown (NULL), see migrations_duckdb.sql: an Investing.com
-- export's "-" volume. (Dropping NOT NULL from a column without it is no error: an interrupted
-- migrate runs this again.)
ALTER TABLE OPERATIONAL.TBL_STOCK_PRICE ALTER COLUMN VOLUME DROP NOT NULL;

-- migration: 008_ticker_codes
-- Tickers are stored as EGX codes, see migrations_duckdb.sql: a company kept with its Cairo
-- suffix (ACTF.CA) takes its code unless a row of the code exists. Each statement commits on its
-- own here: an interrupted migrate runs both again (the insert skips codes already there).
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
-- The record each stored stream offset follows (its Kafka timestamp and key), see
-- migrations_duckdb.sql. IF NOT EXISTS: each statement commits on its own here, so an
-- interrupted migrate runs this again.
ALTER TABLE OPERATIONAL.TBL_STREAM_OFFSET ADD COLUMN IF NOT EXISTS LAST_TIMESTAMP NUMBER(38,0);
ALTER TABLE OPERATIONAL.TBL_STREAM_OFFSET ADD COLUMN IF NOT EXISTS LAST_KEY VARCHAR;

-- Snowflake: upsert OPERATIONAL.TBL_MARKET_STAT from the session's staging table
-- EGX_STG_MARKET_STAT (filled with the rows DuckDB validated), by its natural key (TICKER,
-- SNAPSHOT_DATE). The source is deduplicated first (Snowflake's MERGE fails on duplicate source
-- keys); unchanged rows are left alone.
-- {{name}} is TRUE when the files have optional column `name`, FALSE when they lack it
-- (publish_snowflake.ts): a column they lack (any but last_price) keeps what is stored in it, as
-- DuckDB's screener_upsert.sql; a new snapshot gets the staged values.
MERGE INTO OPERATIONAL.TBL_MARKET_STAT t
USING (
  SELECT * FROM EGX_STG_MARKET_STAT
  QUALIFY ROW_NUMBER() OVER (PARTITION BY TICKER, SNAPSHOT_DATE ORDER BY TICKER) = 1
) s
ON t.TICKER = s.TICKER AND t.SNAPSHOT_DATE = s.SNAPSHOT_DATE
WHEN MATCHED AND (
    t.LAST_PRICE IS DISTINCT FROM s.LAST_PRICE OR
    ({{change_pct}} AND t.CHANGE_PCT IS DISTINCT FROM s.CHANGE_PCT) OR
    ({{volume}} AND t.VOLUME IS DISTINCT FROM s.VOLUME) OR
    ({{market_cap}} AND t.MARKET_CAP IS DISTINCT FROM s.MARKET_CAP) OR
    ({{pe_ratio}} AND t.PE_RATIO IS DISTINCT FROM s.PE_RATIO) OR
    ({{pb_ratio}} AND t.PB_RATIO IS DISTINCT FROM s.PB_RATIO) OR
    ({{dividend_yield}} AND t.DIVIDEND_YIELD IS DISTINCT FROM s.DIVIDEND_YIELD) OR
    ({{eps_ttm}} AND t.EPS_TTM IS DISTINCT FROM s.EPS_TTM) OR
    ({{high_52w}} AND t.HIGH_52W IS DISTINCT FROM s.HIGH_52W) OR
    ({{low_52w}} AND t.LOW_52W IS DISTINCT FROM s.LOW_52W)
) THEN UPDATE SET
  LAST_PRICE = s.LAST_PRICE,
  CHANGE_PCT = IFF({{change_pct}}, s.CHANGE_PCT, t.CHANGE_PCT),
  VOLUME = IFF({{volume}}, s.VOLUME, t.VOLUME),
  MARKET_CAP = IFF({{market_cap}}, s.MARKET_CAP, t.MARKET_CAP),
  PE_RATIO = IFF({{pe_ratio}}, s.PE_RATIO, t.PE_RATIO),
  PB_RATIO = IFF({{pb_ratio}}, s.PB_RATIO, t.PB_RATIO),
  DIVIDEND_YIELD = IFF({{dividend_yield}}, s.DIVIDEND_YIELD, t.DIVIDEND_YIELD),
  EPS_TTM = IFF({{eps_ttm}}, s.EPS_TTM, t.EPS_TTM),
  HIGH_52W = IFF({{high_52w}}, s.HIGH_52W, t.HIGH_52W),
  LOW_52W = IFF({{low_52w}}, s.LOW_52W, t.LOW_52W),
  DATA_SOURCE = s.DATA_SOURCE, SOURCE_FILE = s.SOURCE_FILE, UPDATED_AT = SYSDATE()
WHEN NOT MATCHED THEN INSERT (
  TICKER, SNAPSHOT_DATE, LAST_PRICE, CHANGE_PCT, VOLUME, MARKET_CAP, PE_RATIO, PB_RATIO,
  DIVIDEND_YIELD, EPS_TTM, HIGH_52W, LOW_52W, DATA_SOURCE, SOURCE_FILE
)
VALUES (
  s.TICKER, s.SNAPSHOT_DATE, s.LAST_PRICE, s.CHANGE_PCT, s.VOLUME, s.MARKET_CAP, s.PE_RATIO,
  s.PB_RATIO, s.DIVIDEND_YIELD, s.EPS_TTM, s.HIGH_52W, s.LOW_52W, s.DATA_SOURCE, s.SOURCE_FILE
);

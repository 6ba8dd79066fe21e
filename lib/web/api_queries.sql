-- Statements behind the REST API (lib/web). Read-only; values are bound as ? parameters.
-- Statements whose rows TypeScript reads name their columns in upper case; statements whose rows
-- are the JSON answer name them exactly as its fields (quoted, so both warehouses keep the case).

-- name: freshness_operational
SELECT
  (SELECT max(TRADE_DATE) FROM OPERATIONAL.TBL_STOCK_PRICE) AS DAILY_LATEST,
  (SELECT max(BAR_START) FROM OPERATIONAL.TBL_INTRADAY_BAR) AS BARS_LATEST,
  -- Streamed: the newest one-minute bar (the replay), or the last write of a streamed daily bar
  -- (the tradingview scanner streams only the day's bar, updated at every poll), as
  -- health_check reads them. (A max over a UNION ALL: Snowflake's GREATEST is NULL with a NULL.)
  (SELECT max(T) FROM (
    SELECT max(BAR_START) AS T FROM OPERATIONAL.TBL_INTRADAY_BAR
    WHERE DATA_SOURCE = 'STREAMING_API'
    UNION ALL
    SELECT max(UPDATED_AT) FROM OPERATIONAL.TBL_STOCK_PRICE
    WHERE DATA_SOURCE = 'STREAMING_API') S) AS STREAM_LATEST,
  (SELECT max(FINISHED_AT) FROM OPERATIONAL.TBL_LOAD_LOG WHERE STATUS = 'LOADED') AS LOAD_LATEST;

-- name: gold_relations
SELECT table_name AS NAME
FROM information_schema.tables
WHERE upper(table_schema) = 'DWH_GOLD';

-- name: freshness_gold
SELECT max(trade_date) AS LATEST FROM DWH_GOLD.gold_fct_stock_daily_prices;

-- name: stream_offsets
SELECT CONSUMER_GROUP, TOPIC, PARTITION_ID, NEXT_OFFSET, UPDATED_AT
FROM OPERATIONAL.TBL_STREAM_OFFSET
ORDER BY CONSUMER_GROUP, TOPIC, PARTITION_ID;

-- name: alerts_count
SELECT count(*) AS N
FROM OPERATIONAL.TBL_ALERT_EVENT
WHERE ALERT_DATE >= CAST(? AS DATE) AND ALERT_DATE <= CAST(? AS DATE);

-- name: alerts_page
SELECT ALERT_DATE AS "date", SUBJECT AS "subject", RULE_ID AS "ruleId", KIND AS "kind",
       DIRECTION AS "direction", OBSERVED AS "observed", THRESHOLD AS "threshold",
       MESSAGE AS "message", SOURCE AS "source", TRIGGERED_AT AS "triggeredAt",
       DELIVERED_AT AS "deliveredAt", DELIVERY_ERROR AS "deliveryError"
FROM OPERATIONAL.TBL_ALERT_EVENT
WHERE ALERT_DATE >= CAST(? AS DATE) AND ALERT_DATE <= CAST(? AS DATE)
ORDER BY ALERT_DATE DESC, TRIGGERED_AT DESC, RULE_ID, SUBJECT, DIRECTION
LIMIT ? OFFSET ?;

-- name: quarantine_count
SELECT count(*) AS N
FROM OPERATIONAL.TBL_QUARANTINE
WHERE CAST(? AS VARCHAR) IS NULL OR FILE_KEY = ?
   OR right(FILE_KEY, length(?) + 1) = '/' || ?;

-- name: quarantine_page
-- Newest load first, a file's rows in line order. `file` is a file's whole key or its name.
SELECT FILE_KEY AS "fileKey", ETAG AS "etag", LINE_NUMBER AS "line", FORMAT AS "format",
       REASON AS "reason", RECORD AS "record", QUARANTINED_AT AS "quarantinedAt"
FROM OPERATIONAL.TBL_QUARANTINE
WHERE CAST(? AS VARCHAR) IS NULL OR FILE_KEY = ?
   OR right(FILE_KEY, length(?) + 1) = '/' || ?
ORDER BY QUARANTINED_AT DESC, FILE_KEY, ETAG, LINE_NUMBER
LIMIT ? OFFSET ?;

-- Market data: statements that start with the live_daily CTEs read the gold daily fact
-- overlaid with newer operational rows (lib/web/live_daily.sql).

-- name: listed_daily
-- The market-wide answers (trade dates, snapshot, movers, volume leaders, sectors) count one set
-- of stocks: `listed`, the rows of `daily` whose ticker is in gold_dim_company (the names and
-- sectors they show). Prices loaded before the models have built their company (a batch_load
-- whose models have not run yet) wait for that build: they would otherwise take a rank from a
-- stock that is shown, or make a date of their own with no stock on it.
{{live_daily}},
listed as (
  select d.*
  from daily as d
  where exists (select 1 from DWH_GOLD.gold_dim_company as c where c.TICKER = d.TICKER)
)

-- name: latest_trade_date
with {{listed_daily}}
select max(TRADE_DATE) as "date" from listed;

-- name: trade_date_exists
with {{listed_daily}}
select count(*) as "n" from listed where TRADE_DATE = CAST(? AS DATE);

-- name: companies_count
select count(*) as "n"
from DWH_GOLD.gold_dim_company as c
where (CAST(? AS VARCHAR) is null
    or c.TICKER like upper(?) || '%' escape '!'
    or c.COMPANY_NAME ilike '%' || ? || '%' escape '!')
  and (CAST(? AS VARCHAR) is null or lower(c.SECTOR) = lower(?))
  and (not CAST(? AS BOOLEAN) or c.HAS_PRICES);

-- name: companies_page
select
  c.TICKER as "ticker", c.COMPANY_NAME as "name", c.ISIN as "isin", c.SECTOR as "sector",
  c.INDUSTRY as "industry", c.IS_ACTIVE as "isActive", c.INDEX_CODES as "indices"
from DWH_GOLD.gold_dim_company as c
where (CAST(? AS VARCHAR) is null
    or c.TICKER like upper(?) || '%' escape '!'
    or c.COMPANY_NAME ilike '%' || ? || '%' escape '!')
  and (CAST(? AS VARCHAR) is null or lower(c.SECTOR) = lower(?))
  and (not CAST(? AS BOOLEAN) or c.HAS_PRICES)
order by c.TICKER
limit ? offset ?;

-- name: company_exists
select 1 as "found" from DWH_GOLD.gold_dim_company where TICKER = ?;

-- name: company
select
  c.TICKER as "ticker", c.COMPANY_NAME as "name", c.ISIN as "isin", c.SECTOR as "sector",
  c.INDUSTRY as "industry", c.IS_ACTIVE as "isActive", c.INDEX_CODES as "indices"
from DWH_GOLD.gold_dim_company as c
where c.TICKER = ?;

-- name: company_span
with {{live_daily}}
select min(TRADE_DATE) as "firstDate", max(TRADE_DATE) as "lastDate"
from daily
where TICKER = ?;

-- name: daily_on
with {{live_daily}}
select
  TRADE_DATE as "date", OPEN as "open", HIGH as "high", LOW as "low", CLOSE as "close",
  VOLUME as "volume", DAILY_RETURN_PCT as "changePct", IS_LIVE as "live"
from daily
where TICKER = ? and TRADE_DATE = CAST(? AS DATE);

-- name: daily_count
with {{live_daily}}
select count(*) as "n"
from daily
where TICKER = ?
  and TRADE_DATE >= coalesce(CAST(? AS DATE), DATE '1900-01-01')
  and TRADE_DATE <= coalesce(CAST(? AS DATE), DATE '2999-12-31');

-- name: daily_page
with {{live_daily}}
select
  TRADE_DATE as "date", OPEN as "open", HIGH as "high", LOW as "low", CLOSE as "close",
  VOLUME as "volume", DAILY_RETURN_PCT as "changePct", IS_LIVE as "live"
from daily
where TICKER = ?
  and TRADE_DATE >= coalesce(CAST(? AS DATE), DATE '1900-01-01')
  and TRADE_DATE <= coalesce(CAST(? AS DATE), DATE '2999-12-31')
order by TRADE_DATE
limit ? offset ?;

-- name: indicators_count
select count(*) as "n"
from DWH_GOLD.gold_fct_stock_daily_prices
where TICKER = ?
  and TRADE_DATE >= coalesce(CAST(? AS DATE), DATE '1900-01-01')
  and TRADE_DATE <= coalesce(CAST(? AS DATE), DATE '2999-12-31');

-- name: indicators_page
select
  TRADE_DATE as "date", CLOSE as "close", MA_7 as "ma7", MA_30 as "ma30",
  BB_UPPER as "bbUpper", BB_MIDDLE as "bbMiddle", BB_LOWER as "bbLower",
  EMA_12 as "ema12", EMA_26 as "ema26", MACD_LINE as "macdLine", MACD_SIGNAL as "macdSignal",
  MACD_HISTOGRAM as "macdHistogram", RSI_14 as "rsi14", VOLUME_AVG_30 as "volumeAvg30",
  VOLUME_RATIO as "volumeRatio", TREND_SIGNAL as "trendSignal", RSI_SIGNAL as "rsiSignal",
  VOLUME_SIGNAL as "volumeSignal", MACD_CROSS as "macdCross"
from DWH_GOLD.gold_fct_stock_daily_prices
where TICKER = ?
  and TRADE_DATE >= coalesce(CAST(? AS DATE), DATE '1900-01-01')
  and TRADE_DATE <= coalesce(CAST(? AS DATE), DATE '2999-12-31')
order by TRADE_DATE
limit ? offset ?;

-- name: intraday_latest_date
-- The latest day with bars of the requested source (ANY: of either), so that a source behind the
-- other (the files a day behind the stream, or the stream behind the files) still has its day.
select max(TRADE_DATE) as "date"
from OPERATIONAL.TBL_INTRADAY_BAR
where TICKER = ? and (CAST(? AS VARCHAR) = 'ANY' or DATA_SOURCE = ?);

-- name: intraday_count
with bars as (
  select TRADE_DATE,
    case DATA_SOURCE when 'BARS_1M' then 1 when 'STREAMING_API' then 2 else 9 end as SOURCE_RANK
  from OPERATIONAL.TBL_INTRADAY_BAR
  where TICKER = ? and TRADE_DATE between CAST(? AS DATE) and CAST(? AS DATE)
    and (CAST(? AS VARCHAR) = 'ANY' or DATA_SOURCE = ?)
),
chosen as (
  select * from bars
  qualify dense_rank() over (partition by TRADE_DATE order by SOURCE_RANK) = 1
)
select count(*) as "n" from chosen;

-- name: intraday_page
with bars as (
  select *,
    case DATA_SOURCE when 'BARS_1M' then 1 when 'STREAMING_API' then 2 else 9 end as SOURCE_RANK
  from OPERATIONAL.TBL_INTRADAY_BAR
  where TICKER = ? and TRADE_DATE between CAST(? AS DATE) and CAST(? AS DATE)
    and (CAST(? AS VARCHAR) = 'ANY' or DATA_SOURCE = ?)
),
chosen as (
  select * from bars
  qualify dense_rank() over (partition by TRADE_DATE order by SOURCE_RANK) = 1
)
select
  BAR_START as "time", TRADE_DATE as "date", INTERVAL_MINUTES as "intervalMinutes",
  OPEN as "open", HIGH as "high", LOW as "low", CLOSE as "close", VOLUME as "volume",
  DATA_SOURCE as "source"
from chosen
order by BAR_START, INTERVAL_MINUTES
limit ? offset ?;

-- name: snapshot
with {{listed_daily}}
select
  d.TICKER as "ticker", c.COMPANY_NAME as "name", c.SECTOR as "sector", d.CLOSE as "close",
  d.PREV_CLOSE as "prevClose", d.DAILY_CHANGE as "change", d.DAILY_RETURN_PCT as "changePct",
  d.VOLUME as "volume", d.TURNOVER_ESTIMATE as "value", d.IS_LIVE as "live"
from listed as d
join DWH_GOLD.gold_dim_company as c on c.TICKER = d.TICKER
where d.TRADE_DATE = CAST(? AS DATE)
order by d.TICKER;

-- name: ranked_stocks
-- The stocks of a `ranked` CTE (the day's rows of `listed` with RANK_NO) up to rank ?, as the
-- movers and volume leaders return them.
select
  r.RANK_NO as "rank", r.TICKER as "ticker", c.COMPANY_NAME as "name", c.SECTOR as "sector",
  r.CLOSE as "close", r.PREV_CLOSE as "prevClose", r.DAILY_CHANGE as "change",
  r.DAILY_RETURN_PCT as "changePct", r.VOLUME as "volume", r.TURNOVER_ESTIMATE as "value",
  r.IS_LIVE as "live"
from ranked as r
join DWH_GOLD.gold_dim_company as c on c.TICKER = r.TICKER
where r.RANK_NO <= ?
order by r.RANK_NO;

-- name: top_gainers
-- Only stocks that rose (a flat or falling stock is no gainer, however few rose); top_losers
-- likewise only those that fell.
with {{listed_daily}},
ranked as (
  select d.*, row_number() over (order by d.DAILY_RETURN_PCT desc, d.TICKER) as RANK_NO
  from listed as d
  where d.TRADE_DATE = CAST(? AS DATE) and d.DAILY_RETURN_PCT > 0
)
{{ranked_stocks}};

-- name: top_losers
with {{listed_daily}},
ranked as (
  select d.*, row_number() over (order by d.DAILY_RETURN_PCT asc, d.TICKER) as RANK_NO
  from listed as d
  where d.TRADE_DATE = CAST(? AS DATE) and d.DAILY_RETURN_PCT < 0
)
{{ranked_stocks}};

-- name: volume_leaders
with {{listed_daily}},
ranked as (
  -- An unknown volume (NULL) last: Snowflake sorts NULL first in a descending order.
  select d.*, row_number() over (order by d.VOLUME desc nulls last, d.TICKER) as RANK_NO
  from listed as d
  where d.TRADE_DATE = CAST(? AS DATE)
)
{{ranked_stocks}};

-- name: sector_performance
with {{listed_daily}}
select
  c.SECTOR as "sector",
  count(*) as "companies",
  sum(case when d.DAILY_RETURN_PCT > 0 then 1 else 0 end) as "advancers",
  sum(case when d.DAILY_RETURN_PCT < 0 then 1 else 0 end) as "decliners",
  sum(case when d.DAILY_RETURN_PCT = 0 then 1 else 0 end) as "unchanged",
  avg(d.DAILY_RETURN_PCT) as "avgChangePct",
  median(d.DAILY_RETURN_PCT) as "medianChangePct",
  sum(d.VOLUME) as "volume",
  sum(d.TURNOVER_ESTIMATE) as "value"
from listed as d
join DWH_GOLD.gold_dim_company as c on c.TICKER = d.TICKER
where d.TRADE_DATE = CAST(? AS DATE)
group by c.SECTOR
order by "avgChangePct" desc nulls last, "sector";

-- name: indices
select
  INDEX_CODE as "code", INDEX_NAME as "name", WEIGHTING as "weighting",
  WEIGHT_METHOD as "weightMethod", BASE_VALUE as "baseValue", BASE_DATE as "baseDate", CONSTITUENTS as "members",
  TRADE_DATE as "lastDate", INDEX_LEVEL as "level", DAILY_RETURN_PCT as "changePct"
from DWH_GOLD.gold_fct_index_performance
qualify row_number() over (partition by INDEX_CODE order by TRADE_DATE desc) = 1
order by INDEX_CODE;

-- name: index_exists
select 1 as "found" from DWH_GOLD.gold_fct_index_performance where INDEX_CODE = ? limit 1;

-- name: index_performance_count
select count(*) as "n"
from DWH_GOLD.gold_fct_index_performance
where (CAST(? AS VARCHAR) is null or INDEX_CODE = ?)
  and TRADE_DATE >= coalesce(CAST(? AS DATE), DATE '1900-01-01')
  and TRADE_DATE <= coalesce(CAST(? AS DATE), DATE '2999-12-31');

-- name: index_performance_page
select
  INDEX_CODE as "index", TRADE_DATE as "date", INDEX_LEVEL as "level",
  DAILY_RETURN_PCT as "changePct", CONSTITUENTS as "members", ADVANCERS as "advancers",
  DECLINERS as "decliners", UNCHANGED as "unchanged", TOTAL_VOLUME as "volume"
from DWH_GOLD.gold_fct_index_performance
where (CAST(? AS VARCHAR) is null or INDEX_CODE = ?)
  and TRADE_DATE >= coalesce(CAST(? AS DATE), DATE '1900-01-01')
  and TRADE_DATE <= coalesce(CAST(? AS DATE), DATE '2999-12-31')
order by TRADE_DATE, INDEX_CODE
limit ? offset ?;

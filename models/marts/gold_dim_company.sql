-- One row per company: the company list joined with its current index memberships, its price
-- coverage and its latest screener snapshot.
with memberships as (
  select
    TICKER,
    max(case when INDEX_CODE = 'EGX30' then 1 else 0 end) = 1 as IN_EGX30,
    max(case when INDEX_CODE = 'EGX70_EWI' then 1 else 0 end) = 1 as IN_EGX70_EWI,
    max(case when INDEX_CODE = 'EGX100_EWI' then 1 else 0 end) = 1 as IN_EGX100_EWI,
    listagg(distinct INDEX_CODE, ',') within group (order by INDEX_CODE) as INDEX_CODES
  from {{ ref('stg_index_membership') }}
  where IS_CURRENT
  group by TICKER
),
coverage as (
  select
    TICKER,
    min(TRADE_DATE) as FIRST_TRADE_DATE,
    max(TRADE_DATE) as LAST_TRADE_DATE,
    count(*) as TRADING_DAYS
  from {{ ref('stg_stock_prices_unified') }}
  group by TICKER
),
latest_price as (
  select TICKER, CLOSE as LATEST_CLOSE
  from {{ ref('stg_stock_prices_unified') }}
  qualify row_number() over (partition by TICKER order by TRADE_DATE desc) = 1
),
latest_stats as (
  select TICKER, SNAPSHOT_DATE, MARKET_CAP, PE_RATIO, PB_RATIO, DIVIDEND_YIELD
  from {{ ref('stg_market_stats') }}
  qualify row_number() over (partition by TICKER order by SNAPSHOT_DATE desc) = 1
)
select
  c.TICKER,
  c.COMPANY_NAME,
  c.ISIN,
  c.SECTOR,
  c.SECTOR_KEY,
  c.HAS_SECTOR,
  c.INDUSTRY,
  c.IS_ACTIVE,
  coalesce(m.IN_EGX30, false) as IN_EGX30,
  coalesce(m.IN_EGX70_EWI, false) as IN_EGX70_EWI,
  coalesce(m.IN_EGX100_EWI, false) as IN_EGX100_EWI,
  m.INDEX_CODES,
  cv.FIRST_TRADE_DATE,
  cv.LAST_TRADE_DATE,
  coalesce(cv.TRADING_DAYS, 0) as TRADING_DAYS,
  cv.TICKER is not null as HAS_PRICES,
  lp.LATEST_CLOSE,
  s.SNAPSHOT_DATE as STATS_SNAPSHOT_DATE,
  s.MARKET_CAP,
  s.PE_RATIO,
  s.PB_RATIO,
  s.DIVIDEND_YIELD
from {{ ref('stg_companies') }} as c
left join memberships as m on m.TICKER = c.TICKER
left join coverage as cv on cv.TICKER = c.TICKER
left join latest_price as lp on lp.TICKER = c.TICKER
left join latest_stats as s on s.TICKER = c.TICKER

/*---
materialized: view
---*/
-- The latest bar of every company that has prices, with its indicators and signals.
-- MARKET_DATE is the newest trade date of the companies shown; IS_CURRENT says whether the
-- company's latest bar is from that day (a company that did not trade keeps its older bar).
-- The market day counts the companies the view shows (gold_dim_company): a ticker the
-- dimension lacks (prices loaded before its company was built) would make a day with no row.
with market as (
  select max(p.TRADE_DATE) as MARKET_DATE
  from {{ ref('gold_fct_stock_daily_prices') }} as p
  join {{ ref('gold_dim_company') }} as c on c.TICKER = p.TICKER
),
latest as (
  select *
  from {{ ref('gold_fct_stock_daily_prices') }}
  qualify row_number() over (partition by TICKER order by TRADE_DATE desc) = 1
)
select
  l.TICKER,
  c.COMPANY_NAME,
  c.SECTOR,
  c.SECTOR_KEY,
  c.IN_EGX30,
  l.TRADE_DATE,
  m.MARKET_DATE,
  l.TRADE_DATE = m.MARKET_DATE as IS_CURRENT,
  l.OPEN,
  l.HIGH,
  l.LOW,
  l.CLOSE,
  l.PREV_CLOSE,
  l.DAILY_CHANGE,
  l.DAILY_RETURN_PCT,
  l.VOLUME,
  l.TURNOVER_ESTIMATE,
  l.VOLUME_RATIO,
  l.MA_7,
  l.MA_30,
  l.RSI_14,
  l.MACD_HISTOGRAM,
  l.TREND_SIGNAL,
  l.VOLUME_SIGNAL,
  l.RSI_SIGNAL,
  l.MACD_CROSS,
  l.DATA_SOURCE
from latest as l
join {{ ref('gold_dim_company') }} as c on c.TICKER = l.TICKER
cross join market as m

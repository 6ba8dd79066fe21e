/*---
materialized: view
---*/
-- Daily prices and indicators with the company's name and sector: the API's price history.
select
  p.TICKER,
  c.COMPANY_NAME,
  c.SECTOR,
  c.SECTOR_KEY,
  p.TRADE_DATE,
  p.OPEN,
  p.HIGH,
  p.LOW,
  p.CLOSE,
  p.VOLUME,
  p.PREV_CLOSE,
  p.DAILY_CHANGE,
  p.DAILY_RETURN_PCT,
  p.PRICE_RANGE,
  p.PRICE_RANGE_PCT,
  p.TYPICAL_PRICE,
  p.TURNOVER_ESTIMATE,
  p.MA_7,
  p.MA_30,
  p.VOLUME_AVG_30,
  p.VOLUME_RATIO,
  p.RSI_14,
  p.MACD_LINE,
  p.MACD_SIGNAL,
  p.MACD_HISTOGRAM,
  p.BB_MIDDLE,
  p.BB_UPPER,
  p.BB_LOWER,
  p.TREND_SIGNAL,
  p.VOLUME_SIGNAL,
  p.RSI_SIGNAL,
  p.MACD_CROSS,
  p.DATA_SOURCE
from {{ ref('gold_fct_stock_daily_prices') }} as p
join {{ ref('gold_dim_company') }} as c on c.TICKER = p.TICKER

/*---
materialized: incremental
unique_key: [TICKER, TRADE_DATE]
replace_by: [TICKER]
---*/
-- Daily prices with returns, ranges and technical indicators, one row per ticker and trade date.
--
-- Indicator definitions (the usual ones, e.g. TradingView's ta.* functions):
--   MA_7, MA_30, VOLUME_AVG_30  simple averages over the last 7/30 bars, NULL until the window
--                               is full; VOLUME_AVG_30 averages the bars' known volumes (an
--                               Investing.com day may have none: VOLUME NULL), NULL if none is
--   BB_*                        Bollinger bands: 20-bar simple average +/- 2 population
--                               standard deviations
--   EMA_12, EMA_26              exponential averages, alpha = 2/(n+1), seeded with the simple
--                               average of the first n closes; MACD_LINE = EMA_12 - EMA_26;
--                               MACD_SIGNAL = 9-bar EMA of MACD_LINE seeded the same way
--   RSI_14                      Wilder's RSI: average gain and loss are running averages with
--                               alpha = 1/14, seeded with the simple average of the first 14
--                               changes; 100 when there was no loss
--
-- SQL has no recursive "previous EMA" function, so each EMA is written in closed form:
--   EMA_t = sum over j <= t of r^(t-j) * term_j, r = 1 - alpha,
--   term_j = the seed at the seed bar, alpha * x_j after it, 0 before.
-- To keep r^(-j) small, bars are cut into blocks of 100 per ticker: within a block the sum is a
-- running window sum scaled by r^(offset); the earlier blocks carry over as the EMA at the end of
-- the previous block (itself the blocks' end sums weighted r^(100 * blocks back)) with weight
-- r^(offset + 1). Every sum runs over exact decimals (terms of at most r^-99 times the price fit
-- NUMBER(38, 20)): a window sum of doubles depends on the order the warehouse adds the values,
-- which changes with the other tickers computed in the same statement, so an incremental run
-- (a few tickers) would differ in the last bits from a full refresh (all of them).
--
-- Incremental: RSI and MACD depend on a ticker's whole history, so the only exact look-back is
-- the whole series. The tickers whose silver bars changed (a new day, today's bar updated by a
-- later poll, a back-filled or corrected old day, a removed day) are recomputed in full and
-- replace their rows (replace_by TICKER); other tickers are untouched. A ticker removed from
-- the silver layer altogether keeps its rows until a --full-refresh. A test compares this with
-- a full refresh, value by value.
with
{% if is_incremental() %}
-- Tickers with any silver bar that differs from the bar this table was built from (added,
-- removed, or changed in any column the fact carries).
affected as (
  select distinct s.TICKER
  from {{ ref('stg_stock_prices_unified') }} as s
  left join {{ this }} as t on t.TICKER = s.TICKER and t.TRADE_DATE = s.TRADE_DATE
  where t.TICKER is null
    or t.SOURCE_UPDATED_AT <> s.SOURCE_UPDATED_AT
    or t.DATA_SOURCE <> s.DATA_SOURCE
    or t.OPEN <> s.OPEN or t.HIGH <> s.HIGH or t.LOW <> s.LOW or t.CLOSE <> s.CLOSE
    or t.VOLUME is distinct from s.VOLUME
  union
  select t.TICKER
  from {{ this }} as t
  left join {{ ref('stg_stock_prices_unified') }} as s
    on s.TICKER = t.TICKER and s.TRADE_DATE = t.TRADE_DATE
  where s.TICKER is null
),
{% endif %}
prices as (
  select
    p.TICKER,
    p.TRADE_DATE,
    p.OPEN,
    p.HIGH,
    p.LOW,
    p.CLOSE,
    p.VOLUME,
    p.DATA_SOURCE,
    p.SOURCE_UPDATED_AT,
    row_number() over (partition by p.TICKER order by p.TRADE_DATE) - 1 as SERIES_INDEX
  from {{ ref('stg_stock_prices_unified') }} as p
  {% if is_incremental() %}
  where p.TICKER in (select TICKER from affected)
  {% endif %}
),
base as (
  select
    p.*,
    lag(p.CLOSE) over (partition by p.TICKER order by p.TRADE_DATE) as PREV_CLOSE,
    cast(p.CLOSE as NUMBER(38, 12)) as CLOSE_D,
    floor(p.SERIES_INDEX / 100) as EMA_BLOCK,
    p.SERIES_INDEX - floor(p.SERIES_INDEX / 100) * 100 as BLOCK_OFFSET
  from prices as p
),
-- Sliding sums are taken over exact decimals: a window sum of doubles depends on the order the
-- warehouse adds the values (which differs with the rows computed together), while a decimal
-- sum does not, so an incremental run gives bit-for-bit the values of a full refresh.
-- The standard deviation uses the exact form sqrt(n * sum(x^2) - sum(x)^2) / n.
moves as (
  select
    b.*,
    case when b.CLOSE > b.PREV_CLOSE then b.CLOSE - b.PREV_CLOSE else 0 end as GAIN,
    case when b.CLOSE < b.PREV_CLOSE then b.PREV_CLOSE - b.CLOSE else 0 end as LOSS,
    cast(sum(b.CLOSE_D) over (
      partition by b.TICKER order by b.TRADE_DATE rows between 6 preceding and current row
    ) as FLOAT) / 7 as AVG_7,
    cast(sum(b.CLOSE_D) over (
      partition by b.TICKER order by b.TRADE_DATE rows between 11 preceding and current row
    ) as FLOAT) / 12 as AVG_12,
    cast(sum(b.CLOSE_D) over (
      partition by b.TICKER order by b.TRADE_DATE rows between 19 preceding and current row
    ) as FLOAT) / 20 as AVG_20,
    sqrt(greatest(cast(
      20 * sum(b.CLOSE_D * b.CLOSE_D) over (
        partition by b.TICKER order by b.TRADE_DATE rows between 19 preceding and current row
      )
      - sum(b.CLOSE_D) over (
        partition by b.TICKER order by b.TRADE_DATE rows between 19 preceding and current row
      ) * sum(b.CLOSE_D) over (
        partition by b.TICKER order by b.TRADE_DATE rows between 19 preceding and current row
      ) as FLOAT), 0)) / 20 as STD_20,
    cast(sum(b.CLOSE_D) over (
      partition by b.TICKER order by b.TRADE_DATE rows between 25 preceding and current row
    ) as FLOAT) / 26 as AVG_26,
    cast(sum(b.CLOSE_D) over (
      partition by b.TICKER order by b.TRADE_DATE rows between 29 preceding and current row
    ) as FLOAT) / 30 as AVG_30,
    -- The known volumes only: an unknown one (NULL) is neither 0 nor counted.
    cast(sum(b.VOLUME) over (
      partition by b.TICKER order by b.TRADE_DATE rows between 29 preceding and current row
    ) as FLOAT) / nullif(count(b.VOLUME) over (
      partition by b.TICKER order by b.TRADE_DATE rows between 29 preceding and current row
    ), 0) as AVG_VOLUME_30
  from base as b
),
ema_terms as (
  select
    m.*,
    case
      when m.SERIES_INDEX < 11 then 0
      when m.SERIES_INDEX = 11 then m.AVG_12
      else m.CLOSE * (2::FLOAT / 13)
    end as T_EMA_12,
    case
      when m.SERIES_INDEX < 25 then 0
      when m.SERIES_INDEX = 25 then m.AVG_26
      else m.CLOSE * (2::FLOAT / 27)
    end as T_EMA_26,
    case
      when m.SERIES_INDEX < 14 then 0
      when m.SERIES_INDEX = 14 then cast(sum(cast(m.GAIN as NUMBER(38, 15))) over (
        partition by m.TICKER order by m.TRADE_DATE rows between 13 preceding and current row
      ) as FLOAT) / 14
      else m.GAIN / 14
    end as T_GAIN,
    case
      when m.SERIES_INDEX < 14 then 0
      when m.SERIES_INDEX = 14 then cast(sum(cast(m.LOSS as NUMBER(38, 15))) over (
        partition by m.TICKER order by m.TRADE_DATE rows between 13 preceding and current row
      ) as FLOAT) / 14
      else m.LOSS / 14
    end as T_LOSS
  from moves as m
),
ema_local as (
  select
    t.*,
    power(11::FLOAT / 13, t.BLOCK_OFFSET) * cast(sum(
      cast(t.T_EMA_12 * power(11::FLOAT / 13, -t.BLOCK_OFFSET) as NUMBER(38, 20))
    ) over (
      partition by t.TICKER, t.EMA_BLOCK order by t.SERIES_INDEX
      rows between unbounded preceding and current row
    ) as FLOAT) as L_EMA_12,
    power(25::FLOAT / 27, t.BLOCK_OFFSET) * cast(sum(
      cast(t.T_EMA_26 * power(25::FLOAT / 27, -t.BLOCK_OFFSET) as NUMBER(38, 20))
    ) over (
      partition by t.TICKER, t.EMA_BLOCK order by t.SERIES_INDEX
      rows between unbounded preceding and current row
    ) as FLOAT) as L_EMA_26,
    power(13::FLOAT / 14, t.BLOCK_OFFSET) * cast(sum(
      cast(t.T_GAIN * power(13::FLOAT / 14, -t.BLOCK_OFFSET) as NUMBER(38, 20))
    ) over (
      partition by t.TICKER, t.EMA_BLOCK order by t.SERIES_INDEX
      rows between unbounded preceding and current row
    ) as FLOAT) as L_GAIN,
    power(13::FLOAT / 14, t.BLOCK_OFFSET) * cast(sum(
      cast(t.T_LOSS * power(13::FLOAT / 14, -t.BLOCK_OFFSET) as NUMBER(38, 20))
    ) over (
      partition by t.TICKER, t.EMA_BLOCK order by t.SERIES_INDEX
      rows between unbounded preceding and current row
    ) as FLOAT) as L_LOSS
  from ema_terms as t
),
ema_block_end as (
  select TICKER, EMA_BLOCK, L_EMA_12, L_EMA_26, L_GAIN, L_LOSS
  from ema_local
  where BLOCK_OFFSET = 99
),
-- The EMAs at the end of each complete block: sum over the blocks up to it of their local end
-- value weighted r^(100 * blocks back); the next block carries them over.
ema_carry as (
  select
    e.TICKER,
    e.EMA_BLOCK + 1 as NEXT_BLOCK,
    cast(sum(cast(power(11::FLOAT / 13, 100 * (e.EMA_BLOCK - p.EMA_BLOCK)) * p.L_EMA_12
      as NUMBER(38, 20))) as FLOAT) as END_EMA_12,
    cast(sum(cast(power(25::FLOAT / 27, 100 * (e.EMA_BLOCK - p.EMA_BLOCK)) * p.L_EMA_26
      as NUMBER(38, 20))) as FLOAT) as END_EMA_26,
    cast(sum(cast(power(13::FLOAT / 14, 100 * (e.EMA_BLOCK - p.EMA_BLOCK)) * p.L_GAIN
      as NUMBER(38, 20))) as FLOAT) as END_GAIN,
    cast(sum(cast(power(13::FLOAT / 14, 100 * (e.EMA_BLOCK - p.EMA_BLOCK)) * p.L_LOSS
      as NUMBER(38, 20))) as FLOAT) as END_LOSS
  from ema_block_end as e
  join ema_block_end as p on p.TICKER = e.TICKER and p.EMA_BLOCK <= e.EMA_BLOCK
  group by e.TICKER, e.EMA_BLOCK
),
emas as (
  select
    l.*,
    case when l.SERIES_INDEX >= 11 then
      l.L_EMA_12 + power(11::FLOAT / 13, l.BLOCK_OFFSET + 1) * coalesce(e.END_EMA_12, 0)
    end as EMA_12,
    case when l.SERIES_INDEX >= 25 then
      l.L_EMA_26 + power(25::FLOAT / 27, l.BLOCK_OFFSET + 1) * coalesce(e.END_EMA_26, 0)
    end as EMA_26,
    case when l.SERIES_INDEX >= 14 then
      l.L_GAIN + power(13::FLOAT / 14, l.BLOCK_OFFSET + 1) * coalesce(e.END_GAIN, 0)
    end as AVG_GAIN_14,
    case when l.SERIES_INDEX >= 14 then
      l.L_LOSS + power(13::FLOAT / 14, l.BLOCK_OFFSET + 1) * coalesce(e.END_LOSS, 0)
    end as AVG_LOSS_14
  from ema_local as l
  left join ema_carry as e on e.TICKER = l.TICKER and e.NEXT_BLOCK = l.EMA_BLOCK
),
macd_terms as (
  select
    e.*,
    e.EMA_12 - e.EMA_26 as MACD_LINE,
    case
      when e.SERIES_INDEX < 33 then 0
      when e.SERIES_INDEX = 33 then cast(sum(cast(e.EMA_12 - e.EMA_26 as NUMBER(38, 15))) over (
        partition by e.TICKER order by e.TRADE_DATE rows between 8 preceding and current row
      ) as FLOAT) / 9
      else (e.EMA_12 - e.EMA_26) * (2::FLOAT / 10)
    end as T_SIGNAL
  from emas as e
),
signal_local as (
  select
    m.*,
    power(8::FLOAT / 10, m.BLOCK_OFFSET) * cast(sum(
      cast(m.T_SIGNAL * power(8::FLOAT / 10, -m.BLOCK_OFFSET) as NUMBER(38, 20))
    ) over (
      partition by m.TICKER, m.EMA_BLOCK order by m.SERIES_INDEX
      rows between unbounded preceding and current row
    ) as FLOAT) as L_SIGNAL
  from macd_terms as m
),
signal_block_end as (
  select TICKER, EMA_BLOCK, L_SIGNAL
  from signal_local
  where BLOCK_OFFSET = 99
),
signal_carry as (
  select
    e.TICKER,
    e.EMA_BLOCK + 1 as NEXT_BLOCK,
    cast(sum(cast(power(8::FLOAT / 10, 100 * (e.EMA_BLOCK - p.EMA_BLOCK)) * p.L_SIGNAL
      as NUMBER(38, 20))) as FLOAT) as END_SIGNAL
  from signal_block_end as e
  join signal_block_end as p on p.TICKER = e.TICKER and p.EMA_BLOCK <= e.EMA_BLOCK
  group by e.TICKER, e.EMA_BLOCK
),
metrics as (
  select
    s.TICKER,
    s.TRADE_DATE,
    s.OPEN,
    s.HIGH,
    s.LOW,
    s.CLOSE,
    s.VOLUME,
    s.DATA_SOURCE,
    s.PREV_CLOSE,
    s.SERIES_INDEX,
    s.SOURCE_UPDATED_AT,
    case when s.SERIES_INDEX >= 6 then s.AVG_7 end as MA_7,
    case when s.SERIES_INDEX >= 29 then s.AVG_30 end as MA_30,
    case when s.SERIES_INDEX >= 29 then s.AVG_VOLUME_30 end as VOLUME_AVG_30,
    case when s.SERIES_INDEX >= 19 then s.AVG_20 end as BB_MIDDLE,
    case when s.SERIES_INDEX >= 19 then s.AVG_20 + 2 * s.STD_20 end as BB_UPPER,
    case when s.SERIES_INDEX >= 19 then s.AVG_20 - 2 * s.STD_20 end as BB_LOWER,
    case
      when s.AVG_LOSS_14 is null then null
      when s.AVG_LOSS_14 = 0 then 100
      when s.AVG_GAIN_14 = 0 then 0
      else 100 - 100 / (1 + s.AVG_GAIN_14 / s.AVG_LOSS_14)
    end as RSI_14,
    s.EMA_12,
    s.EMA_26,
    s.MACD_LINE,
    case when s.SERIES_INDEX >= 33 then
      s.L_SIGNAL + power(8::FLOAT / 10, s.BLOCK_OFFSET + 1) * coalesce(b.END_SIGNAL, 0)
    end as MACD_SIGNAL
  from signal_local as s
  left join signal_carry as b on b.TICKER = s.TICKER and b.NEXT_BLOCK = s.EMA_BLOCK
),
with_history as (
  select
    m.*,
    m.MACD_LINE - m.MACD_SIGNAL as MACD_HISTOGRAM,
    lag(m.MACD_LINE - m.MACD_SIGNAL) over (partition by m.TICKER order by m.TRADE_DATE)
      as PREV_MACD_HISTOGRAM
  from metrics as m
)
select
  TICKER,
  TRADE_DATE,
  OPEN,
  HIGH,
  LOW,
  CLOSE,
  VOLUME,
  DATA_SOURCE,
  PREV_CLOSE,
  CLOSE - PREV_CLOSE as DAILY_CHANGE,
  case when PREV_CLOSE > 0 then (CLOSE / PREV_CLOSE - 1) * 100 end as DAILY_RETURN_PCT,
  HIGH - LOW as PRICE_RANGE,
  case when OPEN > 0 then (HIGH - LOW) / OPEN * 100 end as PRICE_RANGE_PCT,
  (HIGH + LOW + CLOSE) / 3 as TYPICAL_PRICE,
  (HIGH + LOW + CLOSE) / 3 * VOLUME as TURNOVER_ESTIMATE,
  MA_7,
  MA_30,
  VOLUME_AVG_30,
  case when VOLUME_AVG_30 > 0 then VOLUME / VOLUME_AVG_30 end as VOLUME_RATIO,
  RSI_14,
  EMA_12,
  EMA_26,
  MACD_LINE,
  MACD_SIGNAL,
  MACD_HISTOGRAM,
  BB_MIDDLE,
  BB_UPPER,
  BB_LOWER,
  case
    when MA_30 is null then 'INSUFFICIENT_DATA'
    when CLOSE > MA_7 and MA_7 > MA_30 then 'BULLISH'
    when CLOSE < MA_7 and MA_7 < MA_30 then 'BEARISH'
    else 'NEUTRAL'
  end as TREND_SIGNAL,
  case
    when VOLUME is null or VOLUME_AVG_30 is null or VOLUME_AVG_30 = 0 then 'INSUFFICIENT_DATA'
    when VOLUME >= 1.5 * VOLUME_AVG_30 then 'HIGH'
    when VOLUME <= 0.5 * VOLUME_AVG_30 then 'LOW'
    else 'NORMAL'
  end as VOLUME_SIGNAL,
  case
    when RSI_14 is null then 'INSUFFICIENT_DATA'
    when RSI_14 >= 70 then 'OVERBOUGHT'
    when RSI_14 <= 30 then 'OVERSOLD'
    else 'NEUTRAL'
  end as RSI_SIGNAL,
  case
    when MACD_HISTOGRAM is null or PREV_MACD_HISTOGRAM is null then 'INSUFFICIENT_DATA'
    when PREV_MACD_HISTOGRAM <= 0 and MACD_HISTOGRAM > 0 then 'BULLISH_CROSS'
    when PREV_MACD_HISTOGRAM >= 0 and MACD_HISTOGRAM < 0 then 'BEARISH_CROSS'
    else 'NONE'
  end as MACD_CROSS,
  SERIES_INDEX,
  SOURCE_UPDATED_AT
from with_history

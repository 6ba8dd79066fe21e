-- One-minute bars: datetime,open,high,low,close,volume, read typed (read_bars_1m.sql); datetime
-- is naive UTC (the bar's start). The trade date is the Cairo date of the bar, with
-- Africa/Cairo's DST (never a fixed offset): the zone offset is looked up once per UTC hour
-- present (Cairo changes offset on the hour). The ticker comes from the file name. A blank value
-- is NULL ("missing"); the reader rejected the unparsable ones.
CREATE OR REPLACE TEMP TABLE egx_hours AS
SELECT h, timezone('Africa/Cairo', h::TIMESTAMPTZ) - h AS off
FROM (SELECT DISTINCT date_trunc('hour', datetime) AS h FROM egx_raw_read)
WHERE h IS NOT NULL;

CREATE OR REPLACE TEMP TABLE egx_norm AS
SELECT b.egx_file_key, b.egx_etag, b.egx_line, b.egx_ticker AS ticker,
  b.datetime AS bar_start, b.datetime + o.off AS cairo_ts,
  CAST(b.datetime + o.off AS DATE) AS trade_date, b.open, b.high, b.low, b.close, b.volume
FROM egx_raw b
LEFT JOIN egx_hours o ON o.h = date_trunc('hour', b.datetime);

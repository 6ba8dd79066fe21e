-- One-minute bars: datetime,open,high,low,close,volume, read typed (read_bars_1m.sql); datetime
-- is naive UTC (the bar's start). The trade date is the Cairo date of the bar, with
-- Africa/Cairo's DST (never a fixed offset): the zone offset is looked up once per UTC hour
-- present (Cairo changes offset on the hour). The ticker comes from the file name.
CREATE OR REPLACE TEMP TABLE egx_hours AS
SELECT h, timezone('Africa/Cairo', h::TIMESTAMPTZ) - h AS off
FROM (SELECT DISTINCT date_trunc('hour', datetime) AS h FROM egx_raw_read)
WHERE h IS NOT NULL;

CREATE OR REPLACE TEMP TABLE egx_norm AS
SELECT b.egx_file_key, b.egx_etag, b.egx_line, b.egx_ticker AS ticker,
  if(b.datetime IS NULL, NULL, 'x') AS t_raw, b.datetime AS bar_start,
  b.datetime + o.off AS cairo_ts, CAST(b.datetime + o.off AS DATE) AS trade_date,
  if(b.open IS NULL, NULL, 'x') AS o_raw, b.open, if(b.high IS NULL, NULL, 'x') AS h_raw, b.high,
  if(b.low IS NULL, NULL, 'x') AS l_raw, b.low, if(b.close IS NULL, NULL, 'x') AS c_raw, b.close,
  if(b.volume IS NULL, NULL, 'x') AS v_raw, b.volume
FROM egx_raw b
LEFT JOIN egx_hours o ON o.h = date_trunc('hour', b.datetime);

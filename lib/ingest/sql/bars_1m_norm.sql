-- One-minute bars: datetime,open,high,low,close,volume, read typed (read_bars_1m.sql); datetime
-- is the bar's start, UTC when naive, its offset applied otherwise (egx_bar_start). The trade
-- date is the Cairo date of the bar, with Africa/Cairo's DST (never a fixed offset): the zone
-- offset is looked up once per UTC hour present (Cairo changes offset on the hour). The ticker
-- comes from the file name. A blank value is NULL ("missing"); the reader rejected unparsable
-- prices and volumes, and an unparsable datetime has bar_start NULL (dt_raw tells it from a
-- blank one). An hour egx_instant (prelude.sql) does not admit ("infinity", the year 294247: the
-- Cairo conversion fails on them) has no offset, so its bars no trade date: out of range.
CREATE OR REPLACE TEMP TABLE egx_hours AS
SELECT h, timezone('Africa/Cairo', h::TIMESTAMPTZ) - h AS off
FROM (SELECT DISTINCT date_trunc('hour', egx_bar_start) AS h FROM egx_raw_read)
WHERE egx_instant(h::TIMESTAMPTZ) IS NOT NULL;

CREATE OR REPLACE TEMP TABLE egx_norm AS
SELECT b.egx_file_key, b.egx_etag, b.egx_line, b.egx_ticker AS ticker,
  b.datetime AS dt_raw, b.egx_bar_start AS bar_start, b.egx_bar_start + o.off AS cairo_ts,
  CAST(b.egx_bar_start + o.off AS DATE) AS trade_date, b.open, b.high, b.low, b.close, b.volume
FROM egx_raw b
LEFT JOIN egx_hours o ON o.h = date_trunc('hour', b.egx_bar_start);

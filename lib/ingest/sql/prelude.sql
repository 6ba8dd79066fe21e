-- Per-load helpers (DuckDB, temporary: they live for the load's connection only).
-- Values reach the SQL through variables set by lib/ingest/load.ts (SET VARIABLE name = ?):
--   format, data_source, run_id, started_at; the files themselves are rows of egx_file.

-- A number from text: trims, drops thousands separators; NULL when unparsable or blank.
CREATE OR REPLACE TEMP MACRO egx_num(x) AS TRY_CAST(replace(trim(x), ',', '') AS DOUBLE);

-- Volumes like 1.81M / 426.44K / 2B / 1,234 (Investing.com); NULL when unparsable.
CREATE OR REPLACE TEMP MACRO egx_volume(x) AS CASE
  WHEN upper(trim(x)) LIKE '%K' THEN egx_num(left(trim(x), length(trim(x)) - 1)) * 1e3
  WHEN upper(trim(x)) LIKE '%M' THEN egx_num(left(trim(x), length(trim(x)) - 1)) * 1e6
  WHEN upper(trim(x)) LIKE '%B' THEN egx_num(left(trim(x), length(trim(x)) - 1)) * 1e9
  ELSE egx_num(x)
END;

-- Blank (NULL or only spaces; a typed value is blank only when NULL).
CREATE OR REPLACE TEMP MACRO egx_blank(x) AS x IS NULL OR trim(x::VARCHAR) = '';

-- "missing NAME" / "unparsable NAME "text"" / NULL for a field read from `raw` into `val`. A
-- field read typed (the reader rejects what it cannot parse) passes its value as `raw` too.
CREATE OR REPLACE TEMP MACRO egx_problem(name, raw, val) AS CASE
  WHEN egx_blank(raw) THEN 'missing ' || name
  WHEN val IS NULL THEN 'unparsable ' || name || ' "' || raw::VARCHAR || '"'
END;

-- The price and volume problems of a daily or one-minute bar ('; '-separated, NULL = none):
-- missing or unparsable values, non-positive prices, negative volume, high < low, open/close
-- outside [low, high]. egx_ohlcv_bad is the cheap test for the same problems (most rows are good):
-- the two must agree.
CREATE OR REPLACE TEMP MACRO egx_ohlcv_problems(o_raw, o, h_raw, h, l_raw, l, c_raw, c, v_raw, v)
AS NULLIF(concat_ws('; ',
  egx_problem('open', o_raw, o),
  egx_problem('high', h_raw, h),
  egx_problem('low', l_raw, l),
  egx_problem('close', c_raw, c),
  egx_problem('volume', v_raw, v),
  CASE WHEN o <= 0 OR h <= 0 OR l <= 0 OR c <= 0 THEN 'non-positive price' END,
  CASE WHEN v < 0 THEN 'negative volume' END,
  CASE WHEN h < l THEN 'high < low' END,
  CASE WHEN h >= l AND (o < l OR o > h OR c < l OR c > h) THEN 'open/close outside [low, high]' END
), '');

-- (No test of high <= 0 or close <= 0: with low > 0, high >= low and close >= low they cannot be.)
CREATE OR REPLACE TEMP MACRO egx_ohlcv_bad(o, h, l, c, v) AS
  o IS NULL OR h IS NULL OR l IS NULL OR c IS NULL OR v IS NULL OR o <= 0 OR l <= 0 OR v < 0
  OR h < l OR o > h OR o < l OR c > h OR c < l;

-- The files of the group being loaded (same format and header), filled by load.ts.
CREATE OR REPLACE TEMP TABLE egx_file (
  ord INTEGER, path VARCHAR, file_key VARCHAR, etag VARCHAR, size_bytes BIGINT, ticker VARCHAR
);

-- Lines with broken quoting (an unterminated or stray quote), found by load.ts before the read
-- (lib/ingest/quotes.ts): the reader gets a copy of the file without them (its path is in
-- egx_file), so its rejects' line numbers are renumbered in stage_rejects.sql.
CREATE OR REPLACE TEMP TABLE egx_quote_rejects (
  path VARCHAR, line BIGINT, csv_line VARCHAR, problem VARCHAR
);

-- Trading calendar (filled from lib/market/egx_calendar.json by load.ts).
CREATE OR REPLACE TEMP TABLE egx_weekday (dow INTEGER);
CREATE OR REPLACE TEMP TABLE egx_session (
  from_date DATE, to_date DATE, open_min INTEGER, close_min INTEGER, label VARCHAR, priority INTEGER
);

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

-- Blank (NULL or only spaces).
CREATE OR REPLACE TEMP MACRO egx_blank(x) AS x IS NULL OR trim(x) = '';

-- "missing NAME" / "unparsable NAME "text"" / NULL for a numeric field.
CREATE OR REPLACE TEMP MACRO egx_num_problem(name, raw, val) AS CASE
  WHEN egx_blank(raw) THEN 'missing ' || name
  WHEN val IS NULL THEN 'unparsable ' || name || ' "' || raw || '"'
END;

-- The same for a date field.
CREATE OR REPLACE TEMP MACRO egx_date_problem(name, raw, val) AS CASE
  WHEN egx_blank(raw) THEN 'missing ' || name
  WHEN val IS NULL THEN 'unparsable ' || name || ' "' || raw || '"'
END;

-- The files of the group being loaded (same format and header), filled by load.ts.
CREATE OR REPLACE TEMP TABLE egx_file (
  ord INTEGER, path VARCHAR, file_key VARCHAR, etag VARCHAR, size_bytes BIGINT, ticker VARCHAR
);

-- Trading calendar (filled from lib/market/egx_calendar.json by load.ts).
CREATE OR REPLACE TEMP TABLE egx_weekday (dow INTEGER);
CREATE OR REPLACE TEMP TABLE egx_session (
  from_date DATE, to_date DATE, open_min INTEGER, close_min INTEGER, label VARCHAR, priority INTEGER
);

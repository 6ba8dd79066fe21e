-- Read one-minute bar files with typed columns (see read_daily_canonical.sql), except datetime:
-- read as TIMESTAMP, DuckDB drops a UTC offset (2025-12-08 10:00:00+02:00 would be 10:00 UTC,
-- two hours off), and read as TIMESTAMPTZ it turns an unparsable value into NULL ("missing")
-- instead of rejecting it. So it is read as text and converted here, once per row, into
-- egx_bar_start: through TIMESTAMPTZ, so an offset (+02:00, Z, a zone name) is applied, and a
-- naive value is UTC (the instance's TimeZone is UTC, lib/warehouse/duckdb_file.ts); NULL when
-- unparsable (bars_1m.sql says so), or when its UTC offset is not a real one (+99:00, +25:00,
-- +02:60: DuckDB's cast takes them, egx_offset_problem in prelude.sql, named by bars_1m.sql).
-- The quarantined record leaves it out.
-- A value naming its zone (2025-11-03 10:00:00 Africa/Cairo, EET) is cast apart from the others:
-- in one cast, DuckDB 1.5 kept that zone for the naive values after it (08:01 UTC read as 08:01
-- Cairo). The two branches are written differently (ltrim(rtrim()) vs trim()) so that no
-- optimizer folds them back into one cast.
-- Extra columns (indicators, VWAP) stay text: see read_daily_canonical.sql.
CREATE OR REPLACE TEMP TABLE egx_raw_read AS
SELECT *, CASE WHEN egx_offset_problem(datetime) IS NOT NULL THEN NULL
    WHEN regexp_matches(datetime, '[A-Za-z]{2}')
    THEN TRY_CAST(ltrim(rtrim(datetime)) AS TIMESTAMPTZ)
    ELSE TRY_CAST(trim(datetime) AS TIMESTAMPTZ) END::TIMESTAMP AS egx_bar_start
FROM read_csv(getvariable('src_files'), header = true, delim = ',', quote = '"',
  names = getvariable('src_names'), filename = 'egx_filename',
  auto_type_candidates = ['VARCHAR'],
  types = {'datetime': 'VARCHAR', 'open': 'DOUBLE', 'high': 'DOUBLE', 'low': 'DOUBLE',
    'close': 'DOUBLE', 'volume': 'DOUBLE'},
  store_rejects = true, rejects_table = 'egx_rejects', rejects_scan = 'egx_rejects_scan');

-- Read one-minute bar files with typed columns (see read_daily_canonical.sql), except datetime:
-- read as TIMESTAMP, DuckDB drops a UTC offset (2025-12-08 10:00:00+02:00 would be 10:00 UTC,
-- two hours off), and read as TIMESTAMPTZ it turns an unparsable value into NULL ("missing")
-- instead of rejecting it. So it is read as text and converted here, once per row, into
-- egx_bar_start: through TIMESTAMPTZ, so an offset (+02:00, Z, a zone name) is applied, and a
-- naive value is UTC (the instance's TimeZone is UTC, lib/warehouse/duckdb_file.ts); NULL when
-- unparsable (bars_1m.sql says so). The quarantined record leaves it out.
-- Extra columns (indicators, VWAP) stay text: see read_daily_canonical.sql.
CREATE OR REPLACE TEMP TABLE egx_raw_read AS
SELECT *, TRY_CAST(trim(datetime) AS TIMESTAMPTZ)::TIMESTAMP AS egx_bar_start
FROM read_csv(getvariable('src_files'), header = true, delim = ',', quote = '"',
  filename = 'egx_filename', auto_type_candidates = ['VARCHAR'],
  types = {'datetime': 'VARCHAR', 'open': 'DOUBLE', 'high': 'DOUBLE', 'low': 'DOUBLE',
    'close': 'DOUBLE', 'volume': 'DOUBLE'},
  store_rejects = true, rejects_table = 'egx_rejects', rejects_scan = 'egx_rejects_scan');

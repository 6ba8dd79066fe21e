-- Read the files as text columns with DuckDB's CSV reader (quoted fields, byte-order mark); the
-- format's SQL parses the values (Investing.com numbers, reference files). Lines the reader
-- cannot split are kept in egx_rejects, never dropped. Rows keep the files' order in rowids.
-- Delimiter and quote are given (lines with broken quoting never get here: load.ts, quotes.ts).
CREATE OR REPLACE TEMP TABLE egx_raw_read AS
SELECT * FROM read_csv(getvariable('src_files'), all_varchar = true, header = true,
  delim = ',', quote = '"',
  filename = 'egx_filename', store_rejects = true, rejects_table = 'egx_rejects',
  rejects_scan = 'egx_rejects_scan');

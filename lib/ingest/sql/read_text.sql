-- Read the files as text columns with DuckDB's CSV reader (quoted fields, byte-order mark); the
-- format's SQL parses the values (Investing.com numbers, reference files). Lines the reader
-- cannot split are kept in egx_rejects, never dropped. Rows keep the files' order in rowids.
-- Delimiter and quote are given (lines with broken quoting never get here: load.ts, quotes.ts),
-- and so are the columns' names (src_names, see egx_column in prelude.sql), in every read.
CREATE OR REPLACE TEMP TABLE egx_raw_read AS
SELECT * FROM read_csv(getvariable('src_files'), all_varchar = true, header = true,
  delim = ',', quote = '"', names = getvariable('src_names'),
  filename = 'egx_filename', store_rejects = true, rejects_table = 'egx_rejects',
  rejects_scan = 'egx_rejects_scan');

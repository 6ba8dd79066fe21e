-- A group of one file (e.g. one large file) without rejected lines: row k (0-based) is line
-- k + 2; the file's fields come from a one-row cross join instead of a per-row lookup.
CREATE OR REPLACE TEMP TABLE egx_file_base AS
SELECT f.*, (SELECT coalesce(min(rowid), 0) FROM egx_raw_read) AS base FROM egx_file f;

CREATE OR REPLACE TEMP VIEW egx_raw AS
SELECT r.* EXCLUDE (egx_filename), f.file_key AS egx_file_key, f.etag AS egx_etag,
  f.ticker AS egx_ticker, (r.rowid - f.base + 2)::BIGINT AS egx_line
FROM egx_raw_read r CROSS JOIN egx_file_base f;

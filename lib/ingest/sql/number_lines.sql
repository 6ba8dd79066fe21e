-- No rejected lines: a file's k-th row read (0-based) is its line k + 2 (the header is line 1).
CREATE OR REPLACE TEMP TABLE egx_file_base AS
SELECT f.*, b.base FROM egx_file f
JOIN (SELECT egx_filename, min(rowid) AS base FROM egx_raw_read GROUP BY ALL) b
  ON b.egx_filename = f.path;

CREATE OR REPLACE TEMP VIEW egx_raw AS
SELECT r.* EXCLUDE (egx_filename), f.file_key AS egx_file_key, f.etag AS egx_etag,
  f.ticker AS egx_ticker, (r.rowid - f.base + 2)::BIGINT AS egx_line
FROM egx_raw_read r JOIN egx_file_base f ON f.path = r.egx_filename;

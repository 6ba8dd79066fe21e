-- One file (load.ts loads files with rejected or blank lines on their own) some of whose lines
-- the CSV reader rejected or never saw (blank, egx_blank_lines): the k-th row read is the k-th
-- line after the header that was neither rejected nor blank.
CREATE OR REPLACE TEMP TABLE egx_good_lines AS
SELECT line, (row_number() OVER (ORDER BY line) - 1)::BIGINT AS k
FROM (SELECT range AS line FROM range(2, (SELECT count(*) FROM egx_raw_read)
        + (SELECT count(*) FROM egx_reject_lines) + (SELECT count(*) FROM egx_blank_lines) + 2))
WHERE line NOT IN (SELECT line FROM egx_reject_lines)
  AND line NOT IN (SELECT line FROM egx_blank_lines);

SET VARIABLE raw_base = (SELECT coalesce(min(rowid), 0) FROM egx_raw_read);

CREATE OR REPLACE TEMP VIEW egx_raw AS
SELECT r.* EXCLUDE (egx_filename), f.file_key AS egx_file_key, f.etag AS egx_etag,
  f.ticker AS egx_ticker, g.line AS egx_line
FROM egx_raw_read r
JOIN egx_good_lines g ON g.k = r.rowid - getvariable('raw_base')
JOIN egx_file f ON f.path = r.egx_filename;

-- Lines the CSV reader rejected, one row per line (a line can fail on several columns), and the
-- lines with broken quoting the reader never saw (egx_quote_rejects). The reader's line numbers
-- are those of the file without the broken lines and the blank ones (egx_blank_lines): the line
-- it calls L is the file's line L plus the number of such lines before it (the i-th broken line, 0-based, at line r, precedes the
-- reader's line L when r - i <= L).
CREATE OR REPLACE TEMP TABLE egx_reject_lines AS
WITH gone AS (
  SELECT path, line - (row_number() OVER (PARTITION BY path ORDER BY line) - 1) AS at
  FROM (SELECT path, line FROM egx_quote_rejects UNION ALL SELECT path, line FROM egx_blank_lines)
), errors AS (
  -- A line short of fields is reported once per missing column, each saying a different
  -- "Found: N" (2, 3, 4, 5 for a line of 2 fields): the first missing column's is the true count.
  SELECT * FROM egx_rejects
  QUALIFY error_type <> 'MISSING COLUMNS' OR row_number() OVER (
    PARTITION BY scan_id, file_id, line, error_type ORDER BY column_idx) = 1
), seen AS (
  SELECT s.file_path AS path, e.line, any_value(e.csv_line) AS csv_line,
    string_agg(DISTINCT e.error_message, '; ') AS error_message
  FROM errors e JOIN egx_rejects_scan s USING (scan_id, file_id)
  GROUP BY ALL
)
SELECT r.path, r.line + (SELECT count(*) FROM gone g WHERE g.path = r.path AND g.at <= r.line)
    AS line, r.csv_line, r.error_message, false AS quote_broken
FROM seen r
UNION ALL
SELECT path, line, csv_line, problem, true FROM egx_quote_rejects;

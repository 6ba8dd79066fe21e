-- Lines the CSV reader rejected, one row per line (a line can fail on several columns).
CREATE OR REPLACE TEMP TABLE egx_reject_lines AS
SELECT s.file_path AS path, e.line, any_value(e.csv_line) AS csv_line,
  string_agg(DISTINCT e.error_message, '; ') AS error_message
FROM egx_rejects e JOIN egx_rejects_scan s USING (scan_id, file_id)
GROUP BY ALL;

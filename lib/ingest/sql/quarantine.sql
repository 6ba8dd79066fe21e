-- Quarantine: rows with a reason (egx_checked) and lines the CSV reader could not parse.
INSERT INTO OPERATIONAL.TBL_QUARANTINE (FILE_KEY, ETAG, LINE_NUMBER, FORMAT, REASON, RECORD)
SELECT k.egx_file_key, k.egx_etag, k.egx_line, getvariable('format'), k.reason,
  to_json(r)::VARCHAR
FROM (SELECT * FROM egx_checked WHERE reason IS NOT NULL) k
-- The record as read (the columns a read adds for the checks, egx_ticker_norm and
-- egx_bar_start, left out).
JOIN (SELECT COLUMNS(c -> c NOT IN ('egx_ticker_norm', 'egx_bar_start')) FROM egx_raw) r
  ON r.egx_file_key = k.egx_file_key AND r.egx_line = k.egx_line
ON CONFLICT (FILE_KEY, ETAG, LINE_NUMBER) DO UPDATE SET
  REASON = excluded.REASON, RECORD = excluded.RECORD, FORMAT = excluded.FORMAT;

INSERT INTO OPERATIONAL.TBL_QUARANTINE (FILE_KEY, ETAG, LINE_NUMBER, FORMAT, REASON, RECORD)
SELECT f.file_key, f.etag, j.line, getvariable('format'),
  -- A value the typed reader could not convert reads like the text formats' reasons; a line with
  -- broken quoting (never read) or that the reader could not split is a malformed line.
  CASE WHEN NOT j.quote_broken AND j.error_message LIKE 'Error when converting column%'
    THEN regexp_replace(j.error_message,
      'Error when converting column "([^"]*)"\. Could not convert string "(.*?)" to ''[A-Z]+''',
      'unparsable \1 "\2"', 'g')
    ELSE 'malformed CSV line: ' || j.error_message END,
  j.csv_line
FROM egx_reject_lines j JOIN egx_file f ON f.path = j.path
ON CONFLICT (FILE_KEY, ETAG, LINE_NUMBER) DO UPDATE SET
  REASON = excluded.REASON, RECORD = excluded.RECORD, FORMAT = excluded.FORMAT;

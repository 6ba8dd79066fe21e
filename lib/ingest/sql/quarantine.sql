-- Quarantine: rows with a reason (egx_checked) and lines the CSV reader could not parse.
INSERT INTO OPERATIONAL.TBL_QUARANTINE (FILE_KEY, ETAG, LINE_NUMBER, FORMAT, REASON, RECORD)
SELECT k.egx_file_key, k.egx_etag, k.egx_line, getvariable('format'), k.reason,
  to_json(r)::VARCHAR
FROM (SELECT * FROM egx_checked WHERE reason IS NOT NULL) k
JOIN egx_raw r ON r.egx_file_key = k.egx_file_key AND r.egx_line = k.egx_line
ON CONFLICT (FILE_KEY, ETAG, LINE_NUMBER) DO UPDATE SET
  REASON = excluded.REASON, RECORD = excluded.RECORD, FORMAT = excluded.FORMAT;

INSERT INTO OPERATIONAL.TBL_QUARANTINE (FILE_KEY, ETAG, LINE_NUMBER, FORMAT, REASON, RECORD)
SELECT f.file_key, f.etag, j.line, getvariable('format'),
  'malformed CSV line: ' || j.error_message, j.csv_line
FROM egx_reject_lines j JOIN egx_file f ON f.path = j.path
ON CONFLICT (FILE_KEY, ETAG, LINE_NUMBER) DO UPDATE SET
  REASON = excluded.REASON, RECORD = excluded.RECORD, FORMAT = excluded.FORMAT;

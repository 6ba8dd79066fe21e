-- Record each file of the group as LOADED, with its counts (rows read = loaded + quarantined).
INSERT INTO OPERATIONAL.TBL_LOAD_LOG (FILE_KEY, ETAG, SIZE_BYTES, FORMAT, STATUS, ROWS_READ,
  ROWS_LOADED, ROWS_QUARANTINED, ERROR, RUN_ID, STARTED_AT, FINISHED_AT)
SELECT f.file_key, f.etag, f.size_bytes, getvariable('format'), 'LOADED',
  coalesce(c.n, 0) + coalesce(j.n, 0), coalesce(c.n, 0) - coalesce(c.bad, 0),
  coalesce(c.bad, 0) + coalesce(j.n, 0), NULL, getvariable('run_id'),
  getvariable('started_at'), now()::TIMESTAMP
FROM egx_file f
LEFT JOIN (SELECT egx_file_key, count(*) AS n, count(reason) AS bad FROM egx_checked GROUP BY ALL)
  c ON c.egx_file_key = f.file_key
LEFT JOIN (SELECT path, count(*) AS n FROM egx_reject_lines GROUP BY ALL) j ON j.path = f.path
ON CONFLICT (FILE_KEY, ETAG) DO UPDATE SET
  SIZE_BYTES = excluded.SIZE_BYTES, FORMAT = excluded.FORMAT, STATUS = excluded.STATUS,
  ROWS_READ = excluded.ROWS_READ, ROWS_LOADED = excluded.ROWS_LOADED,
  ROWS_QUARANTINED = excluded.ROWS_QUARANTINED, ERROR = excluded.ERROR, RUN_ID = excluded.RUN_ID,
  STARTED_AT = excluded.STARTED_AT, FINISHED_AT = excluded.FINISHED_AT;

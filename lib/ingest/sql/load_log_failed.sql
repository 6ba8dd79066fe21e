-- Record one file whose load failed (nothing of it was loaded); values come as variables.
INSERT INTO OPERATIONAL.TBL_LOAD_LOG (FILE_KEY, ETAG, SIZE_BYTES, FORMAT, STATUS, ROWS_READ,
  ROWS_LOADED, ROWS_QUARANTINED, ERROR, RUN_ID, STARTED_AT, FINISHED_AT)
VALUES (getvariable('file_key'), getvariable('etag'), getvariable('size_bytes'),
  getvariable('format'), 'FAILED', 0, 0, 0, getvariable('error'), getvariable('run_id'),
  getvariable('started_at'), now()::TIMESTAMP)
ON CONFLICT (FILE_KEY, ETAG) DO UPDATE SET
  SIZE_BYTES = excluded.SIZE_BYTES, FORMAT = excluded.FORMAT, STATUS = excluded.STATUS,
  ROWS_READ = 0, ROWS_LOADED = 0, ROWS_QUARANTINED = 0, ERROR = excluded.ERROR,
  RUN_ID = excluded.RUN_ID, STARTED_AT = excluded.STARTED_AT, FINISHED_AT = excluded.FINISHED_AT;

-- Snowflake: upsert OPERATIONAL.TBL_QUARANTINE from the session's staging table EGX_STG_QUARANTINE
-- (filled with the rows DuckDB validated), by its natural key (FILE_KEY, ETAG, LINE_NUMBER). The
-- source is deduplicated first (Snowflake's MERGE fails on duplicate source keys); unchanged rows
-- are left alone.
-- "FORMAT" is quoted for SQL parsers that take it for a keyword; in Snowflake a quoted upper-case
-- name is the same identifier as the unquoted one.
MERGE INTO OPERATIONAL.TBL_QUARANTINE t
USING (
  SELECT * FROM EGX_STG_QUARANTINE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY FILE_KEY, ETAG, LINE_NUMBER ORDER BY FILE_KEY) = 1
) s
ON t.FILE_KEY = s.FILE_KEY AND t.ETAG = s.ETAG AND t.LINE_NUMBER = s.LINE_NUMBER
WHEN MATCHED AND (
    t."FORMAT" IS DISTINCT FROM s."FORMAT" OR t.REASON IS DISTINCT FROM s.REASON OR
    t.RECORD IS DISTINCT FROM s.RECORD
) THEN UPDATE SET
  "FORMAT" = s."FORMAT", REASON = s.REASON, RECORD = s.RECORD
WHEN NOT MATCHED THEN INSERT (FILE_KEY, ETAG, LINE_NUMBER, "FORMAT", REASON, RECORD)
  VALUES (s.FILE_KEY, s.ETAG, s.LINE_NUMBER, s."FORMAT", s.REASON, s.RECORD);

-- Snowflake: a version loaded again (a reload for tickers listed since, an object put back to
-- content loaded before) keeps only the quarantine rows this load found: its rows that are not in
-- the session's staging table EGX_STG_QUARANTINE are deleted (quarantine_merge.sql upserts the
-- others). The versions are the LOADED rows of EGX_STG_LOAD_LOG, so recording a failure (no
-- quarantine staged) deletes nothing.
DELETE FROM OPERATIONAL.TBL_QUARANTINE t
WHERE EXISTS (
    SELECT 1 FROM EGX_STG_LOAD_LOG l
    WHERE l.FILE_KEY = t.FILE_KEY AND l.ETAG = t.ETAG AND l.STATUS = 'LOADED'
  )
  AND NOT EXISTS (
    SELECT 1 FROM EGX_STG_QUARANTINE s
    WHERE s.FILE_KEY = t.FILE_KEY AND s.ETAG = t.ETAG AND s.LINE_NUMBER = t.LINE_NUMBER
  );

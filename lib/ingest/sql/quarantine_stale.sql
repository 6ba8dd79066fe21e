-- A version loaded again (a reload for tickers listed since, an object put back to content loaded
-- before): its quarantine becomes what this load finds. Its lines this load does not quarantine
-- leave it (quarantine.sql upserts the others), so the load log's count and the quarantine agree.
-- Run (load.ts) only when the warehouse holds quarantine rows of the group's versions.
DELETE FROM OPERATIONAL.TBL_QUARANTINE q
WHERE EXISTS (SELECT 1 FROM egx_file f WHERE f.file_key = q.FILE_KEY AND f.etag = q.ETAG)
  AND NOT EXISTS (SELECT 1 FROM egx_checked k
    WHERE k.reason IS NOT NULL AND k.egx_file_key = q.FILE_KEY AND k.egx_line = q.LINE_NUMBER)
  AND NOT EXISTS (SELECT 1 FROM egx_reject_lines j JOIN egx_file f ON f.path = j.path
    WHERE f.file_key = q.FILE_KEY AND j.line = q.LINE_NUMBER);

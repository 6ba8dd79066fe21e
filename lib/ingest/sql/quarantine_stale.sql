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

-- A reload of a version recorded under an older spelling of its ETag (egx_file.reloads, e.g. a
-- local file's `<size>-<mtime>`, landing.ts olderLocalVersion) records it under its current
-- spelling (egx_file.etag): the older spelling's quarantine and LOADED row are replaced by the
-- current spelling's (quarantine.sql, load_log.sql), so nothing still says `unknown ticker` of a
-- row now loaded and the version is recorded once.
DELETE FROM OPERATIONAL.TBL_QUARANTINE q
WHERE EXISTS (SELECT 1 FROM egx_file f
  WHERE f.file_key = q.FILE_KEY AND f.reloads = q.ETAG AND f.reloads <> f.etag);

DELETE FROM OPERATIONAL.TBL_LOAD_LOG l
WHERE l.STATUS = 'LOADED' AND EXISTS (SELECT 1 FROM egx_file f
  WHERE f.file_key = l.FILE_KEY AND f.reloads = l.ETAG AND f.reloads <> f.etag);

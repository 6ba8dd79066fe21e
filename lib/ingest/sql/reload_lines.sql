-- A reload's lines (egx_upserts): those its earlier load, of the version in egx_file.reloads,
-- quarantined. The rest of the file was stored by that load.
INSERT INTO egx_reload_line
SELECT q.FILE_KEY, q.LINE_NUMBER
FROM OPERATIONAL.TBL_QUARANTINE q JOIN egx_file f ON f.file_key = q.FILE_KEY AND f.reloads = q.ETAG;

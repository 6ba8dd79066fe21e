-- Upsert the good memberships by (INDEX_CODE, TICKER, EFFECTIVE_FROM). A column the file does not
-- have (effective_to, weight) is left as stored (egx_given): a list without weights does not
-- clear them, nor one without effective_to re-open a membership that ended.
INSERT INTO OPERATIONAL.TBL_INDEX_MEMBERSHIP
  (INDEX_CODE, TICKER, EFFECTIVE_FROM, EFFECTIVE_TO, WEIGHT, SOURCE_FILE)
SELECT index_code, ticker, effective_from, effective_to, weight, egx_file_key
FROM egx_checked c WHERE c.reason IS NULL AND egx_upserts(c.egx_file_key, c.egx_line)
  -- A reload's line only when no row of its key is stored: insert-only (egx_reload_file).
  AND NOT (egx_reload_file(c.egx_file_key) AND EXISTS (SELECT 1 FROM OPERATIONAL.TBL_INDEX_MEMBERSHIP t
    WHERE t.INDEX_CODE = c.index_code AND t.TICKER = c.ticker AND t.EFFECTIVE_FROM = c.effective_from))
ON CONFLICT (INDEX_CODE, TICKER, EFFECTIVE_FROM) DO UPDATE SET
  EFFECTIVE_TO = egx_given('effective_to', excluded.EFFECTIVE_TO, EFFECTIVE_TO),
  WEIGHT = egx_given('weight', excluded.WEIGHT, WEIGHT),
  SOURCE_FILE = excluded.SOURCE_FILE, UPDATED_AT = now()::TIMESTAMP
WHERE EFFECTIVE_TO IS DISTINCT FROM egx_given('effective_to', excluded.EFFECTIVE_TO, EFFECTIVE_TO)
  OR WEIGHT IS DISTINCT FROM egx_given('weight', excluded.WEIGHT, WEIGHT);

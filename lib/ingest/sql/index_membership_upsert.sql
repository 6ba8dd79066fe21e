-- Upsert the good memberships by (INDEX_CODE, TICKER, EFFECTIVE_FROM). A column the file does not
-- have (effective_to, weight) is left as stored (egx_given): a list without weights does not
-- clear them, nor one without effective_to re-open a membership that ended.
INSERT INTO OPERATIONAL.TBL_INDEX_MEMBERSHIP
  (INDEX_CODE, TICKER, EFFECTIVE_FROM, EFFECTIVE_TO, WEIGHT, SOURCE_FILE)
SELECT index_code, ticker, effective_from, effective_to, weight, egx_file_key
FROM egx_checked WHERE reason IS NULL AND egx_upserts(egx_file_key, egx_line)
ON CONFLICT (INDEX_CODE, TICKER, EFFECTIVE_FROM) DO UPDATE SET
  EFFECTIVE_TO = egx_given('effective_to', excluded.EFFECTIVE_TO, EFFECTIVE_TO),
  WEIGHT = egx_given('weight', excluded.WEIGHT, WEIGHT),
  SOURCE_FILE = excluded.SOURCE_FILE, UPDATED_AT = now()::TIMESTAMP
WHERE EFFECTIVE_TO IS DISTINCT FROM egx_given('effective_to', excluded.EFFECTIVE_TO, EFFECTIVE_TO)
  OR WEIGHT IS DISTINCT FROM egx_given('weight', excluded.WEIGHT, WEIGHT);

-- Upsert the good companies by TICKER. A column the file does not have (industry, is_active) is
-- left as stored (egx_given): a list of new listings with only the required columns neither
-- clears a company's industry nor re-activates a delisted one. A new company gets the defaults.
INSERT INTO OPERATIONAL.TBL_COMPANY
  (TICKER, COMPANY_NAME, ISIN, SECTOR, INDUSTRY, IS_ACTIVE, SOURCE_FILE)
SELECT ticker, company_name, isin, sector, industry, is_active, egx_file_key
FROM egx_checked c WHERE c.reason IS NULL AND egx_upserts(c.egx_file_key, c.egx_line)
  -- A reload's line only when no row of its key is stored: insert-only (egx_reload_file).
  AND NOT (egx_reload_file(c.egx_file_key) AND EXISTS (SELECT 1 FROM OPERATIONAL.TBL_COMPANY t WHERE t.TICKER = c.ticker))
ON CONFLICT (TICKER) DO UPDATE SET
  COMPANY_NAME = excluded.COMPANY_NAME, ISIN = excluded.ISIN, SECTOR = excluded.SECTOR,
  INDUSTRY = egx_given('industry', excluded.INDUSTRY, INDUSTRY),
  IS_ACTIVE = egx_given('is_active', excluded.IS_ACTIVE, IS_ACTIVE),
  SOURCE_FILE = excluded.SOURCE_FILE, UPDATED_AT = now()::TIMESTAMP
WHERE COMPANY_NAME IS DISTINCT FROM excluded.COMPANY_NAME OR ISIN IS DISTINCT FROM excluded.ISIN
  OR SECTOR IS DISTINCT FROM excluded.SECTOR
  OR INDUSTRY IS DISTINCT FROM egx_given('industry', excluded.INDUSTRY, INDUSTRY)
  OR IS_ACTIVE IS DISTINCT FROM egx_given('is_active', excluded.IS_ACTIVE, IS_ACTIVE);

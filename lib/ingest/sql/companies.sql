-- Company list: ticker,company_name,isin,sector[,industry][,is_active]. Blank values are NULL;
-- a blank is_active is true, as is a missing one for a new company (a file without the column
-- leaves a stored company's as it is: companies_upsert.sql). The ticker is stored as its EGX code
-- (egx_ticker: ACTF.CA is ACTF, so a list with both has ACTF twice).
CREATE OR REPLACE TEMP TABLE egx_checked AS
SELECT n.*, NULLIF(concat_ws('; ',
    CASE WHEN egx_blank(n.ticker_raw) THEN 'missing ticker' END,
    egx_ticker_problem(n.ticker_raw, n.ticker),
    CASE WHEN egx_blank(n.company_name) THEN 'missing company name' END,
    CASE WHEN n.isin IS NOT NULL AND NOT regexp_full_match(n.isin, '[A-Z]{2}[A-Z0-9]{9}[0-9]')
      THEN 'unparsable ISIN "' || n.isin || '"' END,
    CASE WHEN n.active_raw IS NOT NULL AND n.is_active IS NULL
      THEN 'unparsable is_active "' || n.active_raw || '"' END,
    CASE WHEN NOT egx_blank(n.ticker) AND count(*) OVER (PARTITION BY n.ticker) > 1
      THEN 'duplicate key (ticker) in the file' END
  ), '') AS reason
FROM (
  SELECT egx_file_key, egx_etag, egx_line, ticker AS ticker_raw, egx_ticker(ticker) AS ticker,
    trim(company_name) AS company_name,
    NULLIF(upper(trim(isin)), '') AS isin, NULLIF(trim(sector), '') AS sector,
    NULLIF(trim(industry), '') AS industry, NULLIF(trim(is_active), '') AS active_raw,
    CASE WHEN egx_blank(is_active) THEN true ELSE TRY_CAST(trim(is_active) AS BOOLEAN) END
      AS is_active
  FROM egx_raw
) n;

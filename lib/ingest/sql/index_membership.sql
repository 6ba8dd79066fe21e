-- Index constituents: index_code,ticker,effective_from[,effective_to][,weight] (ISO dates,
-- weight a fraction 0..1 or blank).
CREATE OR REPLACE TEMP TABLE egx_checked AS
SELECT n.*, NULLIF(concat_ws('; ',
    CASE WHEN egx_blank(n.index_code) THEN 'missing index code' END,
    CASE WHEN egx_blank(n.ticker_raw) THEN 'missing ticker' END,
    egx_ticker_problem(n.ticker_raw, n.ticker),
    egx_problem('effective_from', n.from_raw, n.effective_from),
    CASE WHEN NOT egx_blank(n.to_raw) AND n.effective_to IS NULL
      THEN 'unparsable effective_to "' || n.to_raw || '"' END,
    CASE WHEN NOT egx_blank(n.weight_raw) AND n.weight IS NULL
      THEN 'unparsable weight "' || n.weight_raw || '"' END,
    CASE WHEN n.weight < 0 OR n.weight > 1 THEN 'weight outside [0, 1]' END,
    CASE WHEN n.effective_to < n.effective_from THEN 'effective_to before effective_from' END,
    CASE WHEN NOT egx_blank(n.index_code) AND i.INDEX_CODE IS NULL
      THEN 'unknown index ' || n.index_code END,
    CASE WHEN NOT egx_blank(n.ticker) AND c.TICKER IS NULL THEN 'unknown ticker ' || n.ticker END,
    CASE WHEN n.effective_from IS NOT NULL
      AND count(*) OVER (PARTITION BY n.index_code, n.ticker, n.effective_from) > 1
      THEN 'duplicate key (index, ticker, effective_from) in the file' END
  ), '') AS reason
FROM (
  SELECT egx_file_key, egx_etag, egx_line, upper(trim(index_code)) AS index_code, ticker AS ticker_raw, egx_ticker(ticker) AS ticker,
    effective_from AS from_raw, TRY_CAST(trim(effective_from) AS DATE) AS effective_from,
    effective_to AS to_raw, TRY_CAST(NULLIF(trim(effective_to), '') AS DATE) AS effective_to,
    weight AS weight_raw, egx_num(weight) AS weight
  FROM egx_raw
) n
LEFT JOIN OPERATIONAL.TBL_INDEX i ON i.INDEX_CODE = n.index_code
LEFT JOIN egx_company c ON c.TICKER = n.ticker;

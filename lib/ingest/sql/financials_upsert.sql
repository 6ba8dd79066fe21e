-- Upsert the good quarters by (TICKER, FISCAL_YEAR, FISCAL_QUARTER). A column the file does not
-- have (currency, any amount) is left as stored (egx_given): a file without net_income does not
-- clear it, nor one without currency set it to EGP. A new quarter gets the defaults.
INSERT INTO OPERATIONAL.TBL_FINANCIAL (TICKER, FISCAL_YEAR, FISCAL_QUARTER, PERIOD_END, CURRENCY,
  REVENUE, GROSS_PROFIT, OPERATING_INCOME, NET_INCOME, TOTAL_ASSETS, TOTAL_LIABILITIES,
  TOTAL_EQUITY, OPERATING_CASH_FLOW, SHARES_OUTSTANDING, EPS, DATA_SOURCE, SOURCE_FILE)
SELECT ticker, fiscal_year, fiscal_quarter, period_end, currency, revenue, gross_profit,
  operating_income, net_income, total_assets, total_liabilities, total_equity,
  operating_cash_flow, round(shares_outstanding)::BIGINT, eps, getvariable('data_source'),
  egx_file_key
FROM egx_checked c WHERE c.reason IS NULL AND egx_upserts(c.egx_file_key, c.egx_line)
  -- A reload's line only when no row of its key is stored: insert-only (egx_reload_file).
  AND NOT (egx_reload_file(c.egx_file_key) AND EXISTS (SELECT 1 FROM OPERATIONAL.TBL_FINANCIAL t
    WHERE t.TICKER = c.ticker AND t.FISCAL_YEAR = c.fiscal_year AND t.FISCAL_QUARTER = c.fiscal_quarter))
ON CONFLICT (TICKER, FISCAL_YEAR, FISCAL_QUARTER) DO UPDATE SET
  PERIOD_END = excluded.PERIOD_END,
  CURRENCY = egx_given('currency', excluded.CURRENCY, CURRENCY),
  REVENUE = egx_given('revenue', excluded.REVENUE, REVENUE),
  GROSS_PROFIT = egx_given('gross_profit', excluded.GROSS_PROFIT, GROSS_PROFIT),
  OPERATING_INCOME = egx_given('operating_income', excluded.OPERATING_INCOME, OPERATING_INCOME),
  NET_INCOME = egx_given('net_income', excluded.NET_INCOME, NET_INCOME),
  TOTAL_ASSETS = egx_given('total_assets', excluded.TOTAL_ASSETS, TOTAL_ASSETS),
  TOTAL_LIABILITIES = egx_given('total_liabilities', excluded.TOTAL_LIABILITIES,
    TOTAL_LIABILITIES),
  TOTAL_EQUITY = egx_given('total_equity', excluded.TOTAL_EQUITY, TOTAL_EQUITY),
  OPERATING_CASH_FLOW = egx_given('operating_cash_flow', excluded.OPERATING_CASH_FLOW,
    OPERATING_CASH_FLOW),
  SHARES_OUTSTANDING = egx_given('shares_outstanding', excluded.SHARES_OUTSTANDING,
    SHARES_OUTSTANDING),
  EPS = egx_given('eps', excluded.EPS, EPS),
  DATA_SOURCE = excluded.DATA_SOURCE, SOURCE_FILE = excluded.SOURCE_FILE,
  UPDATED_AT = now()::TIMESTAMP
WHERE (PERIOD_END, CURRENCY, REVENUE, GROSS_PROFIT, OPERATING_INCOME, NET_INCOME, TOTAL_ASSETS,
    TOTAL_LIABILITIES, TOTAL_EQUITY, OPERATING_CASH_FLOW, SHARES_OUTSTANDING, EPS)
  IS DISTINCT FROM (excluded.PERIOD_END,
    egx_given('currency', excluded.CURRENCY, CURRENCY),
    egx_given('revenue', excluded.REVENUE, REVENUE),
    egx_given('gross_profit', excluded.GROSS_PROFIT, GROSS_PROFIT),
    egx_given('operating_income', excluded.OPERATING_INCOME, OPERATING_INCOME),
    egx_given('net_income', excluded.NET_INCOME, NET_INCOME),
    egx_given('total_assets', excluded.TOTAL_ASSETS, TOTAL_ASSETS),
    egx_given('total_liabilities', excluded.TOTAL_LIABILITIES, TOTAL_LIABILITIES),
    egx_given('total_equity', excluded.TOTAL_EQUITY, TOTAL_EQUITY),
    egx_given('operating_cash_flow', excluded.OPERATING_CASH_FLOW, OPERATING_CASH_FLOW),
    egx_given('shares_outstanding', excluded.SHARES_OUTSTANDING, SHARES_OUTSTANDING),
    egx_given('eps', excluded.EPS, EPS));

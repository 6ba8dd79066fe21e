-- Quarterly financials: ticker,fiscal_year,fiscal_quarter,period_end,currency,revenue,
-- gross_profit,operating_income,net_income,total_assets,total_liabilities,total_equity,
-- operating_cash_flow,shares_outstanding,eps (amounts may be blank = unknown). Fiscal year and
-- quarter are digits only (egx_int); shares_outstanding a whole number. A fiscal year is bounded
-- as a trade date is (days.sql): not before the earliest accepted date's year (min_trade_date,
-- 1990) and not after the year after the as-of date's (as_of_date): a fiscal year is named by the
-- year it ends in, so a June year-end's FY2026 has quarters ending in 2025. A typo's year (0001,
-- 9999) is no fiscal year. A period end is bounded alike (a quarter that has not ended by the
-- as-of date has no reported figures: a typo's date, 2205-06-30, is no period) and, when the
-- fiscal year is itself in range, falls in that year or next to it (its quarters end in the year
-- before, the year, or, for a source that names a year by its start, the year after).
CREATE OR REPLACE TEMP TABLE egx_checked AS
SELECT n.*, NULLIF(concat_ws('; ',
    CASE WHEN egx_blank(n.ticker_raw) THEN 'missing ticker' END,
    egx_ticker_problem(n.ticker_raw, n.ticker),
    egx_problem('fiscal_year', n.fy_raw, n.fiscal_year),
    CASE WHEN n.fiscal_year < year(getvariable('min_trade_date')::DATE)
      THEN 'fiscal year ' || trim(n.fy_raw) || ' is before the earliest accepted year '
        || year(getvariable('min_trade_date')::DATE)
      WHEN n.fiscal_year > year(getvariable('as_of_date')::DATE) + 1
      THEN 'fiscal year ' || trim(n.fy_raw) || ' is after '
        || (year(getvariable('as_of_date')::DATE) + 1) || ', the year after the as-of date '
        || getvariable('as_of_date') END,
    egx_problem('fiscal_quarter', n.fq_raw, n.fiscal_quarter),
    CASE WHEN n.fiscal_quarter NOT IN (1, 2, 3, 4) THEN 'fiscal_quarter not 1..4' END,
    egx_problem('period_end', n.pe_raw, n.period_end),
    CASE WHEN n.period_end > getvariable('as_of_date')::DATE
      THEN 'period end ' || n.period_end::VARCHAR || ' is after the as-of date '
        || getvariable('as_of_date')
      WHEN n.period_end < getvariable('min_trade_date')::DATE
      THEN 'period end ' || n.period_end::VARCHAR || ' is before the earliest accepted date '
        || getvariable('min_trade_date')
      WHEN n.fiscal_year BETWEEN year(getvariable('min_trade_date')::DATE)
          AND year(getvariable('as_of_date')::DATE) + 1
        AND abs(year(n.period_end) - n.fiscal_year) > 1
      THEN 'period end ' || n.period_end::VARCHAR || ' is outside fiscal year ' || n.fiscal_year
        || ' (its quarters end in ' || (n.fiscal_year - 1) || ', ' || n.fiscal_year || ' or '
        || (n.fiscal_year + 1) || ')' END,
    CASE WHEN n.bad_amounts <> '' THEN 'unparsable ' || n.bad_amounts END,
    CASE WHEN n.shares_outstanding < 0 THEN 'negative shares_outstanding' END,
    CASE WHEN egx_too_big(n.shares_outstanding)
      THEN 'shares_outstanding too large (10^15 or more)' END,
    CASE WHEN NOT egx_blank(n.ticker) AND c.TICKER IS NULL THEN 'unknown ticker ' || n.ticker END,
    CASE WHEN n.fiscal_year IS NOT NULL AND n.fiscal_quarter IS NOT NULL
      AND count(*) OVER (PARTITION BY n.ticker, n.fiscal_year, n.fiscal_quarter) > 1
      THEN 'duplicate key (ticker, fiscal year, quarter) in the file' END
  ), '') AS reason
FROM (
  SELECT egx_file_key, egx_etag, egx_line, ticker AS ticker_raw, egx_ticker(ticker) AS ticker,
    fiscal_year AS fy_raw, egx_int(fiscal_year) AS fiscal_year,
    fiscal_quarter AS fq_raw, egx_int(fiscal_quarter) AS fiscal_quarter,
    period_end AS pe_raw, TRY_CAST(trim(period_end) AS DATE) AS period_end,
    coalesce(NULLIF(upper(trim(currency)), ''), 'EGP') AS currency,
    egx_num(revenue) AS revenue, egx_num(gross_profit) AS gross_profit,
    egx_num(operating_income) AS operating_income, egx_num(net_income) AS net_income,
    egx_num(total_assets) AS total_assets, egx_num(total_liabilities) AS total_liabilities,
    egx_num(total_equity) AS total_equity, egx_num(operating_cash_flow) AS operating_cash_flow,
    egx_num(shares_outstanding) AS shares_outstanding, egx_num(eps) AS eps,
    concat_ws(', ',
      CASE WHEN NOT egx_blank(revenue) AND egx_num(revenue) IS NULL THEN 'revenue' END,
      CASE WHEN NOT egx_blank(gross_profit) AND egx_num(gross_profit) IS NULL THEN 'gross_profit' END,
      CASE WHEN NOT egx_blank(operating_income) AND egx_num(operating_income) IS NULL
        THEN 'operating_income' END,
      CASE WHEN NOT egx_blank(net_income) AND egx_num(net_income) IS NULL THEN 'net_income' END,
      CASE WHEN NOT egx_blank(total_assets) AND egx_num(total_assets) IS NULL THEN 'total_assets' END,
      CASE WHEN NOT egx_blank(total_liabilities) AND egx_num(total_liabilities) IS NULL
        THEN 'total_liabilities' END,
      CASE WHEN NOT egx_blank(total_equity) AND egx_num(total_equity) IS NULL THEN 'total_equity' END,
      CASE WHEN NOT egx_blank(operating_cash_flow) AND egx_num(operating_cash_flow) IS NULL
        THEN 'operating_cash_flow' END,
      -- A share count is stored whole: a fraction is not rounded away (2.5 shares).
      CASE WHEN NOT egx_blank(shares_outstanding) AND (egx_num(shares_outstanding) IS NULL
          OR egx_num(shares_outstanding) <> round(egx_num(shares_outstanding)))
        THEN 'shares_outstanding' END,
      CASE WHEN NOT egx_blank(eps) AND egx_num(eps) IS NULL THEN 'eps' END
    ) AS bad_amounts
  FROM egx_raw
) n
LEFT JOIN egx_company c ON c.TICKER = n.ticker;

-- One row per ticker and fiscal quarter, with margins and ratios.
-- Conventions: ratios are fractions (0.25 = 25 %), computed from the quarter's own figures
-- (not annualised). A margin is NULL when revenue is not positive; an equity-based ratio is NULL
-- when equity is not positive (a negative-equity ROE is not meaningful). Trailing-twelve-month
-- sums need the four consecutive quarters ending at the row, all in one currency, else NULL;
-- year-on-year growth needs the same quarter of the previous fiscal year, in the same currency.
with latest as (
  select
    upper(trim(TICKER)) as TICKER,
    FISCAL_YEAR,
    FISCAL_QUARTER,
    PERIOD_END,
    upper(trim(CURRENCY)) as CURRENCY,
    REVENUE,
    GROSS_PROFIT,
    OPERATING_INCOME,
    NET_INCOME,
    TOTAL_ASSETS,
    TOTAL_LIABILITIES,
    TOTAL_EQUITY,
    OPERATING_CASH_FLOW,
    SHARES_OUTSTANDING,
    EPS,
    DATA_SOURCE,
    UPDATED_AT,
    FISCAL_YEAR * 4 + FISCAL_QUARTER - 1 as QUARTER_INDEX
  from {{ source('operational', 'TBL_FINANCIAL') }}
  qualify row_number() over (
    partition by upper(trim(TICKER)), FISCAL_YEAR, FISCAL_QUARTER
    order by UPDATED_AT desc
  ) = 1
),
windowed as (
  select
    l.*,
    coalesce(l.EPS, l.NET_INCOME / nullif(l.SHARES_OUTSTANDING, 0)) as EPS_EFFECTIVE,
    min(QUARTER_INDEX) over (
      partition by TICKER order by QUARTER_INDEX rows between 3 preceding and current row
    ) as TTM_FIRST_QUARTER,
    count(REVENUE) over (
      partition by TICKER order by QUARTER_INDEX rows between 3 preceding and current row
    ) as TTM_REVENUE_QUARTERS,
    sum(REVENUE) over (
      partition by TICKER order by QUARTER_INDEX rows between 3 preceding and current row
    ) as TTM_REVENUE_SUM,
    count(NET_INCOME) over (
      partition by TICKER order by QUARTER_INDEX rows between 3 preceding and current row
    ) as TTM_INCOME_QUARTERS,
    sum(NET_INCOME) over (
      partition by TICKER order by QUARTER_INDEX rows between 3 preceding and current row
    ) as TTM_INCOME_SUM,
    -- Figures in two currencies do not add up (a USD quarter after EGP ones): no TTM sum then.
    -- (min = max rather than count(distinct): Snowflake takes no DISTINCT in a framed window.)
    min(CURRENCY) over (
      partition by TICKER order by QUARTER_INDEX rows between 3 preceding and current row
    ) as TTM_MIN_CURRENCY,
    max(CURRENCY) over (
      partition by TICKER order by QUARTER_INDEX rows between 3 preceding and current row
    ) as TTM_MAX_CURRENCY,
    lag(QUARTER_INDEX) over (partition by TICKER, FISCAL_QUARTER order by FISCAL_YEAR)
      as PRIOR_YEAR_QUARTER_INDEX,
    lag(REVENUE) over (partition by TICKER, FISCAL_QUARTER order by FISCAL_YEAR)
      as PRIOR_YEAR_REVENUE,
    lag(NET_INCOME) over (partition by TICKER, FISCAL_QUARTER order by FISCAL_YEAR)
      as PRIOR_YEAR_NET_INCOME,
    lag(CURRENCY) over (partition by TICKER, FISCAL_QUARTER order by FISCAL_YEAR)
      as PRIOR_YEAR_CURRENCY
  from latest as l
)
select
  TICKER,
  FISCAL_YEAR,
  FISCAL_QUARTER,
  PERIOD_END,
  CURRENCY,
  REVENUE,
  GROSS_PROFIT,
  OPERATING_INCOME,
  NET_INCOME,
  TOTAL_ASSETS,
  TOTAL_LIABILITIES,
  TOTAL_EQUITY,
  OPERATING_CASH_FLOW,
  SHARES_OUTSTANDING,
  EPS_EFFECTIVE as EPS,
  case when REVENUE > 0 then GROSS_PROFIT / REVENUE end as GROSS_MARGIN,
  case when REVENUE > 0 then OPERATING_INCOME / REVENUE end as OPERATING_MARGIN,
  case when REVENUE > 0 then NET_INCOME / REVENUE end as NET_MARGIN,
  case when TOTAL_EQUITY > 0 then NET_INCOME / TOTAL_EQUITY end as RETURN_ON_EQUITY,
  case when TOTAL_ASSETS > 0 then NET_INCOME / TOTAL_ASSETS end as RETURN_ON_ASSETS,
  case when TOTAL_EQUITY > 0 then TOTAL_LIABILITIES / TOTAL_EQUITY end as DEBT_TO_EQUITY,
  case when TOTAL_ASSETS > 0 then TOTAL_EQUITY / TOTAL_ASSETS end as EQUITY_RATIO,
  case when SHARES_OUTSTANDING > 0 then TOTAL_EQUITY / SHARES_OUTSTANDING end
    as BOOK_VALUE_PER_SHARE,
  case when NET_INCOME is not null then OPERATING_CASH_FLOW / nullif(NET_INCOME, 0) end
    as CASH_CONVERSION,
  case
    when TTM_REVENUE_QUARTERS = 4 and QUARTER_INDEX - TTM_FIRST_QUARTER = 3
      and TTM_MIN_CURRENCY = TTM_MAX_CURRENCY
      then TTM_REVENUE_SUM
  end as REVENUE_TTM,
  case
    when TTM_INCOME_QUARTERS = 4 and QUARTER_INDEX - TTM_FIRST_QUARTER = 3
      and TTM_MIN_CURRENCY = TTM_MAX_CURRENCY
      then TTM_INCOME_SUM
  end as NET_INCOME_TTM,
  case
    when TTM_INCOME_QUARTERS = 4 and QUARTER_INDEX - TTM_FIRST_QUARTER = 3
      and TTM_MIN_CURRENCY = TTM_MAX_CURRENCY and SHARES_OUTSTANDING > 0
      then TTM_INCOME_SUM / SHARES_OUTSTANDING
  end as EPS_TTM,
  case
    when QUARTER_INDEX - PRIOR_YEAR_QUARTER_INDEX = 4 and PRIOR_YEAR_REVENUE > 0
      and CURRENCY = PRIOR_YEAR_CURRENCY
      then REVENUE / PRIOR_YEAR_REVENUE - 1
  end as REVENUE_GROWTH_YOY,
  case
    when QUARTER_INDEX - PRIOR_YEAR_QUARTER_INDEX = 4 and PRIOR_YEAR_NET_INCOME > 0
      and CURRENCY = PRIOR_YEAR_CURRENCY
      then NET_INCOME / PRIOR_YEAR_NET_INCOME - 1
  end as NET_INCOME_GROWTH_YOY,
  DATA_SOURCE,
  UPDATED_AT
from windowed

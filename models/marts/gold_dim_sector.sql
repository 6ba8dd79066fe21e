-- One row per sector (GICS-style names from the company list; companies without a sector are in
-- "Unclassified"), with how many companies it has and how many of them have prices.
with traded as (
  select distinct TICKER from {{ ref('stg_stock_prices_unified') }}
)
select
  c.SECTOR_KEY,
  c.SECTOR as SECTOR_NAME,
  c.SECTOR_KEY <> 'UNCLASSIFIED' as IS_CLASSIFIED,
  count(*) as COMPANY_COUNT,
  count_if(c.IS_ACTIVE) as ACTIVE_COMPANY_COUNT,
  count(t.TICKER) as TRADED_COMPANY_COUNT
from {{ ref('stg_companies') }} as c
left join traded as t on t.TICKER = c.TICKER
group by c.SECTOR_KEY, c.SECTOR

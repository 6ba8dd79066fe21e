-- One row per listed company, names trimmed, blank sectors made explicit ("Unclassified").
with ranked as (
  select
    upper(trim(TICKER)) as TICKER,
    trim(COMPANY_NAME) as COMPANY_NAME,
    nullif(upper(trim(ISIN)), '') as ISIN,
    nullif(trim(SECTOR), '') as SECTOR_RAW,
    nullif(trim(INDUSTRY), '') as INDUSTRY,
    IS_ACTIVE,
    CREATED_AT,
    UPDATED_AT,
    row_number() over (
      partition by upper(trim(TICKER))
      order by UPDATED_AT desc, CREATED_AT desc, COMPANY_NAME
    ) as ROW_RANK
  from {{ source('operational', 'TBL_COMPANY') }}
)
select
  TICKER,
  COMPANY_NAME,
  ISIN,
  coalesce(SECTOR_RAW, 'Unclassified') as SECTOR,
  upper(regexp_replace(coalesce(SECTOR_RAW, 'Unclassified'), '[^A-Za-z0-9]+', '_')) as SECTOR_KEY,
  SECTOR_RAW is not null as HAS_SECTOR,
  INDUSTRY,
  IS_ACTIVE,
  CREATED_AT,
  UPDATED_AT
from ranked
where ROW_RANK = 1

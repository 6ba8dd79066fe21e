-- One row per listed company, names trimmed, blank sectors made explicit ("Unclassified").
-- SECTOR_KEY is the sector's upper-case name with every run of other characters made "_", so
-- spellings that differ only in case or punctuation ("Real Estate", "real estate", "Real-Estate")
-- are one sector; SECTOR is then that key's most common spelling (ties: the first in sort order),
-- so a sector has one name everywhere (gold_dim_sector is one row per key).
-- TICKER is the local EGX code: a trailing ".CA" (Yahoo's and Investing.com's suffix for the Cairo
-- exchange, e.g. "ACTF.CA" in a downloaded list) is dropped, so the company is the one its prices,
-- index memberships and the API name (ACTF); were both spellings listed, the latest write wins.
-- Batch loads store the code already (the ticker rule, lib/market/ticker.ts); this is for a
-- TBL_COMPANY written before them, which may hold ACTF.CA (validate_data names such a row).
with ranked as (
  select
    regexp_replace(upper(trim(TICKER)), '[.]CA$', '') as TICKER,
    trim(COMPANY_NAME) as COMPANY_NAME,
    nullif(upper(trim(ISIN)), '') as ISIN,
    nullif(trim(SECTOR), '') as SECTOR_RAW,
    nullif(trim(INDUSTRY), '') as INDUSTRY,
    IS_ACTIVE,
    CREATED_AT,
    UPDATED_AT,
    row_number() over (
      partition by regexp_replace(upper(trim(TICKER)), '[.]CA$', '')
      order by UPDATED_AT desc, CREATED_AT desc, COMPANY_NAME
    ) as ROW_RANK
  from {{ source('operational', 'TBL_COMPANY') }}
),
latest as (
  select
    r.*,
    coalesce(r.SECTOR_RAW, 'Unclassified') as SECTOR_SPELLING,
    upper(regexp_replace(coalesce(r.SECTOR_RAW, 'Unclassified'), '[^A-Za-z0-9]+', '_'))
      as SECTOR_KEY
  from ranked as r
  where r.ROW_RANK = 1
),
sector_names as (
  select SECTOR_KEY, SECTOR_SPELLING as SECTOR
  from latest
  group by SECTOR_KEY, SECTOR_SPELLING
  qualify row_number() over (
    partition by SECTOR_KEY order by count(*) desc, SECTOR_SPELLING
  ) = 1
)
select
  l.TICKER,
  l.COMPANY_NAME,
  l.ISIN,
  n.SECTOR,
  l.SECTOR_KEY,
  l.SECTOR_RAW is not null as HAS_SECTOR,
  l.INDUSTRY,
  l.IS_ACTIVE,
  l.CREATED_AT,
  l.UPDATED_AT
from latest as l
join sector_names as n on n.SECTOR_KEY = l.SECTOR_KEY

-- One row per index, ticker and membership start, with the index's definition.
-- EFFECTIVE_TO is exclusive: a member until the day before it (NULL = still a member).
-- EGX100 EWI is EGX30 + EGX70 EWI by definition: when the loaded lists have no EGX100_EWI rows
-- at all, its membership is derived from the other two (MEMBERSHIP_SOURCE = 'DERIVED').
with listed as (
  select
    upper(trim(INDEX_CODE)) as INDEX_CODE,
    upper(trim(TICKER)) as TICKER,
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    WEIGHT,
    'LISTED' as MEMBERSHIP_SOURCE
  from {{ source('operational', 'TBL_INDEX_MEMBERSHIP') }}
  qualify row_number() over (
    partition by upper(trim(INDEX_CODE)), upper(trim(TICKER)), EFFECTIVE_FROM
    order by UPDATED_AT desc
  ) = 1
),
derived_egx100 as (
  select
    'EGX100_EWI' as INDEX_CODE,
    TICKER,
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    cast(null as FLOAT) as WEIGHT,
    'DERIVED' as MEMBERSHIP_SOURCE
  from listed
  where INDEX_CODE in ('EGX30', 'EGX70_EWI')
    and not exists (select 1 from listed where INDEX_CODE = 'EGX100_EWI')
  qualify row_number() over (
    partition by TICKER, EFFECTIVE_FROM order by INDEX_CODE
  ) = 1
),
members as (
  select * from listed
  union all
  select * from derived_egx100
)
select
  m.INDEX_CODE,
  m.TICKER,
  m.EFFECTIVE_FROM,
  m.EFFECTIVE_TO,
  m.WEIGHT,
  m.MEMBERSHIP_SOURCE,
  i.INDEX_NAME,
  coalesce(
    i.WEIGHTING,
    case when m.INDEX_CODE like '%EWI' then 'EQUAL_WEIGHTED' else 'CAP_WEIGHTED' end
  ) as WEIGHTING,
  m.EFFECTIVE_FROM <= {{ var('as_of_date') }}::DATE
    and (m.EFFECTIVE_TO is null or m.EFFECTIVE_TO > {{ var('as_of_date') }}::DATE) as IS_CURRENT
from members as m
left join {{ source('operational', 'TBL_INDEX') }} as i
  on upper(trim(i.INDEX_CODE)) = m.INDEX_CODE

-- Snowflake: upsert OPERATIONAL.TBL_INDEX_MEMBERSHIP from the session's staging table
-- EGX_STG_INDEX_MEMBERSHIP (filled with the rows DuckDB validated), by its natural key
-- (INDEX_CODE, TICKER, EFFECTIVE_FROM). The source is deduplicated first (Snowflake's MERGE fails
-- on duplicate source keys); unchanged rows are left alone.
-- {{name}} is TRUE when the files have optional column `name`, FALSE when they lack it
-- (publish_snowflake.ts): a column they lack (effective_to, weight) keeps what is stored in it,
-- as DuckDB's index_membership_upsert.sql; a new membership gets the staged values.
MERGE INTO OPERATIONAL.TBL_INDEX_MEMBERSHIP t
USING (
  SELECT * FROM EGX_STG_INDEX_MEMBERSHIP
  QUALIFY ROW_NUMBER() OVER (PARTITION BY INDEX_CODE, TICKER, EFFECTIVE_FROM ORDER BY INDEX_CODE) = 1
) s
ON t.INDEX_CODE = s.INDEX_CODE AND t.TICKER = s.TICKER AND t.EFFECTIVE_FROM = s.EFFECTIVE_FROM
WHEN MATCHED AND (
    ({{effective_to}} AND t.EFFECTIVE_TO IS DISTINCT FROM s.EFFECTIVE_TO) OR
    ({{weight}} AND t.WEIGHT IS DISTINCT FROM s.WEIGHT)
) THEN UPDATE SET
  EFFECTIVE_TO = IFF({{effective_to}}, s.EFFECTIVE_TO, t.EFFECTIVE_TO),
  WEIGHT = IFF({{weight}}, s.WEIGHT, t.WEIGHT),
  SOURCE_FILE = s.SOURCE_FILE, UPDATED_AT = SYSDATE()
WHEN NOT MATCHED THEN INSERT (INDEX_CODE, TICKER, EFFECTIVE_FROM, EFFECTIVE_TO, WEIGHT, SOURCE_FILE)
  VALUES (s.INDEX_CODE, s.TICKER, s.EFFECTIVE_FROM, s.EFFECTIVE_TO, s.WEIGHT, s.SOURCE_FILE);

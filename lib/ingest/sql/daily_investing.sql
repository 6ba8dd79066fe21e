-- Investing.com historical data export: "Date","Price","Open","High","Low","Vol.","Change %",
-- quoted, MM/DD/YYYY dates, thousands separators, volumes like 1.81M / 426.44K ("-" for one it
-- does not have), newest first, often with a byte-order mark. Price is the close. The ticker
-- comes from the file name (e.g. "COMI Historical Data.csv").
-- The date order is decided per file: the US site exports MM/DD/YYYY, regional sites DD/MM/YYYY
-- under the same header. A file with a date that is only a day/month date (its first field above
-- 12) is rejected whole: read as MM/DD, its dates with both fields up to 12 would load as other
-- days (over the stored prices of those days). With no such date the file is MM/DD/YYYY.
INSERT INTO egx_file_problem
SELECT egx_file_key,
  CASE WHEN count(*) FILTER (WHERE md_only) = 0
    THEN 'its dates are day/month/year ("' || arg_min(d, egx_line) FILTER (WHERE dm_only)
      || '" on line ' || min(egx_line) FILTER (WHERE dm_only) || ' is no month/day/year date): '
      || 'an Investing.com export is read as MM/DD/YYYY, which would put its other dates on '
      || 'other days; the file is not loaded (export it with MM/DD/YYYY dates)'
    ELSE 'its dates are not in one order ("' || arg_min(d, egx_line) FILTER (WHERE dm_only)
      || '" on line ' || min(egx_line) FILTER (WHERE dm_only) || ' is only day/month/year, "'
      || arg_min(d, egx_line) FILTER (WHERE md_only) || '" on line '
      || min(egx_line) FILTER (WHERE md_only) || ' only month/day/year): the file is not loaded'
  END
FROM (
  SELECT egx_file_key, egx_line, trim("Date") AS d,
    try_strptime(trim("Date"), '%d/%m/%Y') IS NOT NULL
      AND try_strptime(trim("Date"), '%m/%d/%Y') IS NULL AS dm_only,
    try_strptime(trim("Date"), '%m/%d/%Y') IS NOT NULL
      AND try_strptime(trim("Date"), '%d/%m/%Y') IS NULL AS md_only
  FROM egx_raw
)
GROUP BY egx_file_key
HAVING count(*) FILTER (WHERE dm_only) > 0;

-- A file whose every date reads both ways (days 1-12 only, e.g. 1-12 November) is told by the
-- spacing of its rows, consecutive trading days: read in its true order they are days apart,
-- read in the other months apart. Day/month spacing closer than month/day: rejected whole too.
INSERT INTO egx_file_problem
SELECT egx_file_key,
  'its dates are day/month/year: read so, its rows are ' || dm_gap || ' days apart in all, read as '
    || 'month/day/year ' || md_gap || ' (first date "' || first_d || '" on line ' || first_line
    || '); an Investing.com export is read as MM/DD/YYYY, which would put its dates on other '
    || 'days; the file is not loaded (export it with MM/DD/YYYY dates)'
FROM (
  SELECT egx_file_key, sum(abs(date_diff('day', md_prev, md))) AS md_gap,
    sum(abs(date_diff('day', dm_prev, dm))) AS dm_gap, bool_and(both_ways) AS all_both,
    arg_min(d, egx_line) AS first_d, min(egx_line) AS first_line
  FROM (
    SELECT egx_file_key, egx_line, trim("Date") AS d,
      try_strptime(trim("Date"), '%m/%d/%Y')::DATE AS md,
      try_strptime(trim("Date"), '%d/%m/%Y')::DATE AS dm,
      lag(try_strptime(trim("Date"), '%m/%d/%Y')::DATE)
        OVER (PARTITION BY egx_file_key ORDER BY egx_line) AS md_prev,
      lag(try_strptime(trim("Date"), '%d/%m/%Y')::DATE)
        OVER (PARTITION BY egx_file_key ORDER BY egx_line) AS dm_prev,
      try_strptime(trim("Date"), '%m/%d/%Y') IS NOT NULL
        AND try_strptime(trim("Date"), '%d/%m/%Y') IS NOT NULL AS both_ways
    FROM egx_raw
  )
  GROUP BY egx_file_key
)
WHERE all_both AND dm_gap < md_gap
  AND egx_file_key NOT IN (SELECT egx_file_key FROM egx_file_problem);

-- A volume of "-" is how the export says it has no volume for the day: the day's prices are
-- loaded with no volume (NULL, v_none; daily_check.sql) rather than quarantined. Any other volume
-- must parse ("12x" and "-5K" are still quarantined).
CREATE OR REPLACE TEMP TABLE egx_norm AS
SELECT egx_file_key, egx_etag, egx_line, egx_ticker AS t_raw, egx_ticker AS ticker,
  "Date" AS d_raw, try_strptime(trim("Date"), '%m/%d/%Y')::DATE AS trade_date,
  "Open" AS o_raw, egx_num("Open") AS open, "High" AS h_raw, egx_num("High") AS high,
  "Low" AS l_raw, egx_num("Low") AS low, "Price" AS c_raw, egx_num("Price") AS close,
  "Vol." AS v_raw, egx_volume("Vol.") AS volume, coalesce(trim("Vol.") = '-', false) AS v_none
FROM egx_raw;

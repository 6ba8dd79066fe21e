-- validate_data's data-quality queries, one per `-- query: name` section. Plain SQL that runs
-- unchanged on DuckDB and Snowflake; each returns the offending rows (none = pass), at most 20,
-- except the counting queries named *_count.

-- query: duplicate_companies
SELECT TICKER, count(*) AS N FROM OPERATIONAL.TBL_COMPANY
GROUP BY TICKER HAVING count(*) > 1 ORDER BY TICKER LIMIT 20;

-- query: company_count
SELECT count(*) AS N FROM OPERATIONAL.TBL_COMPANY;

-- query: duplicate_prices
SELECT TICKER, TRADE_DATE, DATA_SOURCE, count(*) AS N FROM OPERATIONAL.TBL_STOCK_PRICE
GROUP BY TICKER, TRADE_DATE, DATA_SOURCE HAVING count(*) > 1
ORDER BY TICKER, TRADE_DATE LIMIT 20;

-- query: duplicate_bars
SELECT TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE, count(*) AS N
FROM OPERATIONAL.TBL_INTRADAY_BAR
GROUP BY TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE HAVING count(*) > 1
ORDER BY TICKER, BAR_START LIMIT 20;

-- query: non_positive_prices
-- Also NaN and +/-infinity (DOUBLE columns hold them): -inf is <= 0, and NaN sorts above +inf on
-- both DuckDB and Snowflake, so `>= +inf` catches both (no plain comparison with a number would).
SELECT TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE FROM OPERATIONAL.TBL_STOCK_PRICE
WHERE OPEN <= 0 OR HIGH <= 0 OR LOW <= 0 OR CLOSE <= 0
  OR OPEN >= CAST('inf' AS DOUBLE) OR HIGH >= CAST('inf' AS DOUBLE)
  OR LOW >= CAST('inf' AS DOUBLE) OR CLOSE >= CAST('inf' AS DOUBLE)
ORDER BY TICKER, TRADE_DATE LIMIT 20;

-- query: negative_volume
SELECT TICKER, TRADE_DATE, DATA_SOURCE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE
WHERE VOLUME < 0 ORDER BY TICKER, TRADE_DATE LIMIT 20;

-- query: prices_on_day_count
SELECT count(DISTINCT TICKER) AS N FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TRADE_DATE = ?;

-- query: latest_trade_date
SELECT max(TRADE_DATE) AS D FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TRADE_DATE <= ?;

-- query: unreconciled_loads
SELECT l.FILE_KEY, l.ETAG, l.ROWS_READ, l.ROWS_LOADED, l.ROWS_QUARANTINED,
  coalesce(q.N, 0) AS IN_QUARANTINE
FROM OPERATIONAL.TBL_LOAD_LOG l
LEFT JOIN (SELECT FILE_KEY, ETAG, count(*) AS N FROM OPERATIONAL.TBL_QUARANTINE
           GROUP BY FILE_KEY, ETAG) q ON q.FILE_KEY = l.FILE_KEY AND q.ETAG = l.ETAG
WHERE l.STATUS = 'LOADED' AND (l.ROWS_READ <> l.ROWS_LOADED + l.ROWS_QUARANTINED
  OR l.ROWS_QUARANTINED <> coalesce(q.N, 0))
ORDER BY l.FILE_KEY LIMIT 20;

-- query: loaded_file_count
SELECT count(*) AS N FROM OPERATIONAL.TBL_LOAD_LOG WHERE STATUS = 'LOADED';

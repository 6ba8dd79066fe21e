-- Statements of the alert store (lib/alerts/store.ts). Values are bound as ? parameters.

-- name: insert_event
INSERT INTO OPERATIONAL.TBL_ALERT_EVENT
  (RULE_ID, SUBJECT, ALERT_DATE, DIRECTION, KIND, OBSERVED, THRESHOLD, MESSAGE, SOURCE,
   TRIGGERED_AT)
SELECT ?, ?, CAST(? AS DATE), ?, ?, ?, ?, ?, ?, ?
WHERE NOT EXISTS (
  SELECT 1 FROM OPERATIONAL.TBL_ALERT_EVENT
  WHERE RULE_ID = ? AND SUBJECT = ? AND ALERT_DATE = CAST(? AS DATE) AND DIRECTION = ?
);

-- name: recorded_keys
-- Params: first and last date of the candidates.
SELECT RULE_ID, SUBJECT, ALERT_DATE, DIRECTION
FROM OPERATIONAL.TBL_ALERT_EVENT
WHERE ALERT_DATE >= CAST(? AS DATE) AND ALERT_DATE <= CAST(? AS DATE);

-- name: claimable
-- Params: expired, expired (now minus the lease). N: what claim_undelivered would take; HELD:
-- what other evaluations hold under a live claim.
SELECT coalesce(sum(CASE WHEN CLAIMED_AT IS NULL OR CLAIMED_AT < ? THEN 1 ELSE 0 END), 0) AS N,
       coalesce(sum(CASE WHEN CLAIMED_AT >= ? THEN 1 ELSE 0 END), 0) AS HELD
FROM OPERATIONAL.TBL_ALERT_EVENT
WHERE DELIVERED_AT IS NULL;

-- name: undelivered
-- What stays undelivered (an evaluation without a webhook sends none of these).
SELECT count(*) AS N FROM OPERATIONAL.TBL_ALERT_EVENT WHERE DELIVERED_AT IS NULL;

-- name: claim_undelivered
-- Params: token, now, expired (now minus the lease). Unclaimed or expired claims only.
UPDATE OPERATIONAL.TBL_ALERT_EVENT
SET CLAIMED_BY = ?, CLAIMED_AT = ?
WHERE DELIVERED_AT IS NULL AND (CLAIMED_AT IS NULL OR CLAIMED_AT < ?);

-- name: claimed
SELECT RULE_ID, SUBJECT, ALERT_DATE, DIRECTION, KIND, OBSERVED,
       THRESHOLD, MESSAGE, SOURCE, TRIGGERED_AT
FROM OPERATIONAL.TBL_ALERT_EVENT
WHERE CLAIMED_BY = ? AND DELIVERED_AT IS NULL
ORDER BY TRIGGERED_AT, RULE_ID, SUBJECT, ALERT_DATE, DIRECTION;

-- name: mark_delivered
-- Delivered is delivered, whoever holds the claim by now.
UPDATE OPERATIONAL.TBL_ALERT_EVENT
SET DELIVERED_AT = ?, DELIVERY_ERROR = NULL, CLAIMED_BY = NULL, CLAIMED_AT = NULL
WHERE RULE_ID = ? AND SUBJECT = ? AND ALERT_DATE = CAST(? AS DATE) AND DIRECTION = ?;

-- name: mark_printed
-- Printed on stdout by an evaluation without a webhook: delivered, unless a webhook evaluation
-- claimed it in between (its POST then decides; a failed POST is retried, not lost).
UPDATE OPERATIONAL.TBL_ALERT_EVENT
SET DELIVERED_AT = ?, DELIVERY_ERROR = NULL
WHERE RULE_ID = ? AND SUBJECT = ? AND ALERT_DATE = CAST(? AS DATE) AND DIRECTION = ?
  AND DELIVERED_AT IS NULL AND CLAIMED_BY IS NULL;

-- name: mark_failed
-- Releases only this evaluation's claim: the next evaluation retries.
UPDATE OPERATIONAL.TBL_ALERT_EVENT
SET DELIVERY_ERROR = ?, CLAIMED_BY = NULL, CLAIMED_AT = NULL
WHERE RULE_ID = ? AND SUBJECT = ? AND ALERT_DATE = CAST(? AS DATE) AND DIRECTION = ?
  AND CLAIMED_BY = ?;

-- name: company_tickers
-- The tickers a rule may name (the company list the batch loader checks tickers against).
SELECT TICKER AS CODE FROM OPERATIONAL.TBL_COMPANY;

-- name: index_codes
SELECT INDEX_CODE AS CODE FROM OPERATIONAL.TBL_INDEX;

-- name: stock_series
-- The last ? days of every ticker up to a date (default: all), from the live daily prices
-- (gold overlaid with newer operational rows, e.g. the stream's bars of today).
with {{live_daily}},
recent as (
  select TICKER, TRADE_DATE, CLOSE, VOLUME,
    row_number() over (partition by TICKER order by TRADE_DATE desc) as AGE
  from daily
  where TRADE_DATE <= coalesce(CAST(? AS DATE), DATE '2999-12-31')
)
select TICKER, TRADE_DATE, CLOSE, VOLUME
from recent
where AGE <= ?
order by TICKER, TRADE_DATE;

-- name: index_series
with recent as (
  select INDEX_CODE, TRADE_DATE, INDEX_LEVEL,
    row_number() over (partition by INDEX_CODE order by TRADE_DATE desc) as AGE
  from DWH_GOLD.gold_fct_index_performance
  where TRADE_DATE <= coalesce(CAST(? AS DATE), DATE '2999-12-31')
)
select INDEX_CODE, TRADE_DATE, INDEX_LEVEL
from recent
where AGE <= ?
order by INDEX_CODE, TRADE_DATE;

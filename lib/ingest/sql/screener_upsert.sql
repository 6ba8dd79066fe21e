INSERT INTO OPERATIONAL.TBL_MARKET_STAT (TICKER, SNAPSHOT_DATE, LAST_PRICE, CHANGE_PCT, VOLUME,
  MARKET_CAP, PE_RATIO, PB_RATIO, DIVIDEND_YIELD, EPS_TTM, HIGH_52W, LOW_52W, DATA_SOURCE,
  SOURCE_FILE)
SELECT ticker, snapshot_date, last_price, change_pct, round(volume)::BIGINT, market_cap,
  pe_ratio, pb_ratio, dividend_yield, eps_ttm, high_52w, low_52w, getvariable('data_source'),
  egx_file_key
FROM egx_checked WHERE reason IS NULL
ON CONFLICT (TICKER, SNAPSHOT_DATE) DO UPDATE SET
  LAST_PRICE = excluded.LAST_PRICE, CHANGE_PCT = excluded.CHANGE_PCT, VOLUME = excluded.VOLUME,
  MARKET_CAP = excluded.MARKET_CAP, PE_RATIO = excluded.PE_RATIO, PB_RATIO = excluded.PB_RATIO,
  DIVIDEND_YIELD = excluded.DIVIDEND_YIELD, EPS_TTM = excluded.EPS_TTM,
  HIGH_52W = excluded.HIGH_52W, LOW_52W = excluded.LOW_52W, DATA_SOURCE = excluded.DATA_SOURCE,
  SOURCE_FILE = excluded.SOURCE_FILE, UPDATED_AT = now()::TIMESTAMP
WHERE (LAST_PRICE, CHANGE_PCT, VOLUME, MARKET_CAP, PE_RATIO, PB_RATIO, DIVIDEND_YIELD, EPS_TTM,
    HIGH_52W, LOW_52W)
  IS DISTINCT FROM (excluded.LAST_PRICE, excluded.CHANGE_PCT, excluded.VOLUME,
    excluded.MARKET_CAP, excluded.PE_RATIO, excluded.PB_RATIO, excluded.DIVIDEND_YIELD,
    excluded.EPS_TTM, excluded.HIGH_52W, excluded.LOW_52W);

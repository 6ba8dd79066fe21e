-- Upsert the good snapshots by (TICKER, SNAPSHOT_DATE). A column the file does not have (any but
-- last_price) is left as stored (egx_given): a file without pe_ratio does not clear it.
INSERT INTO OPERATIONAL.TBL_MARKET_STAT (TICKER, SNAPSHOT_DATE, LAST_PRICE, CHANGE_PCT, VOLUME,
  MARKET_CAP, PE_RATIO, PB_RATIO, DIVIDEND_YIELD, EPS_TTM, HIGH_52W, LOW_52W, DATA_SOURCE,
  SOURCE_FILE)
SELECT ticker, snapshot_date, last_price, change_pct, round(volume)::BIGINT, market_cap,
  pe_ratio, pb_ratio, dividend_yield, eps_ttm, high_52w, low_52w, getvariable('data_source'),
  egx_file_key
FROM egx_checked c WHERE c.reason IS NULL AND egx_upserts(c.egx_file_key, c.egx_line)
  -- A reload's line only when no row of its key is stored: insert-only (egx_reload_file).
  AND NOT (egx_reload_file(c.egx_file_key) AND EXISTS (SELECT 1 FROM OPERATIONAL.TBL_MARKET_STAT t
    WHERE t.TICKER = c.ticker AND t.SNAPSHOT_DATE = c.snapshot_date))
ON CONFLICT (TICKER, SNAPSHOT_DATE) DO UPDATE SET
  LAST_PRICE = excluded.LAST_PRICE,
  CHANGE_PCT = egx_given('change_pct', excluded.CHANGE_PCT, CHANGE_PCT),
  VOLUME = egx_given('volume', excluded.VOLUME, VOLUME),
  MARKET_CAP = egx_given('market_cap', excluded.MARKET_CAP, MARKET_CAP),
  PE_RATIO = egx_given('pe_ratio', excluded.PE_RATIO, PE_RATIO),
  PB_RATIO = egx_given('pb_ratio', excluded.PB_RATIO, PB_RATIO),
  DIVIDEND_YIELD = egx_given('dividend_yield', excluded.DIVIDEND_YIELD, DIVIDEND_YIELD),
  EPS_TTM = egx_given('eps_ttm', excluded.EPS_TTM, EPS_TTM),
  HIGH_52W = egx_given('high_52w', excluded.HIGH_52W, HIGH_52W),
  LOW_52W = egx_given('low_52w', excluded.LOW_52W, LOW_52W),
  DATA_SOURCE = excluded.DATA_SOURCE, SOURCE_FILE = excluded.SOURCE_FILE,
  UPDATED_AT = now()::TIMESTAMP
WHERE (LAST_PRICE, CHANGE_PCT, VOLUME, MARKET_CAP, PE_RATIO, PB_RATIO, DIVIDEND_YIELD, EPS_TTM,
    HIGH_52W, LOW_52W)
  IS DISTINCT FROM (excluded.LAST_PRICE,
    egx_given('change_pct', excluded.CHANGE_PCT, CHANGE_PCT),
    egx_given('volume', excluded.VOLUME, VOLUME),
    egx_given('market_cap', excluded.MARKET_CAP, MARKET_CAP),
    egx_given('pe_ratio', excluded.PE_RATIO, PE_RATIO),
    egx_given('pb_ratio', excluded.PB_RATIO, PB_RATIO),
    egx_given('dividend_yield', excluded.DIVIDEND_YIELD, DIVIDEND_YIELD),
    egx_given('eps_ttm', excluded.EPS_TTM, EPS_TTM),
    egx_given('high_52w', excluded.HIGH_52W, HIGH_52W),
    egx_given('low_52w', excluded.LOW_52W, LOW_52W));

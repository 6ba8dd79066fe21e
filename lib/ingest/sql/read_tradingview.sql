-- Read TradingView exports: prices and volume typed (see read_daily_canonical.sql); `time`
-- stays text (epoch seconds or an ISO instant, parsed in daily_tradingview.sql).
-- Extra columns (indicators, VWAP) stay text: see read_daily_canonical.sql.
CREATE OR REPLACE TEMP TABLE egx_raw_read AS
SELECT * FROM read_csv(getvariable('src_files'), header = true, delim = ',', quote = '"',
  names = getvariable('src_names'), filename = 'egx_filename',
  auto_type_candidates = ['VARCHAR'],
  types = {'time': 'VARCHAR', 'open': 'DOUBLE', 'high': 'DOUBLE', 'low': 'DOUBLE',
    'close': 'DOUBLE', 'volume': 'DOUBLE'},
  store_rejects = true, rejects_table = 'egx_rejects', rejects_scan = 'egx_rejects_scan');

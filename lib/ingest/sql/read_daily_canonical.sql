-- Read canonical daily files with typed columns: DuckDB's reader parses the numbers and dates
-- (fast), and a line with an unparsable value goes to egx_rejects with DuckDB's message (e.g.
-- Could not convert string "abc" to 'DOUBLE'), which becomes its quarantine reason. The
-- normalised ticker (its EGX code, egx_ticker: NULL when it breaks the rule) is computed here,
-- once per row, rather than in every scan of egx_norm (string functions on a million rows cost
-- ~30 ms a scan); the quarantined record leaves it out.
-- Nothing is left for the reader to guess: the date format is given (a guess from one odd date
-- read every ISO date of the file as unparsable), and a column the format does not read stays
-- text (typed from the first rows, a later value that did not fit quarantined a good row).
CREATE OR REPLACE TEMP TABLE egx_raw_read AS
SELECT *, egx_ticker(ticker) AS egx_ticker_norm FROM read_csv(getvariable('src_files'), header = true, delim = ',', quote = '"',
  names = getvariable('src_names'), filename = 'egx_filename', dateformat = '%Y-%m-%d',
  auto_type_candidates = ['VARCHAR'],
  types = {'ticker': 'VARCHAR', 'trade_date': 'DATE', 'open': 'DOUBLE', 'high': 'DOUBLE',
    'low': 'DOUBLE', 'close': 'DOUBLE', 'volume': 'DOUBLE'},
  store_rejects = true, rejects_table = 'egx_rejects', rejects_scan = 'egx_rejects_scan');

-- Investing.com historical data export: "Date","Price","Open","High","Low","Vol.","Change %",
-- quoted, MM/DD/YYYY dates, thousands separators, volumes like 1.81M / 426.44K, newest first,
-- often with a byte-order mark. Price is the close. The ticker comes from the file name
-- (e.g. "COMI Historical Data.csv").
CREATE OR REPLACE TEMP TABLE egx_norm AS
SELECT egx_file_key, egx_etag, egx_line, egx_ticker AS ticker,
  "Date" AS d_raw, try_strptime(trim("Date"), '%m/%d/%Y')::DATE AS trade_date,
  "Open" AS o_raw, egx_num("Open") AS open, "High" AS h_raw, egx_num("High") AS high,
  "Low" AS l_raw, egx_num("Low") AS low, "Price" AS c_raw, egx_num("Price") AS close,
  "Vol." AS v_raw, egx_volume("Vol.") AS volume
FROM egx_raw;

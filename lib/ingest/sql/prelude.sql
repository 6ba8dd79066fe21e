-- Per-load helpers (DuckDB, temporary: they live for the load's connection only).
-- Values reach the SQL through variables set by lib/ingest/load.ts (SET VARIABLE name = ?):
--   format, data_source, run_id, started_at, as_of_date and min_trade_date (YYYY-MM-DD text:
--   trade dates after the one or before the other are quarantined); the files themselves are rows
--   of egx_file.

-- A number's text without its thousands separators: only from a well-formed grouped number
-- (1,234 or -1,234,567.89); any other comma makes it NULL, i.e. unparsable: a decimal comma
-- ("10,5") or a stray one ("1,0,3"), dropped, read as another number (105, 103).
CREATE OR REPLACE TEMP MACRO egx_ungroup(t) AS CASE
  WHEN NOT contains(t, ',') THEN t
  WHEN regexp_full_match(t, '[+-]?[0-9]{1,3}(,[0-9]{3})+([.][0-9]+)?') THEN replace(t, ',', '')
END;

-- A number from text: trims, drops thousands separators (egx_ungroup); NULL when unparsable or
-- blank. DOUBLE parses "nan" and "inf" too, which no price, amount or volume can be (and NaN
-- compares greater than every number in DuckDB, so no range check would catch it): they are
-- unparsable as well.
CREATE OR REPLACE TEMP MACRO egx_num(x) AS
  CASE WHEN isfinite(TRY_CAST(egx_ungroup(trim(x)) AS DOUBLE))
    THEN TRY_CAST(egx_ungroup(trim(x)) AS DOUBLE) END;

-- A whole number from text (a fiscal year or quarter): digits only, else NULL (unparsable). A
-- cast alone takes "2024.6" for 2025, "2.5" for 3, "1e3" for 1000 and "0x10" for 16.
CREATE OR REPLACE TEMP MACRO egx_int(x) AS
  CASE WHEN regexp_full_match(trim(x), '[0-9]+') THEN TRY_CAST(trim(x) AS INTEGER) END;

-- A value read typed as DOUBLE (the CSV reader accepts "nan", "inf", "-inf"), NULL when it is not
-- a finite number, for the comparisons below: NaN compares greater than every number and +inf is
-- above any bound, so they would pass them (a non-finite value has its own problem instead).
CREATE OR REPLACE TEMP MACRO egx_finite(x) AS CASE WHEN isfinite(x) THEN x END;

-- An instant (TIMESTAMPTZ) the trade-date conversions can take, else NULL (unparsable): finite
-- and within 9 * 10^12 seconds of 1970 (the years -283,000..287,000; epoch milliseconds taken for
-- seconds, the year 57,000, stay in and are out of the calendar's range). DuckDB's conversion to
-- Africa/Cairo fails on "infinity" and near the largest instant (294247-01-10), failing the file.
CREATE OR REPLACE TEMP MACRO egx_instant(ts) AS
  CASE WHEN isfinite(ts) AND abs(epoch(ts)) <= 9e12 THEN ts END;

-- The numeric UTC offset an instant's text ends with, as written ("+99:00" of
-- "2025-12-08 10:00:00+99:00", "+0530", "-12"), NULL without one (naive, "Z", a zone name).
-- DuckDB's cast takes any two-digit hours and minutes (+99:00, +25:00, +02:60 is +03:00) and
-- shifts the instant by them; real offsets are -12:00..+14:00 (egx_offset_problem).
-- The regular expression (and trim) runs only on a value with a sign after a colon: a naive one
-- skips it (LIKE is ~8 times cheaper here: a million-row bar file is read with it).
CREATE OR REPLACE TEMP MACRO egx_utc_offset(t) AS CASE
  WHEN t::VARCHAR LIKE '%:%+%' OR t::VARCHAR LIKE '%:%-%'
    THEN NULLIF(regexp_extract(trim(t::VARCHAR),
      '[0-9]:[0-9]{2}(:[0-9]{2}([.][0-9]*)?)?([+-][0-9]{2}(:?[0-9]{2}){0,2})$', 3), '')
END;

-- Part `i` (0: hours, 1: minutes, 2: seconds) of an offset's digits (hh, hhmm or hhmmss, with or
-- without colons), 0 when left out.
CREATE OR REPLACE TEMP MACRO egx_offset_part(o, i) AS
  coalesce(TRY_CAST(NULLIF(substr(replace(o, ':', ''), 2 + 2 * i, 2), '') AS INTEGER), 0);

-- Why an instant's text `t` cannot be taken at its UTC offset, NULL when it can (or has none):
-- minutes or seconds past 59 ('unparsable UTC offset "+02:60"'), or beyond -12:00..+14:00 ('UTC
-- offset out of range -12:00..+14:00 (+99:00)'). Such a value is no instant (read_bars_1m.sql,
-- daily_tradingview.sql): stored, it would be hours or days off.
CREATE OR REPLACE TEMP MACRO egx_offset_problem(t) AS CASE
  WHEN egx_utc_offset(t) IS NULL THEN NULL
  WHEN egx_offset_part(egx_utc_offset(t), 1) > 59 OR egx_offset_part(egx_utc_offset(t), 2) > 59
    THEN 'unparsable UTC offset "' || egx_utc_offset(t) || '"'
  WHEN (CASE WHEN left(egx_utc_offset(t), 1) = '-' THEN -1 ELSE 1 END)
      * (egx_offset_part(egx_utc_offset(t), 0) * 3600 + egx_offset_part(egx_utc_offset(t), 1) * 60
        + egx_offset_part(egx_utc_offset(t), 2)) NOT BETWEEN -12 * 3600 AND 14 * 3600
    THEN 'UTC offset out of range -12:00..+14:00 (' || egx_utc_offset(t) || ')'
END;

-- A volume (or share count) is stored as BIGINT after round(), and a day's volume is summed into
-- a BIGINT from up to 1,440 one-minute bars: below 10^15 (no EGX volume comes near: the whole
-- exchange trades ~10^9 shares a day) the sum stays below 2^63, where a cast or sum would fail
-- the whole file. (Negative ones are a problem of their own.)
CREATE OR REPLACE TEMP MACRO egx_too_big(v) AS isfinite(v) AND v >= 1e15;

-- A price of 10^5 EGP or more is a typo or a wrong unit (no EGX share trades near it: the bundled
-- data's highest is 513). The daily fact sums squared closes in exact decimals (Bollinger bands,
-- DECIMAL(38, 24) in DuckDB), which overflow from about 5 * 10^5 and cast a price to
-- DECIMAL(38, 12), which fails from 10^26: one such row failed the gold layer on every run.
CREATE OR REPLACE TEMP MACRO egx_price_too_big(p) AS isfinite(p) AND p >= 1e5;

-- Volumes like 1.81M / 426.44K / 2B / 1,234 (Investing.com); NULL when unparsable (or when the
-- multiplier takes it past the largest DOUBLE).
CREATE OR REPLACE TEMP MACRO egx_volume_any(x) AS CASE
  WHEN upper(trim(x)) LIKE '%K' THEN egx_num(left(trim(x), length(trim(x)) - 1)) * 1e3
  WHEN upper(trim(x)) LIKE '%M' THEN egx_num(left(trim(x), length(trim(x)) - 1)) * 1e6
  WHEN upper(trim(x)) LIKE '%B' THEN egx_num(left(trim(x), length(trim(x)) - 1)) * 1e9
  ELSE egx_num(x)
END;
CREATE OR REPLACE TEMP MACRO egx_volume(x) AS egx_finite(egx_volume_any(x));

-- Whether the files being loaded have column `name` (one of the format's, lower case), and for an
-- upsert's update, `file` if they have it, else `stored`: a file without an optional column
-- leaves what is stored in it as it is (its default, such as is_active true, is for a new row).
CREATE OR REPLACE TEMP MACRO egx_has(name) AS list_contains(getvariable('src_columns'), name);
CREATE OR REPLACE TEMP MACRO egx_given(name, file, stored) AS
  CASE WHEN egx_has(name) THEN file ELSE stored END;

-- Blank (NULL or only spaces; a typed value is blank only when NULL).
CREATE OR REPLACE TEMP MACRO egx_blank(x) AS x IS NULL OR trim(x::VARCHAR) = '';

-- A ticker's EGX code, by the one rule of lib/market/ticker.ts (tests/ticker_test.ts checks the
-- two agree): 2-10 ASCII letters or digits starting with a letter, with spaces, tabs or line
-- breaks around it trimmed, upper-cased and a trailing ".CA" (Yahoo's and Investing.com's Cairo
-- suffix) dropped: " actf.ca " is ACTF. NULL when it breaks the rule. The rule is tested before
-- upper-casing: DuckDB upper-cases some non-ASCII letters to ASCII ones ("ſ" to S).
CREATE OR REPLACE TEMP MACRO egx_ticker(x) AS CASE
  WHEN regexp_full_match(trim(x, E' \t\r\n'), '[A-Za-z][A-Za-z0-9]{1,9}([.][Cc][Aa])?')
    THEN regexp_replace(upper(trim(x, E' \t\r\n')), '[.]CA$', '')
END;

-- 'invalid ticker "RAW"' when `raw`, not blank, breaks the rule (its egx_ticker, `code`, is NULL).
CREATE OR REPLACE TEMP MACRO egx_ticker_problem(raw, code) AS
  CASE WHEN NOT egx_blank(raw) AND code IS NULL THEN 'invalid ticker "' || raw || '"' END;

-- The companies a ticker must be one of: TBL_COMPANY's tickers by their EGX code (a company list
-- loaded before the rule stored ACTF.CA, which is ACTF, as stg_companies reads it).
CREATE OR REPLACE TEMP VIEW egx_company AS
SELECT DISTINCT egx_ticker(TICKER) AS TICKER FROM OPERATIONAL.TBL_COMPANY
WHERE egx_ticker(TICKER) IS NOT NULL;

-- "missing NAME" / "unparsable NAME "text"" / NULL for a field read from `raw` into `val`. A
-- field read typed (the reader rejects what it cannot parse) passes its value as `raw` too.
CREATE OR REPLACE TEMP MACRO egx_problem(name, raw, val) AS CASE
  WHEN egx_blank(raw) THEN 'missing ' || name
  WHEN val IS NULL THEN 'unparsable ' || name || ' "' || raw::VARCHAR || '"'
END;

-- The price and volume problems of a daily or one-minute bar ('; '-separated, NULL = none):
-- missing or unparsable values, prices or volume not finite numbers (nan, inf), a volume of 10^15
-- or more, a price of 10^5 or more, non-positive prices, negative volume, high < low, open/close
-- outside [low, high].
-- egx_ohlcv_bad is the cheap test for the same problems (most rows are good): the two must agree.
CREATE OR REPLACE TEMP MACRO egx_ohlcv_problems(o_raw, o, h_raw, h, l_raw, l, c_raw, c, v_raw, v)
AS NULLIF(concat_ws('; ',
  egx_problem('open', o_raw, o),
  egx_problem('high', h_raw, h),
  egx_problem('low', l_raw, l),
  egx_problem('close', c_raw, c),
  egx_problem('volume', v_raw, v),
  CASE WHEN NOT isfinite(o) OR NOT isfinite(h) OR NOT isfinite(l) OR NOT isfinite(c)
    THEN 'price not a finite number' END,
  CASE WHEN NOT isfinite(v) THEN 'volume not a finite number' END,
  CASE WHEN egx_too_big(v) THEN 'volume too large (10^15 or more)' END,
  CASE WHEN egx_price_too_big(o) OR egx_price_too_big(h) OR egx_price_too_big(l)
      OR egx_price_too_big(c)
    THEN 'price too large (10^5 or more)' END,
  CASE WHEN egx_finite(o) <= 0 OR egx_finite(h) <= 0 OR egx_finite(l) <= 0 OR egx_finite(c) <= 0
    THEN 'non-positive price' END,
  CASE WHEN egx_finite(v) < 0 THEN 'negative volume' END,
  CASE WHEN egx_finite(h) < egx_finite(l) THEN 'high < low' END,
  CASE WHEN egx_finite(h) >= egx_finite(l) AND (egx_finite(o) < l OR egx_finite(o) > h
      OR egx_finite(c) < l OR egx_finite(c) > h)
    THEN 'open/close outside [low, high]' END
), '');

-- (No test of high <= 0 or close <= 0: with low > 0, high >= low and close >= low they cannot be;
-- nor of open, low or close >= 10^5: with them in [low, high], high is then too.)
CREATE OR REPLACE TEMP MACRO egx_ohlcv_bad(o, h, l, c, v) AS
  o IS NULL OR h IS NULL OR l IS NULL OR c IS NULL OR v IS NULL OR o <= 0 OR l <= 0 OR v < 0
  OR h < l OR o > h OR o < l OR c > h OR c < l
  OR NOT isfinite(o) OR NOT isfinite(h) OR NOT isfinite(l) OR NOT isfinite(c) OR NOT isfinite(v)
  OR v >= 1e15 OR h >= 1e5;

-- The files of the group being loaded (same format and header), filled by load.ts. `reloads`:
-- for a reload (a version loaded before, loaded again for tickers listed since, batch.ts), the
-- ETag that earlier load was recorded under; NULL for any other load.
CREATE OR REPLACE TEMP TABLE egx_file (
  ord INTEGER, path VARCHAR, file_key VARCHAR, etag VARCHAR, size_bytes BIGINT, ticker VARCHAR,
  reloads VARCHAR
);

-- A reload's lines that its earlier load quarantined (reload_lines.sql, or filled by load.ts from
-- Snowflake): the only ones it upserts (egx_upserts).
CREATE OR REPLACE TEMP TABLE egx_reload_line (file_key VARCHAR, line BIGINT);

-- Whether a load upserts the good row at line `ln` of file `fk`: every good row, except that a
-- reload (variable `reloading`: some file of the group is one) upserts only the lines its earlier
-- load quarantined. The lines that load stored are left as they are: a file loaded after it may
-- have updated their keys since, and loading the old values again would undo that.
CREATE OR REPLACE TEMP MACRO egx_upserts(fk, ln) AS NOT getvariable('reloading')
  OR NOT EXISTS (SELECT 1 FROM egx_file f WHERE f.file_key = fk AND f.reloads IS NOT NULL)
  OR EXISTS (SELECT 1 FROM egx_reload_line r WHERE r.file_key = fk AND r.line = ln);

-- Whether the rows of file `fk` are a reload's, which are INSERT-ONLY: each upsert stores such a
-- row only when the target table has no row of its key (`AND NOT (egx_reload_file(...) AND
-- EXISTS (a stored row of the key))`), and never updates a stored row. A stored row of the key
-- is another writer's (the reloaded version's load quarantined the line, so wrote none): usually
-- a later file's or the stream's, newer than the reloaded line, which must not undo it; possibly
-- an earlier file's this one would have replaced at its first load. A reload cannot tell them
-- apart and keeps what is stored. The stream's dead-letter redrive follows the same rule
-- (lib/stream/redrive.ts, "Why it cannot write an older value...").
CREATE OR REPLACE TEMP MACRO egx_reload_file(fk) AS getvariable('reloading')
  AND EXISTS (SELECT 1 FROM egx_file f WHERE f.file_key = fk AND f.reloads IS NOT NULL);

-- The names the reader gives the group's columns (lib/ingest/formats.ts, readerNames), filled by
-- load.ts: the format's columns by their names, extra ones never by a name the SQL uses (rowid).
CREATE OR REPLACE TEMP TABLE egx_column (pos INTEGER, name VARCHAR);

-- Lines with broken quoting (an unterminated or stray quote), found by load.ts before the read
-- (lib/ingest/quotes.ts): the reader gets a copy of the file without them (its path is in
-- egx_file), so its rejects' line numbers are renumbered in stage_rejects.sql.
CREATE OR REPLACE TEMP TABLE egx_quote_rejects (
  path VARCHAR, line BIGINT, csv_line VARCHAR, problem VARCHAR
);

-- Empty lines, also left out of the reader's copy (DuckDB's reader skips them without counting
-- them, which would shift every line number after them): not quarantined, only renumbered around.
CREATE OR REPLACE TEMP TABLE egx_blank_lines (path VARCHAR, line BIGINT);

-- Problems that reject a whole file (nothing of it is loaded), found by a format's checks (e.g.
-- an Investing.com export with day/month dates, daily_investing.sql): load.ts fails the file
-- with each problem.
CREATE OR REPLACE TEMP TABLE egx_file_problem (file_key VARCHAR, problem VARCHAR);

-- Trading calendar (filled from lib/market/egx_calendar.json by load.ts).
CREATE OR REPLACE TEMP TABLE egx_weekday (dow INTEGER);
CREATE OR REPLACE TEMP TABLE egx_session (
  from_date DATE, to_date DATE, open_min INTEGER, close_min INTEGER, label VARCHAR, priority INTEGER
);

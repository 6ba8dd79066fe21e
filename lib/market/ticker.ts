/**
 * The one EGX ticker rule, for every way a ticker comes in (batch files, stream records, API
 * paths). A ticker is the local EGX code: 2-10 ASCII letters or digits starting with a letter
 * (every listed code is 3-5 letters: COMI, FAITA). As written it may have spaces, tabs or line
 * breaks around it, any case, and Yahoo's and Investing.com's Cairo suffix ".CA" (ACTF.CA); its
 * code is then trimmed, upper-cased and without the suffix (ACTF).
 *
 * Batch loads apply the same rule in SQL: the macro egx_ticker in lib/ingest/sql/prelude.sql
 * (tests/ticker_test.ts checks the two agree on a table of cases). The rule is tested on the value
 * before upper-casing, so a non-ASCII letter that upper-cases to an ASCII one ("ſ" to S) is never
 * taken for it, in JavaScript as in DuckDB.
 */

/** The rule, as written (spaces around it already trimmed). */
const WRITTEN = /^[A-Za-z][A-Za-z0-9]{1,9}(?:\.[Cc][Aa])?$/;

/** What the rule says, for messages. */
export const TICKER_RULE = "an EGX code, 2-10 letters or digits starting with a letter " +
  "(e.g. COMI; a trailing .CA is dropped)";

/** The EGX code `raw` stands for (" actf.ca " -> "ACTF"), or undefined when it breaks the rule. */
export function tickerCode(raw: string): string | undefined {
  const t = raw.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "");
  if (!WRITTEN.test(t)) return undefined;
  return t.toUpperCase().replace(/\.CA$/, "");
}

/** The reason a ticker that breaks the rule is refused (`raw` as given, any JSON value). */
export function invalidTickerReason(raw: unknown): string {
  const shown = JSON.stringify(raw) ?? String(raw);
  return `invalid ticker ${shown.length > 60 ? `${shown.slice(0, 60)}...` : shown}: ` +
    `not ${TICKER_RULE}`;
}

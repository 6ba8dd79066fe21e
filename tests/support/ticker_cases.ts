/**
 * The one ticker rule's table of cases (lib/market/ticker.ts), shared by the tests of its SQL copy
 * (tests/ticker_test.ts), the stream (tests/stream_sources_test.ts) and the API
 * (tests/web_api_test.ts): each takes and refuses the same tickers.
 */

/** Ticker as written -> its EGX code, or undefined when it breaks the rule. */
export const TICKER_CASES: [string, string | undefined][] = [
  ["COMI", "COMI"],
  ["comi", "COMI"],
  [" Comi\t", "COMI"],
  ["\r\nFAITA \n", "FAITA"],
  ["ACTF.CA", "ACTF"],
  ["actf.ca", "ACTF"],
  ["ACTF.Ca", "ACTF"],
  ["EGX30", "EGX30"],
  ["AB", "AB"],
  ["ABCDEFGHIJ", "ABCDEFGHIJ"],
  ["ABCDEFGHIJ.CA", "ABCDEFGHIJ"],
  ["ABCDEFGHIJK", undefined],
  ["A", undefined],
  ["A.CA", undefined],
  [".CA", undefined],
  ["", undefined],
  ["   ", undefined],
  ["1ABC", undefined],
  ["A-B", undefined],
  ["A_B", undefined],
  ["AB C", undefined],
  ["ACTF .CA", undefined],
  ["ACTF.CA.CA", undefined],
  ["ACTF.EG", undefined],
  ["EGX:COMI", undefined],
  ["\u00a0COMI", undefined],
  ["\u017fTCK", undefined], // "ſ" upper-cases to S in JavaScript and in DuckDB
  ["T\u0131CK", undefined], // dotless "ı" upper-cases to I
  ["STRA\u00dfE", undefined],
];

/**
 * The one ticker rule (lib/market/ticker.ts) and its SQL copy for batch loads (egx_ticker in
 * lib/ingest/sql/prelude.sql) agree on a table of cases, and every real EGX ticker passes it.
 */
import assert from "node:assert/strict";
import { invalidTickerReason, tickerCode } from "../lib/market/ticker.ts";
import { SQL } from "../lib/ingest/sql_files.ts";
import { splitStatements } from "../lib/warehouse/migrations.ts";
import { withTempWarehouse } from "./support/temp_warehouse.ts";
import { TICKER_CASES } from "./support/ticker_cases.ts";

Deno.test("the ticker rule takes EGX codes, any case, spaces around and .CA, and nothing else", () => {
  assert.deepEqual(
    TICKER_CASES.map(([raw]) => [raw, tickerCode(raw)]),
    TICKER_CASES,
  );
});

Deno.test("batch loads' SQL ticker rule (egx_ticker) agrees with the TypeScript one on every case", async () => {
  await withTempWarehouse(async (wh) => {
    const got = await wh.transaction(async (s) => {
      for (const stmt of splitStatements(SQL["prelude.sql"])) await s.execute(stmt);
      const out: [string, string | undefined][] = [];
      for (const [raw] of TICKER_CASES) {
        const [{ CODE }] = await s.query<{ CODE: string | null }>(
          "SELECT egx_ticker(?) AS CODE",
          [raw],
        );
        out.push([raw, CODE ?? undefined]);
      }
      const [{ P }] = await s.query<{ P: string }>(
        "SELECT egx_ticker_problem(?, egx_ticker(?)) AS P",
        ["A-B", "A-B"],
      );
      out.push(["problem", P]);
      return out;
    });
    assert.deepEqual(got, [...TICKER_CASES, ["problem", 'invalid ticker "A-B"']]);
  });
});

Deno.test("every ticker of the bundled company list (the real EGX list) passes the rule", async () => {
  const text = await Deno.readTextFile(new URL("../data/sample/companies.csv", import.meta.url));
  const tickers = text.trim().split("\n").slice(1).map((l) => l.split(",")[0]);
  assert.equal(tickers.length, 223);
  assert.deepEqual(tickers.filter((t) => tickerCode(t) === undefined), []);
  assert.deepEqual(tickers.filter((t) => tickerCode(t) !== t), ["ACTF.CA"]);
});

Deno.test("a refused ticker's reason names the value as given and the rule", () => {
  assert.equal(
    invalidTickerReason("A-B"),
    'invalid ticker "A-B": not an EGX code, 2-10 letters or digits starting with a letter ' +
      "(e.g. COMI; a trailing .CA is dropped)",
  );
  assert.equal(
    invalidTickerReason(7),
    "invalid ticker 7: not an EGX code, 2-10 letters or digits starting with a letter " +
      "(e.g. COMI; a trailing .CA is dropped)",
  );
  assert.equal(
    invalidTickerReason("X".repeat(100)),
    `invalid ticker "${"X".repeat(59)}...: not an EGX code, 2-10 letters or digits starting ` +
      "with a letter (e.g. COMI; a trailing .CA is dropped)",
  );
  assert.equal(
    invalidTickerReason(undefined),
    "invalid ticker undefined: not an EGX code, 2-10 letters or digits starting with a letter " +
      "(e.g. COMI; a trailing .CA is dropped)",
  );
});

/**
 * API contract tests for the market endpoints, against a real server over a warehouse built by
 * the real models from real EGX bars. Expected values are computed here from the raw inputs.
 */
import assert from "node:assert/strict";
import {
  buildMarketWarehouse,
  type DailyInput,
  type MarketInputs,
  readInputs,
  withPrevClose,
} from "./support/market_warehouse.ts";
import { TICKER_RULE } from "../lib/market/ticker.ts";
import { assertDocumented } from "./support/openapi_check.ts";
import { TICKER_CASES } from "./support/ticker_cases.ts";
import { startTestServer, type TestServer } from "./support/web_fixture.ts";

const dir = await Deno.makeTempDir({ prefix: "egx-web-api-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let built: Promise<MarketInputs> | undefined;

/** The shared warehouse (built once), or a private copy when the test writes to it. */
async function withServer(
  fn: (srv: TestServer, inputs: MarketInputs) => Promise<void>,
  opts: { copy?: boolean } = {},
) {
  built ??= buildMarketWarehouse(`${dir}/egx.duckdb`).then(readInputs);
  const inputs = await built;
  let path = `${dir}/egx.duckdb`;
  if (opts.copy) {
    path = `${dir}/copy-${crypto.randomUUID()}.duckdb`;
    await Deno.copyFile(`${dir}/egx.duckdb`, path);
  }
  const srv = await startTestServer({ warehouse: path, logDir: `${dir}/logs` });
  try {
    await fn(srv, inputs);
    assert.deepEqual(srv.errors, []);
  } finally {
    await srv.stop();
  }
}

const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => sum(xs) / xs.length;

function latestDate(daily: readonly DailyInput[]): string {
  return daily.reduce((m, d) => (d.date > m ? d.date : m), "");
}

/** Every ticker's row on `date` with its previous close, by ticker. */
function dayRows(inputs: MarketInputs, date: string) {
  const tickers = [...new Set(inputs.daily.map((d) => d.ticker))].sort();
  return tickers.flatMap((t) => withPrevClose(inputs.daily, t).filter((r) => r.date === date));
}

/** GET a path that must answer 200 with a body its OpenAPI schema describes exactly. */
async function ok(srv: TestServer, path: string) {
  const r = await srv.get(path);
  assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
  await assertDocumented(srv, path, r.body);
  return r.body;
}

Deno.test("companies are listed, searched, filtered by sector and paginated", async () => {
  await withServer(async (srv, inputs) => {
    const all = await ok(srv, "/api/v1/companies?limit=1000");
    assert.equal(all.page.total, inputs.companies.size);
    assert.deepEqual(
      all.data.map((c: { ticker: string }) => c.ticker),
      [...inputs.companies.keys()].sort(),
    );
    const comi = all.data.find((c: { ticker: string }) => c.ticker === "COMI");
    assert.deepEqual(comi, {
      ticker: "COMI",
      name: "Commercial International Bank Egypt (CIB) S.A.E.",
      isin: "EGS60121C018",
      sector: "Financials",
      industry: null,
      isActive: true,
      indices: ["EGX100_EWI", "EGX30"],
    });

    const fin = await ok(srv, "/api/v1/companies?sector=financials&limit=1000");
    const expectFin = [...inputs.companies.values()].filter((c) => c.sector === "Financials")
      .map((c) => c.ticker).sort();
    assert.deepEqual(fin.data.map((c: { ticker: string }) => c.ticker), expectFin);

    const traded = await ok(srv, "/api/v1/companies?hasPrices=true");
    assert.deepEqual(
      traded.data.map((c: { ticker: string }) => c.ticker),
      [...new Set(inputs.daily.map((d) => d.ticker))].sort(),
    );

    const q = await ok(srv, "/api/v1/companies?q=telecom");
    assert.deepEqual(q.data.map((c: { ticker: string }) => c.ticker), ["ETEL"]);
    // Wildcards in the search text are literal, not patterns.
    assert.equal((await ok(srv, "/api/v1/companies?q=%25")).page.total, 0);

    const p1 = await ok(srv, "/api/v1/companies?limit=100");
    assert.equal(p1.data.length, 100);
    assert.equal(p1.page.next, "/api/v1/companies?limit=100&offset=100");
    const p3 = await ok(srv, "/api/v1/companies?limit=100&offset=200");
    assert.equal(p3.data.length, inputs.companies.size - 200);
    assert.equal(p3.page.next, null);
    assert.deepEqual(
      [...p1.data, ...(await ok(srv, p1.page.next)).data, ...p3.data].map((c: { ticker: string }) =>
        c.ticker
      ),
      all.data.map((c: { ticker: string }) => c.ticker),
    );
  });
});

Deno.test("one company shows the span of its prices and its latest day", async () => {
  await withServer(async (srv, inputs) => {
    const rows = withPrevClose(inputs.daily, "COMI");
    const last = rows[rows.length - 1];
    const body = await ok(srv, "/api/v1/companies/comi");
    assert.deepEqual(body.data, {
      ticker: "COMI",
      name: "Commercial International Bank Egypt (CIB) S.A.E.",
      isin: "EGS60121C018",
      sector: "Financials",
      industry: null,
      isActive: true,
      indices: ["EGX100_EWI", "EGX30"],
      firstDate: rows[0].date,
      lastDate: last.date,
      latest: {
        date: last.date,
        open: last.open,
        high: last.high,
        low: last.low,
        close: last.close,
        volume: last.volume,
        changePct: last.changePct,
        live: false,
      },
    });
  });
});

Deno.test("every ticker the company list gives can be fetched: ACTF.CA in the list is ACTF", async () => {
  await withServer(async (srv) => {
    const actf = {
      ticker: "ACTF",
      name: "Act Financial",
      isin: null,
      sector: "Unclassified",
      industry: null,
      isActive: true,
      indices: [],
    };
    assert.deepEqual((await ok(srv, "/api/v1/companies?q=ACTF")).data, [actf]);
    assert.deepEqual((await ok(srv, "/api/v1/companies/ACTF")).data, {
      ...actf,
      firstDate: null,
      lastDate: null,
      latest: null,
    });
    // Yahoo's spelling is the same company, by the one ticker rule (lib/market/ticker.ts).
    assert.deepEqual((await ok(srv, "/api/v1/companies/actf.ca")).data.ticker, "ACTF");
    const all = await ok(srv, "/api/v1/companies?limit=1000");
    const statuses = new Map<number, number>();
    for (const { ticker } of all.data as { ticker: string }[]) {
      const r = await srv.get(`/api/v1/companies/${encodeURIComponent(ticker)}`);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
    assert.deepEqual([...statuses], [[200, all.data.length]]);
  });
});

Deno.test("the API takes the tickers batch loads and the stream take, as their code, and refuses the others", async () => {
  await withServer(async (srv) => {
    const listed = new Set(
      ((await ok(srv, "/api/v1/companies?limit=1000")).data as { ticker: string }[])
        .map((c) => c.ticker),
    );
    const got = [];
    // (An empty ticker is no path segment: /api/v1/companies/ is the list.)
    for (const [raw] of TICKER_CASES.filter(([raw]) => raw !== "")) {
      const r = await srv.get(`/api/v1/companies/${encodeURIComponent(raw)}`);
      got.push([raw, r.status, r.status === 200 ? r.body.data.ticker : r.body.error.message]);
    }
    // A character beyond ASCII is named first (see the test of ASCII below).
    const refused = (raw: string) => {
      const c = /\P{ASCII}/u.exec(raw)?.[0];
      return c === undefined
        ? `ticker must be ${TICKER_RULE}, got ${JSON.stringify(raw)}`
        : `ticker must be ASCII letters and digits (e.g. COMI), got ${JSON.stringify(raw)} ` +
          `(U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")} is not ASCII)`;
    };
    assert.deepEqual(
      got,
      TICKER_CASES.filter(([raw]) => raw !== "").map(([raw, code]) =>
        code === undefined
          ? [raw, 400, refused(raw)]
          : listed.has(code)
          ? [raw, 200, code]
          : [raw, 404, `unknown ticker ${code}: see /api/v1/companies for the list`]
      ),
    );
    // Some of the codes are listed, some not: both answers are exercised.
    assert.deepEqual(
      [...new Set(got.map((g) => g[1]))].sort(),
      [200, 400, 404],
    );
  });
});

Deno.test("unknown tickers are 404 and malformed ones 400 on every ticker endpoint", async () => {
  await withServer(async (srv) => {
    for (const base of ["companies/", "prices/", "indicators/"]) {
      const suffix = base === "prices/" ? "/daily" : "";
      const r = await srv.get(`/api/v1/${base}ZZZZ${suffix}`);
      assert.deepEqual([base, r.status, r.body.error.message], [
        base,
        404,
        "unknown ticker ZZZZ: see /api/v1/companies for the list",
      ]);
      const bad = await srv.get(`/api/v1/${base}1ABC${suffix}`);
      assert.deepEqual([base, bad.status, bad.body.error.message], [
        base,
        400,
        `ticker must be ${TICKER_RULE}, got "1ABC"`,
      ]);
    }
    const intraday = await srv.get("/api/v1/prices/ZZZZ/intraday");
    assert.equal(intraday.status, 404);
    // A bad parameter is a 400 whether or not the ticker (or index) exists.
    const cases: [string, string][] = [
      ["/api/v1/prices/ZZZZ/daily?limit=0", "limit must be between 1 and 1000, got 0"],
      ["/api/v1/indicators/ZZZZ?offset=-1", "offset must be between 0 and 10000000, got -1"],
      [
        "/api/v1/prices/ZZZZ/intraday?date=2025-02-30",
        'date must be a date YYYY-MM-DD, got "2025-02-30"',
      ],
      ["/api/v1/prices/ZZZZ/intraday?limit=abc", 'limit must be an integer, got "abc"'],
      [
        "/api/v1/indices/performance?index=EGX99&limit=0",
        "limit must be between 1 and 1000, got 0",
      ],
    ];
    for (const [path, message] of cases) {
      const r = await srv.get(path);
      assert.deepEqual([path, r.status, r.body.error.message], [path, 400, message]);
    }
    const quote = await srv.get("/api/v1/prices/CO'MI/daily");
    assert.equal(quote.status, 400);
  });
});

Deno.test("tickers and index codes must be ASCII, even where upper-casing would make them so", async () => {
  await withServer(async (srv) => {
    // "comı" (dotless i), "ſwdy" (long s) and "ﬀ" upper-case to COMI, SWDY and FF; an em space
    // is trimmed like a blank. None of them is an ASCII ticker.
    const cases: [string, string][] = [
      [
        "/api/v1/companies/com%C4%B1",
        'ticker must be ASCII letters and digits (e.g. COMI), got "comı" (U+0131 is not ASCII)',
      ],
      [
        "/api/v1/prices/%C5%BFwdy/daily",
        'ticker must be ASCII letters and digits (e.g. COMI), got "ſwdy" (U+017F is not ASCII)',
      ],
      [
        "/api/v1/prices/com%C4%B1/intraday",
        'ticker must be ASCII letters and digits (e.g. COMI), got "comı" (U+0131 is not ASCII)',
      ],
      [
        "/api/v1/indicators/%EF%AC%80",
        'ticker must be ASCII letters and digits (e.g. COMI), got "ﬀ" (U+FB00 is not ASCII)',
      ],
      [
        "/api/v1/companies/%E2%80%83COMI",
        'ticker must be ASCII letters and digits (e.g. COMI), got "\u2003COMI" (U+2003 is not ' +
        "ASCII)",
      ],
      [
        "/api/v1/indices/performance?index=egx70_ew%C4%B1",
        'index must be ASCII letters, digits or _ (e.g. EGX30), got "egx70_ewı" (U+0131 is not ' +
        "ASCII)",
      ],
    ];
    for (const [path, message] of cases) {
      const r = await srv.get(path);
      assert.deepEqual([path, r.status, r.body], [path, 400, { error: { status: 400, message } }]);
    }
    // ASCII in any case is still accepted.
    assert.equal((await ok(srv, "/api/v1/companies/comi")).data.ticker, "COMI");
    assert.equal((await ok(srv, "/api/v1/indices/performance?index=egx30")).data[0].index, "EGX30");
  });
});

Deno.test("daily prices for a date range match the input bars, paginated", async () => {
  await withServer(async (srv, inputs) => {
    const rows = withPrevClose(inputs.daily, "COMI");
    const to = rows[rows.length - 1].date;
    const from = `${Number(to.slice(0, 4)) - 1}${to.slice(4)}`;
    const expected = rows.filter((r) => r.date >= from && r.date <= to).map((r) => ({
      date: r.date,
      open: r.open,
      high: r.high,
      low: r.low,
      close: r.close,
      volume: r.volume,
      changePct: r.changePct,
      live: false,
    }));
    const year = await ok(srv, `/api/v1/prices/COMI/daily?from=${from}&to=${to}`);
    assert.deepEqual(year.data, expected);
    assert.deepEqual(year.page, { limit: 1000, offset: 0, total: expected.length, next: null });

    const p1 = await ok(srv, `/api/v1/prices/COMI/daily?from=${from}&to=${to}&limit=40`);
    assert.equal(
      p1.page.next,
      `/api/v1/prices/COMI/daily?from=${from}&to=${to}&limit=40&offset=40`,
    );
    const pages = [p1];
    while (pages[pages.length - 1].page.next) {
      pages.push(await ok(srv, pages[pages.length - 1].page.next));
    }
    assert.equal(pages.length, Math.ceil(expected.length / 40));
    assert.deepEqual(pages.flatMap((p) => p.data), expected);

    const narrow = await ok(srv, "/api/v1/prices/COMI/daily?from=2025-11-02&to=2025-11-06");
    assert.deepEqual(
      narrow.data.map((r: { date: string }) => r.date),
      rows.filter((r) => r.date >= "2025-11-02" && r.date <= "2025-11-06").map((r) => r.date),
    );
    const bad = await srv.get("/api/v1/prices/COMI/daily?from=2025-12-01&to=2025-11-01");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.message, "from (2025-12-01) must not be after to (2025-11-01)");
  });
});

Deno.test("intraday bars default to the latest day and validate their range", async () => {
  await withServer(async (srv, inputs) => {
    const bars = inputs.intraday.filter((b) => b.ticker === "COMI");
    const last = bars.reduce((m, b) => (b.date > m ? b.date : m), "");
    const expected = bars.filter((b) => b.date === last).sort((a, b) =>
      a.time.localeCompare(b.time)
    )
      .map((b) => ({
        time: b.time,
        date: b.date,
        intervalMinutes: 1,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
        source: "BARS_1M",
      }));
    const body = await ok(srv, "/api/v1/prices/COMI/intraday");
    assert.deepEqual(body.data, expected);
    assert.equal(body.page.total, expected.length);

    const first = bars.reduce((m, b) => (b.date < m ? b.date : m), "9999");
    const day = await ok(srv, `/api/v1/prices/COMI/intraday?date=${first}&limit=5`);
    assert.deepEqual(
      day.data.map((b: { time: string }) => b.time),
      bars.filter((b) => b.date === first).map((b) => b.time).sort().slice(0, 5),
    );
    const weekStart = new Date(Date.parse(`${last}T00:00:00Z`) - 6 * 86_400_000).toISOString()
      .slice(0, 10);
    const range = await ok(
      srv,
      `/api/v1/prices/COMI/intraday?from=${weekStart}&to=${last}&limit=1`,
    );
    assert.equal(range.page.total, bars.filter((b) => b.date >= weekStart).length);

    const cases: [string, string][] = [
      [
        "?from=2025-10-01&to=2025-12-08",
        "the range 2025-10-01..2025-12-08 spans 69 days; at most 31 are allowed here",
      ],
      ["?date=2025-12-08&from=2025-12-01&to=2025-12-08", "give either date or from/to, not both"],
      ["?from=2025-12-01", "from and to go together for intraday bars (at most 31 days)"],
      ["?source=KAFKA", 'source must be one of ANY, BARS_1M, STREAMING_API, got "KAFKA"'],
      ["?date=08-12-2025", 'date must be a date YYYY-MM-DD, got "08-12-2025"'],
    ];
    for (const [q, message] of cases) {
      const r = await srv.get(`/api/v1/prices/COMI/intraday${q}`);
      assert.deepEqual([q, r.status, r.body.error.message], [q, 400, message]);
    }
    const none = await ok(srv, "/api/v1/prices/AALR/intraday"); // listed, never traded here
    assert.deepEqual(none, { data: [], page: { limit: 1000, offset: 0, total: 0, next: null } });
    // A day EGX did not trade (a Saturday) is a 404, as for market/snapshot; a trading day
    // without bars is an empty list.
    const saturday = await srv.get("/api/v1/prices/COMI/intraday?date=2025-12-06");
    assert.deepEqual([saturday.status, saturday.body.error.message], [
      404,
      "no intraday bars on 2025-12-06 (EGX did not trade that day)",
    ]);
    const snapshot = await srv.get("/api/v1/market/snapshot?date=2025-12-06");
    assert.deepEqual([snapshot.status, snapshot.body.error.message], [
      404,
      "no market data on 2025-12-06 (EGX did not trade that day)",
    ]);
    assert.deepEqual(await ok(srv, "/api/v1/prices/AALR/intraday?date=2025-12-08"), none);
  });
});

Deno.test("intraday bars of one source default to that source's latest day", async () => {
  await withServer(async (srv, inputs) => {
    const lastFileDay = (ticker: string) =>
      inputs.intraday.filter((b) => b.ticker === ticker).reduce(
        (m, b) => (b.date > m ? b.date : m),
        "",
      );
    const fileBars = (ticker: string, date: string) =>
      inputs.intraday.filter((b) => b.ticker === ticker && b.date === date)
        .sort((a, b) => a.time.localeCompare(b.time))
        .map((b) => [b.time, b.close, 1, "BARS_1M"]);
    assert.deepEqual([lastFileDay("COMI"), lastFileDay("ETEL")], ["2025-12-08", "2025-12-08"]);
    // The stream is a day ahead of the files for COMI, a day behind them for ETEL.
    await srv.warehouse.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_INTRADAY_BAR (TICKER, BAR_START, INTERVAL_MINUTES, " +
          "DATA_SOURCE, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME) VALUES " +
          "('COMI', '2025-12-09 08:00:00', 5, 'STREAMING_API', '2025-12-09', 118, 121, 117.5, " +
          "120, 200000), ('ETEL', '2025-12-07 08:00:00', 5, 'STREAMING_API', '2025-12-07', " +
          "50, 51, 49.5, 50.5, 1000), ('ETEL', '2025-12-07 08:05:00', 5, 'STREAMING_API', " +
          "'2025-12-07', 50.5, 52, 50.5, 51.75, 2000)",
      )
    );
    await new Promise((r) => setTimeout(r, 300));
    const bars = async (path: string) =>
      (await ok(srv, path)).data.map((b: Record<string, unknown>) => [
        b.time,
        b.close,
        b.intervalMinutes,
        b.source,
      ]);
    const comiStream = [["2025-12-09T08:00:00.000Z", 120, 5, "STREAMING_API"]];
    const etelStream = [
      ["2025-12-07T08:00:00.000Z", 50.5, 5, "STREAMING_API"],
      ["2025-12-07T08:05:00.000Z", 51.75, 5, "STREAMING_API"],
    ];
    assert.deepEqual(await bars("/api/v1/prices/COMI/intraday"), comiStream);
    assert.deepEqual(await bars("/api/v1/prices/COMI/intraday?source=STREAMING_API"), comiStream);
    assert.deepEqual(
      await bars("/api/v1/prices/COMI/intraday?source=BARS_1M"),
      fileBars("COMI", "2025-12-08"),
    );
    assert.deepEqual(
      await bars("/api/v1/prices/ETEL/intraday"),
      fileBars("ETEL", "2025-12-08"),
    );
    assert.deepEqual(
      await bars("/api/v1/prices/ETEL/intraday?source=BARS_1M"),
      fileBars("ETEL", "2025-12-08"),
    );
    assert.deepEqual(await bars("/api/v1/prices/ETEL/intraday?source=STREAMING_API"), etelStream);
    // A ticker with bars from neither source answers an empty page, not a 404.
    const none = await ok(srv, "/api/v1/prices/AALR/intraday?source=STREAMING_API");
    assert.deepEqual(none, { data: [], page: { limit: 1000, offset: 0, total: 0, next: null } });
  }, { copy: true });
});

Deno.test("indicators are the gold fact's, matching averages computed from the closes", async () => {
  await withServer(async (srv, inputs) => {
    const closes = withPrevClose(inputs.daily, "COMI").map((r) => r.close);
    const body = await ok(srv, "/api/v1/indicators/COMI");
    assert.equal(body.data.length, closes.length);
    const last = body.data[body.data.length - 1];
    assert.ok(near(last.ma7, mean(closes.slice(-7))));
    assert.ok(near(last.ma30, mean(closes.slice(-30))));
    assert.ok(near(last.bbMiddle, mean(closes.slice(-20))));
    const m = mean(closes.slice(-20));
    const sd = Math.sqrt(mean(closes.slice(-20).map((c) => (c - m) ** 2)));
    assert.ok(near(last.bbUpper, m + 2 * sd));
    assert.equal(body.data[5].ma7, null); // the window is not full before the 7th bar
    assert.ok(near(body.data[6].ma7, mean(closes.slice(0, 7))));
    assert.ok(last.rsi14 > 0 && last.rsi14 < 100);
    assert.equal(
      last.rsiSignal,
      last.rsi14 >= 70 ? "OVERBOUGHT" : last.rsi14 <= 30 ? "OVERSOLD" : "NEUTRAL",
    );
  });
});

Deno.test("the market snapshot has every stock of the day, breadth and totals", async () => {
  await withServer(async (srv, inputs) => {
    const date = latestDate(inputs.daily);
    const rows = dayRows(inputs, date);
    const body = await ok(srv, "/api/v1/market/snapshot");
    assert.equal(body.data.date, date);
    assert.deepEqual(
      body.data.stocks.map((
        s: Record<string, unknown>,
      ) => [s.ticker, s.close, s.prevClose, s.volume]),
      rows.map((r) => [r.ticker, r.close, r.prevClose, r.volume]),
    );
    for (const [i, s] of body.data.stocks.entries()) {
      assert.ok(near(s.changePct, rows[i].changePct!), s.ticker);
      assert.equal(s.name, inputs.companies.get(s.ticker)!.name);
      assert.equal(s.sector, inputs.companies.get(s.ticker)!.sector);
      assert.ok(near(s.value, (rows[i].high + rows[i].low + rows[i].close) / 3 * rows[i].volume));
    }
    assert.deepEqual(body.data.breadth, {
      advancers: rows.filter((r) => r.changePct! > 0).length,
      decliners: rows.filter((r) => r.changePct! < 0).length,
      unchanged: rows.filter((r) => r.changePct === 0).length,
      total: rows.length,
    });
    assert.equal(body.data.totals.volume, sum(rows.map((r) => r.volume)));

    const earlier = await ok(srv, "/api/v1/market/snapshot?date=2025-11-13");
    assert.deepEqual(
      earlier.data.stocks.map((s: { ticker: string }) => s.ticker),
      dayRows(inputs, "2025-11-13").map((r) => r.ticker),
    );
    const friday = await srv.get("/api/v1/market/snapshot?date=2025-12-05");
    assert.deepEqual(friday.body, {
      error: { status: 404, message: "no market data on 2025-12-05 (EGX did not trade that day)" },
    });
    const future = await srv.get("/api/v1/market/snapshot?date=2026-03-02");
    assert.equal(future.body.error.message, "no market data on 2026-03-02 (no data loaded for it)");
  });
});

Deno.test("top movers and volume leaders rank the day's stocks, as the gold views do", async () => {
  await withServer(async (srv, inputs) => {
    const date = latestDate(inputs.daily);
    const rows = dayRows(inputs, date).filter((r) => r.changePct !== null);
    const byGain = [...rows].sort((a, b) =>
      b.changePct! - a.changePct! || a.ticker.localeCompare(b.ticker)
    );
    const byLoss = [...rows].sort((a, b) =>
      a.changePct! - b.changePct! || a.ticker.localeCompare(b.ticker)
    );
    const byVolume = [...dayRows(inputs, date)].sort((a, b) =>
      b.volume - a.volume || a.ticker.localeCompare(b.ticker)
    );
    const g = await ok(srv, "/api/v1/market/top-movers?limit=3");
    assert.deepEqual(
      g.data.map((r: Record<string, unknown>) => [r.rank, r.ticker]),
      byGain.slice(0, 3).map((r, i) => [i + 1, r.ticker]),
    );
    const l = await ok(srv, "/api/v1/market/top-movers?direction=losers&limit=3");
    assert.deepEqual(
      l.data.map((r: { ticker: string }) => r.ticker),
      byLoss.slice(0, 3).map((r) => r.ticker),
    );
    const v = await ok(srv, `/api/v1/market/volume-leaders?date=${date}`);
    assert.deepEqual(
      v.data.map((r: Record<string, unknown>) => [r.ticker, r.volume]),
      byVolume.slice(0, 10).map((r) => [r.ticker, r.volume]),
    );
    // Same lists as the gold view (which always shows the latest market day): only risers are
    // gainers and only fallers losers, in both.
    for (const [direction, rank] of [["gainers", "GAINER_RANK"], ["losers", "LOSER_RANK"]]) {
      const all = await ok(srv, `/api/v1/market/top-movers?direction=${direction}&limit=50`);
      const view = await srv.warehouse.query<{ TICKER: string }>(
        `SELECT TICKER FROM DWH_GOLD.vw_top_movers WHERE ${rank} IS NOT NULL ORDER BY ${rank}`,
      );
      assert.deepEqual(
        all.data.map((r: { ticker: string }) => r.ticker),
        view.map((r) => r.TICKER),
      );
      const moved = direction === "gainers" ? byGain : byLoss;
      const sign = direction === "gainers" ? 1 : -1;
      assert.deepEqual(
        view.map((r) => r.TICKER),
        moved.filter((r) => Math.sign(r.changePct!) === sign).map((r) => r.ticker),
      );
    }

    for (
      const [q, message] of [
        ["direction=up", 'direction must be one of gainers, losers, got "up"'],
        ["limit=51", "limit must be between 1 and 50, got 51"],
        ["date=2025-13-01", 'date must be a date YYYY-MM-DD, got "2025-13-01"'],
      ]
    ) {
      const r = await srv.get(`/api/v1/market/top-movers?${q}`);
      assert.deepEqual([r.status, r.body.error.message], [400, message]);
    }
  });
});

Deno.test("gainers are only the stocks that rose and losers only those that fell", async () => {
  await withServer(async (srv, inputs) => {
    // A day with 5 stocks up, 4 down and 2 unchanged: a list of 50 holds every one that moved.
    const date = "2025-12-04";
    const rows = dayRows(inputs, date).filter((r) => r.changePct !== null);
    const up = rows.filter((r) => r.changePct! > 0).sort((a, b) =>
      b.changePct! - a.changePct! || a.ticker.localeCompare(b.ticker)
    ).map((r) => r.ticker);
    const down = rows.filter((r) => r.changePct! < 0).sort((a, b) =>
      a.changePct! - b.changePct! || a.ticker.localeCompare(b.ticker)
    ).map((r) => r.ticker);
    assert.deepEqual([rows.length, up.length, down.length], [11, 5, 4]);
    const gainers = await ok(srv, `/api/v1/market/top-movers?date=${date}&limit=50`);
    assert.deepEqual(
      gainers.data.map((r: Record<string, unknown>) => [r.rank, r.ticker]),
      up.map((t, i) => [i + 1, t]),
    );
    const losers = await ok(
      srv,
      `/api/v1/market/top-movers?date=${date}&direction=losers&limit=50`,
    );
    assert.deepEqual(
      losers.data.map((r: Record<string, unknown>) => [r.rank, r.ticker]),
      down.map((t, i) => [i + 1, t]),
    );
    // The default 10 rows: still only the 5 that rose.
    const top10 = await ok(srv, `/api/v1/market/top-movers?date=${date}`);
    assert.deepEqual(top10.data.map((r: { ticker: string }) => r.ticker), up);
  });
});

Deno.test("breadth counts a stock without a previous close in none of its three groups", async () => {
  await withServer(async (srv, inputs) => {
    // 2025-08-03: 11 stocks, 3 up, 4 down, 2 unchanged and 2 on their first day (no change).
    const date = "2025-08-03";
    const rows = dayRows(inputs, date);
    assert.deepEqual(
      rows.filter((r) => r.changePct === null).map((r) => r.ticker),
      ["ABUK", "FWRY"],
    );
    const body = await ok(srv, `/api/v1/market/snapshot?date=${date}`);
    assert.deepEqual(
      body.data.stocks.map((s: Record<string, unknown>) => [s.ticker, s.changePct === null]),
      rows.map((r) => [r.ticker, r.changePct === null]),
    );
    assert.deepEqual(body.data.breadth, { advancers: 3, decliners: 4, unchanged: 2, total: 11 });
  });
});

Deno.test("sector performance aggregates the day's stocks per sector", async () => {
  await withServer(async (srv, inputs) => {
    const date = latestDate(inputs.daily);
    const rows = dayRows(inputs, date);
    const sectors = new Map<string, typeof rows>();
    for (const r of rows) {
      const s = inputs.companies.get(r.ticker)!.sector;
      sectors.set(s, [...(sectors.get(s) ?? []), r]);
    }
    const body = await ok(srv, "/api/v1/sectors/performance");
    assert.deepEqual(
      body.data.map((s: { sector: string }) => s.sector).sort(),
      [...sectors.keys()].sort(),
    );
    for (const s of body.data) {
      const rs = sectors.get(s.sector)!;
      assert.equal(s.companies, rs.length);
      assert.equal(s.advancers, rs.filter((r) => r.changePct! > 0).length);
      assert.equal(s.decliners, rs.filter((r) => r.changePct! < 0).length);
      assert.equal(s.volume, sum(rs.map((r) => r.volume)));
      assert.ok(near(s.avgChangePct, mean(rs.map((r) => r.changePct!))), s.sector);
    }
    const avgs = body.data.map((s: { avgChangePct: number }) => s.avgChangePct);
    assert.deepEqual(avgs, [...avgs].sort((a, b) => b - a));
  });
});

Deno.test("indices list their members and an equal-weighted day is the mean member return", async () => {
  await withServer(async (srv, inputs) => {
    const list = await ok(srv, "/api/v1/indices");
    assert.deepEqual(
      list.data.map((
        i: Record<string, unknown>,
      ) => [i.code, i.weighting, i.weightMethod, i.baseValue]),
      [
        ["EGX100_EWI", "EQUAL_WEIGHTED", "EQUAL", 1000],
        // The bundled list gives no weights: EGX30's level is computed equal-weighted, and the
        // API says so beside its definition.
        ["EGX30", "CAP_WEIGHTED", "EQUAL_FALLBACK", 1000],
        ["EGX70_EWI", "EQUAL_WEIGHTED", "EQUAL", 1000],
      ],
    );
    const date = latestDate(inputs.daily);
    const members = inputs.memberships.filter((m) =>
      m.index === "EGX70_EWI" && m.from <= date && (m.to === null || date < m.to)
    ).map((m) => m.ticker);
    const returns = dayRows(inputs, date).filter((r) => members.includes(r.ticker))
      .map((r) => r.changePct!);
    const perf = await ok(srv, `/api/v1/indices/performance?index=egx70_ewi&from=${date}`);
    assert.equal(perf.data.length, 1);
    assert.equal(perf.data[0].date, date);
    assert.ok(near(perf.data[0].changePct, mean(returns)));
    // The level chains the daily returns from the base value.
    const all = await ok(srv, "/api/v1/indices/performance?index=EGX70_EWI");
    let level = 1000;
    for (const r of all.data.slice(1)) level *= 1 + r.changePct / 100;
    assert.ok(Math.abs(all.data[all.data.length - 1].level - level) < 1e-6);
    assert.equal(all.data[0].level, 1000);

    const unknown = await srv.get("/api/v1/indices/performance?index=EGX999");
    assert.deepEqual([unknown.status, unknown.body.error.message], [
      404,
      "unknown index EGX999: see /api/v1/indices",
    ]);
    const bad = await srv.get("/api/v1/indices/performance?index=EGX-30");
    assert.equal(bad.status, 400);
  });
});

Deno.test("streamed rows newer than the models show up live, marked as such", async () => {
  await withServer(async (srv, inputs) => {
    const comi = withPrevClose(inputs.daily, "COMI");
    const lastClose = comi[comi.length - 1].close;
    const v1 = (await ok(srv, "/api/v1/version")).data.dataVersion;
    // The stream's bar for the next trading day (2025-12-09), not yet in the gold models.
    await srv.warehouse.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, " +
          "LOW, CLOSE, VOLUME, SOURCE_FILE) VALUES ('COMI', '2025-12-09', 'STREAMING_API', " +
          "118, 126, 117.5, 125, 500000, 'egx.quotes.v1/0/42')",
      );
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_INTRADAY_BAR (TICKER, BAR_START, INTERVAL_MINUTES, " +
          "DATA_SOURCE, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME) VALUES " +
          "('COMI', '2025-12-09 08:00:00', 5, 'STREAMING_API', '2025-12-09', 118, 121, 117.5, " +
          "120, 200000), ('COMI', '2025-12-09 08:05:00', 5, 'STREAMING_API', '2025-12-09', " +
          "120, 126, 120, 125, 300000)",
      );
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.notEqual((await ok(srv, "/api/v1/version")).data.dataVersion, v1);
    const snap = await ok(srv, "/api/v1/market/snapshot");
    assert.equal(snap.data.date, "2025-12-09");
    assert.deepEqual(snap.data.stocks.map((s: Record<string, unknown>) => [s.ticker, s.live]), [
      ["COMI", true],
    ]);
    const s = snap.data.stocks[0];
    assert.equal(s.prevClose, lastClose);
    assert.ok(near(s.changePct, (125 / lastClose - 1) * 100));
    const movers = await ok(srv, "/api/v1/market/top-movers");
    assert.deepEqual(movers.data.map((r: { ticker: string }) => r.ticker), ["COMI"]);
    const company = await ok(srv, "/api/v1/companies/COMI");
    assert.equal(company.data.lastDate, "2025-12-09");
    assert.equal(company.data.latest.close, 125);
    const bars = await ok(srv, "/api/v1/prices/COMI/intraday");
    assert.deepEqual(
      bars.data.map((b: Record<string, unknown>) => [b.time, b.close, b.intervalMinutes, b.source]),
      [
        ["2025-12-09T08:00:00.000Z", 120, 5, "STREAMING_API"],
        ["2025-12-09T08:05:00.000Z", 125, 5, "STREAMING_API"],
      ],
    );
    // The previous day is still served from gold.
    const before = await ok(srv, `/api/v1/market/snapshot?date=${comi[comi.length - 1].date}`);
    assert.ok(before.data.stocks.every((x: { live: boolean }) => x.live === false));
  }, { copy: true });
});

Deno.test("prices of a company the models have not built yet are in no market-wide answer", async () => {
  await withServer(async (srv, inputs) => {
    // A batch_load whose models have not run: NEWCO has prices but no row in gold_dim_company,
    // rising 100% on the latest day with the most shares traded, and alone on the day after.
    await srv.warehouse.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, " +
          "LOW, CLOSE, VOLUME) VALUES " +
          "('NEWCO', '2025-12-07', 'BATCH_CSV', 10, 10, 10, 10, 900000000), " +
          "('NEWCO', '2025-12-08', 'BATCH_CSV', 20, 20, 20, 20, 900000000), " +
          "('NEWCO', '2025-12-09', 'BATCH_CSV', 30, 30, 30, 30, 900000000)",
      )
    );
    const date = latestDate(inputs.daily);
    assert.equal(date, "2025-12-08");
    const day = dayRows(inputs, date);
    const ranks = (body: { data: Record<string, unknown>[] }) =>
      body.data.map((r) => [r.rank, r.ticker]);
    const ranked = (rows: typeof day) => rows.slice(0, 3).map((r, i) => [i + 1, r.ticker]);
    const gainers = day.filter((r) => r.changePct! > 0)
      .sort((a, b) => b.changePct! - a.changePct! || a.ticker.localeCompare(b.ticker));
    const leaders = [...day].sort((a, b) =>
      b.volume - a.volume || a.ticker.localeCompare(b.ticker)
    );
    assert.deepEqual(ranks(await ok(srv, "/api/v1/market/top-movers?limit=3")), ranked(gainers));
    assert.deepEqual(
      ranks(await ok(srv, "/api/v1/market/volume-leaders?limit=3")),
      ranked(leaders),
    );
    // The default date is the latest with a listed stock, not NEWCO's day alone.
    const snap = await ok(srv, "/api/v1/market/snapshot");
    assert.equal(snap.data.date, date);
    assert.deepEqual(
      snap.data.stocks.map((s: { ticker: string }) => s.ticker),
      day.map((r) => r.ticker),
    );
    assert.equal(snap.data.breadth.total, day.length);
    const sectors = await ok(srv, "/api/v1/sectors/performance");
    assert.equal(sum(sectors.data.map((s: { companies: number }) => s.companies)), day.length);
    const alone = await srv.get("/api/v1/market/snapshot?date=2025-12-09");
    assert.deepEqual(
      [alone.status, alone.body.error.message],
      [404, "no market data on 2025-12-09 (no data loaded for it)"],
    );
  }, { copy: true });
});

Deno.test("a day the models built before the session closed is served from its newer operational row", async () => {
  await withServer(async (srv, inputs) => {
    // The 14:00 Cairo build saw the day up to then; a later poll (or the close's batch file)
    // changed the day's best operational row: that row is served, live, until the next build.
    const comi = withPrevClose(inputs.daily, "COMI");
    const last = comi[comi.length - 1];
    const [src] = await srv.warehouse.query<{ DATA_SOURCE: string }>(
      "SELECT DATA_SOURCE FROM DWH_GOLD.gold_fct_stock_daily_prices " +
        "WHERE TICKER = 'COMI' AND TRADE_DATE = ?",
      [last.date],
    );
    // A stream row of lower precedence changes nothing: gold is still what the models build.
    await srv.warehouse.transaction((tx) =>
      tx.execute(
        "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, " +
          "LOW, CLOSE, VOLUME, SOURCE_FILE) VALUES ('COMI', ?, 'STREAMING_API', 1, 2, 1, 2, 5, " +
          "'egx.quotes.v1/0/43')",
        [last.date],
      )
    );
    await new Promise((r) => setTimeout(r, 300));
    const unchanged = await ok(srv, `/api/v1/market/snapshot?date=${last.date}`);
    assert.ok(unchanged.data.stocks.every((x: { live: boolean }) => x.live === false));
    // The row the models used gets a later close and a new high.
    const close = last.close + 3;
    const high = Math.max(last.high, close);
    await srv.warehouse.transaction((tx) =>
      tx.execute(
        "UPDATE OPERATIONAL.TBL_STOCK_PRICE SET CLOSE = ?, HIGH = ?, VOLUME = VOLUME + 1000, " +
          "UPDATED_AT = now()::TIMESTAMP WHERE TICKER = 'COMI' AND TRADE_DATE = ? AND DATA_SOURCE = ?",
        [close, high, last.date, src.DATA_SOURCE],
      )
    );
    await new Promise((r) => setTimeout(r, 300));
    const snap = await ok(srv, `/api/v1/market/snapshot?date=${last.date}`);
    const live = snap.data.stocks.filter((x: { live: boolean }) => x.live);
    assert.deepEqual(live.map((x: { ticker: string }) => x.ticker), ["COMI"]);
    assert.equal(snap.data.stocks.length, dayRows(inputs, last.date).length);
    assert.deepEqual(
      [live[0].close, live[0].volume, live[0].prevClose],
      [close, last.volume + 1000, last.prevClose],
    );
    assert.ok(near(live[0].changePct, (close / last.prevClose! - 1) * 100));
    // Served once, not beside the gold row.
    const days = await ok(srv, `/api/v1/prices/COMI/daily?from=${comi[comi.length - 2].date}`);
    assert.deepEqual(
      days.data.map((d: Record<string, unknown>) => [d.date, d.high, d.close, d.live]),
      [
        [
          comi[comi.length - 2].date,
          comi[comi.length - 2].high,
          comi[comi.length - 2].close,
          false,
        ],
        [last.date, high, close, true],
      ],
    );
    assert.equal((await ok(srv, "/api/v1/companies/COMI")).data.latest.close, close);
  }, { copy: true });
});

Deno.test("a day whose volume is not known is served with volume null, ranked last and left out of the totals", async () => {
  await withServer(async (srv, inputs) => {
    // The next trading day from Investing.com exports: COMI's with "-" for its volume.
    await srv.warehouse.transaction((tx) =>
      tx.execute(
        "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, " +
          "LOW, CLOSE, VOLUME, SOURCE_FILE) VALUES " +
          "('COMI', '2025-12-09', 'INVESTING_EXPORT', 118, 120, 117, 119, NULL, 'c.csv'), " +
          "('ETEL', '2025-12-09', 'INVESTING_EXPORT', 59, 60, 58, 59.5, 1000, 'e.csv')",
      )
    );
    await new Promise((r) => setTimeout(r, 300));
    const snap = await ok(srv, "/api/v1/market/snapshot?date=2025-12-09");
    assert.deepEqual(
      snap.data.stocks.map((s: Record<string, unknown>) => [s.ticker, s.volume, s.value, s.live]),
      [["COMI", null, null, true], ["ETEL", 1000, (60 + 58 + 59.5) / 3 * 1000, true]],
    );
    assert.deepEqual(snap.data.totals, { volume: 1000, value: (60 + 58 + 59.5) / 3 * 1000 });
    const leaders = await ok(srv, "/api/v1/market/volume-leaders?date=2025-12-09");
    assert.deepEqual(
      leaders.data.map((r: Record<string, unknown>) => [r.rank, r.ticker, r.volume]),
      [[1, "ETEL", 1000], [2, "COMI", null]],
    );
    const days = await ok(srv, "/api/v1/prices/COMI/daily?from=2025-12-09");
    assert.deepEqual(
      days.data.map((d: Record<string, unknown>) => [d.date, d.close, d.volume, d.live]),
      [["2025-12-09", 119, null, true]],
    );
    // A built day whose operational row loses its volume (a corrected export) differs from gold
    // (NULL vs a number is a difference): it is served live, with no volume.
    const comi = withPrevClose(inputs.daily, "COMI");
    const last = comi[comi.length - 1];
    await srv.warehouse.transaction((tx) =>
      tx.execute(
        "UPDATE OPERATIONAL.TBL_STOCK_PRICE SET VOLUME = NULL, UPDATED_AT = now()::TIMESTAMP " +
          "WHERE TICKER = 'COMI' AND TRADE_DATE = ?",
        [last.date],
      )
    );
    await new Promise((r) => setTimeout(r, 300));
    const before = await ok(srv, `/api/v1/market/snapshot?date=${last.date}`);
    const comiThen = before.data.stocks.find((x: { ticker: string }) => x.ticker === "COMI");
    assert.deepEqual([comiThen.close, comiThen.volume, comiThen.live], [last.close, null, true]);
    assert.equal(
      before.data.totals.volume,
      sum(dayRows(inputs, last.date).filter((r) => r.ticker !== "COMI").map((r) => r.volume)),
    );
  }, { copy: true });
});

Deno.test("every endpoint answers bad input with 400 and a message naming the parameter", async () => {
  await withServer(async (srv) => {
    const long = "x".repeat(61);
    const cases: [string, number, string][] = [
      [`/api/v1/companies?q=${long}`, 400, "q must be at most 60 characters, got 61"],
      ["/api/v1/companies?hasPrices=yes", 400, 'hasPrices must be one of true, false, got "yes"'],
      ["/api/v1/companies?limit=1001", 400, "limit must be between 1 and 1000, got 1001"],
      [
        "/api/v1/companies/COMI?from=2025-01-01",
        400,
        'unknown query parameter "from"; none are allowed',
      ],
      [
        "/api/v1/prices/COMI/daily?to=tomorrow",
        400,
        'to must be a date YYYY-MM-DD, got "tomorrow"',
      ],
      [
        "/api/v1/indicators/COMI?from=2025-1-1",
        400,
        'from must be a date YYYY-MM-DD, got "2025-1-1"',
      ],
      ["/api/v1/market/snapshot?date=", 400, 'date must be a date YYYY-MM-DD, got ""'],
      ["/api/v1/market/volume-leaders?limit=0", 400, "limit must be between 1 and 50, got 0"],
      [
        "/api/v1/sectors/performance?date=2025-12-32",
        400,
        'date must be a date YYYY-MM-DD, got "2025-12-32"',
      ],
      [
        "/api/v1/sectors/performance?date=2025-12-05",
        404,
        "no market data on 2025-12-05 (EGX did not trade that day)",
      ],
      ["/api/v1/indices?index=EGX30", 400, 'unknown query parameter "index"; none are allowed'],
      [
        "/api/v1/indices/performance?from=2025-12-08&to=2025-01-01",
        400,
        "from (2025-12-08) must not be after to (2025-01-01)",
      ],
      [
        "/api/v1/pipeline/health?verbose=1",
        400,
        'unknown query parameter "verbose"; none are allowed',
      ],
      ["/api/v1/version?x=1", 400, 'unknown query parameter "x"; none are allowed'],
      // A malformed %-escape was read as U+FFFD (or a literal "%") and searched for.
      [
        "/api/v1/companies?q=%E0%A4%A",
        400,
        'malformed percent-encoding in query parameter "q": "%E0%A4%A"',
      ],
      [
        "/api/v1/prices/COMI/daily?limit=%ZZ",
        400,
        'malformed percent-encoding in query parameter "limit": "%ZZ"',
      ],
      [
        "/api/v1/market/top-movers?%ZZ=1",
        400,
        'malformed percent-encoding in the query string "?%ZZ=1"',
      ],
    ];
    for (const [path, status, message] of cases) {
      const r = await srv.get(path);
      assert.deepEqual([path, r.status, r.body], [path, status, { error: { status, message } }]);
    }
  });
});

/// <reference lib="dom" />
/**
 * The dashboard in headless Chromium (Debian `chromium`, driven by playwright-core) against a
 * real server over a warehouse built by the real models from real EGX bars: every page loads
 * without errors, its charts hold the right data (compared with values computed here from the
 * raw inputs), times are shown in Cairo time, and the page updates itself when new data lands.
 * Screenshots are saved to tests/artifacts/web/.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { evaluateAlerts } from "../lib/alerts/run_alerts.ts";
import { parseRules } from "../lib/alerts/rules.ts";
import { History, historyPath } from "../lib/runner/history.ts";
import { launchBrowser, type LaunchedBrowser } from "./support/browser.ts";
import {
  buildMarketWarehouse,
  type MarketInputs,
  readInputs,
  withPrevClose,
} from "./support/market_warehouse.ts";
import { startTestServer, type TestServer } from "./support/web_fixture.ts";
import { testBrokers, testClient, uniqueName } from "./support/kafka.ts";
import { loadConfig } from "../lib/config/config.ts";
import { freePort } from "../lib/stream/local_broker.ts";
import { writeStatus } from "../lib/stream/status.ts";
import type { HealthSources } from "../lib/web/endpoint.ts";
import { kafkaRecordCounts } from "../lib/web/stream_lag.ts";
import { holdWarehouse } from "./support/busy_warehouse.ts";
import { loadFiles } from "../lib/ingest/load.ts";
import { localFile } from "./support/temp_warehouse.ts";

const ARTIFACTS = new URL("./artifacts/web/", import.meta.url).pathname;
const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

interface Ctx {
  srv: TestServer;
  browser: LaunchedBrowser;
  inputs: MarketInputs;
  dir: string;
}

/**
 * Open `path`, wait for the first render, fail on any page error; returns the page. `before`
 * prepares the page before it loads (e.g. installs a fake clock).
 */
async function open(
  ctx: Ctx,
  path: string,
  opts: { before?: (page: Page) => Promise<void> } = {},
): Promise<Page> {
  const page = await ctx.browser.context.newPage();
  await opts.before?.(page);
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  await page.goto(`${ctx.srv.url}${path}`);
  await page.waitForFunction(() => document.documentElement.dataset.ready === "1", null, {
    timeout: 30_000,
  });
  const errors = await page.evaluate(() => (globalThis as unknown as Egx).egx.errors);
  assert.deepEqual([...problems, ...errors], [], `${path} had problems`);
  return page;
}

interface Egx {
  egx: {
    errors: string[];
    renders: number;
    /** The data version the page last rendered in full. */
    dataVersion: string | null;
    // deno-lint-ignore no-explicit-any
    data: Record<string, any>;
    // deno-lint-ignore no-explicit-any
    charts: Record<string, any>;
  };
}

/** The data a chart series holds (lightweight-charts' series.data()). */
function seriesData(page: Page, path: string): Promise<Record<string, unknown>[]> {
  return page.evaluate((p) => {
    // deno-lint-ignore no-explicit-any
    let s: any = (globalThis as any).egx.charts;
    for (const k of p.split(".")) s = s[k];
    return s.data();
  }, path);
}

/** Number of distinct colours drawn on a chart's canvases (a blank chart has one or two). */
function canvasColours(page: Page, selector: string): Promise<number> {
  return page.evaluate((sel) => {
    const colours = new Set<number>();
    for (const c of document.querySelectorAll<HTMLCanvasElement>(`${sel} canvas`)) {
      const ctx = c.getContext("2d");
      if (!ctx || c.width === 0 || c.height === 0) continue;
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 16) {
        colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      }
    }
    return colours.size;
  }, selector);
}

async function shot(page: Page, name: string) {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

function cells(page: Page, table: string): Promise<string[][]> {
  return page.$$eval(
    `${table} tbody tr`,
    (rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent ?? "")),
  );
}

Deno.test({
  name: "the dashboard pages render the warehouse's data in headless Chromium",
  sanitizeResources: false, // Chromium's pipes belong to playwright for the whole test
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "egx-web-browser-" });
    await buildMarketWarehouse(`${dir}/egx.duckdb`, { docs: true });
    const inputs = await readInputs();
    // A run in the history and alerts in the warehouse, for the pipeline page.
    const h = new History(historyPath(`${dir}/logs`));
    const t0 = Date.parse("2025-12-08T11:00:00Z");
    h.startRun({
      id: "20251208-130000-a1b2",
      target: "full_pipeline",
      trigger: "schedule",
      jobs: ["models_run"],
      at: t0,
    });
    h.startJob("20251208-130000-a1b2", "models_run", t0);
    h.endJob("20251208-130000-a1b2", "models_run", { status: "ok", at: t0 + 12_300, attempts: 1 });
    h.endRun("20251208-130000-a1b2", "ok", t0 + 12_300);
    h.close();
    const srv = await startTestServer({
      warehouse: `${dir}/egx.duckdb`,
      logDir: `${dir}/logs`,
      docsDir: `${dir}/target/docs`,
      asOf: "2025-12-08T12:30:00Z",
    });
    const rules = parseRules("rules:\n  - {id: big-move, kind: price_move, threshold_pct: 5}\n");
    const fired = await evaluateAlerts(srv.warehouse, rules, {
      source: "pipeline",
      date: "2025-11-13",
      write: () => {},
    });
    assert.deepEqual(fired.fired.map((a) => a.subject), ["ETEL"]);
    // A landing file whose rows are all quarantined (nothing of the market data changes).
    await Deno.writeTextFile(
      `${dir}/bad.csv`,
      "ticker,trade_date,open,high,low,close,volume\nZZZZ,2025-12-08,1,1,1,1,1\n" +
        "COMI,2025-12-08,1,1,1,<b>x</b>,1\n",
    );
    const [bad] = await loadFiles(srv.warehouse, [localFile(`${dir}/bad.csv`, "daily/bad.csv")], {
      asOf: new Date("2025-12-08T12:30:00Z"),
    });
    assert.deepEqual([bad.rowsLoaded, bad.rowsQuarantined], [0, 2]);
    const browser = await launchBrowser();
    const ctx: Ctx = { srv, browser, inputs, dir };
    try {
      const date = inputs.daily.reduce((m, d) => (d.date > m ? d.date : m), "");
      const tickers = [...new Set(inputs.daily.map((d) => d.ticker))].sort();
      const day = tickers.flatMap((tk) =>
        withPrevClose(inputs.daily, tk).filter((r) => r.date === date)
      );

      await t.step("market overview: breadth, movers, snapshot and index lines", async () => {
        const page = await open(ctx, "/");
        assert.equal(await page.textContent("#market-date"), date);
        assert.equal(
          await page.textContent("#kpi-adv"),
          String(day.filter((r) => r.changePct! > 0).length),
        );
        assert.equal(
          await page.textContent("#kpi-dec"),
          String(day.filter((r) => r.changePct! < 0).length),
        );
        const gainers = day.filter((r) => r.changePct! > 0)
          .sort((a, b) => b.changePct! - a.changePct! || a.ticker.localeCompare(b.ticker))
          .slice(0, 5);
        assert.deepEqual(
          (await cells(page, "#gainers")).map((r) => r[0]),
          gainers.map((r) => r.ticker),
        );
        assert.deepEqual(
          (await cells(page, "#snapshot")).map((r) => [r[0], r[3]]),
          day.map((r) => [r.ticker, r.close.toFixed(2)]),
        );
        for (const code of ["EGX100_EWI", "EGX30", "EGX70_EWI"]) {
          const points = await seriesData(page, `indexLevels.${code}`);
          const api = await srv.get(`/api/v1/indices/performance?index=${code}&from=2025-09-09`);
          assert.equal(points.length, api.body.data.length, code);
          assert.deepEqual(points[points.length - 1], {
            time: date,
            value: api.body.data[api.body.data.length - 1].level,
          });
        }
        assert.ok(await canvasColours(page, "#index-chart") > 10, "index chart is drawn");
        await shot(page, "overview");
        await page.close();
      });

      await t.step(
        "ticker detail: candles, volume, indicators and Cairo-time intraday",
        async () => {
          const page = await open(ctx, "/ticker/COMI");
          assert.equal(
            await page.textContent("#ticker-title"),
            "COMI · Commercial International Bank Egypt (CIB) S.A.E.",
          );
          const rows = withPrevClose(inputs.daily, "COMI");
          const from = new Date(Date.parse(`${date}T00:00:00Z`) - 365 * 86_400_000).toISOString()
            .slice(0, 10);
          const year = rows.filter((r) => r.date >= from);
          const candles = await seriesData(page, "candles");
          assert.deepEqual(
            candles,
            year.map((r) => ({
              time: r.date,
              open: r.open,
              high: r.high,
              low: r.low,
              close: r.close,
            })),
          );
          const volume = await seriesData(page, "volume");
          assert.deepEqual(volume.map((v) => v.value), year.map((r) => r.volume));
          const ma7 = await seriesData(page, "indicators.ma7");
          assert.equal(ma7.length, year.length - 6);
          assert.ok(
            near(ma7[ma7.length - 1].value as number, mean(rows.slice(-7).map((r) => r.close))),
          );
          const rsi = await seriesData(page, "indicators.rsi14");
          assert.equal(rsi.length, year.length - 14);
          const bars = inputs.intraday.filter((b) => b.ticker === "COMI" && b.date === date)
            .sort((a, b) => a.time.localeCompare(b.time));
          const intraday = await seriesData(page, "intraday");
          assert.deepEqual(
            intraday,
            bars.map((b) => ({ time: Date.parse(b.time) / 1000, value: b.close })),
          );
          assert.equal(await page.textContent("#intraday-date"), `${date} (Cairo time)`);
          assert.ok(await canvasColours(page, "#price-chart") > 10, "price chart is drawn");
          assert.ok(await canvasColours(page, "#intraday-chart") > 10, "intraday chart is drawn");
          await shot(page, "ticker");
          // The 3M button narrows the candles to 90 days before the last date.
          await page.click('#ranges button[data-range="90"]');
          const since = new Date(Date.parse(`${date}T00:00:00Z`) - 90 * 86_400_000).toISOString()
            .slice(0, 10);
          await page.waitForFunction(
            (n) => (globalThis as unknown as Egx).egx.data.daily.length === n,
            rows.filter((r) => r.date >= since).length,
          );
          await page.close();
        },
      );

      await t.step(
        "the ticker page takes the API's answer for the path: comi is COMI, comı is refused",
        async () => {
          const lower = await open(ctx, "/ticker/comi");
          assert.equal(
            await lower.textContent("#ticker-title"),
            "COMI · Commercial International Bank Egypt (CIB) S.A.E.",
          );
          assert.equal(await lower.inputValue("#ticker-select"), "COMI");
          await lower.close();
          // JavaScript upper-cases the dotless ı to I: the page must not turn comı into COMI.
          const page = await ctx.browser.context.newPage();
          await page.goto(`${srv.url}/ticker/com%C4%B1`);
          await page.waitForFunction(() => document.documentElement.dataset.ready === "1");
          assert.deepEqual(
            await page.evaluate(() => (globalThis as unknown as Egx).egx.errors),
            ['ticker must be ASCII letters and digits (e.g. COMI), got "comı" (U+0131 is not ASCII)'],
          );
          assert.equal(await page.textContent("#ticker-title"), "Ticker");
          assert.deepEqual(await seriesData(page, "candles"), []);
          // The server answered (a 400): the page is not offline.
          assert.equal(await page.textContent("#live"), "Update failed");
          await page.close();
        },
      );

      await t.step(
        "a range clicked while the page is still loading wins, and the picker is filled once",
        async () => {
          const since = new Date(Date.parse(`${date}T00:00:00Z`) - 90 * 86_400_000).toISOString()
            .slice(0, 10);
          const quarter = withPrevClose(inputs.daily, "COMI").filter((r) => r.date >= since);
          const listed = (await srv.get("/api/v1/companies?hasPrices=true&limit=1000")).body.data
            .length;
          const state = (page: Page) =>
            page.evaluate(() => ({
              pressed: document.querySelector('#ranges button[aria-pressed="true"]')!.textContent,
              options: document.querySelectorAll("#ticker-select option").length,
              candles: (globalThis as unknown as Egx).egx.charts.candles.data().length,
              errors: (globalThis as unknown as Egx).egx.errors,
            }));
          // Held until released: the first render's request is still out when the user clicks.
          const hold = async (page: Page, pattern: string) => {
            let release!: () => void;
            let seen!: () => void;
            const released = new Promise<void>((r) => (release = r));
            const requested = new Promise<void>((r) => (seen = r));
            let first = true;
            await page.route(pattern, async (route) => {
              if (!first) return route.continue();
              first = false;
              seen();
              await released;
              await route.continue();
            });
            return { requested, release };
          };
          // 1. Clicked 3M while the picker's company list is on its way.
          const early = await ctx.browser.context.newPage();
          const list = await hold(early, "**/api/v1/companies?*");
          await early.goto(`${srv.url}/ticker/COMI`);
          await list.requested;
          await early.click('#ranges button[data-range="90"]');
          list.release();
          await early.waitForFunction(
            (n) => (globalThis as unknown as Egx).egx.data.daily?.length === n,
            quarter.length,
          );
          await early.waitForLoadState("networkidle");
          assert.deepEqual(await state(early), {
            pressed: "3M",
            options: listed,
            candles: quarter.length,
            errors: [],
          });
          await early.close();
          // 2. Clicked 3M while the 1Y prices are on their way: they arrive last, are not drawn.
          const late = await ctx.browser.context.newPage();
          const year = await hold(late, "**/api/v1/prices/COMI/daily?*");
          await late.goto(`${srv.url}/ticker/COMI`);
          await year.requested;
          await late.click('#ranges button[data-range="90"]');
          await late.waitForFunction(
            (n) => (globalThis as unknown as Egx).egx.data.daily?.length === n,
            quarter.length,
          );
          const yearAnswer = late.waitForResponse((r) =>
            r.url().includes("/daily?") && !r.url().includes(`from=${since}`)
          );
          year.release();
          await yearAnswer;
          await late.waitForLoadState("networkidle");
          assert.deepEqual(await state(late), {
            pressed: "3M",
            options: listed,
            candles: quarter.length,
            errors: [],
          });
          await late.close();
        },
      );

      await t.step("a range whose prices fail to load says so, and a retry clears it", async () => {
        const page = await open(ctx, "/ticker/COMI");
        const error = () =>
          page.evaluate(() =>
            document.getElementById("error")!.hidden
              ? null
              : document.getElementById("error")!.textContent
          );
        await page.route("**/api/v1/prices/COMI/daily?*", (route) =>
          route.fulfill({
            status: 503,
            contentType: "application/json",
            body: JSON.stringify({ error: { status: 503, message: "the warehouse is busy" } }),
          }));
        await page.click('#ranges button[data-range="90"]');
        await page.waitForFunction(() => (globalThis as unknown as Egx).egx.errors.length > 0);
        assert.equal(await error(), "update failed: the warehouse is busy");
        await page.unroute("**/api/v1/prices/COMI/daily?*");
        await page.click('#ranges button[data-range="90"]');
        const since = new Date(Date.parse(`${date}T00:00:00Z`) - 90 * 86_400_000).toISOString()
          .slice(0, 10);
        await page.waitForFunction(
          (n) => (globalThis as unknown as Egx).egx.data.daily.length === n,
          withPrevClose(inputs.daily, "COMI").filter((r) => r.date >= since).length,
        );
        await page.waitForFunction(() => document.getElementById("error")!.hidden);
        await page.close();
      });

      await t.step("a page's address with a trailing slash opens the page", async () => {
        const titles: [string, string | null][] = [];
        for (const path of ["/ticker/COMI/", "/ticker/", "/sectors/", "/pipeline/"]) {
          const page = await open(ctx, path);
          titles.push([path, await page.textContent("h1")]);
          await page.close();
        }
        assert.deepEqual(titles, [
          ["/ticker/COMI/", "COMI · Commercial International Bank Egypt (CIB) S.A.E."],
          ["/ticker/", "ABUK · Abu Qir Fertilizers & Chemical Industries Company (S.A.E)"],
          ["/sectors/", "Sector comparison"],
          ["/pipeline/", "Pipeline health"],
        ]);
      });

      await t.step("a company without prices says so instead of empty charts", async () => {
        assert.equal(tickers.includes("AALR"), false);
        const page = await open(ctx, "/ticker/AALR");
        assert.equal(
          await page.textContent("#ticker-title"),
          "AALR · General Company For Land Reclamation, Development & Reconstruction",
        );
        assert.equal(await page.textContent("#price-legend"), "no daily prices for AALR");
        // The picker lists companies with prices: it still names the one shown, not a blank.
        assert.equal(await page.inputValue("#ticker-select"), "AALR");
        assert.equal(
          await page.textContent("#ticker-select option:checked"),
          "AALR · General Company For Land Reclamation, Development & Reconstruction (no prices)",
        );
        assert.equal(await page.textContent("#intraday-date"), "no intraday bars");
        assert.deepEqual(await cells(page, "#indicator-table"), [["no data"]]);
        assert.deepEqual(await seriesData(page, "candles"), []);
        await page.close();
      });

      await t.step("sector comparison: one bar and one row per sector", async () => {
        const page = await open(ctx, "/sectors");
        const sectors = [...new Set(day.map((r) => inputs.companies.get(r.ticker)!.sector))].sort();
        const bars = await page.$$eval(
          "#sector-bars .row",
          (rs) => rs.map((r) => r.getAttribute("data-key")),
        );
        assert.deepEqual([...bars].sort(), sectors);
        const fin = day.filter((r) => inputs.companies.get(r.ticker)!.sector === "Financials");
        const row = (await cells(page, "#sector-table")).find((r) => r[0] === "Financials")!;
        assert.equal(row[1], String(fin.length));
        const avg = mean(fin.map((r) => r.changePct!));
        assert.equal(row[3], `${avg > 0 ? "+" : ""}${avg.toFixed(2)}%`);
        await shot(page, "sectors");
        await page.close();
      });

      await t.step("index performance: one line per index over its whole history", async () => {
        const page = await open(ctx, "/indices");
        for (const code of ["EGX100_EWI", "EGX30", "EGX70_EWI"]) {
          const points = await seriesData(page, `indexLevels.${code}`);
          const api = await srv.get(`/api/v1/indices/performance?index=${code}`);
          assert.deepEqual(
            points.map((p) => p.value),
            api.body.data.map((r: { level: number }) => r.level),
          );
          assert.equal(points[0].value, 1000); // every index starts at its base value
        }
        assert.ok(await canvasColours(page, "#index-chart") > 10);
        assert.deepEqual((await cells(page, "#index-table")).map((r) => [r[0], r[2]]), [
          ["EGX100_EWI", "equal-weighted"],
          ["EGX30", "cap-weighted (no weights listed: computed equal-weighted)"],
          ["EGX70_EWI", "equal-weighted"],
        ]);
        await shot(page, "indices");
        await page.close();
      });

      await t.step(
        "pipeline health: runs, durations, freshness and alerts in Cairo time",
        async () => {
          const page = await open(ctx, "/pipeline");
          assert.equal(await page.textContent("#health-asof"), "08 Dec 2025, 14:30 Cairo");
          assert.deepEqual(await cells(page, "#jobs"), [[
            "models_run",
            "ok",
            "08 Dec 2025, 13:00 Cairo",
            "12.3 s",
          ]]);
          const fresh = await cells(page, "#freshness");
          assert.deepEqual(fresh[1].slice(0, 2), ["daily prices (gold)", date]);
          // Loaded minutes ago by the clock, though as-of is the sample's end: never negative.
          assert.deepEqual([fresh[4][0], fresh[4][3]], ["last landing file loaded", "fresh"]);
          // No streamed quote, and the session closed at 14:30: nothing due, and not "fresh".
          assert.deepEqual(fresh[3], ["streamed quotes", "—", "—", "no data"]);
          assert.match(fresh[4][2], /^0\.\d h$/);
          const alerts = await cells(page, "#alerts");
          assert.deepEqual(alerts.map((r) => r.slice(0, 3)), [["2025-11-13", "ETEL", "big-move"]]);
          assert.match(alerts[0][3], /^ETEL up \+\d+\.\d\d% on 2025-11-13 /);
          // The file's name (its key on hover), line and reason, as text: <b> is not markup.
          const quarantined = await cells(page, "#quarantine");
          assert.deepEqual(quarantined.map((r) => r.slice(0, 3)), [
            ["bad.csv", "2", "unknown ticker ZZZZ"],
            ["bad.csv", "3", 'unparsable close "<b>x</b>"'],
          ]);
          assert.ok(quarantined.every((r) => /^\d\d \w{3} \d{4}, \d\d:\d\d Cairo$/.test(r[3])));
          assert.equal(await page.getAttribute("#quarantine tbody span", "title"), "daily/bad.csv");
          assert.equal(await page.$("#quarantine b"), null);
          // At 1366 px every table shows all its columns (a run id is 20 characters).
          const overflow = await page.$$eval(
            ".table-wrap",
            (els) => els.map((e) => [e.querySelector("table")!.id, e.scrollWidth - e.clientWidth]),
          );
          assert.deepEqual(overflow, [
            ["freshness", 0],
            ["stream", 0],
            ["jobs", 0],
            ["runs", 0],
            ["alerts", 0],
            ["quarantine", 0],
          ]);
          await shot(page, "pipeline");
          await page.close();
          // Lag and freshness move without a warehouse write: this page renders at every poll.
          const polled = await open(ctx, "/pipeline?poll=250");
          await polled.waitForFunction(
            () => (globalThis as unknown as Egx).egx.renders >= 3,
            null,
            { timeout: 10_000 },
          );
          await polled.close();
        },
      );

      await t.step("on a 390 px phone screen no page is wider than the screen", async () => {
        const widths: [string, number][] = [];
        for (const path of ["/", "/ticker/COMI", "/sectors", "/indices", "/pipeline"]) {
          const page = await open(ctx, path, {
            before: (p) => p.setViewportSize({ width: 390, height: 844 }),
          });
          widths.push([path, await page.evaluate(() => document.documentElement.scrollWidth)]);
          if (path === "/pipeline") await shot(page, "pipeline_phone");
          await page.close();
        }
        assert.deepEqual(widths, [
          ["/", 390],
          ["/ticker/COMI", 390],
          ["/sectors", 390],
          ["/indices", 390],
          ["/pipeline", 390],
        ]);
      });

      await t.step("the docs site from the models is served under /docs/", async () => {
        const page = await ctx.browser.context.newPage();
        const res = await page.goto(`${srv.url}/docs/`);
        assert.equal(res?.status(), 200);
        assert.ok((await page.content()).includes("gold_fct_stock_daily_prices"));
        await page.click('a[href="models/gold_fct_stock_daily_prices.html"]');
        assert.equal(page.url(), `${srv.url}/docs/models/gold_fct_stock_daily_prices.html`);
        assert.ok((await page.content()).includes("TRADE_DATE"));
        await shot(page, "docs");
        await page.close();
      });

      await t.step("on a 390 px phone screen no docs page is wider than the screen", async () => {
        const widths: [string, number][] = [];
        const paths = [
          "/docs/",
          "/docs/models/gold_fct_stock_daily_prices.html",
          "/docs/sources/operational.TBL_INDEX_MEMBERSHIP.html",
          "/docs/tests.html",
        ];
        for (const path of paths) {
          const page = await ctx.browser.context.newPage();
          await page.setViewportSize({ width: 390, height: 844 });
          assert.equal((await page.goto(`${srv.url}${path}`))?.status(), 200);
          widths.push([path, await page.evaluate(() => document.documentElement.scrollWidth)]);
          if (path === "/docs/") await shot(page, "docs_phone");
          await page.close();
        }
        assert.deepEqual(widths, paths.map((p) => [p, 390]));
      });

      await t.step("with a token the dashboard works once opened as #token=...", async () => {
        const guarded = await startTestServer({
          warehouse: `${dir}/egx.duckdb`,
          logDir: `${dir}/logs`,
          token: "t0ken-for-browser",
        });
        try {
          const page = await ctx.browser.context.newPage();
          await page.goto(`${guarded.url}/sectors#token=t0ken-for-browser`);
          await page.waitForFunction(() => document.documentElement.dataset.ready === "1");
          assert.deepEqual(
            await page.evaluate(() => (globalThis as unknown as Egx).egx.errors),
            [],
          );
          assert.equal(page.url(), `${guarded.url}/sectors`); // the token left the address bar
          assert.ok((await cells(page, "#sector-table")).length > 0);
          // Later visits use the stored token.
          await page.goto(`${guarded.url}/indices`);
          await page.waitForFunction(() => document.documentElement.dataset.ready === "1");
          assert.deepEqual(
            await page.evaluate(() => (globalThis as unknown as Egx).egx.errors),
            [],
          );
          await page.close();
          const anonymous = await guarded.get("/api/v1/indices");
          assert.equal(anonymous.status, 401);
        } finally {
          await guarded.stop();
        }
      });

      await t.step(
        "a token with a % pasted as is into #token=... still opens the dashboard",
        async () => {
          const guarded = await startTestServer({
            warehouse: `${dir}/egx.duckdb`,
            logDir: `${dir}/logs`,
            token: "t0k%zz-raw",
          });
          try {
            const page = await ctx.browser.context.newPage();
            const problems: string[] = [];
            page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
            await page.goto(`${guarded.url}/sectors#token=t0k%zz-raw`);
            await page.waitForFunction(() => document.documentElement.dataset.ready === "1");
            assert.deepEqual(problems, []);
            assert.deepEqual(
              await page.evaluate(() => (globalThis as unknown as Egx).egx.errors),
              [],
            );
            assert.equal(page.url(), `${guarded.url}/sectors`);
            assert.ok((await cells(page, "#sector-table")).length > 0);
            await page.close();
          } finally {
            await guarded.stop();
          }
        },
      );

      await t.step(
        "a page that rendered while the warehouse was busy renders again once it is free",
        async () => {
          // A copy of the warehouse, so the write below stays out of the other steps.
          const path = `${dir}/busy.duckdb`;
          await Deno.copyFile(`${dir}/egx.duckdb`, path);
          const busy = await startTestServer({
            warehouse: path,
            logDir: `${dir}/logs`,
            asOf: "2025-12-08T12:30:00Z",
            lockTimeoutMs: 300,
          });
          const comi = day.find((r) => r.ticker === "COMI")!;
          const comiClose = async (page: Page) =>
            (await cells(page, "#snapshot")).find((r) => r[0] === "COMI")![3];
          const renders = (page: Page) =>
            page.evaluate(() => (globalThis as unknown as Egx).egx.renders);
          const version = async () => (await busy.get("/api/v1/version")).body.data.dataVersion;
          try {
            // The page's clock stands still once the page is up: it polls when the test says.
            // (The fake clock is the browser context's: resumed below for the steps after this.)
            const page = await open({ ...ctx, srv: busy }, "/?poll=1000", {
              before: (p) => p.clock.install(),
            });
            await page.clock.pauseAt(Date.now() + 60_000);
            assert.equal(await comiClose(page), comi.close.toFixed(2));
            const shown = await page.evaluate(() => (globalThis as unknown as Egx).egx.dataVersion);
            // Another process writes COMI's close and then holds the file, as a long load does.
            const holder = await holdWarehouse(path, {
              before: "UPDATE OPERATIONAL.TBL_STOCK_PRICE SET CLOSE = 150 " +
                "WHERE TICKER = 'COMI' AND TRADE_DATE = DATE '2025-12-08'",
            });
            let written: string;
            try {
              while ((written = await version()) === shown) {
                await new Promise((r) => setTimeout(r, 50));
              }
              const n = await renders(page);
              await page.clock.runFor(1000); // a poll: the new version, answered stale
              await page.waitForFunction((k) => (globalThis as unknown as Egx).egx.renders > k, n);
              assert.equal(await comiClose(page), comi.close.toFixed(2));
              assert.match(
                (await page.textContent("#live"))!,
                /warehouse busy: showing earlier data$/,
              );
            } finally {
              await holder.release();
            }
            // Holding the file wrote nothing: the version is still the one the busy poll saw.
            assert.equal(await version(), written);
            const n = await renders(page);
            await page.clock.runFor(1000); // the next poll renders again, the data now current
            await page.waitForFunction((k) => (globalThis as unknown as Egx).egx.renders > k, n);
            assert.equal(await comiClose(page), "150.00");
            assert.doesNotMatch((await page.textContent("#live"))!, /busy/);
            assert.deepEqual(
              await page.evaluate(() => (globalThis as unknown as Egx).egx.errors),
              [],
            );
            await page.close();
          } finally {
            await ctx.browser.context.clock.resume();
            await busy.stop();
          }
        },
      );

      await t.step(
        "an index that appears in a live update gets a colour of its own, and the legend matches every line; a company that gets prices joins the ticker picker",
        async () => {
          const path = `${dir}/indices.duckdb`;
          await Deno.copyFile(`${dir}/egx.duckdb`, path);
          const srv2 = await startTestServer({
            warehouse: path,
            logDir: `${dir}/logs`,
            asOf: "2025-12-08T12:30:00Z",
          });
          // Each legend entry's colour, and the colour of the line it names (both as the browser
          // writes them, rgb(...)).
          const colours = (page: Page) =>
            page.evaluate(() => {
              const norm = (c: string) => {
                const i = document.createElement("i");
                i.style.background = c;
                return i.style.backgroundColor;
              };
              const lines = (globalThis as unknown as Egx).egx.charts.indexLevels;
              return [...document.querySelectorAll("#index-legend span")].map((s) => ({
                code: s.textContent!,
                legend: s.querySelector("i")!.style.backgroundColor,
                line: norm(lines[s.textContent!].options().color),
              }));
            });
          try {
            const page = await open({ ...ctx, srv: srv2 }, "/?poll=1000", {
              before: (p) => p.clock.install(),
            });
            await page.clock.pauseAt(Date.now() + 60_000);
            const before = await colours(page);
            assert.deepEqual(before.map((c) => c.code), ["EGX100_EWI", "EGX30", "EGX70_EWI"]);
            assert.equal(new Set(before.map((c) => c.line)).size, 3);
            // An index sorting before the others appears (another process writes it).
            const writer = await holdWarehouse(path, {
              before: "INSERT INTO DWH_GOLD.gold_fct_index_performance " +
                "SELECT * REPLACE ('AAA_NEW' AS INDEX_CODE) " +
                "FROM DWH_GOLD.gold_fct_index_performance WHERE INDEX_CODE = 'EGX30'",
            });
            await writer.release();
            const n = await page.evaluate(() => (globalThis as unknown as Egx).egx.renders);
            await page.clock.runFor(1000);
            await page.waitForFunction((k) => (globalThis as unknown as Egx).egx.renders > k, n);
            const after = await colours(page);
            assert.deepEqual(after.map((c) => c.code), [
              "AAA_NEW",
              "EGX100_EWI",
              "EGX30",
              "EGX70_EWI",
            ]);
            for (const c of after) assert.equal(c.legend, c.line, c.code);
            // The lines there before keep their colours; the new one has a colour of its own.
            assert.deepEqual(after.slice(1), before);
            assert.equal(new Set(after.map((c) => c.line)).size, 4);
            assert.deepEqual(
              await page.evaluate(() => (globalThis as unknown as Egx).egx.errors),
              [],
            );
            await page.close();

            // A company that gets prices while the ticker page is open joins its picker.
            const ticker = await open({ ...ctx, srv: srv2 }, "/ticker/COMI?poll=1000");
            const options = () =>
              ticker.$$eval("#ticker-select option", (os) => os.map((o) => o.textContent!));
            const listed = await options();
            assert.equal(listed.some((o) => o.startsWith("AALR ")), false);
            const priced = await holdWarehouse(path, {
              before: "UPDATE DWH_GOLD.gold_dim_company SET HAS_PRICES = true " +
                "WHERE TICKER = 'AALR'",
            });
            await priced.release();
            const m = await ticker.evaluate(() => (globalThis as unknown as Egx).egx.renders);
            await ticker.clock.runFor(1000);
            await ticker.waitForFunction((k) => (globalThis as unknown as Egx).egx.renders > k, m);
            assert.deepEqual(
              await options(),
              [
                "AALR · General Company For Land Reclamation, Development & Reconstruction",
                ...listed,
              ],
            );
            assert.equal(await ticker.inputValue("#ticker-select"), "COMI");
            assert.deepEqual(
              await ticker.evaluate(() => (globalThis as unknown as Egx).egx.errors),
              [],
            );
            await ticker.close();
          } finally {
            await ctx.browser.context.clock.resume();
            await srv2.stop();
          }
        },
      );

      await t.step(
        "the error goes away when the warehouse is back with the data the page shows",
        async () => {
          const path = `${dir}/moved.duckdb`;
          await Deno.copyFile(`${dir}/egx.duckdb`, path);
          const moved = await startTestServer({
            warehouse: path,
            logDir: `${dir}/logs`,
            asOf: "2025-12-08T12:30:00Z",
            mustExist: true,
            lingerMs: 0,
          });
          // Its first query migrates the copy: done before the page, so the version then holds.
          assert.equal((await moved.get("/api/v1/market/snapshot")).status, 200);
          let stopped = false;
          const status = (page: Page) =>
            page.evaluate(() => ({
              error: document.getElementById("error")!.hidden
                ? null
                : document.getElementById("error")!.textContent,
              live: document.getElementById("live")!.className,
            }));
          try {
            const page = await open({ ...ctx, srv: moved }, "/?poll=200");
            const shown = (await moved.get("/api/v1/version")).body.data.dataVersion;
            await page.waitForFunction(
              (v) => (globalThis as unknown as Egx).egx.dataVersion === v,
              shown,
            );
            await Deno.rename(path, `${path}.away`);
            await page.waitForFunction(() => !document.getElementById("error")!.hidden);
            assert.deepEqual(await status(page), {
              error: "update failed: the warehouse file does not exist: run the pipeline " +
                "(deno task run full_pipeline) and reload",
              live: "live err",
            });
            assert.equal(await page.textContent("#live"), "Update failed"); // the server answered
            await Deno.rename(`${path}.away`, path); // the same file: the same data version
            await page.waitForFunction(() =>
              document.getElementById("live")!.className === "live ok"
            );
            assert.deepEqual(await status(page), { error: null, live: "live ok" });
            // No server at all: that is offline.
            stopped = true;
            await moved.stop();
            await page.waitForFunction(() =>
              document.getElementById("live")!.className === "live err"
            );
            assert.equal(await page.textContent("#live"), "Offline");
            await page.close();
          } finally {
            if (!stopped) await moved.stop();
          }
        },
      );

      await t.step("an open page updates itself when the stream writes a new day", async () => {
        const page = await open(ctx, "/?poll=250");
        const renders = await page.evaluate(() => (globalThis as unknown as Egx).egx.renders);
        await srv.warehouse.transaction((s) =>
          s.execute(
            "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, " +
              "HIGH, LOW, CLOSE, VOLUME) VALUES ('ETEL', '2025-12-09', 'STREAMING_API', 64, 66, " +
              "63.5, 65.5, 120000)",
          )
        );
        await page.waitForFunction(
          (n) => (globalThis as unknown as Egx).egx.renders > n,
          renders,
          { timeout: 15_000 },
        );
        assert.equal(await page.textContent("#market-date"), "2025-12-09");
        assert.deepEqual((await cells(page, "#snapshot")).map((r) => [r[0], r[3]]), [
          ["ETEL", "65.50"],
        ]);
        assert.equal(await page.textContent("#kpi-adv"), "1");
        await shot(page, "overview_live");
        await page.close();
      });

      await t.step('a day without a volume (Investing.com "-") is a gap and a dash', async () => {
        await srv.warehouse.transaction((s) =>
          s.execute(
            "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, " +
              "HIGH, LOW, CLOSE, VOLUME) VALUES ('COMI', '2025-12-09', 'INVESTING_EXPORT', 118, " +
              "120, 117, 119, NULL)",
          )
        );
        await new Promise((r) => setTimeout(r, 300));
        const page = await open(ctx, "/ticker/COMI");
        // The day has its candle and no volume bar (a whitespace point, which data() leaves out).
        const candles = await seriesData(page, "candles");
        const volume = await seriesData(page, "volume");
        assert.equal(candles.at(-1)!.time, "2025-12-09");
        assert.deepEqual(volume.map((v) => v.time), candles.slice(0, -1).map((c) => c.time));
        assert.equal(volume.at(-1)!.value, withPrevClose(inputs.daily, "COMI").at(-1)!.volume);
        assert.equal(await page.textContent("#kpi-volume"), "—");
        await page.close();
        const overview = await open(ctx, "/");
        assert.deepEqual((await cells(overview, "#volume-leaders")).map((r) => r.slice(0, 2)), [
          ["ETEL", "120,000"],
          ["COMI", "—"],
        ]);
        assert.equal(await overview.textContent("#kpi-volume"), "120,000");
        await overview.close();
      });

      await t.step("the pipeline page gives every job and run status its own colour", async () => {
        // One run per status, its one job ending with that status (a running job has not ended;
        // a pending one never started, so the jobs table does not list it).
        const statuses = [
          "ok",
          "running",
          "skipped",
          "failed",
          "upstream_failed",
          "cancelled",
          "abandoned",
          "pending",
        ] as const;
        const runStatus = {
          ok: "ok",
          running: "running",
          skipped: "ok",
          failed: "failed",
          upstream_failed: "failed",
          cancelled: "cancelled",
          abandoned: "abandoned",
          pending: "running",
        } as const;
        const h = new History(historyPath(`${dir}/logs`));
        const t1 = Date.parse("2025-12-08T12:00:00Z");
        statuses.forEach((s, i) => {
          const id = `20251208-1400${i}0-st0${i}`;
          const at = t1 + i * 60_000;
          h.startRun({ id, target: "statuses", trigger: "manual", jobs: [`job_${s}`], at });
          if (s === "pending") return;
          h.startJob(id, `job_${s}`, at);
          if (s !== "running") {
            h.endJob(id, `job_${s}`, { status: s, at: at + 1_000 * (i + 1), attempts: 1 });
          }
          const run = runStatus[s];
          if (run !== "running") h.endRun(id, run, at + 1_000 * (i + 1));
        });
        // A scheduled fire skipped for an overlap (the oldest run: listed last), with its reason.
        const why = "skipped: the previous run (run 20251208-125900-st00, runner pid 4242) is " +
          "still running";
        h.recordSkipped({
          id: "20251208-125950-skip",
          target: "statuses",
          at: Date.parse("2025-12-08T10:59:50Z"),
          scheduledFor: Date.parse("2025-12-08T10:59:50Z"),
          message: why,
        });
        h.close();
        const page = await open(ctx, "/pipeline");
        // [class, text colour, font weight, background] of each element `sel` finds.
        const look = (sel: string) =>
          page.$$eval(sel, (els) =>
            els.map((e) => {
              const cs = getComputedStyle(e);
              return [e.className, cs.color, cs.fontWeight, cs.backgroundColor];
            }));
        // A status's label: its class, colour and weight wherever it shows.
        const label: Record<string, string[]> = {
          ok: ["status-ok", "rgb(14, 124, 74)", "600"],
          running: ["status-running", "rgb(29, 78, 216)", "600"],
          skipped: ["status-skipped", "rgb(98, 125, 152)", "400"],
          failed: ["status-failed", "rgb(198, 40, 40)", "600"],
          upstream_failed: ["status-upstream_failed", "rgb(183, 121, 31)", "600"],
          cancelled: ["status-cancelled", "rgb(82, 96, 109)", "600"],
          abandoned: ["status-abandoned", "rgb(138, 28, 28)", "600"],
          pending: ["status-pending", "rgb(130, 154, 177)", "400"],
        };
        // A job's duration bar: its class and colour.
        const bar: Record<string, string[]> = {
          ok: ["bar status-ok", "rgb(62, 189, 147)"],
          running: ["bar status-running", "rgb(64, 152, 215)"],
          skipped: ["bar status-skipped", "rgb(188, 204, 220)"],
          failed: ["bar status-failed", "rgb(239, 78, 78)"],
          upstream_failed: ["bar status-upstream_failed", "rgb(240, 180, 41)"],
          cancelled: ["bar status-cancelled", "rgb(130, 154, 177)"],
          abandoned: ["bar status-abandoned", "rgb(171, 9, 30)"],
        };
        const jobs = (await cells(page, "#jobs")).map((r) => [r[0], r[1]]);
        assert.deepEqual(
          jobs,
          [
            ["models_run", "ok"],
            ...statuses.filter((s) => s !== "pending").map((s) => [`job_${s}`, s]),
          ]
            .sort((a, b) => a[0].localeCompare(b[0])),
        );
        assert.deepEqual(
          (await look("#jobs tbody td span")).map((l) => l.slice(0, 3)),
          jobs.map(([, s]) => label[s]),
        );
        assert.deepEqual(
          (await look("#durations .bar")).map((l) => [l[0], l[3]]),
          jobs.map(([, s]) => bar[s]),
        );
        // The runs, newest first, and their labels; the skipped fire last, saying why.
        const listed = await cells(page, "#runs");
        assert.deepEqual(
          [listed.length, listed.at(-1)![0], listed.at(-1)![3], listed.at(-1)![6]],
          [statuses.length + 2, "20251208-125950-skip", "skipped", why],
        );
        assert.deepEqual((await look("#runs tbody td span")).at(-1)!.slice(0, 3), label.skipped);
        const runs = listed.slice(0, statuses.length).map((r) => r[3]);
        assert.deepEqual(runs, [...statuses].reverse().map((s) => runStatus[s]));
        assert.deepEqual(
          (await look("#runs tbody td span")).slice(0, runs.length).map((l) => l.slice(0, 3)),
          runs.map((s) => label[s]),
        );
        // A pending job is never listed (the history leaves it out); its label has a style too.
        const pending = await page.evaluate(() => {
          const e = document.body.appendChild(document.createElement("span"));
          e.className = "status-pending";
          const cs = getComputedStyle(e);
          return [e.className, cs.color, cs.fontWeight];
        });
        assert.deepEqual(pending, label.pending);
        await shot(page, "pipeline_statuses");
        await page.close();
      });
    } finally {
      await browser.close();
      await srv.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the pipeline page shows the stream's dead letters, a reason only ever as text",
  sanitizeResources: false, // Chromium's pipes and kafkajs's timers outlive single calls
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "egx-web-dlq-browser-" });
    const client = await testClient();
    const dlq = uniqueName("test.web.dlq");
    const empty = uniqueName("test.web.dlq");
    await client.ensureTopics([{ name: dlq, partitions: 2 }, { name: empty, partitions: 1 }]);
    const producer = client.producer();
    await producer.connect();
    try {
      await producer.send(
        dlq,
        ["k1", "k2", "k3"].map((key) => ({ key, value: "{}", headers: { "egx-dlq-reason": "x" } })),
      );
    } finally {
      await producer.disconnect();
    }
    const env: Record<string, string> = { KAFKA_BROKERS: (await testBrokers()).join(",") };
    const recordCounts = kafkaRecordCounts(loadConfig((k) => env[k]));
    // A reason is data from Kafka: a ticker can hold anything a producer put there.
    const reason = 'unknown ticker "<img src=x onerror=globalThis.xss=1>" (not in ' +
      "OPERATIONAL.TBL_COMPANY)";
    const status = (counters: Record<string, number>, last?: Record<string, unknown>) => ({
      pid: 4242,
      startedAt: "2025-12-08T07:00:00.000Z",
      updatedAt: "2025-12-08T12:30:00.000Z",
      counters: { consumed: 900, written: 890, skipped: 0, ...counters },
      ...(last ? { lastDeadLetter: last } : {}),
      finished: false,
    });
    writeStatus(
      `${dir}/status`,
      "consumer",
      status({ deadLettered: 3, unknownTicker: 1, keyMismatch: 0 }, {
        reason,
        partition: 1,
        offset: 41,
        at: "2025-12-08T12:29:30.000Z",
      }),
    );
    writeStatus(
      `${dir}/status-zero`,
      "consumer",
      status({ deadLettered: 0, unknownTicker: 0, keyMismatch: 0 }),
    );
    const servers: TestServer[] = [];
    const serve = async (o: { statusDir: string; dlq: string; health: HealthSources }) => {
      const srv = await startTestServer({
        warehouse: `${dir}/egx.duckdb`,
        logDir: `${dir}/logs`,
        asOf: "2025-12-08T12:30:00Z",
        now: "2025-12-08T12:31:40Z",
        statusDir: o.statusDir,
        deadLetterTopic: o.dlq,
        health: o.health,
      });
      servers.push(srv);
      return srv;
    };
    const browser = await launchBrowser();
    const text = (page: Page, sel: string) => page.textContent(sel);
    const notes = (page: Page) =>
      page.$$eval("#dlq-notes div", (els) => els.map((e) => e.textContent));
    try {
      await t.step("the count, the counts by reason and the last reason, as text", async () => {
        const srv = await serve({ statusDir: `${dir}/status`, dlq, health: { recordCounts } });
        const page = await open({ srv, browser } as Ctx, "/pipeline");
        assert.equal(await text(page, "#dlq-topic"), dlq);
        assert.equal(await text(page, "#dlq-count"), "3");
        assert.deepEqual(
          [
            await text(page, "#dlq-invalid"),
            await text(page, "#dlq-unknown-ticker"),
            await text(page, "#dlq-key-mismatch"),
          ],
          ["2", "1", "0"],
        );
        assert.equal(await text(page, "#dlq-last-reason"), reason);
        assert.equal(
          await text(page, "#dlq-last"),
          `Last: ${reason} (08 Dec 2025, 14:29 Cairo; partition 1, offset 41)`,
        );
        // Shown as text: no element was made of it and its handler never ran.
        assert.equal((await page.$$("#dead-letters img")).length, 0);
        assert.equal(await page.evaluate(() => (globalThis as { xss?: number }).xss), undefined);
        assert.deepEqual(await notes(page), [
          "By reason: counted by the consumer since 08 Dec 2025, 09:00 Cairo (its status file " +
          "is 1 min 40 s old).",
        ]);
        await shot(page, "pipeline_dead_letters");
        await page.close();
      });

      await t.step("none when there are none", async () => {
        const srv = await serve({
          statusDir: `${dir}/status-zero`,
          dlq: empty,
          health: { recordCounts },
        });
        const page = await open({ srv, browser } as Ctx, "/pipeline");
        assert.equal(await text(page, "#dlq-count"), "none");
        assert.equal(await text(page, "#dlq-invalid"), "0");
        assert.equal(await text(page, "#dlq-last"), "None since the consumer started.");
        await page.close();
      });

      await t.step("unknown, and why, with the broker down and no status file", async () => {
        const port = freePort(); // nothing listens there
        const down: Record<string, string> = { KAFKA_BROKERS: `127.0.0.1:${port}` };
        const srv = await serve({
          statusDir: `${dir}/no-status`,
          dlq,
          health: { recordCounts: kafkaRecordCounts(loadConfig((k) => down[k])) },
        });
        const page = await open({ srv, browser } as Ctx, "/pipeline");
        assert.equal(await text(page, "#dlq-count"), "unknown");
        assert.equal(await text(page, "#dlq-invalid"), "—");
        assert.equal(await text(page, "#dlq-last"), "");
        assert.deepEqual(await notes(page), [
          "Count unknown — the dead-letter topic could not be read: Connection error: connect " +
          `ECONNREFUSED 127.0.0.1:${port}.`,
          `By reason unknown — no status file consumer.json in ${dir}/no-status ` +
          "(EGX_STREAM_STATUS_DIR): the consumer has not run where this server can see it.",
        ]);
        await page.close();
      });
    } finally {
      await browser.close();
      for (const srv of servers) await srv.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

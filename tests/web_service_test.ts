/**
 * The API's service side against a real server and a fresh DuckDB warehouse: liveness, data
 * version, OpenAPI, auth, read-only methods, unknown routes and parameters, recorded alerts and
 * pipeline health from a real run history.
 */
import assert from "node:assert/strict";
import { History, historyPath } from "../lib/runner/history.ts";
import { recordAlerts } from "../lib/alerts/store.ts";
import { checkExposure } from "../lib/web/server.ts";
import { ConfigError, registerSecrets } from "../lib/config/config.ts";
import { assertDocumented } from "./support/openapi_check.ts";
import { startTestServer, type TestServer } from "./support/web_fixture.ts";
import { testBrokers, testClient, uniqueName } from "./support/kafka.ts";
import { kafkaLogEnds } from "../lib/web/stream_lag.ts";
import { loadConfig, streamOpenGraceMinutes } from "../lib/config/config.ts";
import type { Endpoint, HealthSources } from "../lib/web/endpoint.ts";
import { freshness, runnerHistory } from "../lib/web/pipeline_health.ts";
import { withTempWarehouse } from "./support/temp_warehouse.ts";
import { holdWarehouse } from "./support/busy_warehouse.ts";
import { denoCacheEnv, denoOutput, taskFlags } from "./support/processes.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";
import { loadFiles } from "../lib/ingest/load.ts";
import { localFile } from "./support/temp_warehouse.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

async function withServer(
  fn: (srv: TestServer, dir: string) => Promise<void>,
  opts: {
    token?: string;
    asOf?: string;
    landing?: string;
    health?: HealthSources;
    docs?: boolean;
    extraEndpoints?: Endpoint[];
    lockTimeoutMs?: number;
    env?: Record<string, string>;
  } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "egx-web-" });
  if (opts.docs) {
    await Deno.mkdir(`${dir}/docs/models`, { recursive: true });
    await Deno.writeTextFile(`${dir}/docs/index.html`, "<h1>models</h1>");
    await Deno.writeTextFile(`${dir}/docs/models/a.html`, "<h1>a</h1>");
  }
  const srv = await startTestServer({
    warehouse: `${dir}/egx.duckdb`,
    logDir: `${dir}/logs`,
    docsDir: `${dir}/docs`,
    ...opts,
  });
  try {
    await fn(srv, dir);
    assert.deepEqual(srv.errors, []);
  } finally {
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ping answers ok and the OpenAPI document lists every endpoint", async () => {
  await withServer(async (srv) => {
    const ping = await srv.get("/api/v1/ping");
    assert.equal(ping.status, 200);
    assert.deepEqual(ping.body, { data: { ok: true } });
    await assertDocumented(srv, "/api/v1/ping", ping.body);
    const doc = await srv.get("/api/v1/openapi.json");
    assert.equal(doc.status, 200);
    // It changes only with the code: kept, but asked again each time (no-cache, not no-store).
    assert.equal(doc.headers.get("cache-control"), "no-cache");
    assert.equal(doc.body.openapi, "3.1.0");
    assert.deepEqual(Object.keys(doc.body.paths).sort(), [
      "/api/v1/alerts",
      "/api/v1/companies",
      "/api/v1/companies/{ticker}",
      "/api/v1/indicators/{ticker}",
      "/api/v1/indices",
      "/api/v1/indices/performance",
      "/api/v1/market/snapshot",
      "/api/v1/market/top-movers",
      "/api/v1/market/volume-leaders",
      "/api/v1/openapi.json",
      "/api/v1/ping",
      "/api/v1/pipeline/health",
      "/api/v1/pipeline/quarantine",
      "/api/v1/prices/{ticker}/daily",
      "/api/v1/prices/{ticker}/intraday",
      "/api/v1/sectors/performance",
      "/api/v1/version",
    ]);
    const daily = doc.body.paths["/api/v1/prices/{ticker}/daily"].get;
    assert.deepEqual(daily.parameters.map((p: { name: string }) => p.name), [
      "ticker",
      "from",
      "to",
      "limit",
      "offset",
    ]);
    assert.ok(daily.responses["404"] && daily.responses["400"]);
    // The document itself refuses any parameter, and with a token configured needs it too.
    assert.deepEqual(Object.keys(doc.body.paths["/api/v1/openapi.json"].get.responses), [
      "200",
      "400",
      "401",
    ]);
    // The bounds the server enforces, so a client validating against the document is not
    // surprised by a 400 for a value the document allows.
    const schema = (name: string) =>
      daily.parameters.find((p: { name: string }) => p.name === name).schema;
    assert.deepEqual(schema("limit"), { type: "integer", minimum: 1, maximum: 1000 });
    assert.deepEqual(schema("offset"), { type: "integer", minimum: 0, maximum: 10_000_000 });
    const over = await srv.get("/api/v1/alerts?offset=10000001");
    assert.equal(over.body.error.message, "offset must be between 0 and 10000000, got 10000001");
  });
});

Deno.test("the alerts' default window follows the as-of date, not the answer cached before", async () => {
  await withServer(async (srv) => {
    await srv.warehouse.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_ALERT_EVENT (RULE_ID, SUBJECT, ALERT_DATE, DIRECTION, KIND, " +
          "OBSERVED, THRESHOLD, MESSAGE, SOURCE, TRIGGERED_AT) VALUES ('r', 'COMI', " +
          "'2025-11-02', 'up', 'price_move', 6, 5, 'COMI up 6%', 'pipeline', '2025-11-02 12:00:00')",
      )
    );
    const dates = async () =>
      (await srv.get("/api/v1/alerts")).body.data.map((a: { date: string }) => a.date);
    assert.deepEqual(await dates(), ["2025-11-02"]);
    // On the 30th day counting the alert's the alert is still in the window; a day after that it
    // is not, with no write in between (the data version is the same).
    srv.setAsOf("2025-12-01T10:00:00Z");
    assert.deepEqual(await dates(), ["2025-11-02"]);
    srv.setAsOf("2025-12-02T10:00:00Z");
    assert.deepEqual(await dates(), []);
  }, { asOf: "2025-11-03T10:00:00Z" });
});

Deno.test("the alerts' default window is the 30 days ending on the as-of date", async () => {
  await withServer(async (srv) => {
    const base = { kind: "price_move" as const, threshold: 5, message: "m", ruleId: "r" };
    await recordAlerts(
      srv.warehouse,
      ["2025-11-08", "2025-11-09", "2025-12-08", "2025-12-09"].map((date) => ({
        ...base,
        subject: "COMI",
        date,
        direction: "up" as const,
        observed: 6,
      })),
      { source: "pipeline", now: new Date("2025-12-09T12:00:00Z") },
    );
    const dates = async (query = "") =>
      (await srv.get(`/api/v1/alerts${query}`)).body.data.map((a: { date: string }) => a.date);
    // 2025-11-09 is the 30th day counting 2025-12-08; 2025-11-08 the 31st.
    assert.deepEqual(await dates(), ["2025-12-08", "2025-11-09"]);
    assert.deepEqual(await dates("?to=2025-12-09"), ["2025-12-09", "2025-12-08"]);
    assert.deepEqual(await dates("?from=2025-11-08"), ["2025-12-08", "2025-11-09", "2025-11-08"]);
  }, { asOf: "2025-12-08T12:00:00Z" });
});

Deno.test("quarantined rows are listed newest load first, one file's by its key or name, with their reasons", async () => {
  await withServer(async (srv, dir) => {
    const load = async (key: string, text: string) => {
      const path = `${dir}/${key.replaceAll("/", "_")}`;
      await Deno.writeTextFile(path, text);
      return await loadFiles(srv.warehouse, [localFile(path, key, `etag-${key.length}`)], {
        asOf: new Date("2025-12-10T12:00:00Z"),
      });
    };
    const header = "ticker,trade_date,open,high,low,close,volume\n";
    await load("lists/companies.csv", "ticker,company_name,isin,sector\nCOMI,CIB,,Financials\n");
    const first = await load(
      "daily/2025/prices.csv",
      header + "COMI,2025-07-01,80,82,79,81,500\nZZZZ,2025-07-01,1,1,1,1,1\n" +
        "COMI,2025-07-02,80,82,79,x,500\n",
    );
    assert.deepEqual(first.map((o) => [o.rowsLoaded, o.rowsQuarantined]), [[1, 2]]);
    await new Promise((r) => setTimeout(r, 20)); // a later QUARANTINED_AT
    await load("daily/2026/prices.csv", header + "COMI,2025-11-03,80,82,79,81,-5\n");
    const rows = async (query: string) => {
      const r = await srv.get(`/api/v1/pipeline/quarantine${query}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await assertDocumented(srv, `/api/v1/pipeline/quarantine${query}`, r.body);
      return r.body.data.map((q: Record<string, unknown>) => [q.fileKey, q.line, q.reason]);
    };
    const older = [
      ["daily/2025/prices.csv", 3, "unknown ticker ZZZZ"],
      ["daily/2025/prices.csv", 4, 'unparsable close "x"'],
    ];
    const newer = [["daily/2026/prices.csv", 2, "negative volume"]];
    assert.deepEqual(await rows(""), [...newer, ...older]);
    // The whole key, or the name (the part after the last /): both files are prices.csv.
    assert.deepEqual(await rows("?file=daily/2025/prices.csv"), older);
    assert.deepEqual(await rows("?file=prices.csv"), [...newer, ...older]);
    assert.deepEqual(await rows("?file=2025/prices.csv"), older);
    assert.deepEqual(await rows("?file=ices.csv"), []);
    const one = await srv.get("/api/v1/pipeline/quarantine?file=prices.csv&limit=1&offset=1");
    assert.deepEqual(one.body.data.map((q: { line: number }) => q.line), [3]);
    assert.equal(one.body.page.total, 3);
    assert.deepEqual(
      Object.keys(one.body.data[0]),
      ["fileKey", "etag", "line", "format", "reason", "record", "quarantinedAt"],
    );
    const record = JSON.parse(one.body.data[0].record);
    assert.deepEqual([record.ticker, record.trade_date, record.egx_line], [
      "ZZZZ",
      "2025-07-01",
      3,
    ]);
    const bad = await srv.get("/api/v1/pipeline/quarantine?file=a%0Ab");
    assert.equal(bad.status, 400);
    assert.equal(
      bad.body.error.message,
      "file must be a file's key (s3://bucket/path or a path in the landing folder) or its " +
        'name, 1-1024 characters without control characters, got "a\\nb"',
    );
  });
});

Deno.test("the data version changes when the warehouse is written, not when it is read", async () => {
  await withServer(async (srv) => {
    // Let the migration's checkpoint settle, then read: the version must not move.
    await srv.get("/api/v1/alerts");
    await new Promise((r) => setTimeout(r, 500));
    const version = await srv.get("/api/v1/version");
    await assertDocumented(srv, "/api/v1/version", version.body);
    const v1 = version.body.data.dataVersion;
    await srv.get("/api/v1/alerts?limit=1");
    await srv.get("/api/v1/pipeline/health");
    await new Promise((r) => setTimeout(r, 500)); // the stat is shared for 200 ms
    const v2 = (await srv.get("/api/v1/version")).body.data.dataVersion;
    assert.equal(v2, v1);
    await srv.warehouse.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('ZZTEST', 'Test')",
      )
    );
    await new Promise((r) => setTimeout(r, 500));
    const v3 = (await srv.get("/api/v1/version")).body.data.dataVersion;
    assert.notEqual(v3, v1);
  });
});

Deno.test("a busy warehouse is answered with the earlier answer under its own version, marked stale", async () => {
  await withServer(async (srv, dir) => {
    const base = { kind: "price_move" as const, threshold: 5, message: "m", ruleId: "r" };
    const now = new Date("2025-12-08T12:00:00Z");
    const record = (subject: string) =>
      recordAlerts(srv.warehouse, [
        { ...base, subject, date: "2025-12-08", direction: "up", observed: 6 },
      ], { source: "pipeline", now });
    const subjects = (r: { body: { data: { subject: string }[] } }) =>
      r.body.data.map((a) => a.subject);
    /** The data version, once it differs from `other` (a write shows after the 200 ms stat). */
    const versionOtherThan = async (other?: string) => {
      for (;;) {
        const v = (await srv.get("/api/v1/version")).body.data.dataVersion;
        if (v !== other) return v;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await record("AAA");
    const v1 = await versionOtherThan();
    const first = await srv.get("/api/v1/alerts");
    assert.deepEqual(subjects(first), ["AAA"]);
    assert.equal(first.headers.get("x-data-version"), v1);
    assert.equal(first.headers.get("x-data-stale"), null);

    await record("BBB");
    const v2 = await versionOtherThan(v1);
    const holder = await holdWarehouse(`${dir}/egx.duckdb`);
    try {
      assert.equal(await versionOtherThan(), v2, "holding the file does not change the version");
      // Two clients at once share one computation; both get the earlier answer, labelled with
      // the version it was computed at (v1, not the current v2) and marked stale.
      const both = await Promise.all([srv.get("/api/v1/alerts"), srv.get("/api/v1/alerts")]);
      const third = await srv.get("/api/v1/alerts");
      for (const r of [...both, third]) {
        assert.equal(r.status, 200);
        assert.deepEqual(subjects(r), ["AAA"]);
        assert.equal(r.headers.get("x-data-version"), v1);
        assert.equal(r.headers.get("x-data-stale"), "true");
      }
      // With no earlier answer to give, a busy warehouse is a 503.
      const other = await srv.get("/api/v1/alerts?limit=1");
      assert.equal(other.status, 503);
      assert.equal(other.headers.get("retry-after"), "2");
      assert.equal(other.headers.get("x-data-version"), null);
    } finally {
      await holder.release();
    }
    const after = await srv.get("/api/v1/alerts");
    assert.deepEqual(subjects(after), ["AAA", "BBB"]);
    assert.equal(after.headers.get("x-data-version"), v2);
    assert.equal(after.headers.get("x-data-stale"), null);
  }, { asOf: "2025-12-08T12:00:00Z", lockTimeoutMs: 300 });
});

Deno.test("a long-running server judges 'now' by the clock when nothing pins as-of", async () => {
  const landing = await Deno.makeTempDir({ prefix: "egx-web-landing-" });
  try {
    await withServer(async (srv) => {
      const asOf = async () => Date.parse((await srv.get("/api/v1/version")).body.data.asOf);
      const t0 = Date.now();
      const first = await asOf();
      assert.ok(first >= t0 && first <= Date.now(), `${first} is not the clock at ${t0}`);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(await asOf() > first);
    }, { landing });
  } finally {
    await Deno.remove(landing);
  }
});

Deno.test("bad requests get 400 with a message naming the problem", async () => {
  await withServer(async (srv) => {
    const cases: [string, number, string][] = [
      [
        "/api/v1/alerts?form=2025-01-01",
        400,
        'unknown query parameter "form"; allowed: from, to, limit, offset',
      ],
      ["/api/v1/alerts?from=2025-02-30", 400, 'from must be a date YYYY-MM-DD, got "2025-02-30"'],
      [
        "/api/v1/alerts?from=2025-12-08&to=2025-12-01",
        400,
        "from (2025-12-08) must not be after to (2025-12-01)",
      ],
      [
        "/api/v1/alerts?from=1990-01-01&to=2025-12-08",
        400,
        "the range 1990-01-01..2025-12-08 spans 13126 days; at most 3660 are allowed here",
      ],
      [
        // `to` defaults to the as-of date (the sample's end): the same range, the same answer.
        "/api/v1/alerts?from=1990-01-01",
        400,
        "the range 1990-01-01..2025-12-08 spans 13126 days; at most 3660 are allowed here",
      ],
      ["/api/v1/alerts?limit=0", 400, "limit must be between 1 and 1000, got 0"],
      ["/api/v1/alerts?limit=ten", 400, 'limit must be an integer, got "ten"'],
      ["/api/v1/alerts?offset=-1", 400, "offset must be between 0 and 10000000, got -1"],
      ["/api/v1/alerts?limit=5&limit=6", 400, "query parameter limit is given twice"],
      ["/api/v1/ping?x=1", 400, 'unknown query parameter "x"; none are allowed'],
      ["/api/v1/openapi.json?x=1", 400, 'unknown query parameter "x"; none are allowed'],
      [
        "/api/v1/nothing",
        404,
        "no endpoint /api/v1/nothing; see /api/v1/openapi.json for the list",
      ],
    ];
    for (const [path, status, message] of cases) {
      const r = await srv.get(path);
      assert.deepEqual([path, r.status, r.body], [path, status, { error: { status, message } }]);
    }
    const post = await srv.get("/api/v1/ping", { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  });
});

Deno.test("HEAD answers with the headers of GET, its Content-Length too, and no body", async () => {
  await withServer(async (srv) => {
    for (const path of ["/api/v1/ping", "/api/v1/nothing", "/assets/app.js", "/"]) {
      const get = await srv.get(path);
      const head = await fetch(`${srv.url}${path}`, { method: "HEAD" });
      const length = new TextEncoder().encode(
        typeof get.body === "string" ? get.body : JSON.stringify(get.body),
      ).length;
      assert.deepEqual(
        [path, head.status, head.headers.get("content-length"), await head.text()],
        [path, get.status, String(length), ""],
      );
      assert.equal(head.headers.get("content-type"), get.headers.get("content-type"));
    }
  });
});

Deno.test("with a token configured every API call needs it; pages stay public", async () => {
  await withServer(async (srv) => {
    const none = await srv.get("/api/v1/ping");
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="egx-pipeline"');
    const wrong = await srv.get("/api/v1/ping", { headers: { Authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    const right = await srv.get("/api/v1/ping", {
      headers: { Authorization: "Bearer s3cret-token" },
    });
    assert.equal(right.status, 200);
    const page = await srv.get("/");
    assert.equal(page.status, 200);
  }, { token: "s3cret-token" });
});

Deno.test("binding beyond loopback without a token is refused before listening", () => {
  assert.throws(
    () => checkExposure({ host: "0.0.0.0", port: 8080 }),
    (e: unknown) =>
      e instanceof ConfigError && /^EGX_API_HOST=0\.0\.0\.0 .*set EGX_API_TOKEN/.test(e.message),
  );
  assert.throws(
    () => checkExposure({ host: "0.0.0.0", port: 8080 }, { hostFrom: "--host" }),
    (e: unknown) =>
      e instanceof ConfigError && /^--host 0\.0\.0\.0 .*set EGX_API_TOKEN/.test(e.message),
  );
  checkExposure({ host: "0.0.0.0", port: 8080, token: "t0k3n" });
  checkExposure({ host: "0.0.0.0", port: 8080, token: "t0k%zz~+/=" });
  for (const token of [" padded ", "two words", "tökén", "tab\t"]) {
    assert.throws(
      () => checkExposure({ host: "127.0.0.1", port: 8080, token }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message === "EGX_API_TOKEN must be printable ASCII without spaces: clients send it " +
            'in a header ("Authorization: Bearer <token>"), which could not carry this one',
      JSON.stringify(token),
    );
  }
  checkExposure({ host: "127.0.0.1", port: 8080 });
  checkExposure({ host: "::1", port: 8080 });
});

Deno.test("recorded alerts are listed newest first with paging", async () => {
  await withServer(async (srv) => {
    const base = { kind: "price_move" as const, threshold: 5, message: "m" };
    await recordAlerts(srv.warehouse, [
      { ...base, ruleId: "r", subject: "AAA", date: "2025-12-07", direction: "up", observed: 6 },
      { ...base, ruleId: "r", subject: "BBB", date: "2025-12-08", direction: "down", observed: -7 },
      { ...base, ruleId: "r", subject: "CCC", date: "2025-12-08", direction: "up", observed: 5.5 },
    ], { source: "pipeline", now: new Date("2025-12-08T12:00:00Z") });
    const r = await srv.get("/api/v1/alerts?limit=2");
    assert.equal(r.status, 200);
    await assertDocumented(srv, "/api/v1/alerts", r.body);
    assert.deepEqual(r.body.data.map((a: { subject: string }) => a.subject), ["BBB", "CCC"]);
    assert.deepEqual(r.body.data[0], {
      date: "2025-12-08",
      subject: "BBB",
      ruleId: "r",
      kind: "price_move",
      direction: "down",
      observed: -7,
      threshold: 5,
      message: "m",
      source: "pipeline",
      triggeredAt: "2025-12-08T12:00:00.000Z",
      deliveredAt: null,
      deliveryError: null,
    });
    assert.deepEqual(r.body.page, {
      limit: 2,
      offset: 0,
      total: 3,
      next: "/api/v1/alerts?limit=2&offset=2",
    });
    const next = await srv.get(r.body.page.next);
    assert.deepEqual(next.body.data.map((a: { subject: string }) => a.subject), ["AAA"]);
    assert.equal(next.body.page.next, null);
  }, { asOf: "2025-12-08" });
});

Deno.test("pipeline health shows runs, each job's last run and data freshness", async () => {
  await withServer(async (srv, dir) => {
    const h = new History(historyPath(`${dir}/logs`));
    const t0 = Date.parse("2025-12-08T10:00:00Z");
    h.startRun({
      id: "run-1",
      target: "full_pipeline",
      trigger: "manual",
      jobs: ["a", "b"],
      at: t0,
    });
    h.startJob("run-1", "a", t0);
    h.endJob("run-1", "a", { status: "ok", at: t0 + 1500, attempts: 1 });
    h.startJob("run-1", "b", t0 + 1500);
    h.endJob("run-1", "b", { status: "failed", at: t0 + 4000, attempts: 2, message: "boom" });
    h.endRun("run-1", "failed", t0 + 4000);
    h.close();
    await srv.warehouse.transaction((s) => s.execute(...comiBar("2025-12-04")));
    await new Promise((r) => setTimeout(r, 250));
    const r = await srv.get("/api/v1/pipeline/health");
    assert.equal(r.status, 200);
    await assertDocumented(srv, "/api/v1/pipeline/health", r.body);
    const d = r.body.data;
    assert.equal(d.asOf, "2025-12-08T12:30:00.000Z");
    assert.deepEqual(d.runs, [{
      id: "run-1",
      target: "full_pipeline",
      trigger: "manual",
      status: "failed",
      startedAt: "2025-12-08T10:00:00.000Z",
      endedAt: "2025-12-08T10:00:04.000Z",
      durationMs: 4000,
      message: null,
    }]);
    assert.deepEqual(d.jobs.map((j: Record<string, unknown>) => [j.job, j.status, j.durationMs]), [
      ["a", "ok", 1500],
      ["b", "failed", 2500],
    ]);
    // 2025-12-08 is a Monday; the last trading day before it is Sunday 2025-12-07.
    assert.deepEqual(d.freshness[0], {
      dataset: "daily prices (operational)",
      latest: "2025-12-04",
      ageHours: 96,
      stale: true,
      expectation: "trade date 2025-12-07 (the last trading day before today) or later",
    });
    assert.deepEqual(d.stream, {
      partitions: [],
      note: "the stream consumer has not written anything yet",
    });
  }, { asOf: "2025-12-08T12:30:00Z" });
});

/** A daily COMI bar of `date` (prices 1) loaded from a batch file. */
function comiBar(date: string) {
  return [
    "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, " +
    "CLOSE, VOLUME) VALUES ('COMI', CAST(? AS DATE), 'BATCH_CSV', 1, 1, 1, 1, 1)",
    [date],
  ] as const;
}

/** A landing file recorded as loaded when `finishedAt` says. */
function loadedFile(key: string, finishedAt: string) {
  return [
    "INSERT INTO OPERATIONAL.TBL_LOAD_LOG (FILE_KEY, ETAG, SIZE_BYTES, STATUS, STARTED_AT, " +
    "FINISHED_AT) VALUES (?, 'v1', 1, 'LOADED', CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP))",
    [key, finishedAt, finishedAt],
  ] as const;
}

Deno.test("the last load is aged by the real clock while market data is aged by the pinned as-of", async () => {
  await withServer(async (srv) => {
    // Loaded two hours ago by the wall clock; the sample's as-of is 2025-12-08T12:30Z.
    const loaded = new Date(Math.floor(Date.now() / 1000) * 1000 - 2 * 3_600_000).toISOString();
    await srv.warehouse.transaction(async (s) => {
      await s.execute(...loadedFile("a.csv", loaded));
      await s.execute(...comiBar("2025-12-04"));
    });
    await new Promise((r) => setTimeout(r, 250));
    const r = await srv.get("/api/v1/pipeline/health");
    assert.equal(r.status, 200);
    await assertDocumented(srv, "/api/v1/pipeline/health", r.body);
    assert.equal(r.body.data.asOf, "2025-12-08T12:30:00.000Z");
    // The close of 2025-12-04 (12:30 UTC) is 96 h before the as-of.
    assert.deepEqual(r.body.data.freshness[0].ageHours, 96);
    assert.deepEqual(r.body.data.freshness[4], {
      dataset: "last landing file loaded",
      latest: loaded,
      ageHours: 2,
      stale: false,
      expectation: "at least one file loaded",
    });
  });
});

Deno.test("no dataset is ever shown with a negative age", async () => {
  await withTempWarehouse(async (wh) => {
    await wh.transaction(async (s) => {
      await s.execute(...comiBar("2025-12-09"));
      await s.execute(...loadedFile("a.csv", "2026-01-01T00:30:00Z"));
    });
    const asOf = new Date("2025-12-08T12:30:00Z");
    const ages = async (now: Date) =>
      (await freshness(wh, asOf, { now })).map((f) => [f.dataset, f.latest, f.ageHours]);
    // A trade date after the pinned as-of, and a load after a clock that is behind: 0 h old.
    assert.deepEqual(await ages(new Date("2026-01-01T00:00:00Z")), [
      ["daily prices (operational)", "2025-12-09", 0],
      ["daily prices (gold)", null, null],
      ["intraday bars", null, null],
      ["streamed quotes", null, null],
      ["last landing file loaded", "2026-01-01T00:30:00.000Z", 0],
    ]);
    // The load's age follows `now` alone: 2026-01-02T12:00Z is 35.5 h after it.
    assert.deepEqual((await ages(new Date("2026-01-02T12:00:00Z")))[4], [
      "last landing file loaded",
      "2026-01-01T00:30:00.000Z",
      35.5,
    ]);
  });
});

/** A streamed bar 17 minutes before 13:00 Cairo on Monday 2025-12-08 (in the session). */
const STREAMED_17_MIN = [
  "INSERT INTO OPERATIONAL.TBL_INTRADAY_BAR (TICKER, BAR_START, INTERVAL_MINUTES, DATA_SOURCE, " +
  "TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME) VALUES ('COMI', " +
  "CAST('2025-12-08 10:43:00' AS TIMESTAMP), 1, 'STREAMING_API', DATE '2025-12-08', 1, 1, 1, 1, 1)",
  [],
] as const;

Deno.test("streamed quotes are stale in a session by EGX_STREAM_MAX_STALENESS_MINUTES, as in health_check", async () => {
  await withTempWarehouse(async (wh) => {
    await wh.transaction((s) => s.execute(...STREAMED_17_MIN));
    const asOf = new Date("2025-12-08T11:00:00Z");
    const quotes = async (opts: { maxStalenessMinutes?: number }) => {
      const f = (await freshness(wh, asOf, { now: asOf, ...opts }))[3];
      return [f.dataset, f.stale, f.expectation];
    };
    // The configuration's default, 15 minutes (it was a fixed 20 here).
    assert.deepEqual(await quotes({}), [
      "streamed quotes",
      true,
      "during a session: at most 15 minutes old",
    ]);
    assert.deepEqual(await quotes({ maxStalenessMinutes: 20 }), [
      "streamed quotes",
      false,
      "during a session: at most 20 minutes old",
    ]);
    // In the session's first minutes the last write is the previous session's, as in
    // health_check: not stale before the session is as old as the grace (the limit, plus the
    // scanner's delay for tradingview: streamOpenGraceMinutes).
    const morning = async (at: string, openGraceMinutes?: number) =>
      (await freshness(wh, new Date(at), { now: new Date(at), openGraceMinutes }))[3].stale;
    assert.equal(await morning("2025-12-09T08:15:00Z"), false); // Tuesday 10:15 Cairo
    assert.equal(await morning("2025-12-09T08:16:00Z"), true);
    const grace = streamOpenGraceMinutes({
      maxStalenessMinutes: 15,
      source: "tradingview",
      tvDelayMinutes: 15,
    });
    assert.equal(grace, 30);
    assert.equal(await morning("2025-12-09T08:30:00Z", grace), false);
    assert.equal(await morning("2025-12-09T08:31:00Z", grace), true);
  });
  // The tradingview scanner streams only the day's bar, rewritten at every poll: its last write
  // is what is judged (no streamed one-minute bar at all here).
  await withTempWarehouse(async (wh) => {
    await wh.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, " +
          "LOW, CLOSE, VOLUME, UPDATED_AT) VALUES ('COMI', DATE '2025-12-08', 'STREAMING_API', " +
          "1, 1, 1, 1, 1, CAST('2025-12-08 10:50:00' AS TIMESTAMP))",
      )
    );
    const quotes = async (at: string) => {
      const f = (await freshness(wh, new Date(at), { now: new Date(at) }))[3];
      return [f.latest, f.stale];
    };
    assert.deepEqual(await quotes("2025-12-08T11:00:00Z"), ["2025-12-08T10:50:00.000Z", false]);
    assert.deepEqual(await quotes("2025-12-08T11:06:00Z"), ["2025-12-08T10:50:00.000Z", true]);
  });
  // The API judges by the configured limit (the server's as-of: 11:00 UTC, in the session).
  for (const [limit, stale] of [["15", true], ["20", false]] as const) {
    await withServer(async (srv) => {
      await srv.warehouse.transaction((s) => s.execute(...STREAMED_17_MIN));
      await new Promise((r) => setTimeout(r, 250));
      const r = await srv.get("/api/v1/pipeline/health");
      assert.equal(r.status, 200);
      const f = r.body.data.freshness[3];
      assert.deepEqual(
        [f.dataset, f.stale, f.expectation],
        ["streamed quotes", stale, `during a session: at most ${limit} minutes old`],
      );
    }, {
      asOf: "2025-12-08T11:00:00Z",
      env: { EGX_STREAM_MAX_STALENESS_MINUTES: limit },
    });
  }
});

Deno.test("a trade date is aged from its session's close in Cairo, summer time and Ramadan included", async () => {
  await withTempWarehouse(async (wh) => {
    const age = async (date: string, asOf: string) => {
      await wh.transaction(async (s) => {
        await s.execute("DELETE FROM OPERATIONAL.TBL_STOCK_PRICE");
        await s.execute(...comiBar(date));
      });
      return (await freshness(wh, new Date(asOf), { now: new Date(asOf) }))[0].ageHours;
    };
    // Summer (UTC+3): 2025-07-21's 14:30 close is 11:30 UTC, 24 h before the next close.
    assert.equal(await age("2025-07-21", "2025-07-22T11:30:00Z"), 24);
    // Winter (UTC+2): 2025-12-04's close is 12:30 UTC.
    assert.equal(await age("2025-12-04", "2025-12-08T12:30:00Z"), 96);
    // Ramadan 2025 (13:30 close, UTC+2): 2025-03-10 closed at 11:30 UTC.
    assert.equal(await age("2025-03-10", "2025-03-10T12:30:00Z"), 1);
  });
});

const SERVE_SCRIPT = "lib/web/cli_serve.ts";

/**
 * The environment of `deno task serve` in a test: a new, empty warehouse of its own in `dir`
 * (serve refuses a file that does not exist), its logs there, no API token (set empty, so a
 * developer's .env cannot supply one).
 */
async function serveEnv(dir: string): Promise<Record<string, string>> {
  await (await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` })).close();
  return {
    ...denoCacheEnv(),
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    EGX_WAREHOUSE: `${dir}/egx.duckdb`,
    EGX_LOG_DIR: `${dir}/logs`,
    EGX_API_TOKEN: "",
  };
}

/**
 * `deno task serve <args>` with the task's permissions, in the repository, without a .env, on a
 * new warehouse of its own (`env` may name another EGX_WAREHOUSE).
 */
async function serveCli(args: string[], env: Record<string, string>) {
  const cmd = ["run", ...taskFlags("serve", SERVE_SCRIPT), SERVE_SCRIPT];
  const dir = await Deno.makeTempDir({ prefix: "egx-serve-cli-" });
  try {
    return await denoOutput([...cmd, ...args], {
      cwd: REPO,
      env: { ...(await serveEnv(dir)), ...env },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("serve refuses a warehouse file that does not exist, exit 2, and creates none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx-serve-missing-" });
  try {
    const path = `${dir}/egx.duckbd`; // a typo of egx.duckdb
    const r = await serveCli(["--port", "0"], { EGX_WAREHOUSE: path });
    assert.deepEqual([r.code, r.stdout, r.stderr.replace(/ \(at [^)]*\)\n$/, "")], [
      2,
      "",
      `serve: WarehouseMissingError: DuckDB warehouse file ${path} (EGX_WAREHOUSE, default ` +
      'data/egx.duckdb) does not exist: run "deno task run full_pipeline" first to create it, ' +
      "or fix EGX_WAREHOUSE",
    ]);
    assert.deepEqual([...Deno.readDirSync(dir)], []); // no file, no .wal
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a warehouse file removed while serve runs is not recreated: the API answers 503 saying what to run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx-web-removed-" });
  const path = `${dir}/egx.duckdb`;
  await (await openWarehouse({ kind: "duckdb", path })).close();
  // lingerMs 0: each query opens the file anew (as one a moment after the last always does).
  const srv = await startTestServer({
    warehouse: path,
    logDir: `${dir}/logs`,
    mustExist: true,
    lingerMs: 0,
  });
  try {
    // Before: the file is there, the models are not.
    const before = await srv.get("/api/v1/companies");
    assert.match(before.body.error.message, /^the gold models have not been built yet/);
    await Deno.remove(path);
    const r = await srv.get("/api/v1/companies");
    assert.deepEqual([r.status, r.body.error.message, r.headers.get("cache-control")], [
      503,
      "the warehouse file does not exist: run the pipeline (deno task run full_pipeline) and reload",
      "no-store",
    ]);
    assert.deepEqual(srv.errors, []);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []); // no file, no .wal
  } finally {
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a warehouse file replaced by one that is not a database: a 503 that says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx-web-notdb-" });
  const path = `${dir}/egx.duckdb`;
  await (await openWarehouse({ kind: "duckdb", path })).close();
  const srv = await startTestServer({
    warehouse: path,
    logDir: `${dir}/logs`,
    mustExist: true,
    lingerMs: 0,
  });
  try {
    // E.g. a copy of a new warehouse still being written over the old one.
    await Deno.remove(path);
    await Deno.writeTextFile(path, "not a database\n");
    const r = await srv.get("/api/v1/companies");
    assert.deepEqual([r.status, r.body.error.message, r.headers.get("cache-control")], [
      503,
      "the warehouse file is not a DuckDB database (still being copied, or EGX_WAREHOUSE names " +
      "another file): see the server log",
      "no-store",
    ]);
    assert.deepEqual(srv.errors, [
      `serve: GET /api/v1/companies: ConfigError: DuckDB warehouse file ${path} (EGX_WAREHOUSE) ` +
      "is not a DuckDB database: point EGX_WAREHOUSE at the warehouse file; this one was left " +
      "as it is",
    ]);
  } finally {
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve on a busy port names the address it cannot listen on", async () => {
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (busy.addr as Deno.NetAddr).port;
  const r = await serveCli(["--port", String(port)], {});
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr,
    new RegExp(
      `^serve: AddrInUse: cannot listen on 127\\.0\\.0\\.1:${port}: address already in use ` +
        "\\(at lib/web/server\\.ts:\\d+\\)\\n$",
    ),
  );
});

Deno.test("a HEAD request leaves deno task serve's stderr empty (no Deno warning)", async () => {
  // Answering HEAD by a GET copied with `new Request(req, ...)` read the served request's signal,
  // and Deno printed its "request.signal aborts on successful responses (legacy behavior)"
  // warning on stderr at the first HEAD (e.g. `curl -I`).
  const dir = await Deno.makeTempDir({ prefix: "egx-serve-head-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...taskFlags("serve", SERVE_SCRIPT), SERVE_SCRIPT, "--port", "0"],
    cwd: REPO,
    clearEnv: true,
    env: await serveEnv(dir),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  try {
    while (!/\n/.test(stdout)) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += value;
    }
    const base = stdout.match(/dashboard (http:\/\/127\.0\.0\.1:\d+)\//)?.[1];
    assert.ok(base, `no address in ${JSON.stringify(stdout)}`);
    for (const path of ["/", "/api/v1/ping"]) {
      const r: Response = await fetch(`${base}${path}`, { method: "HEAD" });
      await r.body?.cancel();
      assert.equal(r.status, 200, path);
    }
  } finally {
    child.kill("SIGTERM");
  }
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  const { code } = await child.status;
  await Deno.remove(dir, { recursive: true });
  assert.deepEqual([code, await stderr, stdout.split("\n").at(-2)], [0, "", "serve: stopped"]);
});

Deno.test("a port that is not a decimal 0-65535 is a configuration error naming flag or variable", async () => {
  const strip = (s: string) => s.replace(/ \(at lib\/[\w/]+\.ts:\d+\)\n$/, "");
  for (const raw of ["0x50", "1e3", " 80", "80.0", "", "65536", "-1"]) {
    const flag = await serveCli([`--port=${raw}`], {});
    assert.deepEqual([raw, flag.code, flag.stdout, strip(flag.stderr)], [
      raw,
      2,
      "",
      `serve: ConfigError: --port must be an integer between 0 and 65535, got ${
        JSON.stringify(raw)
      }`,
    ]);
  }
  for (const raw of ["0x1F90", "70000"]) {
    const env = await serveCli([], { EGX_API_PORT: raw });
    assert.deepEqual([raw, env.code, env.stdout, strip(env.stderr)], [
      raw,
      2,
      "",
      `serve: ConfigError: EGX_API_PORT must be an integer between 0 and 65535, got ${
        JSON.stringify(raw)
      }`,
    ]);
  }
  // --port replaces the variable: a bad EGX_API_PORT is not read then (here the busy port
  // shows the flag's port was the one used).
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (busy.addr as Deno.NetAddr).port;
  const flagWins = await serveCli(["--port", String(port)], { EGX_API_PORT: "70000" });
  assert.deepEqual([flagWins.code, strip(flagWins.stderr)], [
    1,
    `serve: AddrInUse: cannot listen on 127.0.0.1:${port}: address already in use`,
  ]);
});

Deno.test("an exposed host without a token is refused naming --host or EGX_API_HOST as given", async () => {
  const refused = (given: string) =>
    `serve: ConfigError: ${given} is reachable from other machines: set EGX_API_TOKEN (clients ` +
    `then send "Authorization: Bearer <token>") or bind to 127.0.0.1`;
  const strip = (s: string) => s.replace(/ \(at lib\/web\/server\.ts:\d+\)\n$/, "");
  const flag = await serveCli(["--host", "0.0.0.0", "--port", "0"], {});
  assert.deepEqual([flag.code, flag.stdout, strip(flag.stderr)], [
    2,
    "",
    refused("--host 0.0.0.0"),
  ]);
  const env = await serveCli(["--port", "0"], { EGX_API_HOST: "0.0.0.0" });
  assert.deepEqual([env.code, env.stdout, strip(env.stderr)], [
    2,
    "",
    refused("EGX_API_HOST=0.0.0.0"),
  ]);
  // The flag wins over the variable, and the message names what was used.
  const both = await serveCli(["--host", "0.0.0.0", "--port", "0"], { EGX_API_HOST: "127.0.0.1" });
  assert.deepEqual([both.code, strip(both.stderr)], [2, refused("--host 0.0.0.0")]);
});

Deno.test("before the models are built, market endpoints answer 503 saying what to run", async () => {
  await withServer(async (srv) => {
    const r = await srv.get("/api/v1/market/snapshot");
    assert.deepEqual([r.status, r.body.error.message], [
      503,
      "the gold models have not been built yet: run the pipeline (deno task run full_pipeline) " +
      "and reload",
    ]);
    assert.equal((await srv.get("/api/v1/companies")).status, 503);
  });
});

Deno.test("pipeline health shows the stream's lag behind a real Kafka topic", async () => {
  const client = await testClient();
  const topic = uniqueName("test.web.lag");
  await client.ensureTopics([{ name: topic, partitions: 2 }]);
  const producer = client.producer();
  await producer.connect();
  try {
    // Keys decide the partition; count what landed where from the log ends afterwards.
    await producer.send(
      topic,
      Array.from({ length: 7 }, (_, i) => ({ key: `k${i}`, value: "{}" })),
    );
  } finally {
    await producer.disconnect();
  }
  const env: Record<string, string> = { KAFKA_BROKERS: (await testBrokers()).join(",") };
  const logEnds = kafkaLogEnds(loadConfig((k) => env[k]));
  const ends = await logEnds(topic);
  assert.equal([...ends.values()].reduce((a, b) => a + b, 0), 7);
  await withServer(async (srv) => {
    await srv.warehouse.transaction(async (s) => {
      for (const [partition, end] of ends) {
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID, " +
            "NEXT_OFFSET, UPDATED_AT) VALUES ('g', ?, ?, ?, '2025-12-08 10:00:00')",
          [topic, partition, Math.max(0, end - 1 - partition)],
        );
      }
    });
    await new Promise((r) => setTimeout(r, 250));
    const r = await srv.get("/api/v1/pipeline/health");
    assert.equal(r.status, 200);
    await assertDocumented(srv, "/api/v1/pipeline/health", r.body);
    assert.deepEqual(r.body.data.stream, {
      partitions: [...ends].sort(([a], [b]) => a - b).map(([partition, end]) => ({
        group: "g",
        topic,
        partition,
        nextOffset: Math.max(0, end - 1 - partition),
        updatedAt: "2025-12-08T10:00:00.000Z",
        lag: end - Math.max(0, end - 1 - partition),
      })),
      note: null,
    });
    // A stuck consumer writes nothing: the lag still grows on the page within seconds.
    const lagOf = (b: { data: { stream: { partitions: { lag: number }[] } } }) =>
      b.data.stream.partitions.reduce((n, p) => n + p.lag, 0);
    const before = lagOf(r.body);
    const more = client.producer();
    await more.connect();
    try {
      await more.send(topic, [{ key: "k0", value: "{}" }, { key: "k1", value: "{}" }]);
    } finally {
      await more.disconnect();
    }
    let after = before;
    for (let i = 0; i < 40 && after !== before + 2; i++) {
      await new Promise((res) => setTimeout(res, 250));
      after = lagOf((await srv.get("/api/v1/pipeline/health")).body);
    }
    assert.equal(after, before + 2);
  }, { health: { logEnds } });
});

Deno.test("the docs site is served from its folder and nothing outside it", async () => {
  await withServer(async (srv, dir) => {
    await Deno.writeTextFile(`${dir}/secret.txt`, "not for the web");
    assert.deepEqual(await srv.get("/docs/").then((r) => [r.status, r.body]), [
      200,
      "<h1>models</h1>",
    ]);
    assert.equal((await srv.get("/docs/models/a.html")).body, "<h1>a</h1>");
    assert.equal((await srv.get("/docs")).status, 200); // redirected to /docs/
    for (const path of ["/docs/..%2fsecret.txt", "/docs/%2e%2e/secret.txt", "/docs/%E0%A4%A"]) {
      const r = await srv.get(path);
      assert.equal(r.status, path.endsWith("%A") ? 400 : 404, path); // malformed escape: 400
      assert.ok(!String(r.body).includes("not for the web"), path);
    }
  }, { docs: true });
  await withServer(async (srv) => {
    const r = await srv.get("/docs/");
    assert.equal(r.status, 404);
    assert.match(r.body, /Docs not built yet/);
    // Commands that build it (a bare `deno task run` is a usage error).
    assert.match(
      r.body,
      /by the docs_generate job; run the pipeline \(<code>deno task run full_pipeline<\/code>\) or <code>deno task docs<\/code> and reload/,
    );
  });
});

Deno.test("asset names are looked up as own keys: inherited names are 404", async () => {
  await withServer(async (srv) => {
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
      const r = await srv.get(`/assets/${name}`);
      assert.deepEqual([name, r.status, r.body], [name, 404, "not found"]);
    }
    const app = await srv.get("/assets/app.js");
    assert.equal(app.status, 200);
    assert.equal(app.headers.get("content-type"), "text/javascript; charset=utf-8");
  });
});

Deno.test("a path with a malformed percent-encoding is a 400, on pages and the API alike", async () => {
  await withServer(async (srv) => {
    for (const path of ["/api/v1/prices/%/daily", "/api/v1/companies/%E0%A4%A"]) {
      const r = await srv.get(path);
      assert.deepEqual([path, r.status, r.body], [path, 400, {
        error: {
          status: 400,
          message: `malformed percent-encoding in the path ${JSON.stringify(path)}`,
        },
      }]);
    }
    for (const path of ["/ticker/%E0%A4%A", "/ticker/%", "/assets/%zz.js"]) {
      const r = await srv.get(path);
      assert.deepEqual([path, r.status, r.body], [
        path,
        400,
        `malformed percent-encoding in the path ${JSON.stringify(path)}`,
      ]);
    }
    // Well-formed escapes still reach their route.
    assert.equal((await srv.get("/ticker/CO%4DI")).status, 200);
  });
});

Deno.test("a query string that is not percent-encoded UTF-8 is a 400 naming the parameter, on pages and the API alike", async () => {
  await withServer(async (srv) => {
    const cases: [string, string][] = [
      ["/api/v1/alerts?from=%E0%A4%A", 'in query parameter "from": "%E0%A4%A"'],
      ["/api/v1/alerts?limit=%ZZ", 'in query parameter "limit": "%ZZ"'],
      ["/api/v1/alerts?limit=5&offset=1%", 'in query parameter "offset": "1%"'],
      // Checked before the parameter is known to the endpoint, as the path is before routing.
      ["/api/v1/ping?lim+it=%C3", 'in query parameter "lim it": "%C3"'],
      ["/api/v1/openapi.json?%ZZ=1", 'in the query string "?%ZZ=1"'],
      ["/api/v1/nothing?q=%", 'in query parameter "q": "%"'],
    ];
    for (const [path, where] of cases) {
      const r = await srv.get(path);
      const message = `malformed percent-encoding ${where}`;
      assert.deepEqual([path, r.status, r.body], [path, 400, { error: { status: 400, message } }]);
    }
    // Pages answer as they do for a malformed path: 400 and the message as text.
    for (
      const [path, where] of [
        ["/?poll=%E0%A4%A", 'in query parameter "poll": "%E0%A4%A"'],
        ["/ticker/COMI?%", 'in the query string "?%"'],
        ["/assets/app.js?v=%G1", 'in query parameter "v": "%G1"'],
      ]
    ) {
      const r = await srv.get(path);
      assert.deepEqual([path, r.status, r.body], [
        path,
        400,
        `malformed percent-encoding ${where}`,
      ]);
    }
    // Well-formed escapes, "+" for a space and empty pairs are still served.
    const alerts = await srv.get("/api/v1/alerts?from=2025%2D11%2D01&&limit=1%30");
    assert.deepEqual([alerts.status, alerts.body.page.limit], [200, 10]);
    assert.equal((await srv.get("/?poll=1%30&x=a+b")).status, 200);
  });
});

Deno.test("errors are never cached: each says Cache-Control: no-store, while answers keep theirs", async () => {
  const failing = (id: string, thrown: unknown): Endpoint => ({
    id,
    path: `/api/v1/test/${id}`,
    summary: "fails",
    tag: "test",
    params: [],
    data: {},
    cached: false,
    handle: () => Promise.reject(thrown),
  });
  const cacheControl = async (srv: TestServer, path: string, init: RequestInit = {}) => {
    const r = await fetch(`${srv.url}${path}`, init); // not srv.get: a HEAD has no JSON to parse
    await r.body?.cancel();
    return [init.method ?? "GET", path, r.status, r.headers.get("cache-control")];
  };
  await withServer(async (srv) => {
    const cases: [string, string, number, string | null][] = [
      ["GET", "/api/v1/ping", 200, "no-store"],
      ["GET", "/api/v1/openapi.json", 200, "no-cache"],
      ["HEAD", "/api/v1/openapi.json", 200, "no-cache"],
      ["GET", "/api/v1/openapi.json?x=1", 400, "no-store"],
      ["GET", "/api/v1/alerts?limit=0", 400, "no-store"],
      ["GET", "/api/v1/alerts?limit=%ZZ", 400, "no-store"],
      ["GET", "/api/v1/companies/%E0%A4%A", 400, "no-store"],
      ["GET", "/api/v1/nothing", 404, "no-store"],
      ["HEAD", "/api/v1/nothing", 404, "no-store"],
      ["POST", "/api/v1/ping", 405, "no-store"],
      ["GET", "/api/v1/test/error", 500, "no-store"],
      ["GET", "/api/v1/test/thrown", 500, "no-store"],
      ["GET", "/api/v1/market/snapshot", 503, "no-store"], // the models are not built
      ["HEAD", "/api/v1/market/snapshot", 503, "no-store"],
      ["GET", "/", 200, null],
      ["GET", "/ticker/%", 400, "no-store"],
      ["GET", "/?poll=%", 400, "no-store"],
      ["GET", "/nothing", 404, "no-store"],
      ["HEAD", "/nothing", 404, "no-store"],
      ["GET", "/assets/nothing.js", 404, "no-store"],
      ["GET", "/docs/", 404, "no-store"], // not built yet
      ["POST", "/", 405, "no-store"],
      ["GET", "/assets/app.js", 200, null],
      ["GET", "/assets/app.css", 200, null],
      ["GET", "/favicon.ico", 200, null],
      ["GET", "/assets/vendor/lightweight-charts.js", 200, "public, max-age=86400"],
      ["HEAD", "/assets/vendor/lightweight-charts.js", 200, "public, max-age=86400"],
    ];
    for (const [method, path, status, header] of cases) {
      assert.deepEqual(await cacheControl(srv, path, { method }), [method, path, status, header]);
    }
    // A thrown value that is not an Error is reported like any other, not left to Deno.
    assert.deepEqual(srv.errors.splice(0), [
      "serve: GET /api/v1/test/error: Error: boom",
      "serve: GET /api/v1/test/thrown: Error: non-Error thrown: boom",
    ]);
  }, { extraEndpoints: [failing("error", new Error("boom")), failing("thrown", "boom")] });
  await withServer(async (srv) => {
    assert.deepEqual(await cacheControl(srv, "/api/v1/ping"), [
      "GET",
      "/api/v1/ping",
      401,
      "no-store",
    ]);
    assert.deepEqual(
      await cacheControl(srv, "/api/v1/openapi.json"),
      ["GET", "/api/v1/openapi.json", 401, "no-store"],
    );
    assert.deepEqual(
      await cacheControl(srv, "/api/v1/openapi.json", {
        headers: { Authorization: "Bearer s3cret-token" },
      }),
      ["GET", "/api/v1/openapi.json", 200, "no-cache"],
    );
    assert.deepEqual(
      await cacheControl(srv, "/api/v1/ping", { method: "HEAD" }),
      ["HEAD", "/api/v1/ping", 401, "no-store"],
    );
  }, { token: "s3cret-token" });
});

Deno.test("pipeline health shows each job's latest record however many runs of other jobs came since", () => {
  const logDir = Deno.makeTempDirSync({ prefix: "egx_health_jobs_" });
  try {
    const h = new History(historyPath(logDir));
    h.startRun({ id: "p1", target: "full_pipeline", trigger: "manual", jobs: ["a", "b"], at: 0 });
    h.startJob("p1", "a", 1000);
    h.endJob("p1", "a", { status: "ok", at: 3000, attempts: 1 });
    h.endJob("p1", "b", { status: "failed", at: 4000, attempts: 2, message: "exit code 1" });
    h.endRun("p1", "failed", 4000);
    // A later run where b is never decided (pending) keeps p1's record of b.
    h.startRun({
      id: "p2",
      target: "full_pipeline",
      trigger: "manual",
      jobs: ["a", "b"],
      at: 5000,
    });
    h.startJob("p2", "a", 5000);
    h.endJob("p2", "a", { status: "skipped", at: 6000, attempts: 1, message: "nothing to do" });
    for (let i = 0; i < 25; i++) {
      const id = `c${String(i).padStart(2, "0")}`;
      h.startRun({ id, target: "cleanup", trigger: "manual", jobs: ["cleanup"], at: 10_000 + i });
      h.startJob(id, "cleanup", 10_000 + i);
      h.endJob(id, "cleanup", { status: "ok", at: 10_500 + i, attempts: 1 });
      h.endRun(id, "ok", 10_500 + i);
    }
    h.close();
    const shown = runnerHistory(logDir);
    assert.equal(shown.runs.length, 20);
    assert.deepEqual(
      shown.jobs.map((j) => [j.job, j.status, j.runId, j.attempts, j.message]),
      [
        ["a", "skipped", "p2", 1, "nothing to do"],
        ["b", "failed", "p1", 2, "exit code 1"],
        ["cleanup", "ok", "c24", 1, null],
      ],
    );
  } finally {
    Deno.removeSync(logDir, { recursive: true });
  }
});

Deno.test("run history written before a secret was known is masked on pipeline health", () => {
  const logDir = Deno.makeTempDirSync({ prefix: "egx_health_mask_" });
  try {
    const h = new History(historyPath(logDir));
    h.startRun({ id: "r1", target: "full_pipeline", trigger: "manual", jobs: ["a"], at: 0 });
    h.endJob("r1", "a", { status: "failed", at: 1000, attempts: 1, message: "pw Old-Row-Pw-41" });
    h.endRun("r1", "failed", 1000, "login with Old-Row-Pw-41 refused");
    h.close();
    assert.equal(runnerHistory(logDir).runs[0].message, "login with Old-Row-Pw-41 refused");
    registerSecrets((k) => (k === "SNOWFLAKE_PASSWORD" ? "Old-Row-Pw-41" : undefined));
    const shown = runnerHistory(logDir);
    assert.equal(shown.runs[0].message, "login with *** refused");
    assert.equal(shown.jobs[0].message, "pw ***");
  } finally {
    Deno.removeSync(logDir, { recursive: true });
  }
});

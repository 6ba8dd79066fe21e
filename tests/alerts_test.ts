/**
 * Alerts end to end on a warehouse built by the real models from real EGX bars: which rules
 * fire (expected values computed here from the raw bars), once per condition and day, webhook
 * delivery to a real HTTP server with retry after a failure, the stream side (--watch) picking
 * up a streamed bar, and the job's command line.
 */
import assert from "node:assert/strict";
import {
  type AlertRunOptions,
  type AlertRunResult,
  evaluateAlerts,
} from "../lib/alerts/run_alerts.ts";
import { AlertRulesError, checkRuleSubjects, parseRules } from "../lib/alerts/rules.ts";
import { claimUndelivered, recordAlerts, recordDeliveries } from "../lib/alerts/store.ts";
import { watchAlerts } from "../lib/alerts/watch.ts";
import { ConfigError, loadConfig } from "../lib/config/config.ts";
import { DuckDBWarehouse } from "../lib/warehouse/duckdb.ts";
import { openWarehouse, type Warehouse } from "../lib/warehouse/warehouse.ts";
import { DeliveryError, postWebhook } from "../lib/alerts/deliver.ts";
import { parseRetryAfter } from "../lib/alerts/retry_after.ts";
import { checkAlertClaims } from "./support/alert_claims.ts";
import {
  buildMarketWarehouse,
  type MarketInputs,
  readInputs,
  withPrevClose,
} from "./support/market_warehouse.ts";
import { projectJob } from "./support/processes.ts";

const dir = await Deno.makeTempDir({ prefix: "egx-alerts-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let built: Promise<MarketInputs> | undefined;

/** A private copy of the model-built warehouse for one test. */
async function withWarehouse(
  fn: (wh: Warehouse, path: string, inputs: MarketInputs) => Promise<void>,
) {
  built ??= buildMarketWarehouse(`${dir}/base.duckdb`).then(readInputs);
  const inputs = await built;
  const path = `${dir}/${crypto.randomUUID()}.duckdb`;
  await Deno.copyFile(`${dir}/base.duckdb`, path);
  const config = loadConfig((k) => ({ EGX_WAREHOUSE: path } as Record<string, string>)[k]);
  const wh = await openWarehouse(config.warehouse);
  try {
    await fn(wh, path, inputs);
  } finally {
    await wh.close();
  }
}

const RULES = parseRules(`
rules:
  - {id: move, kind: price_move, threshold_pct: 4}
  - {id: vol, kind: volume_spike, multiple: 2.5, lookback_days: 20}
  - {id: ma20, kind: ma_cross, window: 20}
`);
const DATE = "2025-11-13";

/** What the three rules should fire on `date`, computed from the raw bars. */
function expectedAlerts(inputs: MarketInputs, date: string): string[] {
  const out: string[] = [];
  const tickers = [...new Set(inputs.daily.map((d) => d.ticker))].sort();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const per = new Map(tickers.map((t) => [t, withPrevClose(inputs.daily, t)]));
  for (const t of tickers) {
    const rows = per.get(t)!;
    const i = rows.findIndex((r) => r.date === date);
    if (i < 1) continue;
    const chg = rows[i].changePct!;
    if (Math.abs(chg) >= 4) out.push(`move ${t} ${chg > 0 ? "up" : "down"}`);
  }
  for (const t of tickers) {
    const rows = per.get(t)!;
    const i = rows.findIndex((r) => r.date === date);
    if (i < 20) continue;
    const avg = mean(rows.slice(i - 20, i).map((r) => r.volume));
    if (rows[i].volume / avg >= 2.5) out.push(`vol ${t} up`);
  }
  for (const t of tickers) {
    const rows = per.get(t)!;
    const i = rows.findIndex((r) => r.date === date);
    if (i < 20) continue;
    const sma = mean(rows.slice(i - 19, i + 1).map((r) => r.close));
    const prevSma = mean(rows.slice(i - 20, i).map((r) => r.close));
    const prev = rows[i - 1].close;
    const close = rows[i].close;
    if (prev <= prevSma && close > sma) out.push(`ma20 ${t} above`);
    if (prev >= prevSma && close < sma) out.push(`ma20 ${t} below`);
  }
  return out;
}

const key = (a: { ruleId: string; subject: string; direction: string }) =>
  `${a.ruleId} ${a.subject} ${a.direction}`;

/** The key of a POSTed alert. */
async function keyOfPost(req: Request): Promise<string> {
  const { alert } = await req.json();
  return key({ ruleId: alert.rule, subject: alert.subject, direction: alert.direction });
}

/** A webhook receiver on a free local port while `fn` runs; `fn` gets its base URL. */
async function withWebhook(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (base: string) => Promise<void>,
): Promise<void> {
  const ac = new AbortController();
  const ready = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: ({ port }) => ready.resolve(port),
  }, handler);
  try {
    await fn(`http://127.0.0.1:${await ready.promise}`);
  } finally {
    ac.abort();
    await server.finished;
  }
}

Deno.test("an alert fires once per rule, ticker and day, however often it is evaluated", async () => {
  await withWarehouse(async (wh, _path, inputs) => {
    const expected = expectedAlerts(inputs, DATE);
    assert.ok(expected.length >= 2, `the test date should have alerts, got ${expected}`);
    const lines: string[] = [];
    const first = await evaluateAlerts(wh, RULES, {
      source: "pipeline",
      date: DATE,
      write: (l) => lines.push(l),
      now: () => new Date("2025-11-13T13:00:00Z"),
    });
    assert.deepEqual(first.fired.map(key), expected);
    assert.equal(lines.length, expected.length);
    assert.ok(lines.every((l) => l.startsWith(`ALERT ${DATE} `)));
    const second = await evaluateAlerts(wh, RULES, {
      source: "pipeline",
      date: DATE,
      write: (l) => lines.push(l),
    });
    assert.equal(second.matched, expected.length);
    assert.deepEqual(second.fired, []);
    assert.equal(lines.length, expected.length);
    // An evaluation with nothing new and nothing to deliver writes nothing.
    let writes = 0;
    const counting = new Proxy(wh, {
      get: (t, k) => {
        if (k === "transaction") writes++;
        const v = Reflect.get(t, k);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
    const third = await evaluateAlerts(counting, RULES, { source: "stream", date: DATE });
    assert.deepEqual([third.fired.length, third.delivered, writes], [0, 0, 0]);
    const rows = await wh.query<{ N: number; S: string; D: string; T: string }>(
      "SELECT count(*) AS N, min(SOURCE) AS S, min(DELIVERED_AT) AS D, min(TRIGGERED_AT) AS T " +
        "FROM OPERATIONAL.TBL_ALERT_EVENT",
    );
    assert.deepEqual(rows[0], {
      N: expected.length,
      S: "pipeline",
      D: "2025-11-13T13:00:00.000Z",
      T: "2025-11-13T13:00:00.000Z",
    });
  });
});

Deno.test("without a webhook, only the alerts printed by the evaluation are marked delivered", async () => {
  await withWarehouse(async (wh, path, inputs) => {
    const t0 = new Date("2025-11-12T13:00:00Z");
    // Recorded earlier and not delivered: one whose POST failed (released, with its error), one
    // never sent (its evaluator died before claiming it), one another evaluation holds now.
    const earlier = (subject: string) => ({
      ruleId: "old",
      kind: "price_move" as const,
      subject,
      date: "2025-11-12",
      direction: "up" as const,
      observed: 9,
      threshold: 4,
      message: `${subject} up +9.00%`,
    });
    await recordAlerts(wh, [earlier("AAA"), earlier("BBB"), earlier("CCC")], {
      source: "pipeline",
      now: t0,
    });
    const failed = await claimUndelivered(wh, { token: "failed", now: t0 });
    await recordDeliveries(wh, [
      { alert: failed.alerts[0], error: "webhook answered 503" },
      { alert: failed.alerts[1], error: "webhook answered 503" },
      { alert: failed.alerts[2], error: "webhook answered 503" },
    ], { token: "failed", now: t0 });
    const config = loadConfig((k) => ({ EGX_WAREHOUSE: path } as Record<string, string>)[k]);
    const other = await openWarehouse(config.warehouse);
    try {
      await other.transaction((t) =>
        t.execute(
          "UPDATE OPERATIONAL.TBL_ALERT_EVENT SET DELIVERY_ERROR = NULL WHERE SUBJECT = 'BBB'",
        )
      );
      await other.transaction((t) =>
        t.execute(
          "UPDATE OPERATIONAL.TBL_ALERT_EVENT SET CLAIMED_BY = 'live', CLAIMED_AT = ? " +
            "WHERE SUBJECT = 'CCC'",
          [new Date("2025-11-13T12:59:00Z")],
        )
      );
    } finally {
      await other.close();
    }

    const lines: string[] = [];
    const at = new Date("2025-11-13T13:00:00Z");
    const r = await evaluateAlerts(wh, RULES, {
      source: "pipeline",
      date: DATE,
      write: (l) => lines.push(l),
      now: () => at,
    });
    const expected = expectedAlerts(inputs, DATE);
    assert.deepEqual(r.fired.map(key), expected);
    assert.deepEqual(
      lines,
      r.fired.map((a) => `ALERT ${DATE} ${a.subject} [${a.ruleId}] ${a.message}`),
    );
    assert.deepEqual([r.delivered, r.failed, r.heldElsewhere, r.undelivered], [0, [], 0, 3]);
    const rows = await wh.query<
      { K: string; DELIVERED_AT: string | null; DELIVERY_ERROR: string | null; C: string }
    >(
      "SELECT RULE_ID || ' ' || SUBJECT || ' ' || DIRECTION AS K, DELIVERED_AT, DELIVERY_ERROR, " +
        "coalesce(CLAIMED_BY, '-') AS C FROM OPERATIONAL.TBL_ALERT_EVENT ORDER BY ALERT_DATE, K",
    );
    assert.deepEqual(rows, [
      { K: "old AAA up", DELIVERED_AT: null, DELIVERY_ERROR: "webhook answered 503", C: "-" },
      { K: "old BBB up", DELIVERED_AT: null, DELIVERY_ERROR: null, C: "-" },
      { K: "old CCC up", DELIVERED_AT: null, DELIVERY_ERROR: "webhook answered 503", C: "live" },
      ...expected.toSorted().map((k) => ({
        K: k,
        DELIVERED_AT: at.toISOString(),
        DELIVERY_ERROR: null,
        C: "-",
      })),
    ]);

    // The next evaluation prints nothing again and leaves the earlier ones as they are.
    const again = await evaluateAlerts(wh, RULES, {
      source: "pipeline",
      date: DATE,
      write: (l) => lines.push(l),
      now: () => at,
    });
    assert.deepEqual([again.fired.length, again.delivered, again.undelivered], [0, 0, 3]);
    assert.equal(lines.length, expected.length);
    const [{ D }] = await wh.query<{ D: number }>(
      "SELECT count(DELIVERED_AT) AS D FROM OPERATIONAL.TBL_ALERT_EVENT",
    );
    assert.equal(D, expected.length);
  });
});

Deno.test("an alert printed without a webhook while a webhook evaluation holds it is left to that POST", async () => {
  await withWarehouse(async (wh) => {
    const t0 = new Date("2025-11-13T13:00:00Z");
    const alert = {
      ruleId: "move",
      kind: "price_move" as const,
      subject: "COMI",
      date: "2025-11-13",
      direction: "up" as const,
      observed: 6,
      threshold: 5,
      message: "COMI up +6.00%",
    };
    const state = async () =>
      (await wh.query<{ D: string | null; E: string | null; C: string | null }>(
        "SELECT DELIVERED_AT AS D, DELIVERY_ERROR AS E, CLAIMED_BY AS C " +
          "FROM OPERATIONAL.TBL_ALERT_EVENT",
      ))[0];
    await recordAlerts(wh, [alert], { source: "stream", now: t0 });
    // A webhook evaluation claims it; the printing one then records what it printed.
    const held = await claimUndelivered(wh, { token: "hook", now: t0 });
    assert.equal(held.alerts.length, 1);
    await recordDeliveries(wh, [{ alert }], { token: "pipeline:stdout", now: t0, printed: true });
    assert.deepEqual(await state(), { D: null, E: null, C: "hook" });
    // Its POST fails: released with the reason, for the next webhook evaluation.
    await recordDeliveries(wh, [{ alert, error: "webhook answered 503" }], { token: "hook" });
    assert.deepEqual(await state(), { D: null, E: "webhook answered 503", C: null });
    // Unclaimed, a printed alert is delivered.
    await recordDeliveries(wh, [{ alert }], { token: "pipeline:stdout", now: t0, printed: true });
    assert.deepEqual(await state(), { D: t0.toISOString(), E: null, C: null });
  });
});

const SUBJECT_RULES = [
  "rules:",
  "  - {id: watch, kind: price_move, threshold_pct: 5, tickers: [COMI, NOPE, ETEL, ZZZZ]}",
  "  - id: idx",
  "    kind: index_move",
  "    threshold_pct: 2",
  "    indices: [EGX30, EGX20]",
  "  - {id: every, kind: ma_cross, window: 20}",
  "",
].join("\n");

Deno.test("a warehouse the models never built is named as such, nothing recorded", async () => {
  const path = `${dir}/${crypto.randomUUID()}.duckdb`;
  const config = loadConfig((k) => ({ EGX_WAREHOUSE: path } as Record<string, string>)[k]);
  const wh = await openWarehouse(config.warehouse);
  try {
    await assert.rejects(
      () => evaluateAlerts(wh, RULES, { source: "pipeline", write: () => {} }),
      (e: unknown) =>
        e instanceof Error && !(e instanceof ConfigError) &&
        e.message ===
          "the warehouse has no daily prices to evaluate: its gold models are not built " +
            "(DWH_GOLD missing); run the pipeline first (deno task run full_pipeline)",
    );
    const [{ N }] = await wh.query<{ N: number }>(
      "SELECT count(*) AS N FROM OPERATIONAL.TBL_ALERT_EVENT",
    );
    assert.equal(Number(N), 0);
  } finally {
    await wh.close();
  }
});

Deno.test("a rule naming a ticker or index the warehouse does not list is a configuration error", async () => {
  await withWarehouse(async (wh) => {
    const rules = parseRules(SUBJECT_RULES, "mine.yaml");
    await assert.rejects(checkRuleSubjects(wh, rules), (e: unknown) => {
      assert.ok(e instanceof AlertRulesError && e instanceof ConfigError, String(e));
      assert.deepEqual(e.message.split("\n"), [
        "3 problem(s) in the alert rules file mine.yaml:",
        "mine.yaml:2:69 rule watch: unknown ticker NOPE (not in the warehouse's company list, " +
        "OPERATIONAL.TBL_COMPANY)",
        "mine.yaml:2:81 rule watch: unknown ticker ZZZZ (not in the warehouse's company list, " +
        "OPERATIONAL.TBL_COMPANY)",
        "mine.yaml:6:22 rule idx: unknown index EGX20 (the warehouse's indices: EGX100_EWI, " +
        "EGX30, EGX70_EWI)",
      ]);
      return true;
    });
    // Codes it lists pass, and so do rules on "all".
    await checkRuleSubjects(
      wh,
      parseRules(SUBJECT_RULES.replace(", NOPE", "").replace(", ZZZZ", "").replace(", EGX20", "")),
    );
  });
  // A ticker written in lower case or with .CA keeps its position (it was looked up by its code).
  await withWarehouse(async (wh) => {
    const rules = parseRules(
      "rules:\n  - id: r1\n    kind: price_move\n    threshold_pct: 5\n" +
        "    tickers: [COMX, comy, ZZZZ.CA]\n",
      "my_alerts.yaml",
    );
    await assert.rejects(checkRuleSubjects(wh, rules), (e: unknown) => {
      assert.ok(e instanceof AlertRulesError);
      const why = "(not in the warehouse's company list, OPERATIONAL.TBL_COMPANY)";
      assert.deepEqual(e.findings, [
        `my_alerts.yaml:5:15 rule r1: unknown ticker COMX ${why}`,
        `my_alerts.yaml:5:21 rule r1: unknown ticker COMY ${why}`,
        `my_alerts.yaml:5:27 rule r1: unknown ticker ZZZZ ${why}`,
      ]);
      return true;
    });
  });
  // A warehouse with no company list yet (nothing loaded) says so.
  const empty = await DuckDBWarehouse.open(`${dir}/${crypto.randomUUID()}.duckdb`);
  try {
    await empty.migrate();
    const rules = parseRules(
      "rules:\n  - {id: w, kind: price_move, threshold_pct: 5, tickers: [COMI]}\n",
      "mine.yaml",
    );
    await assert.rejects(checkRuleSubjects(empty, rules), (e: unknown) => {
      assert.ok(e instanceof AlertRulesError);
      assert.deepEqual(e.findings, [
        "mine.yaml:2:59 rule w: unknown ticker COMI (the warehouse lists no companies yet: " +
        "load the company list first)",
      ]);
      return true;
    });
  } finally {
    await empty.close();
  }
});

Deno.test("an index rule fires on the index's daily change in the gold index levels", async () => {
  await withWarehouse(async (wh, _path, inputs) => {
    // Equal-weighted indices: the day's change is the mean return of the members that traded.
    const change = (index: string) => {
      const members = new Set(
        inputs.memberships.filter((m) =>
          m.index === index && m.from <= DATE && (m.to === null || DATE < m.to)
        ).map((m) => m.ticker),
      );
      const returns = [...members].flatMap((t) =>
        withPrevClose(inputs.daily, t).filter((r) => r.date === DATE && r.changePct !== null)
          .map((r) => r.changePct!)
      );
      return returns.reduce((a, b) => a + b, 0) / returns.length;
    };
    const moves = ["EGX100_EWI", "EGX70_EWI"].map((code) => ({ code, pct: change(code) }));
    assert.ok(moves.every((m) => Math.abs(m.pct) >= 0.01), JSON.stringify(moves));
    const rules = parseRules(
      "rules:\n  - {id: idx, kind: index_move, threshold_pct: 0.01, indices: [EGX100_EWI, EGX70_EWI]}\n",
    );
    const r = await evaluateAlerts(wh, rules, { source: "pipeline", date: DATE, write: () => {} });
    assert.deepEqual(
      r.fired.map((a) => [a.subject, a.direction]),
      moves.map((m) => [m.code, m.pct > 0 ? "up" : "down"]),
    );
    for (const [i, a] of r.fired.entries()) {
      assert.ok(Math.abs(a.observed - moves[i].pct) < 1e-6, `${a.subject}: ${a.observed}`);
    }
    // Between the two moves, only the bigger one fires.
    const [small, big] = [...moves].sort((a, b) => Math.abs(a.pct) - Math.abs(b.pct));
    const between = Number(((Math.abs(small.pct) + Math.abs(big.pct)) / 2).toFixed(3));
    assert.ok(Math.abs(small.pct) < between && between < Math.abs(big.pct));
    const strict = parseRules(
      `rules:\n  - {id: idx2, kind: index_move, threshold_pct: ${between}, indices: all}\n`,
    );
    const r2 = await evaluateAlerts(wh, strict, {
      source: "pipeline",
      date: DATE,
      write: () => {},
    });
    assert.deepEqual(r2.fired.map((a) => a.subject).filter((s) => s !== "EGX30"), [big.code]);
  });
});

Deno.test("alerts are POSTed to the webhook and a failed delivery is retried later", async () => {
  await withWarehouse(async (wh, _path, inputs) => {
    const received: Record<string, unknown>[] = [];
    let fail = true;
    const handler = async (req: Request) => {
      received.push({ ...(await req.json()), contentType: req.headers.get("content-type") });
      return fail ? new Response("down for maintenance", { status: 503 }) : new Response("ok");
    };
    await withWebhook(handler, async (base) => {
      const url = `${base}/hooks/egx?key=s3cr3t`;
      const rules = parseRules("rules:\n  - {id: move, kind: price_move, threshold_pct: 4}\n");
      const expected = expectedAlerts(inputs, DATE).filter((k) => k.startsWith("move "));
      const r1 = await evaluateAlerts(wh, rules, {
        source: "pipeline",
        date: DATE,
        webhookUrl: url,
        write: () => {},
      });
      assert.equal(r1.fired.length, expected.length);
      assert.equal(r1.delivered, 0);
      // The first failure stops the evaluation's deliveries: the rest are not even tried.
      assert.deepEqual(r1.failed.map((f) => f.error), [
        "webhook answered 503 Service Unavailable: down for maintenance",
        ...expected.slice(1).map(() =>
          "not sent: the webhook failed on an earlier alert of this evaluation (sent next " +
          "evaluation)"
        ),
      ]);
      assert.equal(received.length, 1);
      const pending = await wh.query<{ E: string | null; D: string | null }>(
        "SELECT DELIVERY_ERROR AS E, DELIVERED_AT AS D FROM OPERATIONAL.TBL_ALERT_EVENT",
      );
      assert.ok(pending.every((p) => p.D === null && p.E !== null));

      fail = false;
      const r2 = await evaluateAlerts(wh, rules, {
        source: "pipeline",
        date: DATE,
        webhookUrl: url,
        write: () => {},
      });
      assert.deepEqual([r2.fired.length, r2.delivered, r2.failed.length], [0, expected.length, 0]);
      assert.equal(received.length, 1 + expected.length);
      const body = received[received.length - 1];
      const alert = body.alert as Record<string, unknown>;
      assert.equal(body.contentType, "application/json");
      assert.equal(body.text, `EGX alert: ${alert.message}`);
      assert.deepEqual(Object.keys(alert).sort(), [
        "date",
        "direction",
        "kind",
        "message",
        "observed",
        "rule",
        "source",
        "subject",
        "threshold",
        "triggeredAt",
      ]);
      assert.deepEqual([alert.rule, alert.date, alert.kind], ["move", DATE, "price_move"]);

      const r3 = await evaluateAlerts(wh, rules, {
        source: "pipeline",
        date: DATE,
        webhookUrl: url,
        write: () => {},
      });
      assert.deepEqual([r3.fired.length, r3.delivered], [0, 0]);
      assert.equal(received.length, 1 + expected.length);
    });
  });
});

Deno.test("two evaluators at once deliver each alert once (the pipeline job and the stream side)", async () => {
  await withWarehouse(async (wh, path, inputs) => {
    const received: string[] = [];
    const handler = async (req: Request) => {
      received.push(await keyOfPost(req));
      // A slow receiver: both evaluations are in their delivery at the same time.
      await new Promise((r) => setTimeout(r, 100));
      return new Response("ok");
    };
    await withWebhook(handler, async (base) => {
      const url = `${base}/hook`;
      const config = loadConfig((k) => ({ EGX_WAREHOUSE: path } as Record<string, string>)[k]);
      const other = await openWarehouse(config.warehouse);
      try {
        const expected = expectedAlerts(inputs, DATE);
        const [a, b] = await Promise.all(
          [[wh, "pipeline"], [other, "stream"]].map(([w, source]) =>
            evaluateAlerts(w as Warehouse, RULES, {
              source: source as string,
              date: DATE,
              webhookUrl: url,
              write: () => {},
            })
          ),
        );
        assert.deepEqual(received.toSorted(), expected.toSorted());
        assert.equal(a.delivered + b.delivered, expected.length);
        assert.deepEqual([...a.failed, ...b.failed], []);
        const rows = await wh.query<{ N: number; D: number; C: number }>(
          "SELECT count(*) AS N, count(DELIVERED_AT) AS D, count(CLAIMED_BY) AS C " +
            "FROM OPERATIONAL.TBL_ALERT_EVENT",
        );
        assert.deepEqual(rows[0], { N: expected.length, D: expected.length, C: 0 });
      } finally {
        await other.close();
      }
    });
  });
});

/** Evaluate RULES on DATE, delivering to the webhook at `base` (source "pipeline", quiet). */
function deliver(wh: Warehouse, base: string, opts: Partial<AlertRunOptions> = {}) {
  return evaluateAlerts(wh, RULES, {
    source: "pipeline",
    date: DATE,
    webhookUrl: `${base}/hook`,
    write: () => {},
    ...opts,
  });
}

Deno.test("an evaluation stopped mid-delivery releases its claims at once", async () => {
  await withWarehouse(async (wh, _path, inputs) => {
    const stop = new AbortController();
    const handler = async (req: Request) => {
      await req.body?.cancel();
      stop.abort(); // the evaluation is stopped while its first alert is being sent
      await new Promise((r) => setTimeout(r, 200));
      return new Response("ok");
    };
    await withWebhook(handler, async (base) => {
      const r = await deliver(wh, base, { signal: stop.signal });
      const expected = expectedAlerts(inputs, DATE);
      assert.deepEqual([r.fired.length, r.delivered, r.failed.length], [
        expected.length,
        0,
        expected.length,
      ]);
      // The one cut off mid-POST may have arrived; the others were never sent.
      assert.deepEqual(r.failed.map((f) => f.error), [
        "not confirmed: the evaluation was stopped during its POST (it may have arrived; " +
        "sent again next evaluation)",
        ...expected.slice(1).map(() =>
          "not sent: the evaluation was stopped (sent next evaluation)"
        ),
      ]);
      const rows = await wh.query<{ N: number; C: number; E: number }>(
        "SELECT count(*) AS N, count(CLAIMED_BY) AS C, count(DELIVERY_ERROR) AS E " +
          "FROM OPERATIONAL.TBL_ALERT_EVENT WHERE DELIVERED_AT IS NULL",
      );
      assert.deepEqual(rows[0], { N: expected.length, C: 0, E: expected.length });
    });
  });
});

/** One recorded alert, for the webhook's own tests. */
const ALERT = {
  ruleId: "r",
  kind: "price_move" as const,
  subject: "COMI",
  date: "2025-11-02",
  direction: "up" as const,
  observed: 6,
  threshold: 5,
  message: "COMI up 6%",
  triggeredAt: "2025-11-02T12:00:00.000Z",
  source: "pipeline",
};

Deno.test("a webhook answering 429 gets one POST per evaluation, not one per alert", async () => {
  await withWarehouse(async (wh, _path, inputs) => {
    const received: string[] = [];
    const handler = async (req: Request) => {
      received.push(await keyOfPost(req));
      return new Response("slow down", { status: 429, headers: { "Retry-After": "120" } });
    };
    await withWebhook(handler, async (base) => {
      const expected = expectedAlerts(inputs, DATE);
      assert.ok(expected.length >= 2, `the test date should have alerts, got ${expected}`);
      const r = await deliver(wh, base);
      assert.deepEqual(received, expected.slice(0, 1));
      assert.equal(r.delivered, 0);
      assert.deepEqual(r.failed.map((f) => [key(f.alert), f.error]), [
        [expected[0], "webhook answered 429 Too Many Requests: slow down"],
        ...expected.slice(1).map((k) => [
          k,
          "not sent: the webhook failed on an earlier alert of this evaluation (sent next " +
          "evaluation)",
        ]),
      ]);
      // Nothing is lost or left claimed: all wait, released, for the next evaluation.
      const rows = await wh.query<{ N: number; D: number; C: number; E: number }>(
        "SELECT count(*) AS N, count(DELIVERED_AT) AS D, count(CLAIMED_BY) AS C, " +
          "count(DELIVERY_ERROR) AS E FROM OPERATIONAL.TBL_ALERT_EVENT",
      );
      assert.deepEqual(rows[0], { N: expected.length, D: 0, C: 0, E: expected.length });
    });
  });
});

Deno.test("the watch backs off a failing webhook: one POST, then none until its retry time", async () => {
  await withWarehouse(async (wh) => {
    const received: string[] = [];
    await withWebhook(async (req) => {
      received.push(await keyOfPost(req));
      return new Response("slow down", { status: 429, headers: { "Retry-After": "120" } });
    }, async (base) => {
      // Moves of 0.5% on the newest day (the one the watch evaluates): several tickers.
      const rules = parseRules("rules:\n  - {id: move, kind: price_move, threshold_pct: 0.5}\n");
      const ac = new AbortController();
      const results: AlertRunResult[] = [];
      const errors: string[] = [];
      // Every check sees a change (as recording the failure makes one in the file).
      let n = 0;
      await watchAlerts(wh, rules, {
        version: { current: () => Promise.resolve(String(n++)) },
        intervalMs: 1,
        retryMs: 3_600_000,
        webhookUrl: `${base}/hook`,
        write: () => {},
        signal: ac.signal,
        onError: (e) => errors.push(e instanceof Error ? e.message : String(e)),
        onEvaluated: (r) => {
          results.push(r);
          if (results.length === 4) ac.abort();
        },
      });
      const fired = results[0].fired.length;
      assert.ok(fired >= 2, `the newest day should have several moves, got ${fired}`);
      assert.deepEqual(received, [results[0].fired.map(key).sort()[0]]);
      assert.deepEqual(
        results.slice(1).map((r) => [r.fired.length, r.delivered, r.failed.length, r.undelivered]),
        [[0, 0, 0, fired], [0, 0, 0, fired], [0, 0, 0, fired]],
      );
      assert.deepEqual(errors, [
        "delivery failed: webhook answered 429 Too Many Requests: slow down " +
        `(${fired - 1} more alert(s) not delivered); POSTing again in 3600 s (its Retry-After ` +
        "asks 120 s; 3600 s at least)",
      ]);
    });
  });
});

Deno.test("a failed evaluation is tried again after the retry time, without a change, and sends what it recorded", async () => {
  await withWarehouse(async (real) => {
    // The warehouse fails the evaluation's second query once: after the alerts are recorded
    // (the claim for delivery), or wherever the second query falls: the retry must send them.
    let queries = 0;
    const wh = new Proxy(real, {
      get(target, prop) {
        const v = Reflect.get(target, prop);
        if (prop === "query") {
          return (...args: unknown[]) =>
            ++queries === 2
              ? Promise.reject(new Error("warehouse busy"))
              : (v as (...a: unknown[]) => unknown).apply(target, args);
        }
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as Warehouse;
    const received: string[] = [];
    await withWebhook(async (req) => {
      received.push(await keyOfPost(req));
      return new Response("ok");
    }, async (base) => {
      const rules = parseRules("rules:\n  - {id: move, kind: price_move, threshold_pct: 0.5}\n");
      const ac = new AbortController();
      let t = Date.parse("2026-11-27T12:00:00Z");
      let ticks = 0;
      let failedAt: number | undefined;
      let evaluatedAt: number | undefined;
      const errors: string[] = [];
      const results: AlertRunResult[] = [];
      await watchAlerts(wh, rules, {
        // The data never changes; the clock moves past the retry time 5 ticks after the error.
        version: {
          current: () => {
            ticks++;
            if (failedAt !== undefined && ticks === failedAt + 5) t += 60_000;
            if (ticks > 50) ac.abort(); // never evaluated again: the assertions below say so
            return Promise.resolve("v1");
          },
        },
        intervalMs: 1,
        retryMs: 60_000,
        webhookUrl: `${base}/hook`,
        write: () => {},
        signal: ac.signal,
        now: () => new Date(t),
        onError: (e) => {
          errors.push(e instanceof Error ? e.message : String(e));
          failedAt = ticks;
        },
        onEvaluated: (r) => {
          results.push(r);
          evaluatedAt = ticks;
          ac.abort();
        },
      });
      assert.deepEqual(errors, ["warehouse busy"]);
      assert.equal(failedAt, 1);
      assert.equal(evaluatedAt, 6, "evaluated again once the retry time came, not before");
      const rows = await real.query<{ N: number; D: number }>(
        "SELECT count(*) AS N, count(DELIVERED_AT) AS D FROM OPERATIONAL.TBL_ALERT_EVENT",
      );
      const n = Number(rows[0].N);
      assert.ok(n >= 2, `the newest day should have several moves, got ${n}`);
      assert.deepEqual(rows[0], { N: n, D: n });
      assert.equal(results[0].delivered, n);
      assert.equal(new Set(received).size, n);
    });
  });
});

Deno.test("the watch waits as long as a 429 or 503 asks, within bounds, and then sends every waiting alert once", async () => {
  await withWarehouse(async (wh) => {
    // The clock the watch and its evaluations read: moved only by the test.
    let t = Date.parse("2026-11-27T12:00:00Z");
    const now = () => new Date(t);
    // The webhook's answers, one per POST, then 200 for every POST.
    const answers: [number, string | undefined][] = [
      [429, "120"], // honoured
      [503, "5"], // shorter than the floor (retryMs): the floor
      [429, "86400"], // a day: one hour at most
      [503, "date+90"], // an HTTP date 90 s ahead of the clock
      [429, "soon"], // not understood: the floor
      [500, "600"], // not a 429 or 503: the header is not read
    ];
    const waitsS = [120, 60, 3600, 90, 60, 60];
    const received: string[] = [];
    await withWebhook(async (req) => {
      received.push(await keyOfPost(req));
      const answer = answers.shift();
      if (!answer) return new Response("ok");
      const [status, header] = answer;
      const value = header === "date+90" ? new Date(t + 90_000).toUTCString() : header;
      return new Response("busy", {
        status,
        headers: value === undefined ? {} : { "Retry-After": value },
      });
    }, async (base) => {
      const rules = parseRules("rules:\n  - {id: move, kind: price_move, threshold_pct: 0.5}\n");
      const ac = new AbortController();
      const errors: string[] = [];
      // Per evaluation: POSTs received so far, delivered, failed, undelivered (held).
      const seen: number[][] = [];
      let failures = 0;
      let n = 0;
      let results = 0;
      await watchAlerts(wh, rules, {
        version: { current: () => Promise.resolve(String(n++)) },
        intervalMs: 1,
        retryMs: 60_000,
        webhookUrl: `${base}/hook`,
        write: () => {},
        signal: ac.signal,
        now,
        onError: (e) => errors.push(e instanceof Error ? e.message : String(e)),
        onEvaluated: (r) => {
          seen.push([received.length, r.delivered, r.failed.length, r.undelivered]);
          if (r.failed.length > 0) {
            // One second short of the wait: the next evaluation still holds its POSTs.
            t += waitsS[failures++] * 1000 - 1000;
          } else if (r.delivered === 0) {
            t += 1000; // now it is due
          }
          if (r.delivered > 0 || ++results > 30) ac.abort();
        },
      });
      const all = [...new Set(received)].sort();
      const fired = all.length;
      assert.ok(fired >= 2, `the newest day should have several moves, got ${fired}`);
      // Each failed answer: one POST, then an evaluation a second before the wait ends that
      // POSTs nothing (all held), then one at its end that POSTs again; the last sends them all.
      assert.deepEqual(seen, [
        ...[1, 2, 3, 4, 5, 6].flatMap((posts) => [[posts, 0, fired, 0], [posts, 0, 0, fired]]),
        [6 + fired, fired, 0, 0],
      ]);
      // Every alert POSTed once after the waits: the first of them once per failed answer.
      assert.deepEqual(received, [...Array(6).fill(all[0]), ...all]);
      const first = `delivery failed: webhook answered`;
      const rest = `(${fired - 1} more alert(s) not delivered); POSTing again in`;
      assert.deepEqual(errors, [
        `${first} 429 Too Many Requests: busy ${rest} 120 s, as its Retry-After asks`,
        `${first} 503 Service Unavailable: busy ${rest} 60 s (its Retry-After asks 5 s; 60 s ` +
        "at least)",
        `${first} 429 Too Many Requests: busy ${rest} 3600 s (its Retry-After asks 86400 s; ` +
        "3600 s at most)",
        `${first} 503 Service Unavailable: busy ${rest} 90 s, as its Retry-After asks`,
        `${first} 429 Too Many Requests: busy ${rest} 60 s (its Retry-After "soon" is neither ` +
        "seconds nor a date)",
        `${first} 500 Internal Server Error: busy ${rest} 60 s`,
      ]);
      const rows = await wh.query<{ N: number; D: number; C: number }>(
        "SELECT count(*) AS N, count(DELIVERED_AT) AS D, count(CLAIMED_BY) AS C " +
          "FROM OPERATIONAL.TBL_ALERT_EVENT",
      );
      assert.deepEqual(rows[0], { N: fired, D: fired, C: 0 });
    });
  });
});

Deno.test("a Retry-After is seconds or an HTTP date in any of its three forms; anything else is not understood", () => {
  const at = Date.parse("2026-11-27T12:00:00.250Z");
  const cases: [string, number | undefined][] = [
    ["0", 0],
    [" 120 ", 120_000],
    ["Fri, 27 Nov 2026 12:01:30 GMT", 90_000], // 89.75 s: whole seconds, rounded up
    ["Friday, 27-Nov-26 12:01:30 GMT", 90_000],
    ["Fri Nov 27 12:01:30 2026", 90_000],
    ["Fri Nov  7 12:00:00 2026", 0], // in the past: no wait
    ["Tue, 31 Feb 2026 12:00:00 GMT", undefined], // no such day
    ["Fri, 27 Nov 2026 25:00:00 GMT", undefined],
    ["2026-11-27T12:01:30Z", undefined],
    ["1.5", undefined],
    ["-1", undefined],
    ["soon", undefined],
    ["", undefined],
  ];
  assert.deepEqual(
    cases.map(([raw]) => [raw, parseRetryAfter(raw, at).ms]),
    cases,
  );
  assert.deepEqual(parseRetryAfter(" soon ", at), { raw: "soon" });
});

Deno.test("a webhook that never answers is reported as such, with its timeout", async () => {
  const gone = Promise.withResolvers<void>();
  await withWebhook(async (req) => {
    await req.body?.cancel();
    await gone.promise; // no answer until the test ends
    return new Response("late");
  }, async (base) => {
    await assert.rejects(
      () => postWebhook(`${base}/hook/tok3n`, ALERT, { timeoutMs: 50 }),
      new DeliveryError("webhook unreachable: no answer within 0.05 s"),
    );
    gone.resolve();
  });
});

Deno.test("a webhook's endless error page is read only as far as the message needs", async () => {
  let cancelled = false;
  await withWebhook(async (req) => {
    await req.body?.cancel();
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    const body = new ReadableStream({
      pull: (c) => c.enqueue(chunk), // never ends
      cancel: () => {
        cancelled = true;
      },
    });
    return new Response(body, { status: 500 });
  }, async (base) => {
    // Before, the whole body was read: an endless (or 2 GB) page until the timeout, which
    // lost the message too.
    await assert.rejects(
      () => postWebhook(`${base}/hook`, ALERT, { timeoutMs: 60_000 }),
      new DeliveryError(`webhook answered 500 Internal Server Error: ${"x".repeat(200)}`),
    );
  });
  assert.equal(cancelled, true);
});

Deno.test("a webhook's error page is quoted on one line, without its control characters", async () => {
  await withWebhook(async (req) => {
    await req.body?.cancel();
    return new Response("bad\r\nALERT 2025-11-13 FAKE [x] forged\n\x1b[2Jend\t!", { status: 400 });
  }, async (base) => {
    await assert.rejects(
      () => postWebhook(`${base}/hook`, ALERT),
      new DeliveryError(
        "webhook answered 400 Bad Request: bad ALERT 2025-11-13 FAKE [x] forged [2Jend !",
      ),
    );
  });
});

Deno.test("a webhook that answers a redirect is not followed: the alert is not delivered", async () => {
  const seen: string[] = [];
  await withWebhook(async (req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname}`);
    await req.body?.cancel();
    if (new URL(req.url).pathname === "/final") return new Response("ok");
    return new Response(null, { status: 302, headers: { location: "/final" } });
  }, async (base) => {
    await assert.rejects(
      () => postWebhook(`${base}/hook`, ALERT),
      new DeliveryError(
        "webhook answered 302 Found (a redirect, not followed: set EGX_ALERT_WEBHOOK_URL to " +
          "the final URL)",
      ),
    );
  });
  assert.deepEqual(seen, ["POST /hook"]);
});

Deno.test("a webhook's error page quoting its URL is masked before it is cut, not after", async () => {
  const path = "/services/T0/B0/hook-token-0123456789";
  // An error page whose 200-character cut falls inside the quoted path, two characters short.
  const page = `${"x".repeat(200 - path.length + 2)}${path} not found`;
  await withWebhook(async (req) => {
    await req.body?.cancel();
    return new Response(page, { status: 404 });
  }, async (base) => {
    await assert.rejects(
      () => postWebhook(`${base}${path}`, ALERT),
      new DeliveryError(
        `webhook answered 404 Not Found: ${"x".repeat(200 - path.length + 2)}*** not found`,
      ),
    );
  });
});

Deno.test("a webhook that answered an error before the stop keeps its answer as the reason", async () => {
  await withWarehouse(async (wh, _path, inputs) => {
    const stop = new AbortController();
    const handler = async (req: Request) => {
      await req.body?.cancel();
      // The status is out; the evaluation is stopped while the body is still being read.
      const body = new ReadableStream({
        async start(c) {
          c.enqueue(new TextEncoder().encode("down"));
          await new Promise((r) => setTimeout(r, 50));
          stop.abort();
          await new Promise((r) => setTimeout(r, 100));
          c.close();
        },
      });
      return new Response(body, { status: 500 });
    };
    await withWebhook(handler, async (base) => {
      const r = await deliver(wh, base, { signal: stop.signal });
      const expected = expectedAlerts(inputs, DATE);
      assert.equal(r.failed.length, expected.length);
      assert.match(r.failed[0].error, /^webhook answered 500 Internal Server Error: /);
      assert.deepEqual(
        r.failed.slice(1).map((f) => f.error),
        expected.slice(1).map(() => "not sent: the evaluation was stopped (sent next evaluation)"),
      );
    });
  });
});

/**
 * Of two claimed alerts (keys in claim order), the first was POSTed and recorded as delivered;
 * the second was not sent, is released (no claim) and carries `error`.
 */
async function assertFirstSentRestReleased(
  wh: Warehouse,
  c: { r: AlertRunResult; received: string[]; expected: string[]; error: string },
) {
  assert.deepEqual(c.received, c.expected.slice(0, 1));
  assert.equal(c.r.delivered, 1);
  assert.deepEqual(
    c.r.failed.map((f) => [key(f.alert), f.error]),
    c.expected.slice(1).map((k) => [k, c.error]),
  );
  const rows = await wh.query<{ D: number; C: number; E: number }>(
    "SELECT count(DELIVERED_AT) AS D, count(CLAIMED_BY) AS C, count(DELIVERY_ERROR) AS E " +
      "FROM OPERATIONAL.TBL_ALERT_EVENT",
  );
  assert.deepEqual(rows[0], { D: 1, C: 0, E: 1 });
}

Deno.test("each delivery is recorded before the next alert is sent", async () => {
  await withWarehouse(async (wh, path, inputs) => {
    const expected = expectedAlerts(inputs, DATE);
    assert.equal(expected.length, 2);
    const config = loadConfig((k) => ({ EGX_WAREHOUSE: path } as Record<string, string>)[k]);
    const other = await openWarehouse(config.warehouse);
    // What another process sees at each POST: a runner killed after the first POST leaves the
    // first alert recorded as delivered, not sent again once the claim's lease ends.
    const seen: { D: number; C: number }[] = [];
    const handler = async (req: Request) => {
      await req.body?.cancel();
      const [row] = await other.query<{ D: number; C: number }>(
        "SELECT count(DELIVERED_AT) AS D, count(CLAIMED_BY) AS C FROM OPERATIONAL.TBL_ALERT_EVENT",
      );
      seen.push(row);
      return new Response("ok");
    };
    try {
      await withWebhook(handler, async (base) => {
        const r = await deliver(wh, base);
        assert.deepEqual([r.delivered, r.failed.length], [2, 0]);
      });
      assert.deepEqual(seen, [{ D: 0, C: 2 }, { D: 1, C: 1 }]);
    } finally {
      await other.close();
    }
  });
});

Deno.test("an evaluation stopped while it records a delivery still records it, and releases the rest", async () => {
  await withWarehouse(async (wh, path, inputs) => {
    const expected = expectedAlerts(inputs, DATE).toSorted(); // the order alerts are claimed in
    assert.equal(expected.length, 2);
    const config = loadConfig((k) => ({ EGX_WAREHOUSE: path } as Record<string, string>)[k]);
    const other = await openWarehouse(config.warehouse);
    const release = Promise.withResolvers<void>();
    let blocker: Promise<void> | undefined;
    const firstSent = Promise.withResolvers<void>();
    const received: string[] = [];
    const stop = new AbortController();
    const handler = async (req: Request) => {
      received.push(await keyOfPost(req));
      // Another writer holds the warehouse while this evaluation records the delivery.
      blocker ??= other.transaction(() => release.promise);
      firstSent.resolve();
      return new Response("ok");
    };
    await withWebhook(handler, async (base) => {
      try {
        const run = deliver(wh, base, { source: "stream", signal: stop.signal });
        await firstSent.promise;
        await new Promise((r) => setTimeout(r, 100)); // recording waits for the other writer
        stop.abort();
        await new Promise((r) => setTimeout(r, 100));
        release.resolve();
        const r = await run;
        // The one sent is recorded (not sent again); the other goes to the next evaluation.
        const error = "not sent: the evaluation was stopped (sent next evaluation)";
        await assertFirstSentRestReleased(wh, { r, received, expected, error });
      } finally {
        release.resolve();
        await blocker;
        await other.close();
      }
    });
  });
});

Deno.test("an evaluation stops sending before its claim's lease could run out mid-POST", async () => {
  await withWarehouse(async (wh, _path, inputs) => {
    const expected = expectedAlerts(inputs, DATE).toSorted(); // the order alerts are claimed in
    assert.equal(expected.length, 2);
    let clock = Date.parse("2025-11-13T13:00:00Z");
    const received: string[] = [];
    const handler = async (req: Request) => {
      received.push(await keyOfPost(req));
      clock += 14 * 60_000 + 55_000; // as after many slow deliveries
      return new Response("ok");
    };
    await withWebhook(handler, async (base) => {
      const r = await deliver(wh, base, { now: () => new Date(clock) });
      // The first sent at 13:00. At 13:14:55 a POST taking its full 10 s could end after the
      // 15-minute lease, when another evaluation may send the same alert: the rest is released.
      const error = "not sent: the delivery claim's lease would end first (sent next evaluation)";
      await assertFirstSentRestReleased(wh, { r, received, expected, error });
    });
  });
});

Deno.test("a delivery claim holds for its lease, then passes on; delivering clears it", async () => {
  const wh = await DuckDBWarehouse.open(`${dir}/${crypto.randomUUID()}.duckdb`);
  try {
    await wh.migrate();
    await checkAlertClaims(wh);
  } finally {
    await wh.close();
  }
});

Deno.test("the stream side fires on a streamed bar of today, once", async () => {
  await withWarehouse(async (wh, path, inputs) => {
    const etel = withPrevClose(inputs.daily, "ETEL");
    const last = etel[etel.length - 1];
    const rules = parseRules("rules:\n  - {id: move, kind: price_move, threshold_pct: 5}\n");
    const ac = new AbortController();
    const evaluations: { fired: string[] }[] = [];
    const errors: unknown[] = [];
    const lines: string[] = [];
    const watching = watchAlerts(wh, rules, {
      path,
      intervalMs: 50,
      write: (l) => lines.push(l),
      signal: ac.signal,
      onError: (e) => errors.push(e),
      onEvaluated: (r) => evaluations.push({ fired: r.fired.map(key) }),
    });
    const waitFor = async (pred: () => boolean) => {
      for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(pred(), "timed out");
    };
    try {
      await waitFor(() => evaluations.length >= 1);
      assert.deepEqual(evaluations[0].fired, []); // nothing moved 5% on the last day
      const write = (close: number) =>
        wh.transaction(async (s) => {
          await s.execute(
            "DELETE FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'ETEL' AND " +
              "TRADE_DATE = '2025-12-09'",
          );
          await s.execute(
            "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, " +
              "HIGH, LOW, CLOSE, VOLUME) VALUES ('ETEL', '2025-12-09', 'STREAMING_API', ?, ?, ?, " +
              "?, 1000)",
            [last.close, close, last.close, close],
          );
        });
      await write(Math.round(last.close * 1.06 * 100) / 100); // the first poll: +6%
      await waitFor(() => evaluations.some((e) => e.fired.length > 0));
      const n = evaluations.length;
      await write(Math.round(last.close * 1.08 * 100) / 100); // a later poll: +8%, same day
      await waitFor(() => evaluations.length > n);
      assert.deepEqual(evaluations.flatMap((e) => e.fired), ["move ETEL up"]);
      // Once nothing is written, the watch stops evaluating (its own writes settle).
      await new Promise((r) => setTimeout(r, 1000));
      const settled = evaluations.length;
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(evaluations.length, settled);
      assert.equal(lines.length, 1);
      assert.match(lines[0], /^ALERT 2025-12-09 ETEL \[move\] ETEL up \+6\.00% on 2025-12-09 /);
      const rows = await wh.query<{ SOURCE: string; ALERT_DATE: string; OBSERVED: number }>(
        "SELECT SOURCE, ALERT_DATE, OBSERVED FROM OPERATIONAL.TBL_ALERT_EVENT",
      );
      assert.equal(rows.length, 1);
      assert.deepEqual([rows[0].SOURCE, rows[0].ALERT_DATE], ["stream", "2025-12-09"]);
      assert.ok(Math.abs(rows[0].OBSERVED - 6) < 0.1);
      assert.deepEqual(errors, []);
    } finally {
      ac.abort();
      await watching;
    }
  });
});

Deno.test("the alerts_evaluate job prints alerts, and fails clearly when the webhook is down", async () => {
  await withWarehouse(async (wh, path) => {
    await wh.close();
    // As the runner starts it (jobs.yaml's permissions), or by hand (the header's line, which
    // reads any file: a --rules file of one's own).
    const run = async (args: string[], env: Record<string, string>, byHand = false) => {
      const job = byHand
        ? new Deno.Command(Deno.execPath(), {
          args: ["run", "--allow-all", "jobs/alerts_evaluate.ts", ...args],
          env: { EGX_WAREHOUSE: path, ...env },
          stdout: "piped",
          stderr: "piped",
        })
        : await projectJob("alerts_evaluate", { EGX_WAREHOUSE: path, ...env }, args);
      const out = await job.output();
      const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
      return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
    };
    const help = await run(["--help"], {});
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: jobs\/alerts_evaluate.ts/);

    // A closed port: nothing listens there.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const down = await run(["--date", DATE], {
      EGX_ALERT_WEBHOOK_URL: `HTTP://hook:Pw-hunter33@127.0.0.1:${port}/hook?token=hunter22`,
    });
    assert.equal(down.code, 1);
    assert.match(down.stdout, /^ALERT 2025-11-13 ETEL \[big-move\] ETEL up \+6\.38% /m);
    const errLines = down.stderr.split("\n");
    assert.equal(errLines.length, 1);
    assert.match(errLines[0], /^alerts_evaluate: DeliveryError: \d+ alert\(s\) not delivered/);
    assert.ok(!/hunter2|hunter33/.test(down.stderr), "the webhook URL is a secret");
    // Why it failed, from fetch's cause, which quotes the URL normalised and without its user.
    assert.match(
      errLines[0],
      new RegExp(
        `webhook unreachable: fetch failed: error sending request for url ` +
          `\\(http://127\\.0\\.0\\.1:${port}\\*\\*\\*\\): .*Connection refused`,
      ),
    );

    // A host the job may not connect to (jobs.yaml's net permission, EGX_ALERT_WEBHOOK_NET,
    // defaults to 127.0.0.1): a configuration error, exit 2 (not retried), saying what to set,
    // not Deno's "--allow-net flag"; the alerts stay undelivered.
    const denied = await run(["--date", DATE], {
      EGX_ALERT_WEBHOOK_URL: "http://localhost:9999/hook",
    });
    assert.equal(denied.code, 2, denied.stderr);
    assert.equal(
      denied.stderr.replace(/ \(at [^)]*\)$/, ""),
      "alerts_evaluate: ConfigError: 2 alert(s) not delivered (kept for the next run): webhook " +
        "not permitted: this job may not connect to localhost:9999; set " +
        "EGX_ALERT_WEBHOOK_NET=localhost:9999 (the job's net permission in jobs.yaml; run by " +
        "hand, --allow-net=localhost:9999)",
    );
    const kept = await DuckDBWarehouse.open(path);
    try {
      const [{ N }] = await kept.query<{ N: number }>(
        "SELECT count(*) AS N FROM OPERATIONAL.TBL_ALERT_EVENT WHERE DELIVERED_AT IS NULL",
      );
      assert.equal(Number(N), 2);
    } finally {
      await kept.close();
    }

    // Alerts another evaluation holds (one running now, or one killed within its lease) are
    // named, not silently left out of "0 delivered".
    const other = await DuckDBWarehouse.open(path);
    try {
      const c = await claimUndelivered(other, { token: "other", now: new Date() });
      assert.equal(c.alerts.length, 2);
    } finally {
      await other.close();
    }
    const held = await run(["--date", DATE], {
      EGX_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook`,
    });
    assert.equal(held.code, 0, held.stderr);
    assert.match(
      held.stdout,
      /, 0 new alert\(s\), 0 delivered to the webhook; 2 undelivered alert\(s\) held by another evaluation \(sent by it, or by the first evaluation after its 15-minute lease\)$/,
    );
    const release = await DuckDBWarehouse.open(path);
    try {
      await release.transaction((t) =>
        t.execute("UPDATE OPERATIONAL.TBL_ALERT_EVENT SET CLAIMED_BY = NULL, CLAIMED_AT = NULL")
      );
    } finally {
      await release.close();
    }

    // Without a webhook, the two the webhook did not take are neither printed nor marked
    // delivered: they wait for a webhook.
    const again = await run(["--date", DATE], {});
    assert.equal(again.code, 0);
    assert.deepEqual(again.stdout.split("\n"), [
      "alerts_evaluate: 4 rules, 2 conditions hold, 0 new alert(s) (no webhook set); 2 alert(s) " +
      "recorded earlier are still undelivered (not printed again: kept for EGX_ALERT_WEBHOOK_URL)",
    ]);
    // A day without bars (a Friday: no trading) fires nothing, and says why.
    const friday = await run(["--date", "2025-11-14"], {});
    assert.equal(friday.code, 0);
    assert.equal(
      friday.stdout.split("\n")[0],
      "alerts_evaluate: 4 rules, 0 conditions hold (no ticker or index the rules watch has a " +
        "bar on 2025-11-14: a weekend, a holiday or a day beyond the data), 0 new alert(s) " +
        "(no webhook set); 2 alert(s) recorded earlier are still undelivered (not printed " +
        "again: kept for EGX_ALERT_WEBHOOK_URL)",
    );
    // A bad flag or value is a usage error (exit 2, not retried), named with its value, before
    // the rules or the warehouse are read.
    const usage: [string[], string][] = [
      [["--date", "2025-02-30"], 'ConfigError: --date must be a date YYYY-MM-DD, got "2025-02-30"'],
      [["--date", ""], 'ConfigError: --date must be a date YYYY-MM-DD, got ""'],
      [
        ["--date", "1989-12-31"],
        "ConfigError: --date must be between 1990-01-01 and 2100-12-31, got 1989-12-31",
      ],
      [["--date"], "TypeError: Option '--date <value>' argument missing"],
      [
        ["--watch", "--interval", "abc"],
        'ConfigError: --interval must be a number of seconds from 0.1 to 86400, got "abc"',
      ],
      [
        ["--watch", "--interval", "0"],
        'ConfigError: --interval must be a number of seconds from 0.1 to 86400, got "0"',
      ],
      [
        ["--watch", "--interval=-1"],
        'ConfigError: --interval must be a number of seconds from 0.1 to 86400, got "-1"',
      ],
      [
        ["--watch", "--interval", "Infinity"],
        'ConfigError: --interval must be a number of seconds from 0.1 to 86400, got "Infinity"',
      ],
      [
        ["--watch", "--interval", "86401"],
        'ConfigError: --interval must be a number of seconds from 0.1 to 86400, got "86401"',
      ],
      [
        ["--watch", "--date", DATE],
        "ConfigError: --date 2025-11-13 cannot be used with --watch (it evaluates each ticker's newest day)",
      ],
      [["--interval", "2"], "ConfigError: --interval 2 applies only with --watch"],
      [["--watch=yes"], "TypeError: Option '--watch' does not take an argument"],
      [
        ["--rules", ""],
        'ConfigError: --rules must name a file, got ""',
      ],
      [
        ["extra"],
        "TypeError: Unexpected argument 'extra'. This command does not take positional arguments",
      ],
    ];
    for (const [args, message] of usage) {
      const r = await run(args, {});
      assert.deepEqual(
        [r.code, r.stderr.replace(/ \(at [^)]*\)$/, ""), r.stdout],
        [2, `alerts_evaluate: ${message}`, ""],
        args.join(" "),
      );
    }

    // --watch says that it watches, and that it stopped on Ctrl-C.
    const watcher = (await projectJob(
      "alerts_evaluate",
      { EGX_WAREHOUSE: path },
      ["--watch", "--interval", "0.2"],
      { stdout: "piped", stderr: "inherit" },
    )).spawn();
    const lines = watcher.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("Ctrl-C stops\n")) {
      const { value, done } = await lines.read();
      if (done) break;
      seen += value;
    }
    watcher.kill("SIGINT");
    for (let r = await lines.read(); !r.done; r = await lines.read()) seen += r.value;
    assert.equal((await watcher.status).code, 0);
    assert.deepEqual(seen.trim().split("\n").filter((l) => !l.startsWith("ALERT")), [
      "alerts_evaluate: watching the warehouse every 0.2 s with 4 rules (no webhook set); " +
      "Ctrl-C stops",
      "alerts_evaluate: stopped watching",
    ]);

    // Every problem of a bad rules file is printed, not only the first line of the error.
    const rules = `${dir}/${crypto.randomUUID()}.yaml`;
    Deno.writeTextFileSync(
      rules,
      "rules:\n  - id: a\n    kind: price_move\n    threshold_pct: -1\n    direction: up\n" +
        "    tickers: all\n  - id: b\n    kind: nope\n",
    );
    const wrong = await run(["--rules", rules], {}, true);
    assert.equal(wrong.code, 2); // a configuration error: not retried
    const [first, ...problems] = wrong.stderr.split("\n");
    assert.equal(
      first.replace(/:\d+\)$/, ":N)"),
      `alerts_evaluate: AlertRulesError: 2 problem(s) in the alert rules file ${rules}: ` +
        "(at lib/alerts/rules.ts:N)",
    );
    assert.deepEqual(problems, [
      `${rules}:4:20 rule a: threshold_pct must be a number between 0.01 and 100, got -1`,
      `${rules}:8:11 rule b: kind must be one of price_move, volume_spike, ma_cross, index_move`,
    ]);

    // Codes the warehouse does not list: a configuration error too, before any evaluation.
    const unknownCodes = [
      `${rules}:2:69 rule watch: unknown ticker NOPE (not in the warehouse's company list, ` +
      "OPERATIONAL.TBL_COMPANY)",
      `${rules}:2:81 rule watch: unknown ticker ZZZZ (not in the warehouse's company list, ` +
      "OPERATIONAL.TBL_COMPANY)",
      `${rules}:6:22 rule idx: unknown index EGX20 (the warehouse's indices: EGX100_EWI, ` +
      "EGX30, EGX70_EWI)",
    ];
    Deno.writeTextFileSync(rules, SUBJECT_RULES);
    const unknown = await run(["--rules", rules], {}, true);
    assert.equal(unknown.code, 2);
    assert.deepEqual(unknown.stderr.replace(/rules\.ts:\d+\)/, "rules.ts:N)").split("\n"), [
      `alerts_evaluate: AlertRulesError: 3 problem(s) in the alert rules file ${rules}: ` +
      "(at lib/alerts/rules.ts:N)",
      ...unknownCodes,
    ]);
    assert.equal(unknown.stdout, "");
    // With other mistakes in the file, unknown codes come in the same report, those of a rule
    // with a mistake of its own too, every problem in the order of its position.
    Deno.writeTextFileSync(
      rules,
      SUBJECT_RULES.replace("window: 20", "window: 1").replace(
        "threshold_pct: 5",
        "threshold_pct: -5",
      ),
    );
    const both = await run(["--rules", rules], {}, true);
    assert.equal(both.code, 2);
    assert.deepEqual(both.stderr.replace(/rules\.ts:\d+\)/, "rules.ts:N)").split("\n"), [
      `alerts_evaluate: AlertRulesError: 5 problem(s) in the alert rules file ${rules}: ` +
      "(at lib/alerts/rules.ts:N)",
      `${rules}:2:50 rule watch: threshold_pct must be a number between 0.01 and 100, got -5`,
      ...unknownCodes.map((f) => f.replace(":2:69 ", ":2:70 ").replace(":2:81 ", ":2:82 ")),
      `${rules}:7:41 rule every: window must be an integer between 2 and 260, got 1`,
    ]);
    const [{ N }] = await (async () => {
      const w = await DuckDBWarehouse.open(path);
      try {
        return await w.query<{ N: number }>(
          "SELECT count(*) AS N FROM OPERATIONAL.TBL_ALERT_EVENT WHERE RULE_ID = 'every'",
        );
      } finally {
        await w.close();
      }
    })();
    assert.equal(N, 0);

    // A rules file that is not there.
    const missing = await run(["--rules", `${dir}/none.yaml`], {}, true);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.stderr.replace(/ \(at [^)]*\)$/, ""),
      `alerts_evaluate: ConfigError: --rules ${dir}/none.yaml: cannot read the rules file: ` +
        `No such file or directory (os error 2): readfile '${dir}/none.yaml'`,
    );
  });
});

Deno.test("alerts_evaluate --watch stops with exit 2 on a webhook it may not connect to, as the one-shot does", async () => {
  await withWarehouse(async (wh, path, inputs) => {
    // A streamed bar of the last day moving ETEL 8%: the watch's first evaluation fires on it.
    const etel = withPrevClose(inputs.daily, "ETEL");
    const last = etel[etel.length - 1];
    const close = Math.round(last.close * 1.08 * 100) / 100;
    await wh.transaction(async (s) => {
      await s.execute(
        "DELETE FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'ETEL' AND TRADE_DATE = ?",
        [last.date],
      );
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, " +
          "LOW, CLOSE, VOLUME) VALUES ('ETEL', ?, 'STREAMING_API', ?, ?, ?, ?, 1000)",
        [last.date, last.close, close, last.close, close],
      );
    });
    await wh.close();
    // As the runner starts it: EGX_ALERT_WEBHOOK_NET unset, so the job may connect to
    // 127.0.0.1 only. No later POST can succeed: the watch must not back off and retry forever.
    const job = (await projectJob(
      "alerts_evaluate",
      { EGX_WAREHOUSE: path, EGX_ALERT_WEBHOOK_URL: "http://localhost:9999/hook" },
      ["--watch", "--interval", "0.2"],
    )).spawn();
    // A watch that goes on is stopped after 20 s, and the test fails on its exit code.
    const timer = setTimeout(() => job.kill("SIGINT"), 20_000);
    const out = await job.output();
    clearTimeout(timer);
    const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
    const stdout = text(out.stdout);
    const stderr = text(out.stderr);
    const alerts = stdout.split("\n").filter((l) => l.startsWith("ALERT "));
    assert.ok(alerts.length > 0, stdout);
    assert.deepEqual(
      [out.code, stderr.replace(/ \(at [^)]*\)$/, "")],
      [
        2,
        `alerts_evaluate: ConfigError: ${alerts.length} alert(s) not delivered (kept for the ` +
        "next run): webhook not permitted: this job may not connect to localhost:9999; set " +
        "EGX_ALERT_WEBHOOK_NET=localhost:9999 (the job's net permission in jobs.yaml; run by " +
        "hand, --allow-net=localhost:9999)",
      ],
    );
    assert.deepEqual(stdout.split("\n").filter((l) => !l.startsWith("ALERT")), [
      "alerts_evaluate: watching the warehouse every 0.2 s with 4 rules; Ctrl-C stops",
    ]);
    // Every alert it printed is kept, undelivered and unclaimed, for the next run.
    const kept = await DuckDBWarehouse.open(path);
    try {
      const [{ N, CLAIMED }] = await kept.query<{ N: number; CLAIMED: number }>(
        "SELECT count(*) AS N, count(CLAIMED_BY) AS CLAIMED FROM OPERATIONAL.TBL_ALERT_EVENT " +
          "WHERE DELIVERED_AT IS NULL",
      );
      assert.deepEqual([Number(N), Number(CLAIMED)], [alerts.length, 0]);
    } finally {
      await kept.close();
    }
  });
});

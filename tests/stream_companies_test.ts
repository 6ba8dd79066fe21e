/**
 * The consumer's checks beyond the message itself, without a broker: the company list it checks
 * tickers against (read again at most once per interval, on a fake clock), the key rule, and the
 * last dead letter in health_check's output. tests/stream_test.ts runs them on a real broker.
 */
import assert from "node:assert/strict";
import { CompanyList, MAX_AGE_REFRESHES, unknownTickerReason } from "../lib/stream/companies.ts";
import { formatHealth, type HealthReport } from "../lib/stream/health.ts";
import { jsonLogger } from "../lib/stream/log.ts";
import { keyProblem } from "../lib/stream/message.ts";

function list(tables: string[][], refreshMs = 30_000) {
  let clock = 0;
  let reads = 0;
  const lines: string[] = [];
  const companies = new CompanyList(
    () => Promise.resolve(tables[Math.min(reads++, tables.length - 1)]),
    {
      refreshMs,
      clock: () => clock,
      logger: jsonLogger("consumer", { write: (l) => lines.push(l) }),
    },
  );
  return {
    companies,
    reads: () => reads,
    tick: (ms: number) => clock += ms,
    events: () => lines.map((l) => JSON.parse(l).event),
  };
}

Deno.test("the company list is read first, then again for an unlisted ticker at most once per interval", async () => {
  const l = list([["COMI", "ETEL"], ["COMI", "ETEL", "XYZ"]]);
  assert.equal(l.companies.wants([]), true, "never read yet");
  await l.companies.refresh();
  assert.deepEqual([l.companies.size, l.reads()], [2, 1]);
  assert.equal(l.companies.accepts("COMI"), true);
  assert.equal(l.companies.accepts("XYZ"), false);
  l.tick(29_999);
  assert.equal(l.companies.wants(["XYZ"]), false, "read less than 30 s ago");
  l.tick(1);
  assert.equal(l.companies.wants(["COMI", "ETEL"]), false, "every ticker listed: no read");
  assert.equal(l.companies.wants(["COMI", "XYZ"]), true);
  await Promise.all([l.companies.refresh(), l.companies.refresh()]);
  assert.equal(l.reads(), 2, "callers at once share one read");
  assert.equal(l.companies.accepts("XYZ"), true);
  assert.deepEqual(l.events(), ["consumer.companies_loaded", "consumer.companies_loaded"]);
});

Deno.test("a company removed from the table is refused once the list is 20 intervals old, whatever tickers come", async () => {
  assert.equal(MAX_AGE_REFRESHES, 20);
  const l = list([["COMI", "ETEL"], ["COMI"]]);
  await l.companies.refresh();
  assert.equal(l.companies.accepts("ETEL"), true);
  l.tick(20 * 30_000 - 1);
  assert.equal(l.companies.wants(["ETEL", "COMI"]), false, "every ticker listed, list not too old");
  l.tick(1);
  assert.equal(l.companies.wants(["ETEL", "COMI"]), true, "10 minutes old: read again");
  assert.equal(l.companies.wants([]), true);
  await l.companies.refresh();
  assert.deepEqual([l.reads(), l.companies.size], [2, 1]);
  assert.deepEqual([l.companies.accepts("ETEL"), l.companies.accepts("COMI")], [false, true]);
  assert.equal(l.companies.wants(["COMI"]), false, "just read");
  // The reviewer's repro: a day later the list is read again, not kept until a restart.
  const d = list([["COMI", "ETEL"], ["COMI"]]);
  await d.companies.refresh();
  d.tick(86_400_000);
  assert.equal(d.companies.wants(["ETEL", "COMI"]), true);
  await d.companies.refresh();
  assert.equal(d.companies.accepts("ETEL"), false);
  // maxAgeMs overrides the default.
  let now = 0;
  const custom = new CompanyList(() => Promise.resolve(["COMI"]), {
    refreshMs: 1_000,
    maxAgeMs: 5_000,
    clock: () => now,
    logger: jsonLogger("consumer", { write: () => {} }),
  });
  await custom.refresh();
  now = 4_999;
  assert.equal(custom.wants(["COMI"]), false);
  now = 5_000;
  assert.equal(custom.wants(["COMI"]), true);
});

Deno.test("an empty company table accepts every ticker, is warned about once while it stays empty, and again if it empties", async () => {
  const l = list([[], [], ["COMI"], []]);
  await l.companies.refresh();
  assert.equal(l.companies.accepts("XYZ"), true);
  assert.equal(l.companies.wants(["XYZ"]), false);
  l.tick(30_000);
  assert.equal(l.companies.wants(["XYZ"]), true, "still empty: read again, once per interval");
  await l.companies.refresh();
  l.tick(30_000);
  await l.companies.refresh();
  assert.deepEqual([l.companies.accepts("COMI"), l.companies.accepts("XYZ")], [true, false]);
  await l.companies.refresh();
  assert.equal(l.companies.accepts("XYZ"), true);
  assert.deepEqual(l.events(), [
    "consumer.no_companies",
    "consumer.companies_loaded",
    "consumer.no_companies",
  ]);
});

Deno.test("a quote's key must be its ticker: another key and no key are reasons naming both", () => {
  assert.equal(keyProblem("COMI", "COMI"), undefined);
  assert.equal(
    keyProblem("ETEL", "COMI"),
    'key "ETEL" differs from ticker "COMI" (the quotes topic is keyed by ticker)',
  );
  const none = 'record has no key, want its ticker "COMI" (the quotes topic is keyed by ticker)';
  assert.equal(keyProblem(null, "COMI"), none);
  assert.equal(keyProblem("", "COMI"), none);
  assert.equal(
    keyProblem("K".repeat(1_000_000), "COMI"),
    `key "${"K".repeat(40)}"... (1000000 characters) differs from ticker "COMI" ` +
      "(the quotes topic is keyed by ticker)",
  );
  assert.equal(
    unknownTickerReason("XYZ"),
    'unknown ticker "XYZ" (not in OPERATIONAL.TBL_COMPANY)',
  );
});

Deno.test("health_check's report shows the consumer's last dead letter and its counters by reason", () => {
  const report: HealthReport = {
    checkedAt: "2025-11-02T09:00:00.000Z",
    asOf: "2025-11-02T09:00:00.000Z",
    tradingHours: true,
    brokers: ["127.0.0.1:9092"],
    producer: { alive: true },
    consumer: {
      alive: true,
      status: {
        pid: 2,
        updatedAt: "2025-11-02T08:59:55.000Z",
        counters: { written: 3, deadLettered: 4, unknownTicker: 2, keyMismatch: 2 },
        lastDeadLetter: {
          reason: unknownTickerReason("XYZ"),
          partition: 0,
          offset: 5,
          at: "2025-11-02T08:59:50.000Z",
        },
      },
    },
    lag: [],
    totalLag: 0,
    problems: [],
    healthy: true,
  };
  assert.deepEqual(formatHealth(report).split("\n").slice(1, 4), [
    "  producer: alive",
    "  consumer: alive written=3 deadLettered=4 unknownTicker=2 keyMismatch=2",
    '    last dead letter: unknown ticker "XYZ" (not in OPERATIONAL.TBL_COMPANY) (partition 0, ' +
    "offset 5, at 2025-11-02T08:59:50.000Z)",
  ]);
});

/**
 * The streaming pipeline on a real Kafka broker (tests/support/kafka.ts) and a real DuckDB file:
 * replay -> producer -> topic -> consumer -> warehouse, value for value; dead letters; the
 * exactly-once restart rule; the producer's bounded buffer; topics; health_check.
 */
import assert from "node:assert/strict";
import kafkajs from "kafkajs";
import { loadConfig } from "../lib/config/config.ts";
import { cairoDate, calendarGap } from "../lib/market/calendar.ts";
import { type MinuteBar, readBars } from "../lib/market/sources/bars_csv.ts";
import { ReplaySource } from "../lib/market/sources/replay.ts";
import type { MarketSource } from "../lib/market/sources/source.ts";
import { invalidTickerReason } from "../lib/market/ticker.ts";
import { unknownTickerReason } from "../lib/stream/companies.ts";
import {
  type ConsumerCounters,
  type ConsumerOptions,
  type ConsumerStatus,
  DLQ_TRUNCATE,
  textPrefix,
  utf8Prefix,
} from "../lib/stream/consumer.ts";
import { checkStreamHealth, formatHealth } from "../lib/stream/health.ts";
import {
  isTransientKafkaError,
  KafkaClient,
  kafkaLogCreator,
  type OutMessage,
} from "../lib/stream/kafka.ts";
import { freePort } from "../lib/stream/local_broker.ts";
import { jsonLogger } from "../lib/stream/log.ts";
import { DLQ_HEADERS, encodeQuote } from "../lib/stream/message.ts";
import { runProducer } from "../lib/stream/producer.ts";
import { formatRedrive, type RedriveCounts, redriveDeadLetters } from "../lib/stream/redrive.ts";
import { OffsetMovedError, storedOffsets, writeQuotes } from "../lib/stream/sink.ts";
import { readStatus, statusWriter, writeStatus } from "../lib/stream/status.ts";
import {
  openWarehouse,
  type Row,
  type SqlValue,
  type TransactionOptions,
  type Warehouse,
} from "../lib/warehouse/warehouse.ts";
import {
  assertOffsetsMatch,
  consumeTopics,
  freshTopics,
  kafkaTest,
  recreatedPartitions,
  spawnStream,
  streamEnv,
  tail,
  testBrokers,
  testClient,
  uniqueName,
  waitFor,
} from "./support/kafka.ts";
import { projectJob } from "./support/processes.ts";

const BARS = new URL("./testdata/stream/bars_1m", import.meta.url).pathname;

async function withWarehouse(fn: (wh: Warehouse, path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "egx_stream_" });
  const path = `${dir}/egx.duckdb`;
  const wh = await openWarehouse({ kind: "duckdb", path });
  try {
    await fn(wh, path);
  } finally {
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
}

interface Names {
  topic: string;
  dlq: string;
  group: string;
}

/**
 * Run a consumer until `done(counters)` holds after a commit; fails after `timeoutMs`. Its JSON
 * log lines go to `lines` when given. `assignments`: how many times the group gave it partitions
 * (a rebalance on a loaded machine adds one, and each re-reads the record before every stored
 * offset to check it: counted as skipped).
 */
async function consumeUntil(
  client: KafkaClient,
  wh: Warehouse,
  names: Names,
  opts: {
    batchSize?: number;
    done: (c: ConsumerCounters) => boolean;
    timeoutMs?: number;
    onCommit?: ConsumerOptions["onCommit"];
    lines?: string[];
  },
): Promise<ConsumerCounters & { assignments: number }> {
  let assignments = 0;
  const logger = jsonLogger("consumer", {
    write: (l) => {
      if (l.includes('"event":"consumer.resumed_from_warehouse"')) assignments++;
      opts.lines?.push(l);
    },
  });
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, opts.timeoutMs ?? 60_000);
  const counters = await consumeTopics(client, wh, names, {
    batchSize: opts.batchSize ?? 100,
    signal: ac.signal,
    onCommit: opts.onCommit,
    logger,
    onStatus: (s) => {
      if (opts.done(s.counters)) ac.abort();
    },
  });
  clearTimeout(timer);
  if (timedOut) throw new Error(`consumer timed out: ${JSON.stringify(counters)}`);
  return { ...counters, assignments };
}

/**
 * A consumer of `names` writing to `wh` (batches of 100) until `ac` is aborted, its JSON log lines
 * in `lines`; `done` resolves with its counters once it stopped.
 */
function startConsumer(
  client: KafkaClient,
  wh: Warehouse,
  names: Names,
  onStatus: (s: ConsumerStatus) => void,
) {
  const ac = new AbortController();
  const lines: string[] = [];
  const done = consumeTopics(client, wh, names, {
    signal: ac.signal,
    logger: jsonLogger("consumer", { write: (l) => lines.push(l) }),
    onStatus,
  });
  return { ac, lines, done };
}

/**
 * Nothing was skipped as written but the one record before each stored offset that every
 * reassignment after the first re-reads to check it (see consumeUntil).
 */
function assertOnlyRechecksSkipped(
  c: { skipped: number; assignments: number },
  partitions: number,
  message?: string,
) {
  assert.ok(
    c.skipped <= Math.max(0, c.assignments - 1) * partitions,
    `${message ?? "skipped only re-checks"}: ${c.skipped} skipped in ${c.assignments} ` +
      `assignment(s) of ${partitions} partition(s)`,
  );
}

async function publishReplay(client: KafkaClient, topic: string, replay: ReplaySource) {
  return await runProducer(replay, client.producer(), { topic });
}

type BarRow = {
  TICKER: string;
  BAR_START: string;
  INTERVAL_MINUTES: number;
  TRADE_DATE: string;
  OPEN: number;
  HIGH: number;
  LOW: number;
  CLOSE: number;
  VOLUME: number;
  SOURCE_FILE: string;
};

/** Fresh topics holding the bundled bars of 2025-11-02 (565 records), and their count. */
async function publishedDay() {
  const client = await testClient();
  const names = await freshTopics(client);
  await publishReplay(client, names.topic, new ReplaySource({ dir: BARS, start: "2025-11-02" }));
  const total = (await client.lag(names.group, names.topic)).reduce((n, l) => n + l.end, 0);
  assert.equal(total, 213 + 198 + 154);
  return { client, names, total };
}

function intradayRows(wh: Warehouse): Promise<BarRow[]> {
  return wh.query<BarRow>(
    `SELECT TICKER, BAR_START, INTERVAL_MINUTES, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME,
       SOURCE_FILE
     FROM OPERATIONAL.TBL_INTRADAY_BAR WHERE DATA_SOURCE = 'STREAMING_API'
     ORDER BY TICKER, BAR_START`,
  );
}

type DailyRow = Omit<BarRow, "BAR_START" | "INTERVAL_MINUTES">;

function dailyRows(wh: Warehouse): Promise<DailyRow[]> {
  return wh.query<DailyRow>(
    `SELECT TICKER, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE
     FROM OPERATIONAL.TBL_STOCK_PRICE WHERE DATA_SOURCE = 'STREAMING_API'
     ORDER BY TICKER, TRADE_DATE`,
  );
}

/** The daily bars implied by one-minute bars, by Cairo trade date. */
function expectedDaily(bars: readonly MinuteBar[]): DailyRow[] {
  const groups = new Map<string, MinuteBar[]>();
  for (const b of bars) {
    const k = `${b.ticker}|${cairoDate(b.t)}`;
    groups.set(k, [...(groups.get(k) ?? []), b]);
  }
  return [...groups].map(([k, list]) => {
    list.sort((a, b) => a.t - b.t);
    const [ticker, date] = k.split("|");
    return {
      TICKER: ticker,
      TRADE_DATE: date,
      OPEN: list[0].open,
      HIGH: Math.max(...list.map((b) => b.high)),
      LOW: Math.min(...list.map((b) => b.low)),
      CLOSE: list[list.length - 1].close,
      VOLUME: list.reduce((n, b) => n + b.volume, 0),
      SOURCE_FILE: "stream-aggregate:1m",
    };
  }).sort((a, b) =>
    a.TICKER < b.TICKER ? -1 : a.TICKER > b.TICKER ? 1 : a.TRADE_DATE < b.TRADE_DATE ? -1 : 1
  );
}

kafkaTest(
  "deno task stream topics creates the quotes and dead-letter topics once, with the configured partitions and retention, and --alter applies changed ones",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "egx_topics_" });
    const topic = uniqueName("test.quotes");
    const env = await streamEnv({ topic, dlq: `${topic}.dlq`, group: "unused" }, dir, {
      EGX_TOPIC_PARTITIONS: "2",
      EGX_TOPIC_RETENTION_HOURS: "5",
    });
    const topics = async (log: string, extra: string[] = [], set: Record<string, string> = {}) => {
      const { child, output } = spawnStream(["topics", ...extra], { ...env, ...set }, log);
      const { code } = await child.status;
      await output;
      const errors = (await Deno.readTextFile(log)).split("\n")
        .filter((l) => l !== "" && !l.startsWith("{"));
      return { code, out: await Deno.readTextFile(`${log}.out`), errors };
    };
    try {
      assert.deepEqual(await topics(`${dir}/first.log`), {
        code: 0,
        out: `${topic}: 2 partition(s), retention 5 h (created)\n` +
          `${topic}.dlq: 1 partition(s), retention 5 h (created)\n`,
        errors: [],
      });
      assert.deepEqual(await topics(`${dir}/again.log`), {
        code: 0,
        out:
          `${topic}: 2 partition(s), retention 5 h\n${topic}.dlq: 1 partition(s), retention 5 h\n`,
        errors: [],
      });
      // Settings changed after the topics exist: named, left as they are until --alter.
      const raised = { EGX_TOPIC_PARTITIONS: "4", EGX_TOPIC_RETENTION_HOURS: "7" };
      assert.deepEqual(await topics(`${dir}/changed.log`, [], raised), {
        code: 0,
        out:
          `${topic}: 2 partition(s), retention 5 h\n${topic}.dlq: 1 partition(s), retention 5 h\n`,
        errors: [
          `differs from the settings: ${topic}: 2 partition(s), EGX_TOPIC_PARTITIONS=4; ` +
          `retention 5 h, EGX_TOPIC_RETENTION_HOURS=7 (--alter applies the settings)`,
          `differs from the settings: ${topic}.dlq: retention 5 h, EGX_TOPIC_RETENTION_HOURS=7 ` +
          `(--alter applies the settings)`,
        ],
      });
      // A consumer says so at its start (once per `run`: its consumer child) and goes on.
      const consumer = spawnStream(["consumer"], { ...env, ...raised }, `${dir}/consumer.log`);
      const differs = async () =>
        (await Deno.readTextFile(`${dir}/consumer.log`).catch(() => "")).split("\n")
          .filter((l) => l.includes('"stream.topic_differs"')).map((l) => JSON.parse(l));
      try {
        await waitFor(
          "the consumer to start",
          async () =>
            (await Deno.readTextFile(`${dir}/consumer.log`).catch(() => ""))
              .includes('"consumer.started"'),
          60_000,
        );
      } finally {
        consumer.child.kill("SIGTERM");
        await consumer.child.status;
        await consumer.output;
      }
      assert.deepEqual((await differs()).map(({ ts: _, ...x }) => x), [{
        level: "warn",
        component: "consumer",
        event: "stream.topic_differs",
        topic,
        partitions: { have: 2, want: 4 },
        retentionHours: { have: 5, want: 7 },
        message: `${topic}: 2 partition(s), EGX_TOPIC_PARTITIONS=4; retention 5 h, ` +
          `EGX_TOPIC_RETENTION_HOURS=7`,
        hint: "the topic is left as it is: deno task stream topics --alter applies the settings",
      }, {
        level: "warn",
        component: "consumer",
        event: "stream.topic_differs",
        topic: `${topic}.dlq`,
        retentionHours: { have: 5, want: 7 },
        message: `${topic}.dlq: retention 5 h, EGX_TOPIC_RETENTION_HOURS=7`,
        hint: "the topic is left as it is: deno task stream topics --alter applies the settings",
      }]);
      // A setting of the topic's own that --alter must keep (AlterConfigs replaces them all).
      const admin = new kafkajs.Kafka({ brokers: await testBrokers(), logLevel: 0 }).admin();
      await admin.connect();
      const maxBytes = async () => {
        const { resources } = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{
            type: kafkajs.ConfigResourceTypes.TOPIC,
            name: topic,
            configNames: ["max.message.bytes"],
          }],
        });
        return resources[0].configEntries[0].configValue;
      };
      try {
        await admin.alterConfigs({
          validateOnly: false,
          resources: [{
            type: kafkajs.ConfigResourceTypes.TOPIC,
            name: topic,
            configEntries: [{ name: "retention.ms", value: String(5 * 3_600_000) }, {
              name: "max.message.bytes",
              value: "123456",
            }],
          }],
        });
        assert.deepEqual(await topics(`${dir}/alter.log`, ["--alter"], raised), {
          code: 0,
          out: `${topic}: 4 partition(s), retention 7 h (altered)\n` +
            `${topic}.dlq: 1 partition(s), retention 7 h (altered)\n`,
          errors: [],
        });
        assert.equal(await maxBytes(), "123456");
      } finally {
        await admin.disconnect();
      }
      // Kafka cannot remove partitions: said, exit 1; the retention is still applied.
      const lowered = { EGX_TOPIC_PARTITIONS: "3", EGX_TOPIC_RETENTION_HOURS: "6" };
      assert.deepEqual(await topics(`${dir}/lower.log`, ["--alter"], lowered), {
        code: 1,
        out: `${topic}: 4 partition(s), retention 6 h (altered)\n` +
          `${topic}.dlq: 1 partition(s), retention 6 h (altered)\n`,
        errors: [
          `differs from the settings: ${topic}: 4 partition(s), EGX_TOPIC_PARTITIONS=3: Kafka ` +
          `cannot remove partitions (set it to 4, or use a new topic name)`,
        ],
      });
      // Only that left: nothing altered.
      assert.deepEqual(await topics(`${dir}/lower2.log`, ["--alter"], lowered), {
        code: 1,
        out:
          `${topic}: 4 partition(s), retention 6 h\n${topic}.dlq: 1 partition(s), retention 6 h\n`,
        errors: [
          `differs from the settings: ${topic}: 4 partition(s), EGX_TOPIC_PARTITIONS=3: Kafka ` +
          `cannot remove partitions (set it to 4, or use a new topic name)`,
        ],
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kafkaTest(
  "replayed bars reach the warehouse value for value, in transactions of at most N records",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client);
    const bars = await readBars(BARS);
    const produced = await publishReplay(client, names.topic, new ReplaySource({ dir: BARS }));
    assert.deepEqual(produced, {
      polls: 162,
      polled: 1520,
      published: 1520,
      failed: 0,
      dropped: 0,
      sendErrors: 0,
      buffered: 0,
    });
    await withWarehouse(async (wh) => {
      const commits: { partition: number; nextOffset: number; n: number }[] = [];
      const c = await consumeUntil(client, wh, names, {
        batchSize: 50,
        done: (c) => c.written === 1520,
        onCommit: (i) =>
          commits.push({
            partition: i.partition,
            nextOffset: i.nextOffset,
            n: i.timestamps.length,
          }),
      });
      assert.equal(c.written, 1520);
      assert.equal(c.deadLettered, 0);
      assertOnlyRechecksSkipped(c, 3);
      assert.ok(commits.every((x) => x.n <= 50), "no transaction holds more than 50 records");
      assert.equal(commits.reduce((n, x) => n + x.n, 0), 1520);
      assert.equal(c.transactions, commits.length);

      const rows = await intradayRows(wh);
      assert.equal(rows.length, bars.length);
      const byKey = new Map(rows.map((r) => [`${r.TICKER}|${r.BAR_START}`, r]));
      for (const b of bars) {
        const r = byKey.get(`${b.ticker}|${new Date(b.t).toISOString()}`);
        assert.ok(r, `missing ${b.ticker} ${new Date(b.t).toISOString()}`);
        assert.deepEqual(
          [r.INTERVAL_MINUTES, r.TRADE_DATE, r.OPEN, r.HIGH, r.LOW, r.CLOSE, r.VOLUME],
          [1, cairoDate(b.t), b.open, b.high, b.low, b.close, b.volume],
        );
        assert.match(r.SOURCE_FILE, new RegExp(`^kafka:${names.topic}/[0-2]/\\d+$`));
      }
      // Summer time until 2025-10-30, winter time from 2025-10-31: 07:00Z and 08:00Z are both
      // 10:00 Cairo, and trade dates follow Cairo.
      assert.equal(byKey.get("COMI|2025-10-30T07:00:00.000Z")?.TRADE_DATE, "2025-10-30");
      assert.equal(byKey.get("COMI|2025-11-02T08:00:00.000Z")?.TRADE_DATE, "2025-11-02");
      assert.deepEqual(await dailyRows(wh), expectedDaily(bars));

      // Offsets: stored with the rows, and committed to Kafka after them.
      await assertOffsetsMatch(wh, client, names);
      const lag = await client.lag(names.group, names.topic);
      assert.deepEqual(lag.map((l) => l.lag), [0, 0, 0]);
      assert.equal(lag.reduce((n, l) => n + l.end, 0), 1520);
    });
  },
);

kafkaTest(
  "a consumer that finds the warehouse ahead of Kafka's committed offsets skips what is written",
  async () => {
    const { client, names, total } = await publishedDay();
    await withWarehouse(async (wh) => {
      await consumeUntil(client, wh, names, { done: (c) => c.written === total });
      const stamps = () =>
        wh.query<{ TICKER: string; BAR_START: string; UPDATED_AT: string }>(
          `SELECT TICKER, BAR_START::VARCHAR AS BAR_START, UPDATED_AT::VARCHAR AS UPDATED_AT
           FROM OPERATIONAL.TBL_INTRADAY_BAR ORDER BY TICKER, BAR_START`,
        );
      const before = await stamps();
      assert.equal(before.length, total);
      // The crash window: the warehouse committed, Kafka did not (simulated by rewinding the group).
      const ends = await client.lag(names.group, names.topic);
      await client.setGroupOffsets(
        names.group,
        names.topic,
        new Map(ends.map((l) => [l.partition, 0])),
      );
      assert.deepEqual((await client.lag(names.group, names.topic)).map((l) => l.committed), [
        0,
        0,
        0,
      ]);
      // Three records more, published after the rewind: the consumer is done once it wrote them.
      // (It reads from Kafka's committed 0 and skips what is written, or, when the seek to the
      // warehouse's offsets comes before its first fetch, starts past them: both are right.)
      const later = ["COMI", "ETEL", "HRHO"].map((ticker) =>
        validQuote({
          ticker,
          barStart: "2025-11-03T08:00:00.000Z",
          fetchedAt: "2025-11-03T08:05:00.000Z",
        })
      );
      await publish(client, names.topic, later);
      const again = await consumeUntil(client, wh, names, { done: (c) => c.written === 3 });
      assert.equal(again.written, 3);
      assert.ok(
        again.skipped <= total + (again.assignments - 1) * 3,
        `skipped ${again.skipped} of ${total} written before`,
      );
      const after = await stamps();
      assert.deepEqual(
        after.filter((r) => !r.BAR_START.startsWith("2025-11-03")),
        before,
        "nothing was written twice",
      );
      assert.deepEqual(
        after.filter((r) => r.BAR_START.startsWith("2025-11-03")).map((r) => r.TICKER),
        ["COMI", "ETEL", "HRHO"],
      );
      await assertOffsetsMatch(wh, client, names);
    });
  },
);

kafkaTest(
  "a warehouse without the group's offsets (a new or replaced file) gets everything Kafka keeps, not just what follows Kafka's commits",
  async () => {
    const { client, names, total } = await publishedDay();
    let expected: Awaited<ReturnType<typeof intradayRows>> = [];
    await withWarehouse(async (wh) => {
      await consumeUntil(client, wh, names, { done: (c) => c.written === total });
      expected = await intradayRows(wh);
      assert.equal(expected.length, total);
    });
    // Kafka has the group's offsets committed at every partition's end; this warehouse has none.
    assert.deepEqual((await client.lag(names.group, names.topic)).map((l) => l.lag), [0, 0, 0]);
    await withWarehouse(async (wh) => {
      // It used to resume at Kafka's committed offsets and wait there with nothing written.
      const c = await consumeUntil(client, wh, names, {
        done: (c) => c.written === total,
        timeoutMs: 30_000,
      });
      assertOnlyRechecksSkipped(c, 3);
      const rows = await intradayRows(wh);
      assert.deepEqual(rows, expected, "the same rows, from the same records");
      await assertOffsetsMatch(wh, client, names);
    });
  },
);

kafkaTest(
  "a warehouse offset past the partition's end (the topic was recreated) reads the new topic from its start",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    await withWarehouse(async (wh) => {
      // The warehouse consumed 40 records of an earlier topic of this name (e.g. before the local
      // broker's data folder was removed): its stored offset is beyond the new topic's end.
      await wh.transaction((s) =>
        writeQuotes(s, [], {
          offsets: [{ group: names.group, topic: names.topic, partition: 0, nextOffset: 40 }],
        })
      );
      await publish(client, names.topic, [
        validQuote({ ticker: "COMI", close: 105.5 }),
        validQuote({ ticker: "ETEL", close: 105.2 }),
        validQuote({ ticker: "HRHO", close: 105.9 }),
      ]);
      const c = await consumeUntil(client, wh, names, {
        done: (c) => c.written === 3,
        timeoutMs: 30_000,
      });
      assertOnlyRechecksSkipped(c, 1, "nothing of the new topic is taken as written");
      assert.equal(c.written, 3);
      const rows = await intradayRows(wh);
      assert.deepEqual(rows.map((r) => [r.TICKER, r.CLOSE]), [
        ["COMI", 105.5],
        ["ETEL", 105.2],
        ["HRHO", 105.9],
      ]);
      await assertOffsetsMatch(wh, client, names);
    });
  },
);

/** Delete `topic` and create it again with `partitions` (Kafka deletes asynchronously). */
async function recreateTopic(topic: string, partitions: number) {
  const admin = new kafkajs.Kafka({ brokers: await testBrokers(), logLevel: 0 }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
    await waitFor(
      `${topic} deleted`,
      async () => !(await admin.listTopics()).includes(topic),
      30_000,
    );
    await waitFor(
      `${topic} created again`,
      () =>
        admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
          .then(() => true, () => false),
      30_000,
    );
  } finally {
    await admin.disconnect();
  }
}

kafkaTest(
  "a topic deleted and created again with more records than before is read from its start: every record is written",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const bars = (ticker: string, n: number, close: number) =>
      Array.from({ length: n }, (_, i) =>
        validQuote({
          ticker,
          barStart: `2025-11-02T08:${String(i).padStart(2, "0")}:00.000Z`,
          fetchedAt: "2025-11-02T08:30:00.000Z",
          close: close + i / 100,
        }));
    await withWarehouse(async (wh) => {
      // Before: 8 records, COMI's 5 bars and ETEL's 3; the warehouse stores offset 8.
      await publish(client, names.topic, [...bars("COMI", 5, 105), ...bars("ETEL", 3, 105)]);
      await consumeUntil(client, wh, names, { done: (c) => c.written === 8, timeoutMs: 30_000 });
      await recreateTopic(names.topic, 1);
      // After: 16 records, none of them written yet: offset 8 is inside the new topic.
      const after = [...bars("HRHO", 9, 105.05), ...bars("SWDY", 7, 105.05)];
      await publish(client, names.topic, after);
      const lines: string[] = [];
      const c = await consumeUntil(client, wh, names, {
        done: (c) => c.written === 16,
        timeoutMs: 30_000,
        lines,
      });
      assert.deepEqual([c.written, c.deadLettered], [16, 0]);
      assertOnlyRechecksSkipped(c, 1);
      assert.deepEqual(recreatedPartitions(lines), [[0, 8]]);
      const rows = await intradayRows(wh);
      assert.deepEqual(
        rows.filter((r) => ["HRHO", "SWDY"].includes(r.TICKER)).map((r) => [r.TICKER, r.CLOSE]),
        after.map((m) => JSON.parse(m.value)).map((q) => [q.ticker, q.close]),
      );
      assert.equal(rows.length, 8 + 16);
      await assertOffsetsMatch(wh, client, names);
    });
  },
);

kafkaTest(
  "the assignment's read of the stored offsets ending after the partition's first batch went on does not send the partition back",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const bars = (ticker: string, n: number) =>
      Array.from({ length: n }, (_, i) =>
        validQuote({
          ticker,
          barStart: `2025-11-02T08:${String(i).padStart(2, "0")}:00.000Z`,
          fetchedAt: "2025-11-02T08:30:00.000Z",
          close: 105 + i / 100,
        }));
    await withWarehouse(async (wh) => {
      await publish(client, names.topic, bars("COMI", 8));
      await consumeUntil(client, wh, names, { done: (c) => c.written === 8, timeoutMs: 30_000 });
      await recreateTopic(names.topic, 1);
      await publish(client, names.topic, [...bars("HRHO", 9), ...bars("SWDY", 7)]);
      // The first read of the stored offsets (the assignment's) answers 3 s late, with what it
      // read before: offset 8 of the old topic. Meanwhile the first batch reads its own, finds the
      // topic recreated and writes the 16 records.
      let late = true;
      let answered = false;
      const slow: Warehouse = {
        kind: wh.kind,
        transaction: (fn, opts) => wh.transaction(fn, opts),
        query: async <T extends Row = Row>(
          sql: string,
          params?: readonly SqlValue[],
          opts?: TransactionOptions,
        ) => {
          const rows = await wh.query<T>(sql, params, opts);
          if (late && sql.includes("TBL_STREAM_OFFSET")) {
            late = false;
            await new Promise((r) => setTimeout(r, 3_000));
            answered = true;
          }
          return rows;
        },
        migrate: (opts) => wh.migrate(opts),
        close: () => wh.close(),
      };
      let counters: ConsumerCounters | undefined;
      const { ac, lines, done } = startConsumer(client, slow, names, (s) => counters = s.counters);
      try {
        await waitFor(
          "16 records written and the late answer given",
          () => Promise.resolve(counters?.written === 16 && answered),
          30_000,
        );
        // One record more ends the consumer's wait for news (a fetch waits up to 5 s), so that a
        // partition sent back to offset 8 would be read, and found recreated, again.
        await publish(client, names.topic, bars("ETEL", 1));
        await waitFor(
          "17 records written",
          () => Promise.resolve(counters?.written === 17),
          30_000,
        );
        await new Promise((r) => setTimeout(r, 1_000));
      } finally {
        ac.abort();
      }
      const c = await done;
      assert.deepEqual(recreatedPartitions(lines), [[0, 8]]);
      assert.deepEqual([c.written, c.skipped, c.deadLettered], [17, 0, 0]);
      assert.equal((await intradayRows(wh)).length, 8 + 17);
      await assertOffsetsMatch(wh, client, names);
    });
  },
);

kafkaTest(
  "poison messages land in the dead-letter topic with the reason in a header, and the consumer goes on",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const good = {
      ticker: "COMI",
      barStart: "2025-11-02T08:00:00.000Z",
      interval: "1m" as const,
      open: 105,
      high: 105.49,
      low: 105,
      close: 105.49,
      volume: 1636,
      source: "replay",
      fetchedAt: "2025-11-02T08:05:00.000Z",
    };
    const valid = (q: typeof good) => {
      const m = encodeQuote(q);
      if ("error" in m) throw new Error(m.error);
      return m;
    };
    const body = JSON.parse(valid(good).value);
    await publish(client, names.topic, [
      valid(good),
      { key: "COMI", value: "{not json" },
      { key: "COMI", value: JSON.stringify({ ...body, schema: "egx.trade" }) },
      { key: "COMI", value: JSON.stringify({ ...body, low: 200 }) },
      valid({ ...good, ticker: "ETEL", close: 105.2 }),
      { key: "COMI", value: JSON.stringify({ ...body, version: 9 }), headers: { trace: "t-1" } },
    ]);
    await withWarehouse(async (wh) => {
      const c = await consumeUntil(client, wh, names, {
        done: (c) => c.written + c.deadLettered === 6,
      });
      assert.equal(c.written, 2);
      assert.equal(c.deadLettered, 4);
      const rows = await intradayRows(wh);
      assert.deepEqual(rows.map((r) => [r.TICKER, r.CLOSE]), [["COMI", 105.49], ["ETEL", 105.2]]);
      const stored = await wh.query<{ NEXT_OFFSET: number }>(
        `SELECT NEXT_OFFSET FROM OPERATIONAL.TBL_STREAM_OFFSET WHERE TOPIC = ?`,
        [names.topic],
      );
      assert.deepEqual(stored, [{ NEXT_OFFSET: 6 }]);
    });
    const dead = await client.readAll(names.dlq);
    assert.deepEqual(dead.map((m) => [m.value, m.headers[DLQ_HEADERS.offset]]), [
      ["{not json", "1"],
      [JSON.stringify({ ...body, schema: "egx.trade" }), "2"],
      [JSON.stringify({ ...body, low: 200 }), "3"],
      [JSON.stringify({ ...body, version: 9 }), "5"],
    ]);
    const reasons = dead.map((m) => m.headers[DLQ_HEADERS.reason]);
    assert.match(reasons[0], /^bad JSON/);
    assert.equal(reasons[1], 'wrong schema "egx.trade", want "egx.quote"');
    assert.equal(reasons[2], "high 105.49 is below low 200");
    assert.equal(reasons[3], "unsupported egx.quote version 9");
    assert.ok(dead.every((m) => m.headers[DLQ_HEADERS.topic] === names.topic));
    assert.equal(dead[3].headers.trace, "t-1", "original headers are kept");
  },
);

kafkaTest(
  "a record that is not valid UTF-8 is dead-lettered byte for byte, its key and headers too, with the reason",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const text = (t: string) => new TextEncoder().encode(t);
    const badValue = new Uint8Array([0x7b, 0xff, 0xfe, 0x00, 0x80, 0x7d]);
    const producer = client.producer();
    await producer.connect();
    await producer.send(names.topic, [
      { key: text("COMI"), value: badValue, headers: { trace: new Uint8Array([0xc3, 0x28]) } },
      { key: new Uint8Array([0x43, 0xff]), value: text(validQuote({ ticker: "ETEL" }).value) },
      { key: text("HRHO"), value: text('{"bad": "caf\u00e9"') },
    ]);
    await producer.send(names.topic, [validQuote({ ticker: "COMI", close: 105.7 })]);
    await producer.disconnect();
    await withWarehouse(async (wh) => {
      const c = await consumeUntil(client, wh, names, {
        done: (c) => c.written + c.deadLettered === 4,
        timeoutMs: 30_000,
      });
      assert.deepEqual([c.written, c.deadLettered, c.keyMismatch], [1, 3, 0]);
      assert.deepEqual((await intradayRows(wh)).map((r) => [r.TICKER, r.CLOSE]), [
        ["COMI", 105.7],
      ]);
    });
    const dead = await client.readAll(names.dlq);
    const bytes = (b: Uint8Array | null) => b === null ? null : [...b];
    assert.deepEqual(dead.map((m) => [bytes(m.raw.key), bytes(m.raw.value)]), [
      [[0x43, 0x4f, 0x4d, 0x49], [0x7b, 0xff, 0xfe, 0x00, 0x80, 0x7d]],
      [[0x43, 0xff], [...text(validQuote({ ticker: "ETEL" }).value)]],
      [[...text("HRHO")], [...text('{"bad": "caf\u00e9"')]],
    ]);
    assert.deepEqual(dead.map((m) => m.headers[DLQ_HEADERS.reason].replace(/:.*/, "")), [
      "value is not valid UTF-8",
      "key is not valid UTF-8",
      "bad JSON",
    ]);
    assert.deepEqual(dead.map((m) => m.notUtf8), [
      "value is not valid UTF-8",
      "key is not valid UTF-8",
      undefined,
    ]);
    assert.deepEqual(bytes(dead[0].raw.headers.trace as Uint8Array), [0xc3, 0x28]);
    assert.deepEqual(dead.map((m) => m.headers[DLQ_HEADERS.offset]), ["0", "1", "2"]);
  },
);

/** List `tickers` in OPERATIONAL.TBL_COMPANY, as a batch load of the company file does. */
async function listCompanies(wh: Warehouse, tickers: string[]) {
  await wh.transaction(async (s) => {
    for (const t of tickers) {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES (?, ?)",
        [t, `${t} company`],
      );
    }
  });
}

/**
 * A consumer running in the background on a fake clock (`tick(ms)` advances it; the company
 * list's refresh interval is measured on it), its JSON log lines kept; `until(cond)` waits for a
 * status whose counters satisfy `cond`.
 */
function backgroundConsumer(
  client: KafkaClient,
  wh: Warehouse,
  names: Names,
  companyRefreshMs: number,
) {
  const ac = new AbortController();
  let status: ConsumerStatus | undefined;
  let clock = Date.parse("2025-11-02T08:10:00Z");
  const lines: string[] = [];
  const done = consumeTopics(client, wh, names, {
    signal: ac.signal,
    companyRefreshMs,
    clock: () => clock,
    logger: jsonLogger("consumer", { write: (l) => lines.push(l) }),
    onStatus: (s) => status = structuredClone(s),
  });
  return {
    status: () => status,
    events: (event: string) => lines.filter((l) => JSON.parse(l).event === event),
    tick: (ms: number) => clock += ms,
    until: (what: string, cond: (c: ConsumerCounters) => boolean) =>
      waitFor(what, () => Promise.resolve(status !== undefined && cond(status.counters)), 30_000),
    stop: async () => {
      ac.abort();
      return await done;
    },
  };
}

async function publish(client: KafkaClient, topic: string, records: OutMessage[]) {
  const producer = client.producer();
  await producer.connect();
  await producer.send(topic, records);
  await producer.disconnect();
}

const KEYED = "(the quotes topic is keyed by ticker)";

kafkaTest(
  "records of unlisted tickers and records keyed otherwise than by their ticker are dead-lettered with the reason; a company listed later is accepted after the list's refresh",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const at = (minute: number) => ({
      barStart: `2025-11-02T08:0${minute}:00.000Z`,
      fetchedAt: "2025-11-02T08:10:00.000Z",
    });
    const unknownXyz = validQuote({ ticker: "XYZ", close: 105.1, ...at(0) });
    const etelKeyedComi = { ...validQuote({ ticker: "ETEL", close: 105.2 }), key: "COMI" };
    // kafkajs sends a null key as none at all (the partitioner then picks the partition).
    const comiKeyless = {
      ...validQuote({ ticker: "COMI", close: 105.3, ...at(1) }),
      key: null as unknown as string,
    };
    const xyzListedTooSoon = validQuote({ ticker: "XYZ", close: 105.4, ...at(1) });
    const xyzAfterRefresh = validQuote({ ticker: "XYZ", close: 105.6, ...at(2) });
    await withWarehouse(async (wh) => {
      await listCompanies(wh, ["COMI", "ETEL"]);
      const consumer = backgroundConsumer(client, wh, names, 60_000);
      let c: ConsumerCounters;
      try {
        await publish(client, names.topic, [
          validQuote({ ticker: "COMI", close: 105.5 }),
          unknownXyz,
          etelKeyedComi,
          comiKeyless,
          validQuote({ ticker: "ETEL", close: 105.7 }),
        ]);
        await consumer.until("the first 5 records", (c) => c.written + c.deadLettered === 5);
        assert.equal(consumer.status()?.companies, 2);
        // XYZ is listed now, but the list was read less than a minute ago (on the fake clock):
        // its next record is still dead-lettered.
        await listCompanies(wh, ["XYZ"]);
        await publish(client, names.topic, [xyzListedTooSoon]);
        await consumer.until("the 6th record", (c) => c.written + c.deadLettered === 6);
        // A minute on, XYZ's next record reads the list again, and is written.
        consumer.tick(60_000);
        await publish(client, names.topic, [xyzAfterRefresh]);
        await consumer.until("the 7th record", (c) => c.written + c.deadLettered === 7);
        assert.equal(consumer.status()?.companies, 3);
        assert.deepEqual(consumer.status()?.lastDeadLetter?.reason, unknownTickerReason("XYZ"));
        assert.deepEqual(consumer.status()?.lastDeadLetter?.offset, 5);
      } finally {
        c = await consumer.stop();
      }
      assert.deepEqual(
        [c.written, c.deadLettered, c.unknownTicker, c.keyMismatch],
        [3, 4, 2, 2],
      );
      assert.deepEqual(consumer.events("consumer.no_companies"), []);
      const rows = await intradayRows(wh);
      assert.deepEqual(rows.map((r) => [r.TICKER, r.BAR_START, r.CLOSE]), [
        ["COMI", "2025-11-02T08:00:00.000Z", 105.5],
        ["ETEL", "2025-11-02T08:00:00.000Z", 105.7],
        ["XYZ", "2025-11-02T08:02:00.000Z", 105.6],
      ]);
      assert.deepEqual((await dailyRows(wh)).map((r) => [r.TICKER, r.CLOSE]), [
        ["COMI", 105.5],
        ["ETEL", 105.7],
        ["XYZ", 105.6],
      ]);
      await assertOffsetsMatch(wh, client, names);
    });
    const dead = await client.readAll(names.dlq);
    assert.deepEqual(
      dead.map((m) => [
        m.key,
        m.value,
        m.headers[DLQ_HEADERS.offset],
        m.headers[DLQ_HEADERS.reason],
        m.headers[DLQ_HEADERS.topic],
      ]),
      [
        [
          "XYZ",
          unknownXyz.value,
          "1",
          'unknown ticker "XYZ" (not in OPERATIONAL.TBL_COMPANY)',
          names.topic,
        ],
        [
          "COMI",
          etelKeyedComi.value,
          "2",
          `key "COMI" differs from ticker "ETEL" ${KEYED}`,
          names.topic,
        ],
        [
          null, // a copy of the record: no key, as it had none
          comiKeyless.value,
          "3",
          `record has no key, want its ticker "COMI" ${KEYED}`,
          names.topic,
        ],
        [
          "XYZ",
          xyzListedTooSoon.value,
          "5",
          'unknown ticker "XYZ" (not in OPERATIONAL.TBL_COMPANY)',
          names.topic,
        ],
      ],
    );
  },
);

kafkaTest(
  "a record's ticker is its EGX code by the one ticker rule: actf.ca is written as ACTF (listed as ACTF.CA before the rule), A-B is dead-lettered naming it",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const body = JSON.parse(validQuote({ ticker: "COMI" }).value);
    const raw = (ticker: string, key: string, close: number) => ({
      key,
      value: JSON.stringify({ ...body, ticker, close, high: 106 }),
    });
    const records = [
      raw("actf.ca", "ACTF", 105.1),
      raw("A-B", "A-B", 105.2),
      raw(" comi ", "COMI", 105.3),
      // The topic is keyed by the code: a key spelled otherwise could put the ticker's bars in
      // another partition, out of order.
      raw("COMI.CA", "COMI.CA", 105.4),
    ];
    await publish(client, names.topic, records);
    await withWarehouse(async (wh) => {
      await listCompanies(wh, ["ACTF.CA", "COMI"]);
      const c = await consumeUntil(client, wh, names, {
        done: (c) => c.written + c.deadLettered === 4,
      });
      assert.deepEqual([c.written, c.deadLettered, c.keyMismatch], [2, 2, 1]);
      assert.deepEqual((await intradayRows(wh)).map((r) => [r.TICKER, r.CLOSE]), [
        ["ACTF", 105.1],
        ["COMI", 105.3],
      ]);
    });
    const dead = await client.readAll(names.dlq);
    assert.deepEqual(dead.map((m) => [m.value, m.headers[DLQ_HEADERS.reason]]), [
      [records[1].value, invalidTickerReason("A-B")],
      [records[3].value, `key "COMI.CA" differs from ticker "COMI" ${KEYED}`],
    ]);
  },
);

kafkaTest(
  "an empty company table (before the first batch load) accepts every ticker, warned once, and is checked once it lists companies",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const late = validQuote({
      ticker: "XYZ",
      close: 105.4,
      barStart: "2025-11-02T08:01:00.000Z",
    });
    await withWarehouse(async (wh) => {
      const consumer = backgroundConsumer(client, wh, names, 30_000);
      let c: ConsumerCounters;
      try {
        await publish(client, names.topic, [
          validQuote({ ticker: "XYZ", close: 105.1 }),
          validQuote({ ticker: "COMI", close: 105.5 }),
        ]);
        await consumer.until("the first 2 records", (c) => c.written === 2);
        consumer.tick(30_000);
        await publish(client, names.topic, [validQuote({ ticker: "ETEL", close: 105.2 })]);
        await consumer.until("the 3rd record", (c) => c.written === 3);
        assert.equal(consumer.status()?.companies, 0);
        // The batch pipeline lists companies: from the next read on, tickers are checked.
        await listCompanies(wh, ["COMI", "ETEL"]);
        consumer.tick(30_000);
        await publish(client, names.topic, [late]);
        await consumer.until("the 4th record", (c) => c.written + c.deadLettered === 4);
        assert.equal(consumer.status()?.companies, 2);
      } finally {
        c = await consumer.stop();
      }
      assert.deepEqual([c.written, c.deadLettered, c.unknownTicker, c.keyMismatch], [3, 1, 1, 0]);
      const warned = consumer.events("consumer.no_companies").map((l) => JSON.parse(l));
      assert.equal(warned.length, 1, "warned once, though the empty table was read twice");
      assert.equal(warned[0].level, "warn");
      assert.match(warned[0].reason, /^OPERATIONAL\.TBL_COMPANY is empty/);
      assert.deepEqual(
        consumer.events("consumer.companies_loaded").map((l) => JSON.parse(l).companies),
        [2],
      );
      assert.deepEqual((await intradayRows(wh)).map((r) => [r.TICKER, r.CLOSE]), [
        ["COMI", 105.5],
        ["ETEL", 105.2],
        ["XYZ", 105.1],
      ]);
      await assertOffsetsMatch(wh, client, names);
    });
    const dead = await client.readAll(names.dlq);
    assert.deepEqual(
      dead.map((m) => [m.value, m.headers[DLQ_HEADERS.offset], m.headers[DLQ_HEADERS.reason]]),
      [[late.value, "3", 'unknown ticker "XYZ" (not in OPERATIONAL.TBL_COMPANY)']],
    );
  },
);

/** Row counts and last writes of the streamed tables: unchanged when nothing was written. */
function writes(wh: Warehouse) {
  return wh.query(
    `SELECT (SELECT COUNT(*) FROM OPERATIONAL.TBL_INTRADAY_BAR) AS INTRADAY,
       (SELECT MAX(UPDATED_AT) FROM OPERATIONAL.TBL_INTRADAY_BAR) AS INTRADAY_WRITTEN,
       (SELECT COUNT(*) FROM OPERATIONAL.TBL_STOCK_PRICE) AS DAILY,
       (SELECT MAX(UPDATED_AT) FROM OPERATIONAL.TBL_STOCK_PRICE) AS DAILY_WRITTEN`,
  );
}

/** Redrive's counts, every one 0 but those in `some`. */
function counted(some: Partial<RedriveCounts>): RedriveCounts {
  return {
    read: 0,
    intraday: 0,
    daily: 0,
    existing: 0,
    unlisted: 0,
    keyedWrongly: 0,
    invalid: 0,
    truncated: 0,
    otherTopic: 0,
    superseded: 0,
    ...some,
  };
}

kafkaTest(
  "redrive inserts the dead letters of a ticker listed since, the latest per bar, keeps a bar the consumer wrote, recomputes the daily bar, and inserts nothing on a second run; --dry-run writes nothing",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const xyz = (barStart: string, over: Partial<Parameters<typeof encodeQuote>[0]>) =>
      validQuote({ ticker: "XYZ", barStart, fetchedAt: "2025-11-02T08:10:00.000Z", ...over });
    const [m0, m1, m2] = ["08:00", "08:01", "08:02"].map((t) => `2025-11-02T${t}:00.000Z`);
    const nov3 = "2025-11-03T08:00:00.000Z";
    // Offsets 0-4, dead-lettered: XYZ is not a listed company yet.
    const unlisted = [
      xyz(m0, { close: 105.1, volume: 10 }),
      xyz(m0, { open: 105.05, close: 105.2, volume: 11 }), // a later poll of the same bar
      xyz(m1, { close: 105.3, volume: 12 }),
      xyz(m2, { open: 105.2, high: 105.8, low: 104.5, close: 105.4, volume: 13 }),
      // The scanner's daily snapshot of 2025-11-03.
      xyz("2025-11-03T07:00:00.000Z", {
        interval: "1d",
        open: 105.5,
        high: 107,
        low: 104,
        close: 106.5,
        volume: 5000,
        fetchedAt: "2025-11-03T12:30:00.000Z",
      }),
    ];
    // Offsets 5-6, written once XYZ is listed: a newer value of the 08:01 bar, and a bar of
    // 2025-11-03 (whose aggregated daily bar the snapshot replaces, as the sink would).
    const listed = [
      xyz(m1, { high: 106.5, close: 105.9, volume: 15 }),
      xyz(nov3, {
        open: 106,
        high: 106.2,
        low: 105.9,
        close: 106.1,
        volume: 20,
        fetchedAt: "2025-11-03T08:05:00.000Z",
      }),
    ];
    const opts = { deadLetterTopic: names.dlq, quotesTopic: names.topic };
    const redriven = (offset: number) => `redrive:kafka:${names.topic}/0/${offset}`;
    const consumed = (offset: number) => `kafka:${names.topic}/0/${offset}`;
    await withWarehouse(async (wh, path) => {
      await listCompanies(wh, ["COMI", "ETEL"]);
      const consumer = backgroundConsumer(client, wh, names, 60_000);
      try {
        await publish(client, names.topic, unlisted);
        await consumer.until("5 dead letters", (c) => c.deadLettered === 5);
        await listCompanies(wh, ["XYZ"]);
        consumer.tick(60_000);
        await publish(client, names.topic, listed);
        await consumer.until("XYZ written", (c) => c.written === 2);

        const before = await writes(wh);
        const planned = counted({ read: 5, intraday: 2, daily: 1, existing: 1, superseded: 1 });
        assert.deepEqual(await redriveDeadLetters(client, wh, { ...opts, dryRun: true }), planned);
        assert.deepEqual(await writes(wh), before, "a dry run writes nothing");
        assert.deepEqual(
          formatRedrive(planned, { dryRun: true }),
          "redrive (dry run, nothing written): 5 dead letter(s) read; would insert 2 intraday " +
            "bar(s) (their days' daily bars recomputed), 1 daily snapshot(s); left out: 1 " +
            "already in the warehouse, 0 still unlisted, 0 keyed wrongly, 0 invalid, 0 " +
            "truncated, 0 from another topic, 1 superseded by a later dead letter of the same bar",
        );

        assert.deepEqual(await redriveDeadLetters(client, wh, opts), planned);
        assert.deepEqual(
          (await intradayRows(wh)).map((
            r,
          ) => [r.BAR_START, r.OPEN, r.CLOSE, r.VOLUME, r.SOURCE_FILE]),
          [
            [m0, 105.05, 105.2, 11, redriven(1)], // the later of the two dead letters
            [m1, 105, 105.9, 15, consumed(5)], // written by the consumer, newer: kept
            [m2, 105.2, 105.4, 13, redriven(3)],
            [nov3, 106, 106.1, 20, consumed(6)],
          ],
        );
        assert.deepEqual(await dailyRows(wh), [
          {
            TICKER: "XYZ",
            TRADE_DATE: "2025-11-02",
            OPEN: 105.05, // recomputed from the three bars
            HIGH: 106.5,
            LOW: 104.5,
            CLOSE: 105.4,
            VOLUME: 11 + 15 + 13,
            SOURCE_FILE: "stream-aggregate:1m",
          },
          {
            TICKER: "XYZ",
            TRADE_DATE: "2025-11-03",
            OPEN: 105.5,
            HIGH: 107,
            LOW: 104,
            CLOSE: 106.5,
            VOLUME: 5000,
            SOURCE_FILE: redriven(4),
          },
        ]);

        // Again, as a user runs it: every bar is in the warehouse now.
        const written = await writes(wh);
        const dir = path.slice(0, path.lastIndexOf("/"));
        const log = `${dir}/redrive.log`;
        const { child, output } = spawnStream(["redrive"], await streamEnv(names, dir), log);
        assert.equal((await child.status).code, 0, await tail(log));
        await output;
        assert.equal(
          await Deno.readTextFile(`${log}.out`),
          "redrive: 5 dead letter(s) read; inserted 0 intraday bar(s) (their days' daily bars " +
            "recomputed), 0 daily snapshot(s); left out: 4 already in the warehouse, 0 still " +
            "unlisted, 0 keyed wrongly, 0 invalid, 0 truncated, 0 from another topic, 1 " +
            "superseded by a later dead letter of the same bar\n",
        );
        assert.deepEqual(await writes(wh), written, "the second run wrote nothing");

        // A later record of a redriven bar is consumed as usual: it replaces the row.
        await publish(client, names.topic, [xyz(m0, { close: 105.7, volume: 14 })]);
        await consumer.until("the later 08:00 bar", (c) => c.written === 3);
      } finally {
        const c = await consumer.stop();
        assert.deepEqual([c.written, c.deadLettered, c.unknownTicker], [3, 5, 5]);
      }
      assert.deepEqual(
        (await intradayRows(wh)).slice(0, 1).map((r) => [r.CLOSE, r.VOLUME, r.SOURCE_FILE]),
        [[105.7, 14, consumed(7)]],
      );
      await assertOffsetsMatch(wh, client, names);
    });
  },
);

kafkaTest(
  "redrive leaves out, and counts, still-unlisted tickers, wrongly keyed, invalid and truncated dead letters and those of another topic",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const qqq = validQuote({ ticker: "QQQ" });
    const from = (topic: string, offset: number, reason: string) => ({
      [DLQ_HEADERS.reason]: reason,
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: "0",
      [DLQ_HEADERS.offset]: String(offset),
    });
    await withWarehouse(async (wh) => {
      await listCompanies(wh, ["COMI", "ETEL"]);
      await publish(client, names.topic, [
        validQuote({ ticker: "XYZ" }), // never listed
        { ...validQuote({ ticker: "ETEL" }), key: "COMI" },
        { ...validQuote({ ticker: "COMI" }), key: null as unknown as string },
        { key: "COMI", value: "{not json" },
      ]);
      await consumeUntil(client, wh, names, { done: (c) => c.deadLettered === 4 });
      // Dead letters the consumer makes rarely, as it would make them. QQQ is listed, so none of
      // them is left out as unlisted.
      await publish(client, names.dlq, [
        {
          key: "QQQ",
          value: qqq.value,
          headers: {
            ...from(names.topic, 4, unknownTickerReason("QQQ")),
            "egx-dlq-truncated": "9000",
          },
        },
        { ...qqq, headers: from("other.quotes", 5, unknownTickerReason("QQQ")) },
        // Valid by now, but dead-lettered for another reason than its ticker.
        {
          ...qqq,
          headers: from(names.topic, 6, "fetchedAt 2025-11-02T08:05:00.000Z is in the future"),
        },
      ]);
      await listCompanies(wh, ["QQQ"]);
      const opts = { deadLetterTopic: names.dlq, quotesTopic: names.topic };
      assert.deepEqual(
        await redriveDeadLetters(client, wh, opts),
        counted({ read: 7, unlisted: 1, keyedWrongly: 2, invalid: 2, truncated: 1, otherTopic: 1 }),
      );
      assert.deepEqual(await intradayRows(wh), []);
      assert.deepEqual(await dailyRows(wh), []);
    });
  },
);

kafkaTest(
  "redrive on a DuckDB file another process keeps locked says to stop deno task stream",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    await withWarehouse(async (_wh, path) => {
      const holder = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-ffi",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          new URL("./testdata/stream/hold_warehouse.ts", import.meta.url).pathname,
          path,
          "60000",
        ],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
      try {
        assert.match((await reader.read()).value ?? "", /holding/);
        const wh = await openWarehouse({ kind: "duckdb", path }, {
          lockTimeoutMs: 300,
          migrate: false,
        });
        try {
          await assert.rejects(
            redriveDeadLetters(client, wh, {
              deadLetterTopic: names.dlq,
              quotesTopic: names.topic,
            }),
            new RegExp(
              "stream redrive: DuckDB file .* stayed locked by another process .*\\. DuckDB lets " +
                "one process write its file at a time: stop 'deno task stream' \\(and any " +
                "pipeline run\\) and run redrive again \\(on Snowflake both run side by side\\)$",
            ),
          );
        } finally {
          await wh.close();
        }
      } finally {
        holder.kill("SIGKILL");
        await holder.status;
        await reader.cancel();
      }
    });
  },
);

/** A valid COMI quote's message (2025-11-02 08:00Z bar), with `over` changed. */
function validQuote(over: Partial<Parameters<typeof encodeQuote>[0]>) {
  const m = encodeQuote({
    ticker: "COMI",
    barStart: "2025-11-02T08:00:00.000Z",
    interval: "1m",
    open: 105,
    high: 106,
    low: 105,
    close: 105.5,
    volume: 10,
    source: "replay",
    fetchedAt: "2025-11-02T08:05:00.000Z",
    ...over,
  });
  if ("error" in m) throw new Error(m.error);
  return m;
}

/**
 * Publish `records` to fresh topics, consume every one of them into a fresh warehouse (written
 * or dead-lettered), check the warehouse's offsets against Kafka's, and return what the consumer
 * counted, the intraday and daily rows, and the dead letters.
 */
async function consumeAll(records: { key: string; value: string }[]) {
  const client = await testClient();
  const names = await freshTopics(client, 1);
  await publish(client, names.topic, records);
  let result!: { c: ConsumerCounters; intraday: BarRow[]; daily: DailyRow[] };
  await withWarehouse(async (wh) => {
    const c = await consumeUntil(client, wh, names, {
      done: (c) => c.written + c.deadLettered === records.length,
      timeoutMs: 30_000,
    });
    result = { c, intraday: await intradayRows(wh), daily: await dailyRows(wh) };
    await assertOffsetsMatch(wh, client, names);
  });
  return { ...result, dead: await client.readAll(names.dlq) };
}

kafkaTest(
  "a quote dated before year 1900 or after 2999 is dead-lettered and the records around it are written",
  async () => {
    const quote = (ticker: string, close: number) => validQuote({ ticker, close });
    const body = JSON.parse(quote("COMI", 105.5).value);
    // Raw records: the producer's own validation would refuse them.
    const year202 = JSON.stringify({ ...body, barStart: "0202-12-10T08:02:00.000Z" });
    const year9999 = JSON.stringify({
      ...body,
      barStart: "9999-12-31T22:00:00.000Z",
      fetchedAt: "9999-12-31T22:05:00.000Z",
    });
    const { c, intraday, dead } = await consumeAll([
      quote("COMI", 105.5),
      { key: "COMI", value: year202 },
      quote("ETEL", 105.2),
      { key: "COMI", value: year9999 },
      quote("HRHO", 105.9),
    ]);
    assert.equal(c.written, 3);
    assert.equal(c.deadLettered, 2);
    assert.equal(c.warehouseRetries, 0, "no write failed");
    assert.deepEqual(intraday.map((r) => [r.TICKER, r.TRADE_DATE, r.CLOSE]), [
      ["COMI", "2025-11-02", 105.5],
      ["ETEL", "2025-11-02", 105.2],
      ["HRHO", "2025-11-02", 105.9],
    ]);
    assert.deepEqual(
      dead.map((m) => [m.value, m.headers[DLQ_HEADERS.offset], m.headers[DLQ_HEADERS.reason]]),
      [
        [year202, "1", "barStart year 0202 is outside 1900-2999: 0202-12-10T08:02:00.000Z"],
        [year9999, "3", "barStart year 9999 is outside 1900-2999: 9999-12-31T22:00:00.000Z"],
      ],
    );
  },
);

kafkaTest(
  "a quote fetched in the future (by the consumer's clock) is dead-lettered, not written as the latest price",
  async () => {
    const quote = (ticker: string, close: number) => validQuote({ ticker, close });
    const body = JSON.parse(quote("COMI", 105.5).value);
    // Raw records: the producer's own validation would refuse them.
    const ahead = new Date(Date.now() + 2 * 3_600_000);
    ahead.setUTCSeconds(0, 0);
    const soon = JSON.stringify({
      ...body,
      barStart: ahead.toISOString(),
      fetchedAt: ahead.toISOString(),
    });
    const far = JSON.stringify({
      ...body,
      barStart: "2999-12-30T08:00:00.000Z",
      fetchedAt: "2999-12-30T08:05:00.000Z",
    });
    const { c, intraday, daily, dead } = await consumeAll([
      quote("COMI", 105.5),
      { key: "COMI", value: soon },
      quote("ETEL", 105.2),
      { key: "COMI", value: far },
    ]);
    assert.deepEqual([c.written, c.deadLettered], [2, 2]);
    assert.deepEqual(intraday.map((r) => [r.TICKER, r.TRADE_DATE]), [
      ["COMI", "2025-11-02"],
      ["ETEL", "2025-11-02"],
    ]);
    assert.deepEqual(daily.map((r) => [r.TICKER, r.TRADE_DATE]), [
      ["COMI", "2025-11-02"],
      ["ETEL", "2025-11-02"],
    ]);
    assert.deepEqual(dead.map((m) => [m.value, m.headers[DLQ_HEADERS.offset]]), [
      [soon, "1"],
      [far, "3"],
    ]);
    const reasons = dead.map((m) => m.headers[DLQ_HEADERS.reason]);
    assert.match(
      reasons[0],
      new RegExp(`^fetchedAt ${ahead.toISOString()} is in the future \\(more than an hour after `),
    );
    assert.match(reasons[1], /^fetchedAt 2999-12-30T08:05:00.000Z is in the future /);
  },
);

kafkaTest(
  "a quote whose interval is an object's inherited property name is dead-lettered, not retried forever",
  async () => {
    const quote = (ticker: string, close: number) => validQuote({ ticker, close });
    const body = JSON.parse(quote("COMI", 105.5).value);
    const toString = JSON.stringify({ ...body, interval: "toString" });
    const proto = JSON.stringify({ ...body, interval: "__proto__" });
    const { c, intraday, dead } = await consumeAll([
      quote("COMI", 105.5),
      { key: "COMI", value: toString },
      quote("ETEL", 105.2),
      { key: "COMI", value: proto },
    ]);
    assert.equal(c.written, 2);
    assert.equal(c.deadLettered, 2);
    assert.equal(c.warehouseRetries, 0, "no write failed");
    assert.deepEqual(intraday.map((r) => [r.TICKER, r.INTERVAL_MINUTES, r.CLOSE]), [
      ["COMI", 1, 105.5],
      ["ETEL", 1, 105.2],
    ]);
    assert.deepEqual(
      dead.map((m) => [m.value, m.headers[DLQ_HEADERS.offset], m.headers[DLQ_HEADERS.reason]]),
      [
        [toString, "1", 'unknown interval "toString"'],
        [proto, "3", 'unknown interval "__proto__"'],
      ],
    );
  },
);

Deno.test("a truncated dead letter ends on a whole character", () => {
  const enc = new TextEncoder();
  const dec = (b: Uint8Array) => new TextDecoder("utf-8", { fatal: true }).decode(b);
  // "a" then "€" (3 bytes) and "😀" (4 bytes): every cut inside one backs off to its start.
  const b = enc.encode("a€😀z");
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => dec(utf8Prefix(b, n))), [
    "a",
    "a",
    "a",
    "a€",
    "a€",
    "a€",
    "a€",
    "a€😀",
    "a€😀z",
  ]);
  // Not UTF-8 (continuation bytes only): cut within three bytes of the limit, never emptied.
  assert.equal(utf8Prefix(new Uint8Array(10).fill(0x80), 6).length, 3);
  assert.equal(textPrefix("ab😀", 3), "ab");
  assert.equal(textPrefix("ab😀", 4), "ab😀");
  assert.equal(textPrefix("abc", 2), "ab");
});

kafkaTest(
  "dead letters too large for the topic are sent in halves, a record too large alone as a truncated copy",
  async () => {
    const client = await testClient();
    // The dead-letter topic takes record batches of at most 16 KB: 40 bad records of 3 KB cannot
    // go in one send, and one of 40 KB not even alone.
    const names = await freshTopics(client, 1, 16_384);
    const quote = (ticker: string) => validQuote({ ticker });
    const junk = (i: number) => ({ key: "COMI", value: `not json ${i} ${"x".repeat(3_000)}` });
    // Two-byte characters from byte 1 on: byte DLQ_TRUNCATE is the second of a pair.
    const huge = `{${"é".repeat(20_000)}`;
    const sent = [
      quote("COMI"),
      ...Array.from({ length: 20 }, (_, i) => junk(i)),
      { key: "COMI", value: huge, headers: { trace: "t-1" } },
      ...Array.from({ length: 20 }, (_, i) => junk(20 + i)),
      quote("ETEL"),
    ];
    await publish(client, names.topic, sent);
    await withWarehouse(async (wh) => {
      const c = await consumeUntil(client, wh, names, {
        batchSize: 2000,
        done: (c) => c.written + c.deadLettered === sent.length,
        timeoutMs: 30_000,
      });
      assert.equal(c.written, 2);
      assert.equal(c.deadLettered, 41);
      assert.deepEqual((await intradayRows(wh)).map((r) => r.TICKER), ["COMI", "ETEL"]);
      await assertOffsetsMatch(wh, client, names);
    });
    const dead = await client.readAll(names.dlq);
    assert.deepEqual(
      dead.map((m) => m.headers[DLQ_HEADERS.offset]),
      Array.from({ length: 41 }, (_, i) => String(i + 1)),
      "every bad record once, in offset order",
    );
    const big = dead[20];
    assert.equal(
      big.value,
      `{${"é".repeat((DLQ_TRUNCATE - 2) / 2)}`,
      "cut back to a whole character",
    );
    assert.equal(big.headers[DLQ_HEADERS.truncated], "40001"); // bytes
    assert.match(big.headers[DLQ_HEADERS.reason], /^bad JSON/);
    assert.equal(big.headers[DLQ_HEADERS.topic], names.topic);
    assert.equal(
      big.headers.trace,
      undefined,
      "the truncated copy leaves the original headers out",
    );
    const rest = dead.filter((m) => m !== big);
    assert.deepEqual(
      rest.map((m) => m.value),
      sent.slice(1, -1).filter((m) => m.value !== huge).map((m) => m.value),
    );
    assert.ok(rest.every((m) => m.headers[DLQ_HEADERS.truncated] === undefined));
  },
);

kafkaTest(
  "a dead letter the topic refuses even as a truncated copy is dropped, and counted under no reason",
  async () => {
    const client = await testClient();
    // Record batches of at most 256 bytes: a quote (~330 bytes) with its headers never fits.
    const names = await freshTopics(client, 1, 256);
    const keyless = { ...validQuote({ ticker: "ETEL" }), key: "" };
    await publish(client, names.topic, [keyless, validQuote({ ticker: "COMI" })]);
    await withWarehouse(async (wh) => {
      const c = await consumeUntil(client, wh, names, {
        done: (c) => c.written === 1,
        timeoutMs: 30_000,
      });
      assert.deepEqual([c.written, c.deadLettered, c.keyMismatch, c.unknownTicker], [1, 0, 0, 0]);
      assert.deepEqual((await intradayRows(wh)).map((r) => r.TICKER), ["COMI"]);
      await assertOffsetsMatch(wh, client, names);
    });
    assert.deepEqual(await client.readAll(names.dlq), []);
  },
);

kafkaTest(
  "later polls update a bar and its daily bar; a daily snapshot is not overwritten by the aggregate",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const q = (over: Partial<Parameters<typeof encodeQuote>[0]>) => {
      const m = encodeQuote({
        ticker: "COMI",
        barStart: "2025-11-02T08:00:00.000Z",
        interval: "1m",
        open: 100,
        high: 101,
        low: 99,
        close: 100.5,
        volume: 10,
        source: "test",
        fetchedAt: "2025-11-02T08:05:00.000Z",
        ...over,
      });
      if ("error" in m) throw new Error(m.error);
      return m;
    };
    await publish(client, names.topic, [
      q({}),
      q({ barStart: "2025-11-02T08:01:00.000Z", open: 100.5, high: 102, close: 101.5, volume: 5 }),
      // A later poll corrects the first bar.
      q({ close: 100.8, volume: 12, fetchedAt: "2025-11-02T08:10:00.000Z" }),
      // A scanner snapshot of another ticker's day, then a 1m bar of that day.
      q({ ticker: "ETEL", interval: "1d", open: 70, high: 72, low: 69, close: 71, volume: 900 }),
      q({ ticker: "ETEL", open: 70, high: 70, low: 70, close: 70, volume: 1 }),
    ]);
    await withWarehouse(async (wh) => {
      await consumeUntil(client, wh, names, { batchSize: 1, done: (c) => c.written === 5 });
      const intraday = await intradayRows(wh);
      assert.deepEqual(intraday.map((r) => [r.TICKER, r.BAR_START, r.CLOSE, r.VOLUME]), [
        ["COMI", "2025-11-02T08:00:00.000Z", 100.8, 12],
        ["COMI", "2025-11-02T08:01:00.000Z", 101.5, 5],
        ["ETEL", "2025-11-02T08:00:00.000Z", 70, 1],
      ]);
      const daily = await dailyRows(wh);
      assert.deepEqual(
        daily.map((r) => [r.TICKER, r.TRADE_DATE, r.OPEN, r.HIGH, r.LOW, r.CLOSE, r.VOLUME]),
        [
          ["COMI", "2025-11-02", 100, 102, 99, 101.5, 17],
          ["ETEL", "2025-11-02", 70, 72, 69, 71, 900],
        ],
      );
      assert.equal(daily[0].SOURCE_FILE, "stream-aggregate:1m");
      assert.match(daily[1].SOURCE_FILE, /^kafka:/);
    });
  },
);

/**
 * Run a producer (buffer of 100) for `ms` against a port where no broker listens; `clientLogs`
 * receives what the Kafka client logs.
 */
async function produceWithKafkaDown(
  source: MarketSource,
  ms: number,
  clientLogs?: Record<string, unknown>[],
) {
  const client = new KafkaClient([`127.0.0.1:${freePort()}`], {
    clientId: "down",
    retries: 0,
    connectionTimeoutMs: 200,
    logger: clientLogs && jsonLogger("producer", { write: (l) => clientLogs.push(JSON.parse(l)) }),
  });
  const logs: Record<string, unknown>[] = [];
  const ac = new AbortController();
  const done = runProducer(source, client.producer(), {
    topic: "nowhere",
    maxBuffered: 100,
    retryInitialMs: 20,
    retryMaxMs: 50,
    drainTimeoutMs: 200,
    signal: ac.signal,
    logger: jsonLogger("producer", { write: (l) => logs.push(JSON.parse(l)) }),
  });
  await new Promise((r) => setTimeout(r, ms));
  ac.abort();
  return { c: await done, logs };
}

kafkaTest(
  "with Kafka down the producer keeps polling, holds a bounded buffer and reports every dropped message",
  async () => {
    const replay = new ReplaySource({ dir: BARS, tickers: ["COMI"], start: "2025-11-02" });
    // The replay's bars, polled like a live feed (which cannot wait for the broker).
    const live: MarketSource = { name: "live", live: true, polls: (s) => replay.polls(s) };
    const { c, logs } = await produceWithKafkaDown(live, 1_500);
    assert.equal(c.polled, 213);
    assert.equal(c.published, 0);
    assert.equal(c.dropped, 213, "every message is accounted for as dropped");
    assert.ok(c.sendErrors >= 2, `send errors ${c.sendErrors}`);
    const dropped = logs.filter((l) => l.event === "producer.dropped");
    const overflow = dropped.filter((l) => String(l.reason).startsWith("buffer full"));
    const atShutdown = dropped.filter((l) =>
      String(l.reason).startsWith("undelivered at shutdown")
    );
    assert.ok(overflow.length > 0);
    assert.equal(atShutdown.length, 1);
    assert.equal(
      overflow.reduce((n, l) => n + Number(l.count), 0) + Number(atShutdown[0].count),
      213,
    );
    assert.equal(atShutdown[0].count, 100, "the buffer never held more than 100");
  },
);

kafkaTest(
  "with Kafka down the client says so once, without kafkajs' stack traces, not several lines a second",
  async () => {
    const replay = new ReplaySource({ dir: BARS, tickers: ["COMI"], start: "2025-11-02" });
    const live: MarketSource = { name: "live", live: true, polls: (s) => replay.polls(s) };
    const clientLogs: Record<string, unknown>[] = [];
    const { c } = await produceWithKafkaDown(live, 1_500, clientLogs);
    assert.ok(c.sendErrors >= 2, `send errors ${c.sendErrors}`);
    const port = String(clientLogs[0]?.error).match(/127\.0\.0\.1:(\d+)/)?.[1];
    assert.deepEqual(clientLogs.map(({ ts: _, ...l }) => l), [{
      level: "warn",
      component: "producer",
      event: "kafka.unreachable",
      broker: `127.0.0.1:${port}`,
      error: `Connection error: connect ECONNREFUSED 127.0.0.1:${port}`,
    }]);
  },
);

Deno.test("a Kafka outage is told once, reminded each minute, and a failure after 10 quiet seconds is a new one", () => {
  const lines: Record<string, unknown>[] = [];
  const logger = jsonLogger("consumer", { write: (l) => lines.push(JSON.parse(l)) });
  let t = 0;
  const log = kafkaLogCreator(logger, () => t)(kafkajs.logLevel.WARN);
  const entry = (level: number, namespace: string, message: string) =>
    log({
      namespace,
      level,
      label: "",
      log: { timestamp: "", message, broker: "b:9092", stack: "Error: at x" },
    });
  const { ERROR, WARN } = kafkajs.logLevel;
  const refused = "Connection error: connect ECONNREFUSED b:9092";
  entry(ERROR, "Connection", refused);
  entry(ERROR, "BrokerPool", `Failed to connect to seed broker, trying another: ${refused}`);
  entry(ERROR, "Consumer", `Crash: KafkaJSNumberOfRetriesExceeded: ${refused}`);
  entry(WARN, "Consumer", "Restarting the consumer in 2000ms");
  for (t = 2_000; t <= 130_000; t += 2_000) entry(ERROR, "Connection", refused);
  t = 140_000 - 1; // 9.999 s after the last failure: the same outage
  entry(ERROR, "Connection", refused);
  t += 10_000; // 10 s of quiet: over; a restart message alone is no outage
  entry(WARN, "Consumer", "Restarting the consumer in 200ms");
  entry(ERROR, "Connection", "Connection timeout");
  entry(ERROR, "Broker", "Response Metadata(key: 3, version: 6)");
  entry(ERROR, "Consumer", "The group is rebalancing");
  assert.deepEqual(lines.map(({ ts: _, ...l }) => l), [
    {
      level: "warn",
      component: "consumer",
      event: "kafka.unreachable",
      broker: "b:9092",
      error: refused,
    },
    {
      level: "warn",
      component: "consumer",
      event: "kafka.still_unreachable",
      forS: 60,
      error: refused,
    },
    {
      level: "warn",
      component: "consumer",
      event: "kafka.still_unreachable",
      forS: 120,
      error: refused,
    },

    {
      level: "warn",
      component: "consumer",
      event: "kafkajs: Restarting the consumer in 200ms",
      kafkajs: "Consumer",
      timestamp: "",
      broker: "b:9092",
    },
    {
      level: "warn",
      component: "consumer",
      event: "kafka.unreachable",
      broker: "b:9092",
      error: "Connection timeout",
    },
    {
      level: "warn",
      component: "consumer",
      event: "kafkajs: The group is rebalancing",
      kafkajs: "Consumer",
      timestamp: "",
      broker: "b:9092",
    },
  ]);
});

kafkaTest(
  "a producer writes its status file at start, so health_check finds it alive before its first poll",
  async () => {
    const statusDir = await Deno.makeTempDir({ prefix: "egx_status_" });
    const ac = new AbortController();
    // A live feed outside the session: no poll until it is stopped.
    const idle: MarketSource = {
      name: "idle",
      live: true,
      polls: async function* (signal) {
        await new Promise((r) => signal?.addEventListener("abort", r, { once: true }));
        yield* [];
      },
    };
    const status = statusWriter(statusDir, "producer");
    const client = new KafkaClient([`127.0.0.1:${freePort()}`], { clientId: "idle" });
    const done = runProducer(idle, client.producer(), {
      topic: "nowhere",
      signal: ac.signal,
      onStatus: status.update,
    });
    try {
      const doc = await readStatus(statusDir, "producer");
      assert.equal(doc?.finished, false);
      assert.equal(doc?.lastPollAt, undefined);
      assert.deepEqual(doc?.counters, {
        polls: 0,
        polled: 0,
        published: 0,
        failed: 0,
        dropped: 0,
        sendErrors: 0,
        buffered: 0,
      });
      await withWarehouse(async (wh, path) => {
        const e: Record<string, string> = {
          EGX_STREAM_STATUS_DIR: statusDir,
          EGX_WAREHOUSE: path,
          EGX_AS_OF: "2025-11-07T09:00:00Z",
        };
        const report = await checkStreamHealth(loadConfig((k) => e[k]), {
          warehouse: wh,
          brokers: await testBrokers(),
        });
        assert.equal(report.producer.alive, true, report.producer.reason);
        assert.match(formatHealth(report), /producer: alive polls=0 /);
      });
    } finally {
      ac.abort();
      await done;
      status.stop();
      await Deno.remove(statusDir, { recursive: true });
    }
  },
);

Deno.test("the consumer's offset update applies only from the offset it read: a consumer that lost its partition writes nothing", async () => {
  await withWarehouse(async (wh) => {
    const quote = (close: number) => ({
      quote: {
        ticker: "COMI",
        barStart: "2025-11-02T08:00:00.000Z",
        interval: "1m" as const,
        open: 105,
        high: 106,
        low: 105,
        close,
        volume: 10,
        source: "test",
        fetchedAt: "2025-11-02T08:05:00.000Z",
      },
      ref: `close ${close}`,
    });
    const at = { group: "g", topic: "t", partition: 0 };
    const write = (close: number, nextOffset: number, expected?: number | null) =>
      wh.transaction((s) =>
        writeQuotes(s, [quote(close)], {
          offsets: [{ ...at, nextOffset, last: { timestamp: nextOffset, key: "COMI" }, expected }],
        })
      );
    const state = async () => ({
      offsets: Object.fromEntries(await storedOffsets(wh, "g", "t")),
      close: (await intradayRows(wh)).map((r) => r.CLOSE),
    });
    await write(105.1, 10, null);
    // The new owner wrote up to 20; the old one's transaction, taken over at 10, comes after it.
    await write(105.3, 20, 10);
    await assert.rejects(write(105.2, 15, 10), OffsetMovedError);
    // A second first write (both found no row) is refused as well.
    await assert.rejects(write(105.2, 15, null), OffsetMovedError);
    assert.deepEqual(await state(), {
      offsets: { 0: { nextOffset: 20, last: { timestamp: 20, key: "COMI" } } },
      close: [105.3],
    });
    // Without an expected offset (a benchmark, a test) the update is unconditional, as before;
    // without a record it stores no mark (the consumer then keeps the rule of a past-the-end
    // offset).
    await wh.transaction((s) => writeQuotes(s, [], { offsets: [{ ...at, nextOffset: 7 }] }));
    assert.deepEqual((await state()).offsets, { 0: { nextOffset: 7 } });
  });
});

kafkaTest(
  "a consumer whose write waited while another wrote the partition rolls it back and keeps the newer values",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const bar = (close: number) =>
      validQuote({ ticker: "COMI", close, fetchedAt: "2025-11-02T08:10:00.000Z" });
    await publish(client, names.topic, [bar(105.1), bar(105.2)]);
    const [, second] = await client.readAll(names.topic);
    await withWarehouse(async (wh) => {
      // The consumer's first transaction waits (as for a busy DuckDB file) until released.
      let entered!: () => void;
      const waiting = new Promise<void>((r) => entered = r);
      let release!: () => void;
      const released = new Promise<void>((r) => release = r);
      let gated = true;
      const slow: Warehouse = {
        kind: wh.kind,
        transaction: async (fn, opts) => {
          if (gated) {
            gated = false;
            entered();
            await released;
          }
          return await wh.transaction(fn, opts);
        },
        query: (sql, params, opts) => wh.query(sql, params, opts),
        migrate: (opts) => wh.migrate(opts),
        close: () => wh.close(),
      };
      let status: ConsumerStatus | undefined;
      const { ac, lines, done } = startConsumer(
        client,
        slow,
        names,
        (s) => status = structuredClone(s),
      );
      await waiting;
      // Meanwhile the partition's next owner wrote both records, and a newer value of the bar.
      await wh.transaction((s) =>
        writeQuotes(s, [{ quote: { ...JSON.parse(bar(105.9).value) }, ref: "new owner" }], {
          offsets: [{
            group: names.group,
            topic: names.topic,
            partition: 0,
            nextOffset: 2,
            last: { timestamp: second.timestamp, key: "COMI" },
          }],
        })
      );
      release();
      await waitFor(
        "the records skipped",
        () => Promise.resolve(status?.counters.skipped === 2),
        30_000,
      );
      ac.abort();
      const c = await done;
      assert.deepEqual([c.written, c.transactions, c.skipped], [0, 0, 2]);
      const moved = lines.map((l) => JSON.parse(l)).filter((l) =>
        l.event === "consumer.offset_moved"
      );
      assert.deepEqual(moved.map((l) => [l.partition, l.expected]), [[0, null]]);
      assert.deepEqual((await intradayRows(wh)).map((r) => [r.CLOSE, r.SOURCE_FILE]), [
        [105.9, "new owner"],
      ]);
      await assertOffsetsMatch(wh, client, names);
    });
  },
);

Deno.test("a consumer restarted for a transient Kafka error is told from one that failed", () => {
  // Spread into its exports at run time: not named exports of the CommonJS module.
  const { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSProtocolError } = kafkajs;
  // What a brand-new broker answers the first group join with (kafkajs restarts the consumer).
  // (kafkajs builds it from its protocol error table: the message with its type, code and flag.)
  const loading = new KafkaJSProtocolError(
    Object.assign(new Error("The coordinator is loading and hence can't process requests"), {
      type: "COORDINATOR_LOAD_IN_PROGRESS",
      code: 14,
      retriable: true,
    }),
  );
  assert.deepEqual(
    [
      loading,
      new KafkaJSConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:9092"),
      new KafkaJSNonRetriableError("The group member needs to have a valid member id"),
      new Error("writing records egx.quotes/0 offsets 0-99 failed: disk full"),
      "not an error",
      undefined,
    ].map(isTransientKafkaError),
    [true, true, false, false, false, false],
  );
});

Deno.test("a live producer past the calendar's known closures warns once per Cairo date; a replay never", async () => {
  const polls = (at: string[]): MarketSource["polls"] =>
    async function* () {
      for (const a of at) yield { at: a, quotes: [], failures: [] };
    };
  const at = [
    "2025-12-31T09:00:00.000Z", // known: no warning
    "2026-01-04T08:00:00.000Z",
    "2026-01-04T12:00:00.000Z", // the same Cairo date: said already
    "2026-01-04T22:30:00.000Z", // 00:30 on 2026-01-05 in Cairo
    "2026-01-05T08:00:00.000Z",
  ];
  const warned = async (live: boolean) => {
    const { c, logs } = await produceWithKafkaDown({ name: "t", live, polls: polls(at) }, 50);
    assert.equal(c.polls, 5);
    return logs.filter((l) => l.event === "producer.calendar_unknown").map((l) => l.reason);
  };
  assert.deepEqual(await warned(true), [calendarGap("2026-01-04"), calendarGap("2026-01-05")]);
  assert.match(String(calendarGap("2026-01-05")), /a holiday on 2026-01-05 would count/);
  assert.deepEqual(await warned(false), []);
});

kafkaTest(
  "with Kafka down a replay waits for buffer room instead of dropping bars",
  async () => {
    const replay = new ReplaySource({ dir: BARS, tickers: ["COMI"], start: "2025-11-02" });
    const { c, logs } = await produceWithKafkaDown(replay, 1_000);
    assert.ok(c.polled <= 100 + 5, `polled ${c.polled}: the replay stopped at a full buffer`);
    assert.equal(c.published, 0);
    assert.equal(c.dropped, c.polled, "only what was still buffered at shutdown is dropped");
    const reasons = logs.filter((l) => l.event === "producer.dropped").map((l) => l.reason);
    assert.deepEqual(reasons, ["undelivered at shutdown (Kafka unreachable)"]);
  },
);

kafkaTest(
  "a send larger than the broker accepts is split until it fits, nothing lost",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const t0 = Date.parse("2025-11-02T08:00:00Z");
    const quotes = Array.from({ length: 6_000 }, (_, i) => ({
      ticker: "COMI",
      barStart: new Date(t0 + i * 60_000).toISOString(),
      interval: "1m" as const,
      open: 100,
      high: 101,
      low: 99,
      close: 100.5,
      volume: i,
      source: "test",
      fetchedAt: new Date(t0 + (i + 1) * 60_000).toISOString(),
    }));
    const one: MarketSource = {
      name: "one poll",
      live: true,
      async *polls() {
        yield { at: quotes[5_999].fetchedAt, quotes, failures: [] };
      },
    };
    const logs: Record<string, unknown>[] = [];
    // ~1.5 MB in one send: over the broker's 1 MB message.max.bytes.
    const c = await runProducer(one, client.producer(), {
      topic: names.topic,
      maxSendBatch: 6_000,
      logger: jsonLogger("producer", { write: (l) => logs.push(JSON.parse(l)) }),
    });
    assert.equal(c.published, 6_000);
    assert.equal(c.dropped, 0);
    assert.equal(c.failed, 0);
    assert.ok(logs.some((l) => l.event === "producer.batch_split"));
    const lag = await client.lag(names.group, names.topic);
    assert.equal(lag[0].end, 6_000);
  },
);

kafkaTest(
  "health_check reports liveness, lag and freshness, and fails only during trading hours",
  async () => {
    const brokers = await testBrokers();
    const client = await testClient();
    const names = await freshTopics(client, 1);
    const statusDir = await Deno.makeTempDir({ prefix: "egx_status_" });
    await withWarehouse(async (wh, path) => {
      const now = Date.parse("2025-11-02T09:00:00Z"); // Sunday 11:00 Cairo: trading
      const env = (asOf: string, extra: Record<string, string> = {}) => ({
        KAFKA_BROKERS: brokers.join(","),
        EGX_TOPIC_QUOTES: names.topic,
        EGX_CONSUMER_GROUP: names.group,
        EGX_STREAM_STATUS_DIR: statusDir,
        EGX_WAREHOUSE: path,
        EGX_AS_OF: asOf,
        EGX_STREAM_MAX_LAG: "2",
        ...extra,
      });
      const config = (asOf: string) => {
        const e: Record<string, string> = env(asOf);
        return loadConfig((k) => e[k]);
      };
      // A healthy stream: both alive, no lag, a fresh write.
      await wh.transaction((s) =>
        writeQuotes(s, [{
          quote: {
            ticker: "COMI",
            barStart: "2025-11-02T08:50:00.000Z",
            interval: "1m",
            open: 1,
            high: 1,
            low: 1,
            close: 1,
            volume: 1,
            source: "test",
            fetchedAt: "2025-11-02T08:55:00.000Z",
          },
          ref: "test",
        }], { offsets: [], now: new Date(now - 60_000) })
      );
      const alive = new Date(now - 5_000).toISOString();
      writeStatus(statusDir, "producer", { pid: 1, updatedAt: alive, counters: { published: 5 } });
      writeStatus(statusDir, "consumer", {
        pid: 2,
        updatedAt: alive,
        lastMessageAt: alive,
        counters: { written: 5 },
      });
      const healthy = await checkStreamHealth(config("2025-11-02T09:00:00Z"), {
        warehouse: wh,
        now,
      });
      assert.deepEqual(healthy.problems, []);
      assert.equal(healthy.healthy, true);
      assert.equal(healthy.tradingHours, true);
      assert.equal(healthy.lastWriteAt, "2025-11-02T08:59:00.000Z");
      assert.equal(healthy.latestBarStart, "2025-11-02T08:50:00.000Z");
      assert.equal(healthy.minutesSinceWrite, 1);
      assert.deepEqual(healthy.lag.map((l) => [l.partition, l.lag]), [[0, 0]]);

      // Unhealthy: the producer went silent and three records wait unconsumed.
      writeStatus(statusDir, "producer", {
        pid: 1,
        updatedAt: new Date(now - 300_000).toISOString(),
      });
      const p = client.producer();
      await p.connect();
      await p.send(names.topic, ["a", "b", "c"].map((v) => ({ key: "COMI", value: v })));
      await p.disconnect();
      const sick = await checkStreamHealth(config("2025-11-02T09:00:00Z"), { warehouse: wh, now });
      assert.equal(sick.healthy, false);
      assert.deepEqual(sick.problems, [
        "producer not running: producer (pid 1) silent for 300 s",
        "consumer lag 3 records exceeds 2",
      ]);
      assert.match(formatHealth(sick), /UNHEALTHY:\n {4}- producer not running/);
      assert.match(formatHealth(sick), /lag 3 \[p0=3 \(-1\/3\)\]/);

      // The same state on a Friday only reports.
      const friday = await checkStreamHealth(config("2025-11-07T09:00:00Z"), {
        warehouse: wh,
        now,
      });
      assert.equal(friday.tradingHours, false);
      assert.equal(friday.healthy, true);
      assert.equal(friday.problems.length, 2);

      // The next session's first minutes: the previous session's last write is not stale until
      // the session has been open as long as the limit (its first poll is at 10:05).
      const morning = async (iso: string, extra: Record<string, string> = {}) => {
        const t = Date.parse(iso);
        const alive = new Date(t - 5_000).toISOString();
        writeStatus(statusDir, "producer", { pid: 1, updatedAt: alive });
        writeStatus(statusDir, "consumer", { pid: 2, updatedAt: alive, lastMessageAt: alive });
        const e: Record<string, string> = env(iso, { EGX_STREAM_MAX_LAG: "10", ...extra });
        return await checkStreamHealth(loadConfig((k) => e[k]), { warehouse: wh, now: t });
      };
      const early = await morning("2025-11-03T08:15:00Z"); // Monday 10:15 Cairo
      assert.deepEqual([early.problems, early.healthy, early.minutesSinceWrite], [[], true, 1396]);
      const late = await morning("2025-11-03T08:16:00Z");
      assert.deepEqual([late.problems, late.healthy], [
        ["data is stale: last streamed write 1397 min ago (limit 15)"],
        false,
      ]);
      // The scanner's first poll is at 10:20 (its data lags by 15 minutes): 15 minutes more.
      const tv = { EGX_STREAM_SOURCE: "tradingview", EGX_TV_DELAY_MINUTES: "15" };
      const tvEarly = await morning("2025-11-03T08:30:00Z", tv); // Monday 10:30 Cairo
      assert.deepEqual([tvEarly.problems, tvEarly.healthy], [[], true]);
      const tvLate = await morning("2025-11-03T08:31:00Z", tv);
      assert.deepEqual([tvLate.problems, tvLate.healthy], [
        ["data is stale: last streamed write 1412 min ago (limit 15)"],
        false,
      ]);
    });
    // The job, as the runner starts it: exit 1 when unhealthy in trading hours (real clock:
    // everything is stale now).
    await withWarehouse(async (_wh, path) => {
      const run = async (asOf: string) => {
        const job = await projectJob("health_check", {
          KAFKA_BROKERS: brokers.join(","),
          EGX_TOPIC_QUOTES: names.topic,
          EGX_CONSUMER_GROUP: names.group,
          EGX_STREAM_STATUS_DIR: statusDir,
          EGX_WAREHOUSE: path,
          EGX_AS_OF: asOf,
        });
        const out = await job.output();
        return { code: out.code, text: new TextDecoder().decode(out.stdout) };
      };
      const inSession = await run("2025-11-02T09:00:00Z");
      assert.equal(inSession.code, 1, inSession.text);
      assert.match(inSession.text, /trading hours/);
      assert.match(inSession.text, /no streamed rows in the warehouse yet/);
      const closed = await run("2025-11-07T09:00:00Z");
      assert.equal(closed.code, 0, closed.text);
      assert.match(closed.text, /market closed/);
    });
    await Deno.remove(statusDir, { recursive: true });
  },
);

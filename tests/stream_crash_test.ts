/**
 * Failure tests on a real broker: consumer processes killed with SIGKILL at random points of a
 * replay of more than 50,000 messages; a consumer stopped with SIGTERM; the broker restarted in
 * the middle of a stream. Nothing may be lost or applied twice: the warehouse ends with exactly
 * one row per message key holding the values of the last message for that key.
 */
import assert from "node:assert/strict";
import { cairoDate } from "../lib/market/calendar.ts";
import { BUNDLED_BARS_DIR, type MinuteBar, readBars } from "../lib/market/sources/bars_csv.ts";
import { ReplaySource } from "../lib/market/sources/replay.ts";
import type { Quote } from "../lib/market/sources/source.ts";
import { KafkaClient } from "../lib/stream/kafka.ts";
import { encodeQuote } from "../lib/stream/message.ts";
import { runProducer } from "../lib/stream/producer.ts";
import { readStatus } from "../lib/stream/status.ts";
import { jsonLogger, type Logger } from "../lib/stream/log.ts";
import { supervise } from "../lib/stream/supervisor.ts";
import { openWarehouse, type Warehouse } from "../lib/warehouse/warehouse.ts";
import {
  assertOffsetsMatch,
  consumeTopics,
  freshTopics,
  kafkaTest,
  recreatedPartitions,
  spawnStream,
  startPrivateBroker,
  streamEnv,
  tail,
  testClient,
  uniqueName,
  waitFor,
} from "./support/kafka.ts";

const FIXTURE = new URL("./testdata/stream/bars_1m", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small deterministic PRNG (mulberry32), seeded per run and printed for reproduction. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const keyOf = (q: Pick<Quote, "ticker" | "barStart">) => `${q.ticker}|${q.barStart}`;

type Row = {
  TICKER: string;
  BAR_START: string;
  OPEN: number;
  HIGH: number;
  LOW: number;
  CLOSE: number;
  VOLUME: number;
};

/** Assert the warehouse holds exactly one row per key with the last message's values. */
async function assertLastValues(wh: Warehouse, expected: Map<string, Quote>) {
  const rows = await wh.query<Row>(
    `SELECT TICKER, BAR_START, OPEN, HIGH, LOW, CLOSE, VOLUME FROM OPERATIONAL.TBL_INTRADAY_BAR
     WHERE DATA_SOURCE = 'STREAMING_API'`,
  );
  const [{ N, KEYS }] = await wh.query<{ N: number; KEYS: number }>(
    `SELECT COUNT(*) AS N, COUNT(DISTINCT (TICKER, BAR_START, INTERVAL_MINUTES)) AS KEYS
     FROM OPERATIONAL.TBL_INTRADAY_BAR`,
  );
  assert.equal(N, KEYS, "one row per key");
  assert.equal(rows.length, expected.size, "no key lost, no key invented");
  let mismatches = 0;
  for (const r of rows) {
    const q = expected.get(`${r.TICKER}|${r.BAR_START}`);
    if (
      !q || q.open !== r.OPEN || q.high !== r.HIGH || q.low !== r.LOW || q.close !== r.CLOSE ||
      q.volume !== r.VOLUME
    ) {
      if (mismatches++ < 5) console.error("mismatch", r, q);
    }
  }
  assert.equal(mismatches, 0, "every row holds its key's last message");
  // Daily bars agree with the final intraday bars.
  const daily = await wh.query<
    { TICKER: string; TRADE_DATE: string; CLOSE: number; VOLUME: number }
  >(
    `SELECT TICKER, TRADE_DATE, CLOSE, VOLUME FROM OPERATIONAL.TBL_STOCK_PRICE
     WHERE DATA_SOURCE = 'STREAMING_API'`,
  );
  const agg = new Map<string, { t: number; close: number; volume: number }>();
  for (const q of expected.values()) {
    const k = `${q.ticker}|${cairoDate(Date.parse(q.barStart))}`;
    const a = agg.get(k) ?? { t: -1, close: 0, volume: 0 };
    a.volume += q.volume;
    if (Date.parse(q.barStart) > a.t) [a.t, a.close] = [Date.parse(q.barStart), q.close];
    agg.set(k, a);
  }
  assert.equal(daily.length, agg.size);
  for (const d of daily) {
    const a = agg.get(`${d.TICKER}|${d.TRADE_DATE}`);
    assert.deepEqual([d.CLOSE, d.VOLUME], [a?.close, a?.volume], `${d.TICKER} ${d.TRADE_DATE}`);
  }
}

function quoteOf(b: MinuteBar): Quote {
  return {
    ticker: b.ticker,
    barStart: new Date(b.t).toISOString(),
    interval: "1m",
    open: b.open,
    high: b.high,
    low: b.low,
    close: b.close,
    volume: b.volume,
    source: "replay",
    fetchedAt: new Date(b.t + 60_000).toISOString(),
  };
}

kafkaTest(
  "consumers killed with SIGKILL at random points of a 50,000-message replay leave exactly one row per key with the last values",
  async () => {
    const seed = Number(Deno.env.get("EGX_TEST_SEED") ?? Date.now() % 1_000_000);
    console.log(`  random seed ${seed} (EGX_TEST_SEED=${seed} repeats this run)`);
    const random = prng(seed);
    const client = await testClient();
    const names = await freshTopics(client);
    const dir = await Deno.makeTempDir({ prefix: "egx_crash_" });
    const logFile = `${dir}/consumer.log`;
    const env = await streamEnv(names, dir);
    // The last trading days with at least 50,000 bars in all (2025-11-06 .. 2025-12-08).
    const start = "2025-11-06";
    const bars = (await readBars(BUNDLED_BARS_DIR)).filter((b) => cairoDate(b.t) >= start);
    assert.ok(bars.length >= 50_000, `${bars.length} bars`);
    const expected = new Map(bars.map((b) => [keyOf(quoteOf(b)), quoteOf(b)]));
    // Later corrections of every 25th bar: the last message per key must win.
    const corrections = bars.filter((_, i) => i % 25 === 0).map((b) => ({
      ...quoteOf(b),
      close: b.low,
      volume: b.volume + 1,
      fetchedAt: new Date(b.t + 600_000).toISOString(),
    }));
    for (const q of corrections) expected.set(keyOf(q), q);

    const producing = (async () => {
      const c = await runProducer(
        new ReplaySource({ bars, speed: Infinity }),
        client.producer(),
        { topic: names.topic },
      );
      const p = client.producer();
      await p.connect();
      for (let i = 0; i < corrections.length; i += 500) {
        await p.send(
          names.topic,
          corrections.slice(i, i + 500).map((q) =>
            encodeQuote(q) as { key: string; value: string }
          ),
        );
      }
      await p.disconnect();
      return c;
    })();

    let killed = 0;
    try {
      for (let i = 0; i < 4; i++) {
        const { child, output } = spawnStream(["consumer"], env, logFile);
        // Let it join and write, then kill it at a random point.
        await waitFor("the consumer to write", async () => {
          const s = await readStatus(env.EGX_STREAM_STATUS_DIR, "consumer").catch(() => undefined);
          return s?.pid === child.pid && Number((s.counters as { written: number }).written) > 0;
        }, 60_000).catch(async (e) => {
          child.kill("SIGKILL");
          throw new Error(`${e.message}\n${await tail(logFile)}`);
        });
        await sleep(100 + random() * 2_400);
        child.kill("SIGKILL");
        const status = await child.status;
        await output;
        assert.equal(status.signal, "SIGKILL");
        killed++;
      }
      const produced = await producing;
      assert.equal(produced.published, bars.length);
      const total = bars.length + corrections.length;
      // A last consumer drains the topic, then stops cleanly.
      const { child, output } = spawnStream(["consumer"], env, logFile);
      let exited = false;
      child.status.then(() => (exited = true));
      try {
        await waitFor("the topic to be drained", async () => {
          if (exited) throw new Error(`the last consumer exited:\n${await tail(logFile)}`);
          const lag = await client.lag(names.group, names.topic);
          return lag.reduce((n, l) => n + l.end, 0) === total && lag.every((l) => l.lag === 0);
        }, 240_000);
      } finally {
        if (!exited) child.kill("SIGTERM");
        assert.equal((await child.status).code, 0, await tail(logFile));
        await output;
      }
      const text = await Deno.readTextFile(logFile);
      assert.ok(
        text.includes('"event":"consumer.resumed_from_warehouse"'),
        "restarted consumers resume from the warehouse's offsets",
      );
    } finally {
      console.log(`  killed ${killed} consumer(s) with SIGKILL`);
    }
    assert.equal(killed, 4);
    const wh = await openWarehouse({ kind: "duckdb", path: env.EGX_WAREHOUSE });
    try {
      await assertLastValues(wh, expected);
      await assertOffsetsMatch(wh, client, names);
    } finally {
      await wh.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kafkaTest(
  "a consumer stopped with SIGTERM commits what it wrote, leaves the group and exits 0",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client);
    const dir = await Deno.makeTempDir({ prefix: "egx_term_" });
    const logFile = `${dir}/consumer.log`;
    const env = await streamEnv(names, dir);
    await runProducer(new ReplaySource({ dir: FIXTURE }), client.producer(), {
      topic: names.topic,
    });
    const { child, output } = spawnStream(["consumer"], env, logFile);
    await waitFor("the consumer to write", async () => {
      const s = await readStatus(env.EGX_STREAM_STATUS_DIR, "consumer").catch(() => undefined);
      return Number((s?.counters as { written: number } | undefined)?.written ?? 0) > 0;
    }, 60_000);
    child.kill("SIGTERM");
    const status = await child.status;
    await output;
    assert.equal(status.code, 0, await tail(logFile));
    assert.deepEqual(await client.group(names.group), { state: "Empty", members: 0 });
    const wh = await openWarehouse({ kind: "duckdb", path: env.EGX_WAREHOUSE });
    try {
      // Whatever was written is committed to Kafka at the same offsets, nothing beyond.
      const lag = await client.lag(names.group, names.topic);
      const stored = new Map(
        (await wh.query<{ PARTITION_ID: number; NEXT_OFFSET: number }>(
          `SELECT PARTITION_ID, NEXT_OFFSET FROM OPERATIONAL.TBL_STREAM_OFFSET WHERE TOPIC = ?`,
          [names.topic],
        )).map((r) => [r.PARTITION_ID, r.NEXT_OFFSET]),
      );
      for (const l of lag) assert.equal(l.committed, stored.get(l.partition) ?? -1);
      const [{ N }] = await wh.query<{ N: number }>(
        "SELECT COUNT(*) AS N FROM OPERATIONAL.TBL_INTRADAY_BAR",
      );
      assert.equal(N, [...stored.values()].reduce((n, o) => n + o, 0));
      assert.match(await Deno.readTextFile(logFile), /"event":"consumer.stopping"/);
    } finally {
      await wh.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kafkaTest("restarting the broker in the middle of a stream loses nothing", async () => {
  const broker = await startPrivateBroker();
  const client = new KafkaClient(broker.brokers, { clientId: "restart-test" });
  const names = await freshTopics(client);
  const dir = await Deno.makeTempDir({ prefix: "egx_restart_" });
  const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
  const bars = await readBars(FIXTURE);
  const stop = new AbortController();
  try {
    // ~160 polls, 40 ms apart: about 6.5 s of publishing, with the broker down in the middle.
    let sendErrors = 0;
    const producing = runProducer(
      new ReplaySource({ dir: FIXTURE, speed: 7_500 }),
      client.producer(),
      {
        topic: names.topic,
        retryInitialMs: 100,
        retryMaxMs: 500,
        onStatus: (s) => sendErrors = s.counters.sendErrors,
      },
    );
    const consuming = consumeTopics(client, wh, names, { signal: stop.signal });
    await sleep(2_000);
    await broker.stop();
    // Down until a send has failed (kafkajs retries inside a send for a few seconds first).
    await waitFor("the producer to feel the outage", () => Promise.resolve(sendErrors > 0), 60_000);
    const again = await startPrivateBroker(broker.dir);
    assert.deepEqual(again.brokers, broker.brokers, "same address after the restart");
    const produced = await producing;
    assert.equal(produced.dropped, 0);
    assert.ok(produced.sendErrors > 0, "the outage was felt by the producer");
    assert.ok(produced.published >= bars.length);
    await waitFor("the consumer to catch up", async () => {
      const lag = await client.lag(names.group, names.topic).catch(() => undefined);
      return lag !== undefined && lag.every((l) => l.lag === 0) &&
        lag.reduce((n, l) => n + l.end, 0) >= bars.length;
    }, 120_000);
    stop.abort();
    await consuming;
    await assertLastValues(wh, new Map(bars.map((b) => [keyOf(quoteOf(b)), quoteOf(b)])));
    await assertOffsetsMatch(wh, client, names);
    await again.stop();
  } finally {
    stop.abort();
    await wh.close();
    await broker.kill().catch(() => {});
    await Deno.remove(broker.dir, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

kafkaTest(
  "a broker whose data folder was removed, restarted and fed more records than before: every record is written",
  async () => {
    const broker = await startPrivateBroker();
    const client = new KafkaClient(broker.brokers, { clientId: "recreate-test" });
    const names = await freshTopics(client);
    const dir = await Deno.makeTempDir({ prefix: "egx_recreate_" });
    const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
    const lines: string[] = [];
    const logger = jsonLogger("consumer", { write: (l) => lines.push(l) });
    const consume = async (c: KafkaClient, total: number) => {
      const stop = new AbortController();
      const done = consumeTopics(c, wh, names, {
        signal: stop.signal,
        logger,
        onStatus: (s) => s.counters.written === total && stop.abort(),
      });
      const timer = setTimeout(() => stop.abort(), 60_000);
      const counters = await done;
      clearTimeout(timer);
      assert.equal(counters.written, total);
    };
    const publish = async (c: KafkaClient, bars: MinuteBar[]) => {
      const p = c.producer();
      await p.connect();
      await p.send(
        names.topic,
        bars.map((b) => encodeQuote(quoteOf(b)) as { key: string; value: string }),
      );
      await p.disconnect();
    };
    const bars = (await readBars(FIXTURE)).slice(0, 1_200);
    let again: Awaited<ReturnType<typeof startPrivateBroker>> | undefined;
    try {
      await publish(client, bars.slice(0, 300));
      await consume(client, 300);
      const stored = new Map(
        (await client.lag(names.group, names.topic)).map((l) => [l.partition, l.end]),
      );
      await broker.stop();
      await Deno.remove(`${broker.dir}/log`, { recursive: true });
      again = await startPrivateBroker(broker.dir);
      await client.ensureTopics([{ name: names.topic, partitions: 3 }, {
        name: names.dlq,
        partitions: 1,
      }]);
      await publish(client, bars.slice(300));
      const ends = await client.lag(names.group, names.topic);
      assert.ok(
        ends.every((l) => stored.get(l.partition) === 0 || l.end > stored.get(l.partition)!),
        `every partition written before is longer than before: ${JSON.stringify([...stored])} -> ` +
          JSON.stringify(ends.map((l) => l.end)),
      );
      await consume(client, 900);
      assert.deepEqual(
        recreatedPartitions(lines),
        [...stored].filter(([, end]) => end > 0).sort((a, b) => a[0] - b[0]),
      );
      await assertLastValues(wh, new Map(bars.map((b) => [keyOf(quoteOf(b)), quoteOf(b)])));
      await assertOffsetsMatch(wh, client, names);
    } finally {
      await wh.close();
      await again?.stop().catch(() => {});
      await broker.kill().catch(() => {});
      await Deno.remove(broker.dir, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kafkaTest(
  "Kafka down when deno task stream starts: it waits for the broker, then streams everything",
  async () => {
    // A broker's address, then nothing listening there until the stream has felt the outage.
    const broker = await startPrivateBroker();
    await broker.stop();
    const dir = await Deno.makeTempDir({ prefix: "egx_late_broker_" });
    const logFile = `${dir}/stream.log`;
    const topic = uniqueName("test.quotes");
    const names = { topic, dlq: `${topic}.dlq`, group: uniqueName("test.group") };
    const env: Record<string, string> = {
      ...(await streamEnv(names, dir)),
      KAFKA_BROKERS: broker.brokers.join(","),
      EGX_REPLAY_DIR: FIXTURE,
      EGX_REPLAY_SPEED: "max",
    };
    const bars = await readBars(FIXTURE);
    const { child, output } = spawnStream(["run"], env, logFile);
    let again: Awaited<ReturnType<typeof startPrivateBroker>> | undefined;
    try {
      // It used to exit 1 within seconds (KafkaJSNumberOfRetriesExceeded), its children unstarted.
      let exited: Deno.CommandStatus | undefined;
      child.status.then((s) => exited = s);
      await waitFor("the stream to report Kafka unavailable twice", async () => {
        if (exited) assert.fail(`it exited ${exited.code}: ${await tail(logFile, 3)}`);
        const text = await Deno.readTextFile(logFile).catch(() => "");
        return (text.match(/"event":"stream.kafka_unavailable"/g) ?? []).length >= 2;
      }, 60_000);
      again = await startPrivateBroker(broker.dir);
      assert.deepEqual(again.brokers, broker.brokers, "same address after the restart");
      await waitFor("the consumer to write every bar", async () => {
        const s = await readStatus(env.EGX_STREAM_STATUS_DIR, "consumer").catch(() => undefined);
        return Number((s?.counters as { written: number } | undefined)?.written ?? 0) >=
          bars.length;
      }, 120_000);
      child.kill("SIGTERM");
      await child.status;
      await output;
      // The outage in the log: our lines, not kafkajs' retries with their stack traces.
      const log = await Deno.readTextFile(logFile);
      assert.match(
        log,
        /"event":"kafka.unreachable","broker":"127.0.0.1:\d+","error":"Connection /,
      );
      assert.doesNotMatch(log, /"stack"|"event":"kafkajs: (Connection|Failed to connect)/);
      const wh = await openWarehouse({ kind: "duckdb", path: env.EGX_WAREHOUSE });
      try {
        await assertLastValues(wh, new Map(bars.map((b) => [keyOf(quoteOf(b)), quoteOf(b)])));
        const client = new KafkaClient(again.brokers, { clientId: "late-broker-test" });
        await assertOffsetsMatch(wh, client, names);
      } finally {
        await wh.close();
      }
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
      await output;
      await again?.stop().catch(() => {});
      await broker.kill().catch(() => {});
      await Deno.remove(broker.dir, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kafkaTest(
  "a busy warehouse pauses consumption and retries; nothing is committed until written",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client);
    const dir = await Deno.makeTempDir({ prefix: "egx_busy_" });
    const path = `${dir}/egx.duckdb`;
    await (await openWarehouse({ kind: "duckdb", path })).close(); // create and migrate
    await runProducer(
      new ReplaySource({ dir: FIXTURE, start: "2025-11-02" }),
      client.producer(),
      { topic: names.topic },
    );
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
        "stdin", // until this test closes its stdin
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await reader.read()).value ?? "", /holding/);
    // Give up on a lock after 300 ms (WarehouseBusyError), so the consumer's own retry shows.
    const wh = await openWarehouse({ kind: "duckdb", path }, {
      lockTimeoutMs: 300,
      migrate: false,
    });
    const stop = new AbortController();
    let written = 0;
    let retries = 0;
    try {
      const consuming = consumeTopics(client, wh, names, {
        signal: stop.signal,
        retryInitialMs: 100,
        retryMaxMs: 400,
        onStatus: (s) => {
          written = s.counters.written;
          retries = s.counters.warehouseRetries;
        },
      });
      // Held until the consumer has met the busy warehouse twice (its Kafka join can take seconds).
      await waitFor("two warehouse retries", () => Promise.resolve(retries >= 2), 60_000);
      assert.equal(written, 0, "nothing written while the file is held");
      assert.deepEqual(
        (await client.lag(names.group, names.topic)).map((l) => l.committed),
        [-1, -1, -1],
        "nothing committed to Kafka before the warehouse has it",
      );
      await holder.stdin.close();
      await reader.cancel();
      assert.equal((await holder.status).code, 0);
      await waitFor("the consumer to catch up", () => Promise.resolve(written === 565), 60_000);
      stop.abort();
      const c = await consuming;
      assert.ok(c.warehouseRetries >= 2, `retries ${c.warehouseRetries}`);
      assert.equal(c.written, 565);
      const [{ N }] = await wh.query<{ N: number }>(
        "SELECT COUNT(*) AS N FROM OPERATIONAL.TBL_INTRADAY_BAR",
      );
      assert.equal(N, 565);
      assert.deepEqual((await client.lag(names.group, names.topic)).map((l) => l.lag), [0, 0, 0]);
    } finally {
      stop.abort();
      await wh.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kafkaTest(
  "deno task stream restarts a crashed consumer, lets a finished replay end, and stops cleanly",
  async () => {
    const client = await testClient();
    const names = await freshTopics(client);
    const dir = await Deno.makeTempDir({ prefix: "egx_supervise_" });
    const logFile = `${dir}/stream.log`;
    const statusDir = `${dir}/status`;
    const { child: stream, output } = spawnStream(
      ["run", "--speed", "max"],
      await streamEnv(names, dir, { EGX_REPLAY_DIR: FIXTURE }),
      logFile,
    );
    let stopped = false;
    try {
      const consumerStatus = () => readStatus(statusDir, "consumer").catch(() => undefined);
      let first = 0;
      await waitFor("the consumer to write", async () => {
        const s = await consumerStatus();
        first = s?.pid ?? 0;
        return Number((s?.counters as { written: number } | undefined)?.written ?? 0) > 0;
      }, 60_000);
      Deno.kill(first, "SIGKILL");
      await waitFor("a restarted consumer", async () => {
        const s = await consumerStatus();
        return s !== undefined && s.pid !== first;
      }, 60_000).catch(async (e) => {
        throw new Error(`${e.message}; the stream's log ends:\n${await tail(logFile, 40)}`);
      });
      await waitFor("all 1520 bars to be written", async () => {
        const lag = await client.lag(names.group, names.topic);
        return lag.reduce((n, l) => n + l.end, 0) === 1520 && lag.every((l) => l.lag === 0);
      }, 120_000);
      const producer = await readStatus(statusDir, "producer");
      assert.equal(producer?.finished, true);
      stream.kill("SIGTERM");
      stopped = true;
      assert.equal((await stream.status).code, 0, await tail(logFile));
      await output;
      // A consumer stopped cleanly says so, so health_check reports it down at once (not alive
      // for the 60 s its last heartbeat stays fresh).
      assert.equal((await readStatus(statusDir, "consumer"))?.finished, true);
      const events = (await Deno.readTextFile(logFile)).split("\n").filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l)).filter((e) => e.component === "stream");
      const starts = events.filter((e) => e.event === "supervisor.started");
      assert.deepEqual(starts.map((e) => [e.child, e.starts]), [
        ["producer", 1],
        ["consumer", 1],
        ["consumer", 2],
      ]);
      assert.ok(events.some((e) => e.event === "supervisor.crashed" && e.child === "consumer"));
      assert.ok(events.some((e) => e.event === "supervisor.finished" && e.child === "producer"));
      const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
      try {
        const [{ N }] = await wh.query<{ N: number }>(
          "SELECT COUNT(*) AS N FROM OPERATIONAL.TBL_INTRADAY_BAR",
        );
        assert.equal(N, 1520);
      } finally {
        await wh.close();
      }
    } finally {
      if (!stopped) {
        stream.kill("SIGTERM");
        await stream.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("the supervisor restarts a crashed child, but one exiting 2 (configuration) twice in a row stops them all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_supervise_usage_" });
  try {
    // "flaky" crashes (exit 1) once, then exits 2 as a configuration error would (restarted
    // once, as a crash: a misread moment after a killed predecessor looks alike); "steady" runs
    // until it is stopped.
    Deno.writeTextFileSync(
      `${dir}/flaky.ts`,
      `const f = ${JSON.stringify(`${dir}/crashed`)};
      try { Deno.statSync(f); Deno.exit(2); } catch { Deno.writeTextFileSync(f, "1"); Deno.exit(1); }`,
    );
    Deno.writeTextFileSync(`${dir}/steady.ts`, "setInterval(() => {}, 1000);\n");
    const events: { event: string; child?: string; code?: number }[] = [];
    const logger = {
      info: (event: string, f: Record<string, unknown> = {}) => events.push({ event, ...f }),
      warn: (event: string, f: Record<string, unknown> = {}) => events.push({ event, ...f }),
      error: (event: string, f: Record<string, unknown> = {}) => events.push({ event, ...f }),
    };
    const run = ["run", `--allow-read=${dir}`, `--allow-write=${dir}`];
    // Without giving up, the flaky child would be restarted until this stops everything.
    const deadline = AbortSignal.timeout(30_000);
    const reports = await supervise([
      { name: "flaky", args: [...run, `${dir}/flaky.ts`] },
      { name: "steady", args: [...run, `${dir}/steady.ts`] },
    ], {
      signal: deadline,
      logger: logger as unknown as Logger,
      restartInitialMs: 10,
      graceMs: 5_000,
    });
    assert.deepEqual(reports, [
      { name: "flaky", starts: 3, lastCode: 2, gaveUp: true },
      { name: "steady", starts: 1, lastCode: 143 },
    ]);
    assert.deepEqual(
      events.filter((e) => e.event !== "supervisor.started").map((e) => [e.event, e.child, e.code]),
      [
        ["supervisor.crashed", "flaky", 1],
        ["supervisor.crashed", "flaky", 2],
        ["supervisor.gave_up", "flaky", 2],
        ["supervisor.stopped", "steady", 143],
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

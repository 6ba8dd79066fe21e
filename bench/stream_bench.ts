/**
 * Streaming benchmark (issue 5): all bundled one-minute bars (~225,000 messages) through a real
 * Kafka broker into DuckDB, next to the two stages measured alone in the same run:
 *
 *   kafka alone      kafkajs consuming the topic, no sink
 *   warehouse alone  the same rows upserted in the same batch size, no Kafka
 *   end to end       the stream consumer: Kafka -> validate -> upsert + offsets -> commit
 *
 * for batch size 100 (the default) and a catch-up batch size, printing msgs/s and the ratio
 * end-to-end / slower stage (the goal: at least 0.5). Then publish-to-queryable latency p50/p95
 * at the live rate (a replay at speed 300: one 5-minute poll per second; goal p95 < 2 s).
 *
 *   deno task bench stream
 *   deno run --allow-all bench/stream_bench.ts [--batches 100,2000] [--latency-polls 40]
 *
 * Uses KAFKA_BROKERS when set, else a throwaway local broker; DuckDB files go to bench/.work/.
 */
import { parseArgs } from "node:util";
import { BUNDLED_BARS_DIR } from "../lib/market/sources/bars_csv.ts";
import { ReplaySource } from "../lib/market/sources/replay.ts";
import type { MarketSource, PollResult } from "../lib/market/sources/source.ts";
import { fetchBytesFor, runConsumer } from "../lib/stream/consumer.ts";
import { type InMessage, KafkaClient } from "../lib/stream/kafka.ts";
import { type RunningBroker, startBroker } from "../lib/stream/local_broker.ts";
import { decodeQuote } from "../lib/stream/message.ts";
import { runProducer } from "../lib/stream/producer.ts";
import { type SinkRow, writeQuotes } from "../lib/stream/sink.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";

const WORK = new URL("./.work/", import.meta.url).pathname;

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000));
const fmt = (n: number) => n.toLocaleString("en-US");

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function freshDb(name: string): Promise<string> {
  await Deno.mkdir(WORK, { recursive: true });
  const path = `${WORK}stream_${name}_${Deno.pid}.duckdb`;
  for (const suffix of ["", ".wal"]) await Deno.remove(path + suffix).catch(() => {});
  return path;
}

async function dropDb(path: string) {
  for (const suffix of ["", ".wal"]) await Deno.remove(path + suffix).catch(() => {});
}

/** Stage: kafkajs consuming every message of `topic`, no sink. Returns ms and the messages. */
async function kafkaAlone(
  client: KafkaClient,
  topic: string,
  total: number,
): Promise<{ ms: number; messages: (InMessage & { partition: number })[] }> {
  const consumer = client.consumer(`bench.kafka.${crypto.randomUUID().slice(0, 8)}`, {
    maxBytesPerPartition: 4 * 1_048_576,
  });
  const messages: (InMessage & { partition: number })[] = [];
  const t0 = performance.now();
  await consumer.connect();
  let ms = 0;
  await new Promise<void>((resolve, reject) => {
    consumer.run({ topic }, async (batch, ctl) => {
      for (const m of batch.messages) messages.push({ ...m, partition: batch.partition });
      const last = batch.messages[batch.messages.length - 1];
      if (last) ctl.resolveOffset(last.offset);
      if (messages.length >= total && ms === 0) {
        ms = performance.now() - t0;
        resolve();
      }
      await Promise.resolve();
    }).catch(reject);
  });
  await consumer.disconnect();
  return { ms, messages };
}

/** Stage: the same rows upserted in batches of `batch` per partition, no Kafka. */
async function warehouseAlone(
  rowsByPartition: Map<number, { rows: SinkRow[]; offsets: number[] }>,
  batch: number,
  topic: string,
): Promise<{ ms: number; transactions: number }> {
  const path = await freshDb(`alone_${batch}`);
  const wh = await openWarehouse({ kind: "duckdb", path });
  try {
    const t0 = performance.now();
    // Interleave partitions chunk by chunk, as a consumer alternating between them would.
    const cursors = [...rowsByPartition].map(([p, v]) => ({ p, ...v, i: 0 }));
    let transactions = 0;
    while (cursors.some((c) => c.i < c.rows.length)) {
      for (const c of cursors) {
        if (c.i >= c.rows.length) continue;
        const chunk = c.rows.slice(c.i, c.i + batch);
        const next = c.offsets[Math.min(c.i + batch, c.rows.length) - 1] + 1;
        c.i += batch;
        transactions++;
        await wh.transaction((s) =>
          writeQuotes(s, chunk, {
            offsets: [{ group: "bench", topic, partition: c.p, nextOffset: next }],
          })
        );
      }
    }
    return { ms: performance.now() - t0, transactions };
  } finally {
    await wh.close();
    await dropDb(path);
  }
}

/** End to end: the stream consumer from the start of the topic until everything is written. */
async function endToEnd(
  client: KafkaClient,
  topic: string,
  total: number,
  batch: number,
): Promise<{ ms: number; transactions: number }> {
  const path = await freshDb(`e2e_${batch}`);
  const wh = await openWarehouse({ kind: "duckdb", path });
  const stop = new AbortController();
  try {
    const group = `bench.e2e.${batch}.${crypto.randomUUID().slice(0, 8)}`;
    let ms = 0;
    const t0 = performance.now();
    const c = await runConsumer(
      client.consumer(group, { maxBytesPerPartition: fetchBytesFor(batch) }),
      client.producer(),
      wh,
      {
        topic,
        deadLetterTopic: `${topic}.dlq`,
        group,
        batchSize: batch,
        signal: stop.signal,
        onStatus: (s) => {
          if (s.counters.written + s.counters.deadLettered >= total && ms === 0) {
            ms = performance.now() - t0;
            stop.abort();
          }
        },
      },
    );
    if (c.deadLettered > 0) throw new Error(`${c.deadLettered} messages were dead-lettered`);
    return { ms, transactions: c.transactions };
  } finally {
    stop.abort();
    await wh.close();
    await dropDb(path);
  }
}

/** The first `n` polls of a source. */
function firstPolls(source: MarketSource, n: number): MarketSource {
  return {
    name: source.name,
    live: source.live,
    async *polls(signal?: AbortSignal): AsyncGenerator<PollResult> {
      let i = 0;
      for await (const p of source.polls(signal)) {
        yield p;
        if (++i >= n) return;
      }
    },
  };
}

/** Publish-to-queryable latency at the live rate: Kafka timestamp -> warehouse commit. */
async function latency(
  client: KafkaClient,
  dir: string,
  polls: number,
): Promise<{ samples: number[]; messages: number }> {
  const topic = `bench.live.${crypto.randomUUID().slice(0, 8)}`;
  await client.ensureTopics([{ name: topic, partitions: 3 }, {
    name: `${topic}.dlq`,
    partitions: 1,
  }]);
  const path = await freshDb("latency");
  const wh = await openWarehouse({ kind: "duckdb", path });
  const stop = new AbortController();
  const samples: number[] = [];
  let assigned = false;
  try {
    const group = `bench.live.${crypto.randomUUID().slice(0, 8)}`;
    const consuming = runConsumer(client.consumer(group), client.producer(), wh, {
      topic,
      deadLetterTopic: `${topic}.dlq`,
      group,
      batchSize: 100,
      signal: stop.signal,
      onStatus: (s) => (assigned ||= s.partitions.length > 0),
      onCommit: (info) => {
        for (const t of info.timestamps) samples.push(info.committedAt - t);
      },
    });
    while (!assigned) await new Promise((r) => setTimeout(r, 100));
    // A trading day from its start, one 5-minute poll per second (speed 300).
    const source = firstPolls(new ReplaySource({ dir, start: "2025-11-02", speed: 300 }), polls);
    const produced = await runProducer(source, client.producer(), { topic });
    const deadline = Date.now() + 30_000;
    while (samples.length < produced.published && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    stop.abort();
    await consuming;
    return { samples: samples.sort((a, b) => a - b), messages: produced.published };
  } finally {
    stop.abort();
    await wh.close();
    await dropDb(path);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      batches: { type: "string", default: "100,2000" },
      "latency-polls": { type: "string", default: "40" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "Usage: deno run --allow-all bench/stream_bench.ts [--batches 100,2000] [--latency-polls 40]",
    );
    return 0;
  }
  const batches = values.batches!.split(",").map(Number);
  const dir = BUNDLED_BARS_DIR;
  let broker: RunningBroker | undefined;
  let brokers = (Deno.env.get("KAFKA_BROKERS") ?? "").split(",").filter(Boolean);
  if (brokers.length === 0) {
    await Deno.mkdir(WORK, { recursive: true });
    broker = await startBroker({
      dir: await Deno.makeTempDir({ dir: WORK, prefix: "kafka-" }),
      ownerPid: Deno.pid,
      removeDirOnExit: true,
    });
    brokers = broker.brokers;
  }
  try {
    const client = new KafkaClient(brokers, { clientId: "bench" });
    const topic = `bench.quotes.${crypto.randomUUID().slice(0, 8)}`;
    await client.ensureTopics([{ name: topic, partitions: 3 }, {
      name: `${topic}.dlq`,
      partitions: 1,
    }]);
    console.log(
      `Kafka ${brokers.join(",")} (${broker ? "local broker" : "KAFKA_BROKERS"}), bars ${dir}`,
    );

    const replay = new ReplaySource({ dir });
    let t0 = performance.now();
    const produced = await runProducer(replay, client.producer(), { topic });
    const publishMs = performance.now() - t0;
    const total = produced.published;
    if (produced.failed > 0 || produced.dropped > 0) {
      throw new Error(`publishing lost messages: ${JSON.stringify(produced)}`);
    }
    console.log(
      `published ${fmt(total)} messages (${fmt(replay.stats.polls)} replayed 5-minute polls) ` +
        `in ${(publishMs / 1000).toFixed(1)} s: ${fmt(rate(total, publishMs))} msg/s` +
        (replay.stats.roundedVolumes > 0
          ? ` (${fmt(replay.stats.roundedVolumes)} fractional volumes rounded)`
          : ""),
    );

    const k = await kafkaAlone(client, topic, total);
    const kafkaRate = rate(total, k.ms);
    console.log(`kafka alone (kafkajs, no sink):       ${fmt(kafkaRate).padStart(9)} msg/s`);

    // The same rows, in partition order, for the warehouse alone.
    t0 = performance.now();
    const byPartition = new Map<number, { rows: SinkRow[]; offsets: number[] }>();
    for (const m of k.messages.sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      const d = decodeQuote(m.value);
      if (!d.ok) throw new Error(`bad message at ${m.partition}/${m.offset}: ${d.reason}`);
      let p = byPartition.get(m.partition);
      if (!p) byPartition.set(m.partition, p = { rows: [], offsets: [] });
      p.rows.push({ quote: d.quote, ref: `kafka:${topic}/${m.partition}/${m.offset}` });
      p.offsets.push(m.offset);
    }
    const decodeMs = performance.now() - t0;
    console.log(
      `(decode + validate alone:             ${fmt(rate(total, decodeMs)).padStart(9)} msg/s)`,
    );

    let ok = true;
    for (const batch of batches) {
      const alone = await warehouseAlone(byPartition, batch, topic);
      const e2e = await endToEnd(client, topic, total, batch);
      const whRate = rate(total, alone.ms);
      const e2eRate = rate(total, e2e.ms);
      const slower = Math.min(kafkaRate, whRate);
      const ratio = e2eRate / slower;
      ok &&= ratio >= 0.5;
      console.log(`\nbatch ${batch} records per warehouse transaction:`);
      console.log(
        `  warehouse alone (upsert, no Kafka): ${fmt(whRate).padStart(9)} msg/s` +
          `  (${fmt(alone.transactions)} transactions)`,
      );
      console.log(
        `  end to end (Kafka -> DuckDB):       ${fmt(e2eRate).padStart(9)} msg/s` +
          `  (${fmt(e2e.transactions)} transactions)`,
      );
      console.log(
        `  end to end / slower stage (${whRate <= kafkaRate ? "warehouse" : "kafka"}): ` +
          `${ratio.toFixed(2)}x  (goal >= 0.5x: ${ratio >= 0.5 ? "met" : "NOT met"})`,
      );
    }

    const polls = Number(values["latency-polls"]);
    const lat = await latency(client, dir, polls);
    const p50 = percentile(lat.samples, 50);
    const p95 = percentile(lat.samples, 95);
    console.log(
      `\npublish-to-queryable latency at the live rate (${polls} polls, one per second, ` +
        `${fmt(lat.messages)} messages, ${fmt(lat.samples.length)} measured):`,
    );
    console.log(
      `  p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms, max ${
        (lat.samples.at(-1) ?? NaN).toFixed(0)
      } ms  (goal p95 < 2000 ms: ${p95 < 2000 ? "met" : "NOT met"})`,
    );
    ok &&= p95 < 2000 && lat.samples.length === lat.messages;
    return ok ? 0 : 1;
  } finally {
    await broker?.stop();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`stream_bench: ${(e as Error).message}`);
    Deno.exit(1);
  }
}

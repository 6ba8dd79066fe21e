/**
 * A real Kafka broker for tests: started once per test process, lazily, on free ports in a
 * temporary directory (jars installed into var/kafka on first use), waited on with a metadata
 * request, and stopped when the test process exits (its watchdog also stops it if the process
 * is killed). With KAFKA_BROKERS set, tests use that cluster instead.
 *
 * Tests that stop or restart a broker start their own with `startPrivateBroker()`.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../lib/config/config.ts";
import {
  type ConsumerCounters,
  type ConsumerOptions,
  runConsumer,
} from "../../lib/stream/consumer.ts";
import { KafkaClient } from "../../lib/stream/kafka.ts";
import { type RunningBroker, startBroker } from "../../lib/stream/local_broker.ts";
import type { Warehouse } from "../../lib/warehouse/warehouse.ts";
import { taskFlags } from "./processes.ts";

let shared: Promise<string[]> | undefined;
const started: RunningBroker[] = [];

globalThis.addEventListener("unload", () => {
  for (const b of started) {
    try {
      Deno.kill(b.pid, "SIGTERM");
    } catch { /* already gone */ }
  }
});

/** The bootstrap list of the shared test broker (starting it on first call). */
export function testBrokers(): Promise<string[]> {
  shared ??= (async () => {
    const configured = loadConfig((k) => Deno.env.get(k)).kafka.brokers;
    if (configured.length > 0) return configured;
    const dir = await Deno.makeTempDir({ prefix: "egx-kafka-test-" });
    const broker = await startBroker({ dir, ownerPid: Deno.pid, removeDirOnExit: true });
    started.push(broker);
    return broker.brokers;
  })();
  return shared;
}

/**
 * A broker of the test's own (to stop and restart): in a new temporary directory, or in `dir`
 * to restart a stopped one on the same ports. The caller stops it and removes its directory.
 */
export async function startPrivateBroker(dir?: string): Promise<RunningBroker> {
  const where = dir ?? await Deno.makeTempDir({ prefix: "egx-kafka-private-" });
  const broker = await startBroker({ dir: where, ownerPid: Deno.pid });
  started.push(broker);
  return broker;
}

/** A name no other test (or earlier run) uses, for topics and groups. */
export function uniqueName(prefix: string): string {
  return `${prefix}.${crypto.randomUUID().slice(0, 8)}`;
}

/** A client on the shared test broker. */
export async function testClient(): Promise<KafkaClient> {
  return new KafkaClient(await testBrokers(), { clientId: "egx-tests" });
}

// ------------------------------------------------------------------ stream test harness

/** A test on the broker: kafkajs leaves timers behind after disconnecting, so no sanitizers. */
export const kafkaTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });

/** The warehouse stored every partition's end offset, and Kafka has them committed too. */
export async function assertOffsetsMatch(
  wh: Warehouse,
  client: KafkaClient,
  names: { topic: string; group: string },
) {
  const lag = await client.lag(names.group, names.topic);
  const stored = await wh.query<{ PARTITION_ID: number; NEXT_OFFSET: number }>(
    `SELECT PARTITION_ID, NEXT_OFFSET FROM OPERATIONAL.TBL_STREAM_OFFSET
     WHERE CONSUMER_GROUP = ? AND TOPIC = ? ORDER BY PARTITION_ID`,
    [names.group, names.topic],
  );
  assert.deepEqual(
    stored.map((s) => [s.PARTITION_ID, s.NEXT_OFFSET]),
    lag.filter((l) => l.end > 0).map((l) => [l.partition, l.end]),
    "the warehouse stored every partition's end offset",
  );
  assert.deepEqual(lag.map((l) => l.lag), lag.map(() => 0), "Kafka committed everything");
}

/** A fresh quotes topic (3 partitions), dead-letter topic and group name on `client`. */
export async function freshTopics(
  client: KafkaClient,
  partitions = 3,
  dlqMaxMessageBytes?: number,
): Promise<{ topic: string; dlq: string; group: string }> {
  const topic = uniqueName("test.quotes");
  const dlq = `${topic}.dlq`;
  await client.ensureTopics([
    { name: topic, partitions },
    { name: dlq, partitions: 1, maxMessageBytes: dlqMaxMessageBytes },
  ]);
  return { topic, dlq, group: uniqueName("test.group") };
}

/**
 * `runConsumer` as the tests run it: the group, topic and dead-letter topic of `names`, a 6 s
 * session (a test's restarts rejoin quickly), batches of 100 (the default), the dead letters sent
 * by a producer of `client`; `opts` add to or replace the rest.
 */
export function consumeTopics(
  client: KafkaClient,
  wh: Warehouse,
  names: { topic: string; dlq: string; group: string },
  opts: Partial<ConsumerOptions> & { signal: AbortSignal },
): Promise<ConsumerCounters> {
  return runConsumer(
    client.consumer(names.group, { sessionTimeoutMs: 6_000 }),
    client.producer(),
    wh,
    {
      topic: names.topic,
      deadLetterTopic: names.dlq,
      group: names.group,
      batchSize: 100,
      ...opts,
    },
  );
}

/**
 * The environment of a stream process on the test broker: `names`' topics and group, a short
 * session timeout, the warehouse `<dir>/egx.duckdb`, status files in `<dir>/status`, and no
 * alert rules unless `extra` names some (EGX_STREAM_ALERT_RULES).
 */
export async function streamEnv(
  names: { topic: string; dlq: string; group: string },
  dir: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    KAFKA_BROKERS: (await testBrokers()).join(","),
    EGX_TOPIC_QUOTES: names.topic,
    EGX_TOPIC_DEAD_LETTER: names.dlq,
    EGX_CONSUMER_GROUP: names.group,
    EGX_CONSUMER_SESSION_TIMEOUT_MS: "6000",
    EGX_WAREHOUSE: `${dir}/egx.duckdb`,
    EGX_STREAM_STATUS_DIR: `${dir}/status`,
    EGX_STREAM_ALERT_RULES: "off",
    ...extra,
  };
}

const CLI = new URL("../../lib/stream/cli.ts", import.meta.url).pathname;
/** The permission flags of `deno task stream`, from deno.json. */
const STREAM_FLAGS = taskFlags("stream", "lib/stream/cli.ts");

export interface StreamProcess {
  child: Deno.ChildProcess;
  /** Resolves once stdout and stderr are fully written to their files. */
  output: Promise<void>;
}

/**
 * `deno task stream <args>` as a child process (the task's permissions), its stderr (the JSON
 * logs) appended to `logFile` and its stdout (alert lines) to `<logFile>.out`.
 */
export function spawnStream(
  args: string[],
  env: Record<string, string>,
  logFile: string,
): StreamProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...STREAM_FLAGS, CLI, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Chunk by chunk, so tests can read the files while the process runs (piped into
  // `file.writable`, the output reached the file only when the process ended).
  const sink = async (stream: ReadableStream<Uint8Array>, path: string) => {
    using file = await Deno.open(path, { append: true, create: true });
    for await (const chunk of stream) {
      for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
    }
  };
  return {
    child,
    output: Promise.all([sink(child.stderr, logFile), sink(child.stdout, `${logFile}.out`)])
      .then(() => {}),
  };
}

/** Poll `cond` every 200 ms until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The last lines of a log file (for failure messages). */
export async function tail(path: string, lines = 15): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * The [partition, stored offset] pairs a consumer's JSON log lines report as a recreated topic,
 * each once, sorted. A rebalance before the first write reads the stored offset again and finds
 * the same, so a partition may be reported once per assignment that included it: more reports
 * than assignments fail here.
 */
export function recreatedPartitions(lines: readonly string[]): [number, number][] {
  const events = lines.map((l) => JSON.parse(l));
  const assignments = new Map<number, number>();
  for (const e of events) {
    if (e.event !== "consumer.resumed_from_warehouse") continue;
    for (const p of Object.keys(e.partitions)) {
      assignments.set(Number(p), (assignments.get(Number(p)) ?? 0) + 1);
    }
  }
  const reports = new Map<number, number[]>();
  for (const e of events) {
    if (e.event !== "consumer.topic_recreated") continue;
    reports.set(e.partition, [...reports.get(e.partition) ?? [], e.stored]);
  }
  for (const [p, stored] of reports) {
    assert.ok(
      stored.length <= (assignments.get(p) ?? 0),
      `partition ${p} reported recreated ${stored.length} times in ` +
        `${assignments.get(p) ?? 0} assignments`,
    );
  }
  return [
    ...new Set(
      [...reports].flatMap(([p, stored]) => stored.map((s) => JSON.stringify([p, s]))),
    ),
  ].map((s) => JSON.parse(s)).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/**
 * A real Kafka broker for tests: started once per test process, lazily, on free ports in a
 * temporary directory (jars installed into var/kafka on first use), waited on with a metadata
 * request, and stopped when the test process exits (its watchdog also stops it if the process
 * is killed). With KAFKA_BROKERS set, tests use that cluster instead.
 *
 * Tests that stop or restart a broker start their own with `startPrivateBroker()`.
 */
import { loadConfig } from "../../lib/config/config.ts";
import { KafkaClient } from "../../lib/stream/kafka.ts";
import { type RunningBroker, startBroker } from "../../lib/stream/local_broker.ts";

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

/** One-minute bars for big replays: the bundled sample, else ../shared (beside the checkout). */
export function bigBarsDir(): string {
  for (const rel of ["../../data/sample/bars_1m", "../../../shared/data/egx/bars_1m"]) {
    const path = new URL(rel, import.meta.url).pathname;
    try {
      if (Deno.statSync(`${path}/COMI.csv`).isFile) return path;
    } catch { /* try the next */ }
  }
  throw new Error("no one-minute bars: neither data/sample/bars_1m nor ../shared/data/egx/bars_1m");
}

/** A fresh quotes topic (3 partitions), dead-letter topic and group name on `client`. */
export async function freshTopics(
  client: KafkaClient,
  partitions = 3,
): Promise<{ topic: string; dlq: string; group: string }> {
  const topic = uniqueName("test.quotes");
  const dlq = `${topic}.dlq`;
  await client.ensureTopics([{ name: topic, partitions }, { name: dlq, partitions: 1 }]);
  return { topic, dlq, group: uniqueName("test.group") };
}

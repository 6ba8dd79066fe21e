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

/** A broker of the test's own (to stop and restart); the caller stops it and removes `dir`. */
export async function startPrivateBroker(): Promise<RunningBroker> {
  const dir = await Deno.makeTempDir({ prefix: "egx-kafka-private-" });
  const broker = await startBroker({ dir, ownerPid: Deno.pid });
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

/**
 * Where the stream's topics end, for the lag on the pipeline-health page: asked of the Kafka
 * cluster in KAFKA_BROKERS, else of the project's local broker when it runs (`deno task kafka`).
 */
import type { Config } from "../config/config.ts";
import { KafkaClient } from "../stream/kafka.ts";
import { DEV_BROKER_DIR, runningBroker } from "../stream/local_broker.ts";
import type { HealthSources } from "./endpoint.ts";

/** Kafka answers these while a group coordinator starts or moves; asking again succeeds. */
function transient(e: unknown): boolean {
  const err = e as { retriable?: boolean; message?: string };
  return err?.retriable === true || /coordinator/i.test(err?.message ?? "");
}

/** A `logEnds` source over Kafka (a short-lived admin connection per call). */
export function kafkaLogEnds(
  config: Config,
  opts: { attempts?: number; backoffMs?: number } = {},
): NonNullable<HealthSources["logEnds"]> {
  const attempts = opts.attempts ?? 5;
  const backoffMs = opts.backoffMs ?? 300;
  return async (topic) => {
    let brokers = config.kafka.brokers;
    if (brokers.length === 0) brokers = (await runningBroker(DEV_BROKER_DIR))?.brokers ?? [];
    if (brokers.length === 0) {
      throw new Error("KAFKA_BROKERS is not set and the local broker is not running");
    }
    const client = new KafkaClient(brokers, { clientId: `${config.kafka.clientId}-serve` });
    for (let attempt = 1;; attempt++) {
      try {
        const lag = await client.lag(config.kafka.groupId, topic);
        return new Map(lag.map((p) => [p.partition, p.end]));
      } catch (e) {
        if (attempt >= attempts || !transient(e)) throw e;
        await new Promise((r) => setTimeout(r, backoffMs * attempt));
      }
    }
  };
}

/**
 * Where the stream's topics end, for the lag on the pipeline-health page: asked of the Kafka
 * cluster in KAFKA_BROKERS, else of the project's local broker when it runs (`deno task kafka`).
 */
import type { Config } from "../config/config.ts";
import { KafkaClient } from "../stream/kafka.ts";
import { DEV_BROKER_DIR, runningBroker } from "../stream/local_broker.ts";
import type { HealthSources } from "./endpoint.ts";

/**
 * A `logEnds` source over Kafka (a short-lived admin connection per call; KafkaClient retries
 * while a group coordinator loads or moves). Finding the local broker needs no --allow-run (see
 * runningBroker). `brokerDir`: the local broker's directory (default KAFKA_LOCAL_DIR, else
 * var/kafka/data).
 */
export function kafkaLogEnds(
  config: Config,
  opts: { brokerDir?: string } = {},
): NonNullable<HealthSources["logEnds"]> {
  return async (topic) => {
    const dir = opts.brokerDir ?? config.kafka.localDir ?? DEV_BROKER_DIR;
    let brokers = config.kafka.brokers;
    if (brokers.length === 0) brokers = (await runningBroker(dir))?.brokers ?? [];
    if (brokers.length === 0) {
      throw new Error("KAFKA_BROKERS is not set and the local broker is not running");
    }
    const client = new KafkaClient(brokers, { clientId: `${config.kafka.clientId}-serve` });
    const lag = await client.lag(config.kafka.groupId, topic);
    return new Map(lag.map((p) => [p.partition, p.end]));
  };
}

/**
 * What the pipeline-health page asks Kafka: where the stream's topics end (the lag) and how many
 * records the dead-letter topic holds. Asked of the Kafka cluster in KAFKA_BROKERS, else of the
 * project's local broker when it runs (`deno task kafka`).
 */
import type { Config } from "../config/config.ts";
import { KafkaClient } from "../stream/kafka.ts";
import { DEV_BROKER_DIR, runningBroker } from "../stream/local_broker.ts";
import type { HealthSources } from "./endpoint.ts";

/**
 * A client for one short-lived admin call (KafkaClient retries while a group coordinator loads
 * or moves). Finding the local broker needs no --allow-run (see runningBroker).
 */
async function serveClient(config: Config, brokerDir: string | undefined): Promise<KafkaClient> {
  const dir = brokerDir ?? config.kafka.localDir ?? DEV_BROKER_DIR;
  let brokers = config.kafka.brokers;
  if (brokers.length === 0) brokers = (await runningBroker(dir))?.brokers ?? [];
  if (brokers.length === 0) {
    throw new Error("KAFKA_BROKERS is not set and the local broker is not running");
  }
  return new KafkaClient(brokers, { clientId: `${config.kafka.clientId}-serve` });
}

/**
 * A `logEnds` source over Kafka (a short-lived admin connection per call). `brokerDir`: the
 * local broker's directory (default KAFKA_LOCAL_DIR, else var/kafka/data).
 */
export function kafkaLogEnds(
  config: Config,
  opts: { brokerDir?: string } = {},
): NonNullable<HealthSources["logEnds"]> {
  return async (topic) => {
    const client = await serveClient(config, opts.brokerDir);
    const lag = await client.lag(config.kafka.groupId, topic);
    return new Map(lag.map((p) => [p.partition, p.end]));
  };
}

/** Whether kafkajs failed because the broker has no such topic (after retries: the cause). */
function isUnknownTopic(e: unknown): boolean {
  const type = (x: unknown) => (x as { type?: string } | undefined)?.type;
  const cause = (e as { cause?: unknown } | undefined)?.cause;
  return type(e) === "UNKNOWN_TOPIC_OR_PARTITION" || type(cause) === "UNKNOWN_TOPIC_OR_PARTITION";
}

/**
 * A `recordCounts` source over Kafka: the records each partition of a topic holds now (log end
 * minus log start), in one short-lived admin connection per call, like kafkaLogEnds.
 */
export function kafkaRecordCounts(
  config: Config,
  opts: { brokerDir?: string } = {},
): NonNullable<HealthSources["recordCounts"]> {
  return async (topic) => {
    const client = await serveClient(config, opts.brokerDir);
    return await client.records(topic).catch((e) => {
      if (!isUnknownTopic(e)) throw e;
      throw new Error(`topic ${topic} does not exist on the broker`, { cause: e });
    });
  };
}

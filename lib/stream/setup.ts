/**
 * What the producer, the consumer and health_check share: which brokers (the configured
 * cluster, or the project's local broker when KAFKA_BROKERS is unset), the topic definitions,
 * and building the market source from configuration.
 */
import type { KafkaConfig, StreamConfig } from "../config/config.ts";
import { ReplaySource } from "../market/sources/replay.ts";
import type { MarketSource } from "../market/sources/source.ts";
import { TradingViewSource } from "../market/sources/tradingview.ts";
import { KafkaClient, type TopicSpec } from "./kafka.ts";
import { ensureDevBroker } from "./local_broker.ts";
import type { Logger } from "./log.ts";

/**
 * The bootstrap brokers: `KAFKA_BROKERS`, or the local development broker (KAFKA_LOCAL_DIR,
 * default var/kafka/data; started when not running; with `ownerPid` it stops when that process
 * exits).
 */
export async function resolveBrokers(
  kafka: KafkaConfig,
  opts: { ownerPid?: number; logger?: Logger; signal?: AbortSignal } = {},
): Promise<string[]> {
  if (kafka.brokers.length > 0) return kafka.brokers;
  const { broker, started } = await ensureDevBroker({ ...opts, dir: kafka.localDir });
  opts.logger?.info(started ? "broker.local_started" : "broker.local_reused", {
    brokers: broker.brokers,
    hint: "KAFKA_BROKERS is not set: using the local broker (deno task kafka)",
  });
  return broker.brokers;
}

/** The quotes topic and its dead-letter topic, with explicit partitions and retention. */
function streamTopics(kafka: KafkaConfig): TopicSpec[] {
  const retentionMs = kafka.retentionHours * 3_600_000;
  return [
    { name: kafka.quotesTopic, partitions: kafka.partitions, retentionMs },
    { name: kafka.deadLetterTopic, partitions: 1, retentionMs },
  ];
}

/** Create the stream's topics when missing; returns the names created. */
export function ensureStreamTopics(client: KafkaClient, kafka: KafkaConfig): Promise<string[]> {
  return client.ensureTopics(streamTopics(kafka));
}

/** The configured market source. */
export function marketSource(stream: StreamConfig): MarketSource {
  if (stream.source === "tradingview") {
    return new TradingViewSource({
      scannerUrl: stream.scannerUrl,
      wsUrl: stream.websocketUrl,
      pollMinutes: stream.pollMinutes,
      backfill: stream.backfillTickers.length > 0
        ? { tickers: stream.backfillTickers, interval: "1", bars: stream.backfillBars }
        : undefined,
    });
  }
  return new ReplaySource({
    dir: stream.replayDir,
    speed: stream.replaySpeed,
    start: stream.replayStart,
    end: stream.replayEnd,
    pollMinutes: stream.pollMinutes,
  });
}

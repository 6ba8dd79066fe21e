/**
 * What the producer, the consumer and health_check share: which brokers (the configured
 * cluster, or the project's local broker when KAFKA_BROKERS is unset), the topic definitions,
 * and building the market source from configuration.
 */
import { ConfigError, type KafkaConfig, type StreamConfig } from "../config/config.ts";
import { hasBarFiles } from "../market/sources/bars_csv.ts";
import { ReplaySource } from "../market/sources/replay.ts";
import type { MarketSource } from "../market/sources/source.ts";
import { TradingViewSource } from "../market/sources/tradingview.ts";
import { KafkaClient, type TopicSpec } from "./kafka.ts";
import { ensureDevBroker } from "./local_broker.ts";
import type { Logger } from "./log.ts";

/**
 * Run `fn` with the bootstrap brokers: `KAFKA_BROKERS`, or the local development broker
 * (KAFKA_LOCAL_DIR, default var/kafka/data), started when not running. A local broker started
 * here is stopped again (controlled shutdown, waited for) once `fn` has ended: normally, with an
 * error, or after SIGINT/SIGTERM aborted `signal`, which every caller passes on to `fn`'s work.
 * Should this process die before that (SIGKILL, a second Ctrl-C), the broker's watchdog stops it
 * (this process is its owner). A broker that was already running (`deno task kafka`, another
 * stream command) is used and left running.
 */
export async function withKafka<T>(
  kafka: KafkaConfig,
  opts: { logger: Logger; signal: AbortSignal },
  fn: (brokers: string[]) => Promise<T>,
): Promise<T> {
  if (kafka.brokers.length > 0) return await fn(kafka.brokers);
  const log = opts.logger;
  const { broker, started } = await ensureDevBroker({
    dir: kafka.localDir,
    ownerPid: Deno.pid,
    logger: log,
    signal: opts.signal,
  });
  log.info(started ? "broker.local_started" : "broker.local_reused", {
    brokers: broker.brokers,
    hint: "KAFKA_BROKERS is not set: using the local broker (deno task kafka)",
  });
  const stop = async () => {
    if (!started) return;
    log.info("broker.local_stopping", { pid: broker.pid, dir: broker.dir });
    await broker.stop();
    log.info("broker.local_stopped", { pid: broker.pid });
  };
  let result: T;
  try {
    result = await fn(broker.brokers);
  } catch (e) {
    // fn's error is the one to report; a failed stop is logged beside it.
    await stop().catch((s) => log.error("broker.local_stop_failed", { pid: broker.pid, error: s }));
    throw e;
  }
  await stop();
  return result;
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

/** An existing stream topic whose partitions or retention are not what the settings ask. */
export interface TopicDifference {
  topic: string;
  partitions?: { have: number; want: number };
  retentionHours?: { have: number; want: number };
}

/**
 * How the existing topics differ from EGX_TOPIC_PARTITIONS (the quotes topic) and
 * EGX_TOPIC_RETENTION_HOURS (both): topics are created with them, and an existing topic is never
 * changed behind the user's back (`deno task stream topics --alter` does it).
 */
export async function streamTopicDifferences(
  client: KafkaClient,
  kafka: KafkaConfig,
): Promise<TopicDifference[]> {
  const out: TopicDifference[] = [];
  for (const spec of streamTopics(kafka)) {
    const d = await client.describeTopic(spec.name);
    if (d === undefined) continue;
    const diff: TopicDifference = { topic: spec.name };
    if (spec.name === kafka.quotesTopic && d.partitions !== spec.partitions) {
      diff.partitions = { have: d.partitions, want: spec.partitions };
    }
    if (d.retentionMs !== spec.retentionMs) {
      diff.retentionHours = { have: d.retentionMs / 3_600_000, want: kafka.retentionHours };
    }
    if (diff.partitions || diff.retentionHours) out.push(diff);
  }
  return out;
}

/** One line on what differs and what `topics --alter` would do about it. */
export function describeDifference(d: TopicDifference): string {
  const parts: string[] = [];
  if (d.partitions) {
    const { have, want } = d.partitions;
    parts.push(
      `${have} partition(s), EGX_TOPIC_PARTITIONS=${want}` +
        (want > have
          ? ""
          : ": Kafka cannot remove partitions (set it to " + have + ", or use a new topic name)"),
    );
  }
  if (d.retentionHours) {
    parts.push(
      `retention ${d.retentionHours.have} h, EGX_TOPIC_RETENTION_HOURS=${d.retentionHours.want}`,
    );
  }
  return `${d.topic}: ${parts.join("; ")}`;
}

/**
 * Bring the existing topics in line with the settings where Kafka allows it: raise the quotes
 * topic's partitions, set retentions. Returns what could not be done (fewer partitions).
 */
export async function alterStreamTopics(
  client: KafkaClient,
  diffs: readonly TopicDifference[],
): Promise<TopicDifference[]> {
  const left: TopicDifference[] = [];
  for (const d of diffs) {
    const raise = d.partitions && d.partitions.want > d.partitions.have;
    await client.alterTopic(d.topic, {
      partitions: raise ? d.partitions?.want : undefined,
      retentionMs: d.retentionHours && d.retentionHours.want * 3_600_000,
    });
    if (d.partitions && !raise) left.push({ topic: d.topic, partitions: d.partitions });
  }
  return left;
}

/**
 * The replay's folder must exist and hold at least one bar file (`<TICKER>.csv`): read only at
 * the first poll, a missing or empty one made the producer exit 1 there, which the supervisor
 * restarts forever; checked here, it is a ConfigError (exit 2) before anything starts.
 */
export function checkReplayDir(dir: string): void {
  const named = `EGX_REPLAY_DIR ${JSON.stringify(dir)}`;
  let found: boolean;
  try {
    found = hasBarFiles(dir);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "does not exist"
      : e instanceof Deno.errors.NotADirectory
      ? "is not a folder"
      : `cannot be read (${(e as Error).message})`;
    throw new ConfigError(`${named} ${why}: it must be a folder of one-minute bar files`);
  }
  if (!found) {
    throw new ConfigError(
      `${named} holds no bar files: it must hold <TICKER>.csv files ` +
        `(datetime,open,high,low,close,volume), as data/sample/bars_1m does`,
    );
  }
}

/** The configured market source (a replay's folder checked: checkReplayDir). */
export function marketSource(stream: StreamConfig): MarketSource {
  if (stream.source === "tradingview") {
    return new TradingViewSource({
      scannerUrl: stream.scannerUrl,
      wsUrl: stream.websocketUrl,
      pollMinutes: stream.pollMinutes,
      delayMinutes: stream.tvDelayMinutes,
      backfill: stream.backfillTickers.length > 0
        ? { tickers: stream.backfillTickers, interval: "1", bars: stream.backfillBars }
        : undefined,
    });
  }
  checkReplayDir(stream.replayDir);
  return new ReplaySource({
    dir: stream.replayDir,
    speed: stream.replaySpeed,
    start: stream.replayStart,
    end: stream.replayEnd,
    pollMinutes: stream.pollMinutes,
  });
}

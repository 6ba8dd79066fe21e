/**
 * The one module that talks to kafkajs. kafkajs is unmaintained since 2023: everything else in
 * the project uses the small types below, so the client can be swapped (e.g. for
 * `@confluentinc/kafka-javascript`, which offers a KafkaJS-compatible API) by editing this file.
 *
 * Offsets are plain numbers here (safe up to 2^53, far beyond any topic we will see).
 */
import {
  type Admin,
  ConfigResourceTypes,
  type Consumer,
  type EachBatchPayload,
  Kafka,
  type LogEntry,
  logLevel as KafkaLogLevel,
  Partitioners,
  type Producer,
} from "kafkajs";
import { Buffer } from "node:buffer";
import process from "node:process";
import { type Logger, silentLogger } from "./log.ts";

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Message retention; omitted = the broker's default. */
  retentionMs?: number;
  /** The topic's max.message.bytes (largest record batch); omitted = the broker's default. */
  maxMessageBytes?: number;
}

/** Whether a send failed because a record batch is larger than the broker or topic accepts. */
export function isTooLarge(e: unknown): boolean {
  return (e as { type?: string })?.type === "MESSAGE_TOO_LARGE" ||
    /larger than the max message size/.test(String((e as Error)?.message));
}

/**
 * Whether an error means no broker could be reached (refused, timed out, not found), possibly
 * after kafkajs's own retries: something to wait out, unlike a refused request.
 */
export function isUnreachable(e: unknown): boolean {
  for (let c = e as { name?: string; cause?: unknown } | undefined, i = 0; c && i < 5; i++) {
    if (
      ["KafkaJSConnectionError", "KafkaJSBrokerNotFound", "KafkaJSRequestTimeoutError"]
        .includes(String(c.name))
    ) return true;
    if (/^Connection (error|timeout)/.test(String((c as Error).message))) return true;
    c = c.cause as typeof c;
  }
  return false;
}

/**
 * Whether kafkajs marks an error as transient (a group coordinator still loading on a new broker,
 * a leader moving, a lost connection): a consumer it restarts for one goes on by itself. Not an
 * error of our own (a failed warehouse write), which kafkajs also restarts the consumer for.
 */
export function isTransientKafkaError(e: unknown): boolean {
  const k = e as { name?: unknown; retriable?: unknown } | undefined;
  return typeof k?.name === "string" && k.name.startsWith("KafkaJS") && k.retriable === true;
}

/**
 * Whether a (heartbeat) error says the group is rebalancing or this member left it: its
 * partitions may be another member's by now.
 */
export function isRebalance(e: unknown): boolean {
  return ["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID"]
    .includes(String((e as { type?: string })?.type));
}

export interface OutMessage {
  key: string;
  value: string;
  headers?: Record<string, string>;
}

/** A record's key, value and headers as the bytes read (a header may repeat). */
export interface RawRecord {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: Record<string, Uint8Array | Uint8Array[]>;
}

/** A record sent as bytes (a dead letter: the copy of a record as read), headers added as text. */
export interface RawOutMessage {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers?: Record<string, string | Uint8Array | Uint8Array[]>;
}

export interface InMessage {
  offset: number;
  /** The key and value as UTF-8 text; null when absent or when not valid UTF-8 (see notUtf8). */
  key: string | null;
  value: string | null;
  /** Header values as text (the last of a repeated header; invalid UTF-8 replaced by U+FFFD). */
  headers: Record<string, string>;
  /** The record's timestamp (producer create time), epoch ms. */
  timestamp: number;
  /** The bytes read, for a byte-for-byte copy. */
  raw: RawRecord;
  /** Why the key or value is not text: "key is not valid UTF-8" or "value is not valid UTF-8". */
  notUtf8?: string;
}

export interface InBatch {
  topic: string;
  partition: number;
  /** The partition's high watermark when the batch was fetched. */
  highWatermark: number;
  messages: InMessage[];
}

/** What a batch handler may do besides reading messages. */
export interface BatchControl {
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping: abandon the rest of the batch. */
  isRunning(): boolean;
  /** True when a rebalance or seek made this batch obsolete. */
  isStale(): boolean;
  /** Mark `offset` as processed (the consumer will not hand it out again in this session). */
  resolveOffset(offset: number): void;
  /** Commit `nextOffset` (the next offset to read) for this batch's partition to Kafka. */
  commit(nextOffset: number): Promise<void>;
}

export interface ClientOptions {
  clientId: string;
  logger?: Logger;
  /** Connection timeout per broker, ms (kafkajs default 1000). */
  connectionTimeoutMs?: number;
  /** Retries of a single request before the call fails. */
  retries?: number;
}

/** A partition's position: where the group is and where the log ends. */
export interface PartitionLag {
  partition: number;
  /** The group's committed next offset, or -1 when it has none. */
  committed: number;
  /** The log end (high watermark). */
  end: number;
  lag: number;
}

// kafkajs logs every retriable protocol error ("Response Metadata ... coordinator is loading")
// at ERROR level although it retries them; a call that finally fails throws, and the caller logs
// that. Our producer also re-sends failed batches itself, so kafkajs' warning about limited
// retries of the idempotent producer is expected (re-sent duplicates are absorbed downstream
// by the upsert on natural keys).
const QUIET = [/^Response /, /^Limiting retries for the idempotent producer/];

// What kafkajs logs, several lines a second with stack traces, while no broker answers: the
// connection error, the seed broker it moves on from, the consumer's crash and restart.
const OUTAGE = /Connection (error|timeout)|^Failed to connect to seed broker/;
const RESTART = /^Restarting the consumer/;
/** No outage line for this long: the next one starts a new outage. */
const OUTAGE_QUIET_MS = 10_000;
/** While an outage lasts, a reminder at most this often. */
const OUTAGE_REMIND_MS = 60_000;

/**
 * Route kafkajs' log entries to our logger. An unreachable broker is told once per outage, as
 * `kafka.unreachable` with the broker and error (no stack), then as `kafka.still_unreachable`
 * every minute it lasts; the raw entries go to debug. Stack traces only at debug.
 */
export function kafkaLogCreator(logger: Logger, now: () => number = Date.now) {
  let since: number | undefined; // the outage's first failure
  let last = 0; // its latest failure
  let reminded = 0;
  return (_level: KafkaLogLevel) => (entry: LogEntry) => {
    const { message, stack, ...rest } = entry.log as LogEntry["log"] & { stack?: unknown };
    const fields = {
      kafkajs: entry.namespace,
      ...rest,
      ...(logger.level === "debug" && stack !== undefined ? { stack } : {}),
    };
    const t = now();
    if (since !== undefined && t - last >= OUTAGE_QUIET_MS) since = undefined;
    const outage = OUTAGE.test(message) || (since !== undefined && RESTART.test(message));
    if (outage && entry.level <= KafkaLogLevel.WARN) {
      last = t;
      const error = message.replace(/^.*?(Connection (error|timeout))/, "$1");
      if (since === undefined) {
        since = reminded = t;
        const broker = (rest as { broker?: unknown }).broker;
        logger.warn("kafka.unreachable", {
          ...(broker === undefined ? {} : { broker }),
          error,
        });
      } else if (t - reminded >= OUTAGE_REMIND_MS) {
        reminded = t;
        logger.warn("kafka.still_unreachable", {
          forS: Math.round((t - since) / 1000),
          error,
        });
      }
      logger.debug(`kafkajs: ${message}`, fields);
      return;
    }
    const quiet = QUIET.some((re) => re.test(message));
    if (!quiet && entry.level <= KafkaLogLevel.WARN) logger.warn(`kafkajs: ${message}`, fields);
    else logger.debug(`kafkajs: ${message}`, fields);
  };
}

let warningFilterInstalled = false;

/**
 * kafkajs 2.2.4 schedules a timer with a negative delay on every connection, which the Node
 * compatibility layer reports as a TimeoutNegativeWarning (tulios/kafkajs#1751, unfixed
 * upstream; the timer just fires at once). Drop that one warning; every other passes through.
 */
function silenceNegativeTimeoutWarning(): void {
  if (warningFilterInstalled) return;
  warningFilterInstalled = true;
  const original = process.emitWarning;
  const filtered = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === "string"
      ? rest[0]
      : (rest[0] as { type?: string } | undefined)?.type ?? (warning as Error)?.name;
    if (type === "TimeoutNegativeWarning") return;
    return (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  };
  (process as unknown as { emitWarning: unknown }).emitWarning = filtered;
}

// A group coordinator that moved or is still loading (a fresh broker creates the offsets topic
// on first use): kafkajs' admin does not retry these for offset fetches, so we do.
const COORDINATOR_ERRORS = new Set([
  "GROUP_LOAD_IN_PROGRESS",
  "GROUP_COORDINATOR_NOT_AVAILABLE",
  "NOT_COORDINATOR_FOR_GROUP",
]);

async function coordinatorRetry<T>(fn: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await fn();
    } catch (e) {
      const type = (e as { type?: string }).type ?? "";
      if (!COORDINATOR_ERRORS.has(type) || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const utf8 = new TextDecoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function headersOf(raw: RawRecord["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    out[k] = utf8.decode(Array.isArray(v) ? v[v.length - 1] : v);
  }
  return out;
}

/** Header values as bytes (kafkajs hands out Buffers; a string is encoded). */
function rawHeaders(raw: Record<string, unknown> | undefined): RawRecord["headers"] {
  const bytes = (v: unknown) => typeof v === "string" ? new TextEncoder().encode(v) : v;
  const out: RawRecord["headers"] = {};
  for (const [k, v] of Object.entries(raw ?? {})) {
    if (v === undefined) continue;
    out[k] = (Array.isArray(v) ? v.map(bytes) : bytes(v)) as Uint8Array | Uint8Array[];
  }
  return out;
}

/** Bytes as kafkajs sends them: a Buffer (any other Uint8Array it would send as text). */
function buffer(v: string | Uint8Array): string | Buffer {
  return typeof v === "string" ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** ConfigSource of a setting made for the topic itself (DescribeConfigs v1+). */
const DYNAMIC_TOPIC_CONFIG = 1;

async function topicConfigs(admin: Admin, topic: string) {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
  });
  return (resources[0]?.configEntries ?? []) as {
    configName: string;
    configValue: string;
    configSource?: number;
  }[];
}

/** A connection factory for one cluster. */
export class KafkaClient {
  readonly brokers: string[];
  readonly #kafka: Kafka;
  readonly #logger: Logger;

  constructor(brokers: readonly string[], opts: ClientOptions) {
    if (brokers.length === 0) throw new RangeError("KafkaClient needs at least one broker");
    this.brokers = [...brokers];
    this.#logger = opts.logger ?? silentLogger;
    silenceNegativeTimeoutWarning();
    this.#kafka = new Kafka({
      clientId: opts.clientId,
      brokers: this.brokers,
      connectionTimeout: opts.connectionTimeoutMs ?? 3000,
      retry: { retries: opts.retries ?? 5, initialRetryTime: 100, maxRetryTime: 2000 },
      logLevel: this.#logger.level === "debug" ? KafkaLogLevel.DEBUG : KafkaLogLevel.WARN,
      logCreator: kafkaLogCreator(this.#logger),
    });
  }

  async #withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.#kafka.admin({ retry: { retries: 6, initialRetryTime: 200 } });
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect();
    }
  }

  /** One metadata round trip: resolves with the cluster id and broker count, or throws. */
  probe(): Promise<{ clusterId: string; brokers: number }> {
    return this.#withAdmin(async (admin) => {
      const c = await admin.describeCluster();
      return { clusterId: c.clusterId, brokers: c.brokers.length };
    });
  }

  /** Create missing topics (existing ones are left as they are). Returns the names created. */
  ensureTopics(specs: readonly TopicSpec[]): Promise<string[]> {
    return this.#withAdmin(async (admin) => {
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(s.name));
      if (missing.length === 0) return [];
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.name,
          numPartitions: s.partitions,
          replicationFactor: 1,
          configEntries: [
            ...(s.retentionMs === undefined
              ? []
              : [{ name: "retention.ms", value: String(s.retentionMs) }]),
            ...(s.maxMessageBytes === undefined
              ? []
              : [{ name: "max.message.bytes", value: String(s.maxMessageBytes) }]),
          ],
        })),
      });
      return missing.map((s) => s.name);
    });
  }

  /** A topic's partition count and retention, or undefined when it does not exist. */
  describeTopic(topic: string): Promise<{ partitions: number; retentionMs: number } | undefined> {
    return this.#withAdmin(async (admin) => {
      if (!(await admin.listTopics()).includes(topic)) return undefined;
      const md = await admin.fetchTopicMetadata({ topics: [topic] });
      const configs = await topicConfigs(admin, topic);
      return {
        partitions: md.topics[0]?.partitions.length ?? 0,
        retentionMs: Number(configs.find((e) => e.configName === "retention.ms")?.configValue),
      };
    });
  }

  /**
   * Raise an existing topic's partitions to `partitions` (Kafka cannot lower them) and/or set its
   * retention, keeping its other settings.
   */
  alterTopic(topic: string, change: { partitions?: number; retentionMs?: number }): Promise<void> {
    return this.#withAdmin(async (admin) => {
      if (change.partitions !== undefined) {
        await admin.createPartitions({
          validateOnly: false,
          topicPartitions: [{ topic, count: change.partitions }],
        });
      }
      if (change.retentionMs === undefined) return;
      // AlterConfigs replaces the topic's whole set of its own settings: send the others back.
      const own = (await topicConfigs(admin, topic)).filter((e) =>
        e.configSource === DYNAMIC_TOPIC_CONFIG && e.configName !== "retention.ms"
      );
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: [
            ...own.map((e) => ({ name: e.configName, value: e.configValue })),
            { name: "retention.ms", value: String(change.retentionMs) },
          ],
        }],
      });
    });
  }

  /** Per partition: the group's committed offset, the log end and the lag between them. */
  lag(groupId: string, topic: string): Promise<PartitionLag[]> {
    return this.#withAdmin(async (admin) => {
      const ends = await admin.fetchTopicOffsets(topic);
      const committed = await coordinatorRetry(() =>
        admin.fetchOffsets({ groupId, topics: [topic] })
      );
      const byPartition = new Map<number, number>();
      for (const p of committed[0]?.partitions ?? []) {
        byPartition.set(p.partition, Number(p.offset));
      }
      return ends.map((e) => {
        const end = Number(e.high);
        const c = byPartition.get(e.partition) ?? -1;
        const low = Number(e.low);
        return {
          partition: e.partition,
          committed: c,
          end,
          lag: c < 0 ? end - low : Math.max(0, end - c),
        };
      }).sort((a, b) => a.partition - b.partition);
    });
  }

  /** Per partition: the records the topic holds now (log end minus log start). */
  records(topic: string): Promise<Map<number, number>> {
    return this.#withAdmin(async (admin) => {
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.map((o) => [o.partition, Number(o.high) - Number(o.low)]));
    });
  }

  /** The group's state ("Empty", "Stable", ...) and member count. */
  group(groupId: string): Promise<{ state: string; members: number }> {
    return this.#withAdmin(async (admin) => {
      const { groups } = await coordinatorRetry(() => admin.describeGroups([groupId]));
      return { state: groups[0]?.state ?? "Dead", members: groups[0]?.members.length ?? 0 };
    });
  }

  /** Set a (memberless) group's committed offsets (operations and tests). */
  setGroupOffsets(groupId: string, topic: string, offsets: Map<number, number>): Promise<void> {
    return this.#withAdmin((admin) =>
      coordinatorRetry(() =>
        admin.setOffsets({
          groupId,
          topic,
          partitions: [...offsets].map(([partition, offset]) => ({
            partition,
            offset: String(offset),
          })),
        })
      )
    );
  }

  /**
   * Read every message of a topic from the beginning up to its end as at the call (tests, tools),
   * in a new group unless `groupId` names one; nothing is committed.
   */
  async readAll(
    topic: string,
    opts: { groupId?: string; timeoutMs?: number } = {},
  ): Promise<(InMessage & { partition: number })[]> {
    const ends = await this.#withAdmin((a) => a.fetchTopicOffsets(topic));
    const remaining = new Map(
      ends.filter((e) => Number(e.high) > Number(e.low)).map((e) => [e.partition, Number(e.high)]),
    );
    const out: (InMessage & { partition: number })[] = [];
    if (remaining.size === 0) return out;
    const consumer = this.#kafka.consumer({
      groupId: opts.groupId ?? `read-all-${crypto.randomUUID()}`,
      retry: { retries: 3 },
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`readAll(${topic}) timed out`)),
          opts.timeoutMs ?? 30_000,
        );
        consumer.run({
          autoCommit: false,
          eachMessage: ({ partition, message }) => {
            // Records past the end taken at the start (appended since) are left out.
            const end = remaining.get(partition);
            if (end === undefined || Number(message.offset) >= end) return Promise.resolve();
            out.push({ partition, ...convert(message) });
            if (Number(message.offset) + 1 >= end) {
              remaining.delete(partition);
              if (remaining.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            }
            return Promise.resolve();
          },
        }).catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    return out;
  }

  /** An idempotent producer (acks=all, one request in flight, retries inside kafkajs). */
  producer(): KafkaProducer {
    return new KafkaProducer(
      this.#kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
      }),
    );
  }

  /** A group consumer for one topic; see `KafkaConsumer.run`. */
  consumer(
    groupId: string,
    opts: { maxBytesPerPartition?: number; sessionTimeoutMs?: number } = {},
  ): KafkaConsumer {
    const session = opts.sessionTimeoutMs ?? 30_000;
    return new KafkaConsumer(
      this.#kafka.consumer({
        groupId,
        allowAutoTopicCreation: false,
        maxBytesPerPartition: opts.maxBytesPerPartition ?? 1_048_576,
        sessionTimeout: session,
        heartbeatInterval: Math.max(500, Math.floor(session / 10)),
        retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5_000 },
      }),
      this.#logger,
    );
  }
}

function convert(
  m: { offset: string; key: Uint8Array | null; value: Uint8Array | null; timestamp: string } & {
    headers?: Record<string, unknown>;
  },
): InMessage {
  const raw: RawRecord = { key: m.key, value: m.value, headers: rawHeaders(m.headers) };
  let notUtf8: string | undefined;
  const text = (bytes: Uint8Array | null, what: string) => {
    if (bytes === null) return null;
    try {
      return strictUtf8.decode(bytes);
    } catch {
      notUtf8 ??= `${what} is not valid UTF-8`;
      return null;
    }
  };
  const key = text(m.key, "key");
  const value = text(m.value, "value");
  return {
    offset: Number(m.offset),
    key,
    value,
    headers: headersOf(raw.headers),
    timestamp: Number(m.timestamp),
    raw,
    ...(notUtf8 === undefined ? {} : { notUtf8 }),
  };
}

export class KafkaProducer {
  readonly #p: Producer;
  constructor(p: Producer) {
    this.#p = p;
  }
  connect(): Promise<void> {
    return this.#p.connect();
  }
  /** Send one batch to a topic and wait for every partition leader's acknowledgement. */
  async send(topic: string, messages: readonly (OutMessage | RawOutMessage)[]): Promise<void> {
    if (messages.length === 0) return;
    await this.#p.send({
      topic,
      acks: -1,
      messages: messages.map((m) => ({
        key: m.key === null ? null : buffer(m.key),
        value: m.value === null ? null : buffer(m.value),
        headers: m.headers && Object.fromEntries(
          Object.entries(m.headers).map((
            [k, v],
          ) => [k, Array.isArray(v) ? v.map(buffer) : buffer(v)]),
        ),
      })),
    });
  }
  disconnect(): Promise<void> {
    return this.#p.disconnect();
  }
}

export interface RunOptions {
  topic: string;
  /**
   * Partitions handled at once (default 1). Each partition's batches stay in order; with more
   * than one, one partition's Kafka fetch and decoding overlap another's warehouse write.
   */
  concurrency?: number;
  /** Called after each (re)join with the partitions assigned to this member. */
  onAssigned?: (partitions: number[]) => Promise<void> | void;
  /** Called when the consumer crashed; `restarting` says whether kafkajs will restart it. */
  onCrash?: (error: Error, restarting: boolean) => void;
}

export class KafkaConsumer {
  readonly #c: Consumer;
  readonly #logger: Logger;
  constructor(c: Consumer, logger: Logger) {
    this.#c = c;
    this.#logger = logger;
  }

  connect(): Promise<void> {
    return this.#c.connect();
  }

  /**
   * Subscribe and start consuming with manual commits. `handler` receives each fetched batch;
   * it resolves offsets and commits through `BatchControl`, and may throw to have the batch
   * handed out again (kafkajs retries, then restarts the consumer).
   */
  async run(
    opts: RunOptions,
    handler: (batch: InBatch, ctl: BatchControl) => Promise<void>,
  ): Promise<void> {
    const c = this.#c;
    c.on(c.events.GROUP_JOIN, (e) => {
      const partitions = (e.payload.memberAssignment[opts.topic] ?? []).slice().sort((a, b) =>
        a - b
      );
      this.#logger.info("consumer.assigned", { topic: opts.topic, partitions });
      Promise.resolve(opts.onAssigned?.(partitions)).catch((err) =>
        this.#logger.error("consumer.on_assigned_failed", { error: err })
      );
    });
    c.on(c.events.CRASH, (e) => {
      opts.onCrash?.(e.payload.error, e.payload.restart);
    });
    await c.subscribe({ topic: opts.topic, fromBeginning: true });
    await c.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: opts.concurrency ?? 1,
      eachBatch: async (p: EachBatchPayload) => {
        const batch: InBatch = {
          topic: p.batch.topic,
          partition: p.batch.partition,
          highWatermark: Number(p.batch.highWatermark),
          messages: p.batch.messages.map(convert),
        };
        await handler(batch, {
          heartbeat: () => p.heartbeat(),
          isRunning: () => p.isRunning(),
          isStale: () => p.isStale(),
          resolveOffset: (o) => p.resolveOffset(String(o)),
          commit: (next) =>
            c.commitOffsets([{
              topic: batch.topic,
              partition: batch.partition,
              offset: String(next),
            }]),
        });
      },
    });
  }

  /** Move a partition's position (after `run`, e.g. to the warehouse's stored offset). */
  seek(topic: string, partition: number, offset: number): void {
    this.#c.seek({ topic, partition, offset: String(offset) });
  }

  /** Stop fetching, wait for the batch in flight, leave the group and close connections. */
  disconnect(): Promise<void> {
    return this.#c.disconnect();
  }
}

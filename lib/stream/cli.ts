/**
 * `deno task stream`: the real-time half of the pipeline (market source -> Kafka -> warehouse).
 *
 *   deno task stream [run|producer|consumer|topics] [--source replay|tradingview] [--speed N|max]
 *     [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--batch-size N] [--alert-rules FILE|off]
 *   deno task stream redrive [--dry-run]
 *   deno task stream topics [--alter]
 *   deno run --allow-read --allow-write --allow-net --allow-env --allow-ffi --allow-sys \
 *     --allow-run lib/stream/cli.ts --help
 *
 * `run` (the default) starts the producer and the consumer as child processes and restarts
 * either when it crashes. `producer` and `consumer` run one side in this process. The consumer
 * also evaluates the alert rules on what it wrote. `redrive` writes dead letters of tickers listed
 * since into the warehouse, insert-only (redrive.ts). Every command reads and checks all the
 * settings it (and, for `run`, its children) will use first, so a bad one exits 2 before
 * anything starts; then, without KAFKA_BROKERS, it uses the local broker, starting it if it is
 * not running, and stops a broker it started when it ends (normally, with an error, or on
 * SIGINT/SIGTERM): see withKafka in setup.ts.
 */
import { parseArgs } from "node:util";
import {
  type Config,
  ConfigError,
  envVar,
  loadConfig,
  loadDotEnv,
  registerSecrets,
} from "../config/config.ts";
import { EXIT_USAGE, runJob } from "../runner/job.ts";
import { sleep } from "../market/sources/source.ts";
import { openWarehouse, type Warehouse, WarehouseBusyError } from "../warehouse/warehouse.ts";
import { watchStreamAlerts } from "./alerts.ts";
import { fetchBytesFor, runConsumer } from "./consumer.ts";
import { isUnreachable, KafkaClient } from "./kafka.ts";
import { jsonLogger, type Logger } from "./log.ts";
import { runProducer } from "./producer.ts";
import { formatRedrive, lockedError, redriveDeadLetters } from "./redrive.ts";
import {
  alterStreamTopics,
  describeDifference,
  ensureStreamTopics,
  marketSource,
  streamTopicDifferences,
  type TopicDifference,
  withKafka,
} from "./setup.ts";
import { statusWriter } from "./status.ts";
import { supervise } from "./supervisor.ts";

const HELP = `Usage: deno task stream [run|producer|consumer|topics|redrive] [options]

Streams EGX quotes from a market source through Kafka into the warehouse.

Commands:
  run        producer and consumer as child processes, each restarted when it crashes (default)
  producer   poll the market source and publish to the quotes topic (exits when a replay ends)
  consumer   write the quotes topic into the warehouse until stopped (Ctrl-C / SIGTERM), and
             evaluate the alert rules on what it wrote
  topics     create the topics if missing and print their partitions and retention; an existing
             topic that differs from EGX_TOPIC_PARTITIONS / EGX_TOPIC_RETENTION_HOURS is named,
             and changed with --alter (more partitions, retention; Kafka cannot remove partitions:
             exit 1)
  redrive    write the dead letters of tickers listed since (unknown ticker when consumed, keyed
             by their ticker, valid now) into the warehouse, only bars it has no row for, the
             latest dead letter per bar; prints what it wrote and what it left out, by kind

Options (each overrides the environment variable in brackets):
  --source replay|tradingview   market source [EGX_STREAM_SOURCE, default replay]
  --speed N|max                 replay speed, simulated/real time [EGX_REPLAY_SPEED, default 270:
                                a 4.5-hour session in a minute]
  --start YYYY-MM-DD            first trade date replayed [EGX_REPLAY_START]
  --end YYYY-MM-DD              last trade date replayed [EGX_REPLAY_END]
  --batch-size N                most records per warehouse transaction [EGX_CONSUMER_BATCH_SIZE, 100,
                                at most 100000]
  --alert-rules FILE|off        alert rules the consumer evaluates [EGX_STREAM_ALERT_RULES,
                                default alerts.yaml; alerts go to stdout and EGX_ALERT_WEBHOOK_URL]
  --dry-run                     redrive: count the same, write nothing
  --alter                       topics: apply EGX_TOPIC_PARTITIONS and EGX_TOPIC_RETENTION_HOURS
                                to the existing topics
  -h, --help                    this text

Kafka: KAFKA_BROKERS (unset: the local broker in KAFKA_LOCAL_DIR, default var/kafka/data, started
when not running and then stopped again when the command ends; one already running, e.g. from
deno task kafka start, is left running), EGX_TOPIC_QUOTES, EGX_TOPIC_DEAD_LETTER,
EGX_CONSUMER_GROUP. Warehouse: EGX_WAREHOUSE (default data/egx.duckdb).
Status files for health_check: EGX_STREAM_STATUS_DIR (default var/stream).`;

const FLAG_ENV: Record<string, string> = {
  source: "EGX_STREAM_SOURCE",
  speed: "EGX_REPLAY_SPEED",
  start: "EGX_REPLAY_START",
  end: "EGX_REPLAY_END",
  "batch-size": "EGX_CONSUMER_BATCH_SIZE",
  "alert-rules": "EGX_STREAM_ALERT_RULES",
};

/**
 * A bad value given as a flag is named as the flag (`--speed must be ...`), as the user typed it,
 * not as the variable it stands for; a bad variable keeps its name.
 */
function namingFlags(err: ConfigError, overrides: Record<string, string>): ConfigError {
  for (const [flag, name] of Object.entries(FLAG_ENV)) {
    if (name in overrides) err.message = err.message.replaceAll(name, `--${flag}`);
  }
  return err;
}

const CLI = new URL("./cli.ts", import.meta.url).pathname;

/** Longest wait between two attempts to reach Kafka at start, ms. */
const CONNECT_RETRY_MAX_MS = 30_000;

/**
 * A Kafka client for `brokers`, the stream's topics ensured. With `signal` (the long-running
 * commands), brokers that cannot be reached are waited for, with backoff, until the signal
 * aborts, each attempt logged as stream.kafka_unavailable: the producer, the consumer and `run`
 * exited 1 within seconds when Kafka was down at their start (the producer waits out an outage
 * once running, and a live source must be polling when the broker comes back).
 */
async function connect(
  config: Config,
  log: Logger,
  brokers: string[],
  signal?: AbortSignal,
): Promise<{ client: KafkaClient; created: string[] }> {
  const client = new KafkaClient(brokers, { clientId: config.kafka.clientId, logger: log });
  for (let attempt = 1, delay = 1_000;; attempt++) {
    try {
      return { client, created: await ensureStreamTopics(client, config.kafka) };
    } catch (e) {
      if (signal === undefined || signal.aborted || !isUnreachable(e)) throw e;
      log.warn("stream.kafka_unavailable", { brokers, attempt, error: e, retryInMs: delay });
      await sleep(delay, signal).catch(() => {});
      if (signal.aborted) throw e;
      delay = Math.min(delay * 2, CONNECT_RETRY_MAX_MS);
    }
  }
}

/**
 * Read every setting `command` uses (`run`: also its children's), so that a bad one is a
 * ConfigError (exit 2) before a broker or a child process starts.
 */
function checkSettings(config: Config, command: string): void {
  void config.kafka;
  if (command === "topics") return;
  if (command === "redrive") {
    void config.warehouse;
    return;
  }
  const stream = config.stream;
  if (command !== "consumer") marketSource(stream); // the producer's source: nothing opened yet
  if (command !== "producer") {
    void config.warehouse;
    if (stream.alertRules !== undefined) void config.alerts; // the webhook
  }
}

/**
 * `run`: open the DuckDB file once before anything starts (creating it when missing, as the
 * consumer would). A file that cannot be the warehouse (not a database, no permission, a missing
 * folder) is then exit 2 here, instead of a consumer child failing on it and being restarted
 * forever. A lock held by another writer is not waited for: the consumer waits for it.
 */
async function checkWarehouseFile(config: Config): Promise<void> {
  if (config.warehouse.kind !== "duckdb") return;
  const wh = await openWarehouse(config.warehouse, {
    migrate: false,
    lockTimeoutMs: 1_000,
    lingerMs: 0,
  });
  try {
    await wh.query("SELECT 1", [], { label: "stream run" });
  } catch (e) {
    if (!(e instanceof WarehouseBusyError)) throw e;
  } finally {
    await wh.close();
  }
}

async function producerMain(
  config: Config,
  brokers: string[],
  signal: AbortSignal,
): Promise<number> {
  const log = jsonLogger("producer");
  const source = marketSource(config.stream);
  const { client } = await connect(config, log, brokers, signal);
  const status = statusWriter(config.stream.statusDir, "producer");
  try {
    const counters = await runProducer(source, client.producer(), {
      topic: config.kafka.quotesTopic,
      logger: log,
      signal,
      onStatus: status.update,
    });
    return counters.dropped > 0 && !signal.aborted ? 1 : 0;
  } finally {
    status.stop();
  }
}

async function consumerMain(
  config: Config,
  brokers: string[],
  signal: AbortSignal,
): Promise<number> {
  const log = jsonLogger("consumer");
  const { client } = await connect(config, log, brokers, signal);
  // Once per `run` (its consumer child) or `consumer`: a setting changed after the topics exist.
  for (const d of await streamTopicDifferences(client, config.kafka)) {
    log.warn("stream.topic_differs", {
      ...d,
      message: describeDifference(d),
      hint: "the topic is left as it is: deno task stream topics --alter applies the settings",
    });
  }
  const warehouse = await openWarehouse(config.warehouse, { signal });
  const status = statusWriter(config.stream.statusDir, "consumer");
  // Alerts on what the consumer commits, in the background on the same warehouse handle.
  const stopAlerts = new AbortController();
  const alerts = watchStreamAlerts(warehouse, config, {
    logger: log,
    signal: AbortSignal.any([signal, stopAlerts.signal]),
  });
  try {
    const k = config.kafka;
    await runConsumer(
      client.consumer(k.groupId, {
        sessionTimeoutMs: k.sessionTimeoutMs,
        maxBytesPerPartition: fetchBytesFor(k.batchSize),
      }),
      client.producer(),
      warehouse,
      {
        topic: k.quotesTopic,
        deadLetterTopic: k.deadLetterTopic,
        group: k.groupId,
        batchSize: k.batchSize,
        logger: log,
        signal,
        onStatus: status.update,
        onCommit: alerts.committed,
      },
    );
    return 0;
  } finally {
    status.stop();
    stopAlerts.abort();
    await alerts.done;
    await warehouse.close();
  }
}

async function runMain(
  config: Config,
  brokers: string[],
  env: Record<string, string>,
  signal: AbortSignal,
): Promise<number> {
  const log = jsonLogger("stream");
  const { client, created } = await connect(config, log, brokers, signal);
  if (created.length > 0) log.info("stream.topics_created", { topics: created });
  const childEnv = { ...env, KAFKA_BROKERS: client.brokers.join(",") };
  const base = ["run", "--allow-read", "--allow-net", "--allow-env", "--allow-sys"];
  const reports = await supervise([
    {
      name: "producer",
      args: [...base, `--allow-write=${config.stream.statusDir}`, CLI, "producer"],
      env: childEnv,
    },
    {
      name: "consumer",
      args: [...base, "--allow-write", "--allow-ffi", CLI, "consumer"],
      env: childEnv,
    },
  ], { signal, logger: log });
  log.info("stream.stopped", { children: reports });
  return reports.some((r) => r.gaveUp) ? EXIT_USAGE : 0;
}

async function main(args: string[], signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      source: { type: "string" },
      speed: { type: "string" },
      start: { type: "string" },
      end: { type: "string" },
      "batch-size": { type: "string" },
      "alert-rules": { type: "string" },
      "dry-run": { type: "boolean" },
      alter: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  const command = positionals[0] ?? "run";
  const commands = ["run", "producer", "consumer", "topics", "redrive"];
  if (positionals.length > 1 || !commands.includes(command)) {
    console.error(`unknown command: ${positionals.join(" ")}\n\n${HELP}`);
    return EXIT_USAGE;
  }
  if (values["dry-run"] && command !== "redrive") {
    console.error(`--dry-run is an option of redrive only\n\n${HELP}`);
    return EXIT_USAGE;
  }
  if (values.alter && command !== "topics") {
    console.error(`--alter is an option of topics only\n\n${HELP}`);
    return EXIT_USAGE;
  }
  loadDotEnv();
  // Flags become the environment variables they stand for (and reach the child processes).
  const overrides: Record<string, string> = {};
  for (const [flag, name] of Object.entries(FLAG_ENV)) {
    const v = values[flag as keyof typeof values];
    if (typeof v === "string") overrides[name] = v;
  }
  registerSecrets(); // its logs may quote any of them (a library's error, a child's output)
  let config: Config;
  try {
    config = loadConfig((name) => overrides[name] ?? envVar(name));
    checkSettings(config, command);
  } catch (e) {
    throw e instanceof ConfigError ? namingFlags(e, overrides) : e;
  }
  if (command === "run") await checkWarehouseFile(config);
  if (command === "redrive") {
    // A missing DuckDB file is refused (exit 2) before a broker starts: nothing is created.
    const warehouse = await openWarehouse(config.warehouse, {
      signal,
      mustExist: true,
      lockTimeoutMs: REDRIVE_LOCK_TIMEOUT_MS,
    }).catch((e) => {
      throw e instanceof WarehouseBusyError && config.warehouse.kind === "duckdb"
        ? lockedError(e)
        : e;
    });
    try {
      return await withKafka(
        config.kafka,
        { logger: jsonLogger("stream"), signal },
        (brokers) =>
          redriveMain(config, brokers, warehouse, { dryRun: values["dry-run"] ?? false, signal }),
      );
    } finally {
      await warehouse.close();
    }
  }
  const component = command === "producer" || command === "consumer" ? command : "stream";
  return await withKafka(config.kafka, { logger: jsonLogger(component), signal }, (brokers) => {
    switch (command) {
      case "producer":
        return producerMain(config, brokers, signal);
      case "consumer":
        return consumerMain(config, brokers, signal);
      case "topics":
        return topicsMain(config, brokers, values.alter ?? false);
      default:
        return runMain(config, brokers, overrides, signal);
    }
  });
}

async function topicsMain(config: Config, brokers: string[], alter: boolean): Promise<number> {
  const { client, created } = await connect(config, jsonLogger("stream"), brokers);
  const diffs = await streamTopicDifferences(client, config.kafka);
  const left = alter ? await alterStreamTopics(client, diffs) : diffs;
  for (const t of [config.kafka.quotesTopic, config.kafka.deadLetterTopic]) {
    const d = await client.describeTopic(t);
    const hours = (d?.retentionMs ?? NaN) / 3_600_000;
    const changed = (x: TopicDifference) =>
      x.topic === t &&
      (x.retentionHours || (x.partitions && x.partitions.want > x.partitions.have));
    const note = created.includes(t)
      ? " (created)"
      : alter && diffs.some(changed)
      ? " (altered)"
      : "";
    console.log(`${t}: ${d?.partitions} partition(s), retention ${hours} h${note}`);
  }
  for (const d of left) {
    console.error(
      `differs from the settings: ${describeDifference(d)}` +
        (alter ? "" : " (--alter applies the settings)"),
    );
  }
  return alter && left.length > 0 ? 1 : 0;
}

/** How long redrive waits for a DuckDB file another process writes, ms. */
const REDRIVE_LOCK_TIMEOUT_MS = 30_000;

async function redriveMain(
  config: Config,
  brokers: string[],
  warehouse: Warehouse,
  opts: { dryRun: boolean; signal: AbortSignal },
): Promise<number> {
  const { client } = await connect(config, jsonLogger("stream"), brokers);
  const counts = await redriveDeadLetters(client, warehouse, {
    deadLetterTopic: config.kafka.deadLetterTopic,
    quotesTopic: config.kafka.quotesTopic,
    ...opts,
  });
  console.log(formatRedrive(counts, opts));
  return 0;
}

/** Abort when the parent process goes away (e.g. a supervisor killed with SIGKILL). */
function whileParentLives(signal: AbortSignal): AbortSignal {
  const parent = Deno.ppid;
  const controller = new AbortController();
  const timer = setInterval(() => {
    if (Deno.ppid !== parent) {
      controller.abort(new Error(`parent process ${parent} exited`));
      clearInterval(timer);
    }
  }, 1_000);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  return AbortSignal.any([signal, controller.signal]);
}

if (import.meta.main) {
  await runJob(
    { name: "stream", help: HELP },
    (args, signal) => main(args, whileParentLives(signal)),
  );
}

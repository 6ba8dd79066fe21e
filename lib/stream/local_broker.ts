/**
 * A real single-node Apache Kafka broker (KRaft, no ZooKeeper) for development, tests and CI,
 * assembled from Maven Central jars: no Docker, no download outside the package registry.
 *
 *   deno task kafka [install|start|stop|status|run]
 *   deno run --allow-read --allow-write=var/kafka --allow-run=mvn,java,sh,setsid \
 *     --allow-net=127.0.0.1 --allow-env lib/stream/local_broker.ts --help
 *
 * Layout (git-ignored, under var/kafka/ at the repository root):
 *   <version>/libs/*.jar, <version>/log4j.properties   installed once by `mvn` (atomic rename)
 *   data/                                              the development broker (`deno task kafka`;
 *                                                      KAFKA_LOCAL_DIR names another folder)
 * A broker's directory holds server.properties, log/ (Kafka's data), broker.log and broker.pid.
 *
 * The broker runs detached (its own session) under a small shell watchdog: given an owner pid,
 * the watchdog stops the broker when the owner dies, so a killed test run leaves nothing behind.
 * The same version is pinned in compose.yaml (`apache/kafka:<KAFKA_VERSION>`).
 */
import { parseArgs } from "node:util";
import { envVar, loadDotEnv } from "../config/config.ts";
import { KafkaClient } from "./kafka.ts";
import { jsonLogger, type Logger, silentLogger } from "./log.ts";

/** The broker version (kafkajs 2.2.4 is known to work with the 3.9 line). */
export const KAFKA_VERSION = "3.9.1";
const SCALA_VERSION = "2.13";
const SLF4J_RELOAD4J_VERSION = "1.7.36";

/** var/kafka at the repository root (independent of the working directory). */
const BROKER_ROOT = new URL("../../var/kafka/", import.meta.url).pathname;
/** The development broker's directory. */
export const DEV_BROKER_DIR = `${BROKER_ROOT}data`;
const DEV_BROKER_PORT = 9092;

export interface BrokerInstall {
  home: string;
  /** Classpath glob for java -cp. */
  classpath: string;
  log4j: string;
}

const POM = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.egx-pipeline</groupId>
  <artifactId>kafka-local-broker</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>${SLF4J_RELOAD4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
`;

// Kafka's own log goes to stdout, which the watchdog appends to broker.log.
const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.Kafka$=INFO
`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** What a machine without `java` or `mvn` needs, said instead of Deno's bare "entity not found". */
export const PREREQUISITES =
  "the local Kafka broker needs Java 17 (java) and Maven (mvn) on PATH " +
  "(Debian: apt-get install openjdk-17-jre-headless maven), or set KAFKA_BROKERS to a running " +
  "broker";

async function run(cmd: string, args: string[], what: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new Error(`${what}: ${cmd} was not found: ${PREREQUISITES}`);
  }
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${what} failed (exit ${out.code}): ${text.trim().split("\n").slice(-15)}`);
  }
  return text;
}

/**
 * Install the broker jars into `<root>/<version>/` unless already there (first use takes a few
 * seconds with a warm Maven cache, longer on a fresh machine). Safe to run concurrently.
 */
async function installBroker(
  opts: { root?: string; logger?: Logger } = {},
): Promise<BrokerInstall> {
  const root = opts.root ?? BROKER_ROOT;
  const home = `${root.replace(/\/$/, "")}/${KAFKA_VERSION}`;
  const result = { home, classpath: `${home}/libs/*`, log4j: `${home}/log4j.properties` };
  if (await exists(`${home}/READY`)) return result;
  await Deno.mkdir(root, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: root, prefix: `.install-${KAFKA_VERSION}-` });
  try {
    opts.logger?.info("broker.install", { version: KAFKA_VERSION, into: home });
    await Deno.writeTextFile(`${tmp}/pom.xml`, POM);
    await run("mvn", [
      "-q",
      "-B",
      "-f",
      `${tmp}/pom.xml`,
      "dependency:copy-dependencies",
      "-DincludeScope=runtime",
      `-DoutputDirectory=${tmp}/libs`,
    ], `mvn dependency:copy-dependencies for kafka_${SCALA_VERSION}:${KAFKA_VERSION}`);
    if (!(await exists(`${tmp}/libs/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar`))) {
      throw new Error(`mvn finished but kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar is missing`);
    }
    await Deno.writeTextFile(`${tmp}/log4j.properties`, LOG4J);
    await Deno.writeTextFile(`${tmp}/READY`, `${new Date().toISOString()}\n`);
    try {
      await Deno.rename(tmp, home);
    } catch (e) {
      // Another process finished first: use its copy.
      if (!(await exists(`${home}/READY`))) throw e;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return result;
}

/** A new KRaft cluster id: a random UUID in URL-safe base64 (Kafka's Uuid format). */
function clusterId(): string {
  while (true) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replace(/=+$/, "").replaceAll("+", "-")
      .replaceAll("/", "_");
    if (!id.startsWith("-")) return id;
  }
}

/** A port nobody listens on right now (the kernel's choice). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

function pidAlive(pid: number): boolean {
  // Signal-probe the process (SIGCONT is harmless to a running one). The broker is the
  // watchdog's child, never ours, so it cannot linger as our zombie. Reading /proc instead
  // would need --allow-all in Deno 2; this needs --allow-run.
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

export interface BrokerOptions {
  /** The broker's directory (created if needed). */
  dir: string;
  /** Client port; default: reuse the one in dir/server.properties, else a free one. */
  port?: number;
  controllerPort?: number;
  heapMb?: number;
  /** Stop the broker when this process dies (the watchdog polls it every second). */
  ownerPid?: number;
  /** Delete `dir` once the broker has exited (for throwaway test brokers). */
  removeDirOnExit?: boolean;
  /** How long to wait for the first metadata response. */
  readyTimeoutMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface RunningBroker {
  /** Bootstrap list for clients, e.g. ["127.0.0.1:40123"]. */
  brokers: string[];
  port: number;
  controllerPort: number;
  pid: number;
  dir: string;
  logFile: string;
  /** SIGTERM (controlled shutdown), then SIGKILL after `timeoutMs`; resolves when it is gone. */
  stop(opts?: { timeoutMs?: number }): Promise<void>;
  /** SIGKILL, no shutdown. */
  kill(): Promise<void>;
}

function serverProperties(dir: string, port: number, controllerPort: number): string {
  return [
    "# written by lib/stream/local_broker.ts",
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    `log.dirs=${dir}/log`,
    "num.partitions=1",
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=4",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "group.initial.rebalance.delay.ms=0",
    "auto.create.topics.enable=false",
    "",
  ].join("\n");
}

function readPorts(text: string): { port: number; controllerPort: number } | undefined {
  const m = /^listeners=PLAINTEXT:\/\/[^:]+:(\d+),CONTROLLER:\/\/[^:]+:(\d+)$/m.exec(text);
  return m ? { port: Number(m[1]), controllerPort: Number(m[2]) } : undefined;
}

async function tail(path: string, lines = 20): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until a broker answers a metadata request (not a fixed sleep). `alive` lets the caller
 * fail fast when the broker process has died.
 */
async function waitForBroker(
  brokers: string[],
  opts: { timeoutMs?: number; alive?: () => boolean; signal?: AbortSignal } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  let last: unknown;
  while (Date.now() < deadline) {
    opts.signal?.throwIfAborted();
    if (opts.alive && !opts.alive()) throw new Error("the broker process exited during startup");
    try {
      const client = new KafkaClient(brokers, { clientId: "readiness-probe", retries: 0 });
      const info = await client.probe();
      if (info.brokers > 0) return;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`no metadata response from ${brokers.join(",")} in time`, { cause: last });
}

async function readPid(dir: string): Promise<number | undefined> {
  try {
    const pid = Number((await Deno.readTextFile(`${dir}/broker.pid`)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function handle(
  dir: string,
  pid: number,
  port: number,
  controllerPort: number,
): RunningBroker {
  const waitGone = async (timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (pidAlive(pid) && Date.now() < deadline) await sleep(100);
    return !pidAlive(pid);
  };
  const cleanup = () => Deno.remove(`${dir}/broker.pid`).catch(() => {});
  return {
    brokers: [`127.0.0.1:${port}`],
    port,
    controllerPort,
    pid,
    dir,
    logFile: `${dir}/broker.log`,
    async stop(opts = {}) {
      if (pidAlive(pid)) {
        Deno.kill(pid, "SIGTERM");
        if (!(await waitGone(opts.timeoutMs ?? 30_000))) {
          Deno.kill(pid, "SIGKILL");
          await waitGone(10_000);
        }
      }
      await cleanup();
    },
    async kill() {
      if (pidAlive(pid)) {
        Deno.kill(pid, "SIGKILL");
        await waitGone(10_000);
      }
      await cleanup();
    },
  };
}

/** True when something accepts connections on 127.0.0.1:`port` (needs only --allow-net). */
async function listening(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused) return false;
    throw e;
  }
}

/**
 * The broker already running in `dir`: its pid file names a live process, or, in a process that
 * may not signal others (no --allow-run, e.g. `deno task serve`; Deno 2 also refuses /proc
 * without --allow-all), something accepts connections on the broker's client port. The handle's
 * stop() and kill() still need --allow-run.
 */
export async function runningBroker(dir: string): Promise<RunningBroker | undefined> {
  const pid = await readPid(dir);
  if (pid === undefined) return undefined;
  let props: string;
  try {
    props = await Deno.readTextFile(`${dir}/server.properties`);
  } catch {
    return undefined;
  }
  const ports = readPorts(props);
  if (!ports) return undefined;
  const maySignal = (await Deno.permissions.query({ name: "run" })).state === "granted";
  if (!(maySignal ? pidAlive(pid) : await listening(ports.port))) return undefined;
  return handle(dir, pid, ports.port, ports.controllerPort);
}

/**
 * The address the development broker listens on (from its server.properties), without checking
 * that it runs: for callers that may not signal processes (jobs get no --allow-run) and will
 * find out by connecting.
 */
export async function devBrokerAddress(dir = DEV_BROKER_DIR): Promise<string[]> {
  try {
    const ports = readPorts(await Deno.readTextFile(`${dir}/server.properties`));
    return ports ? [`127.0.0.1:${ports.port}`] : [];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

// The watchdog: start the broker in the background, record its pid, and stop it when the owner
// dies (OWNER=0: no owner). Runs in its own session (setsid) so terminal signals do not reach it.
const WATCHDOG = `
"$@" >>"$LOG" 2>&1 &
J=$!
echo "$J" >"$PIDFILE"
if [ "$OWNER" != 0 ]; then
  while kill -0 "$J" 2>/dev/null; do
    if ! kill -0 "$OWNER" 2>/dev/null; then kill "$J" 2>/dev/null; break; fi
    sleep 1
  done
fi
wait "$J"
if [ "$REMOVE_DIR" = 1 ]; then rm -rf "$DIR"; fi
`;

/**
 * Start a broker in `opts.dir` (formatting its storage on first use) and wait until it answers.
 * A directory that already holds a broker keeps its ports, so a restart keeps its address.
 */
export async function startBroker(opts: BrokerOptions): Promise<RunningBroker> {
  const logger = opts.logger ?? silentLogger;
  const install = await installBroker({ logger });
  const dir = opts.dir.replace(/\/$/, "");
  await Deno.mkdir(dir, { recursive: true });
  const propsFile = `${dir}/server.properties`;
  const previous = (await exists(propsFile))
    ? readPorts(await Deno.readTextFile(propsFile))
    : undefined;
  const port = opts.port ?? previous?.port ?? freePort();
  let controllerPort = opts.controllerPort ?? previous?.controllerPort ?? freePort();
  while (controllerPort === port) controllerPort = freePort();
  // A broker's ports are its address, kept from its first start: one taken meanwhile (another
  // broker, another program) is said here, not in the broker's stack trace once Java has started.
  for (const p of [port, controllerPort]) {
    if (!portIsFree(p)) {
      throw new Error(
        `port ${p} of the broker in ${dir}` +
          (previous ? " (kept in its server.properties since its first start)" : "") +
          " is taken by another process: stop that process, or give the broker another folder " +
          "(KAFKA_LOCAL_DIR; free ports are chosen for a new one)",
      );
    }
  }
  await Deno.writeTextFile(propsFile, serverProperties(dir, port, controllerPort));

  const java = (cls: string, ...args: string[]) => [
    "java",
    `-Xms${opts.heapMb ?? 512}m`,
    `-Xmx${opts.heapMb ?? 512}m`,
    "-XX:+UseG1GC",
    "-Djava.awt.headless=true",
    `-Dlog4j.configuration=file:${install.log4j}`,
    "-cp",
    install.classpath,
    cls,
    ...args,
  ];
  if (!(await exists(`${dir}/log/meta.properties`))) {
    const id = clusterId();
    const fmt = java("kafka.tools.StorageTool", "format", "-t", id, "-c", propsFile);
    await run(fmt[0], fmt.slice(1), "kafka-storage format");
  }

  // Stopped while installing or formatting: start nothing.
  opts.signal?.throwIfAborted();
  await Deno.remove(`${dir}/broker.pid`).catch(() => {});
  const cmd = java("kafka.Kafka", propsFile);
  const spawned = await new Deno.Command("setsid", {
    args: ["sh", "-c", `sh -c '${WATCHDOG.replaceAll("'", "'\\''")}' sh "$@" &`, "sh", ...cmd],
    env: {
      LOG: `${dir}/broker.log`,
      PIDFILE: `${dir}/broker.pid`,
      OWNER: String(opts.ownerPid ?? 0),
      DIR: dir,
      REMOVE_DIR: opts.removeDirOnExit ? "1" : "0",
    },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  if (!spawned.success) throw new Error(`could not launch the broker (exit ${spawned.code})`);

  let pid: number | undefined;
  for (let i = 0; i < 100 && pid === undefined; i++) {
    pid = await readPid(dir);
    if (pid === undefined) await sleep(50);
  }
  if (pid === undefined) {
    throw new Error(`the broker did not start: ${await tail(`${dir}/broker.log`)}`);
  }
  const broker = handle(dir, pid, port, controllerPort);
  logger.info("broker.starting", { pid, brokers: broker.brokers, dir });
  try {
    await waitForBroker(broker.brokers, {
      timeoutMs: opts.readyTimeoutMs,
      alive: () => pidAlive(pid),
      signal: opts.signal,
    });
  } catch (e) {
    await broker.kill();
    throw new Error(
      `Kafka broker in ${dir} did not become ready: ${(e as Error).message}\n` +
        (await tail(`${dir}/broker.log`)),
      { cause: e },
    );
  }
  logger.info("broker.ready", { pid, brokers: broker.brokers });
  return broker;
}

/**
 * The development broker (`dir`, default var/kafka/data; KAFKA_LOCAL_DIR): reuse it if running,
 * else start it. With `ownerPid` a broker started here stops when that process dies; `started`
 * says whether we started it (then the caller stops it, see withKafka in setup.ts). A new
 * var/kafka/data listens on 9092 when that port is free; another folder on free ports. Either
 * keeps its ports.
 */
export async function ensureDevBroker(
  opts: { dir?: string; ownerPid?: number; logger?: Logger; signal?: AbortSignal } = {},
): Promise<{ broker: RunningBroker; started: boolean }> {
  const dir = opts.dir ?? DEV_BROKER_DIR;
  const current = await runningBroker(dir);
  if (current) {
    await waitForBroker(current.brokers, { timeoutMs: 60_000, signal: opts.signal });
    return { broker: current, started: false };
  }
  const fresh = dir === DEV_BROKER_DIR && !(await exists(`${dir}/server.properties`));
  const broker = await startBroker({
    dir,
    port: fresh && portIsFree(DEV_BROKER_PORT) ? DEV_BROKER_PORT : undefined,
    ownerPid: opts.ownerPid,
    logger: opts.logger,
    signal: opts.signal,
  });
  return { broker, started: true };
}

const HELP = `Usage: deno task kafka [install|start|stop|status|run]

A local single-node Kafka ${KAFKA_VERSION} broker (KRaft) from Maven Central jars, in var/kafka/.
Used by the streaming commands whenever KAFKA_BROKERS is not set.

  install   download the jars (mvn dependency:copy-dependencies) into var/kafka/${KAFKA_VERSION}
  start     start the development broker in the background and wait until it answers (default)
  stop      stop it (controlled shutdown)
  status    print its address and pid, exit 1 if it is not running
  run       start it in the foreground; Ctrl-C stops it

Data: var/kafka/data (delete the folder to start from an empty broker), or KAFKA_LOCAL_DIR (also
read from .env; this task may write only under var/kafka: run lib/stream/local_broker.ts with
--allow-write=<folder>,var/kafka for a folder elsewhere).`;

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
  } catch (e) {
    // Bad usage exits 2, as an unknown command does (and every other CLI here).
    console.error(`kafka: ${(e as Error).message.split(". To specify")[0]}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const command = positionals[0] ?? "start";
  const logger = jsonLogger("kafka");
  loadDotEnv();
  const dir = envVar("KAFKA_LOCAL_DIR") ?? DEV_BROKER_DIR;
  if (
    (command === "start" || command === "run") &&
    Deno.permissions.querySync({ name: "write", path: dir }).state !== "granted"
  ) {
    // `deno task kafka` may write only under var/kafka: say so, and how, rather than Deno's
    // bare "Requires write access".
    console.error(
      `kafka: KAFKA_LOCAL_DIR=${dir} is outside var/kafka, the only folder deno task kafka ` +
        `may write; for a broker there run: deno run --allow-read ` +
        `--allow-write=${dir},var/kafka --allow-net=127.0.0.1 --allow-env --allow-run ` +
        `lib/stream/local_broker.ts ${command}`,
    );
    return 2;
  }
  switch (command) {
    case "install": {
      const i = await installBroker({ logger });
      console.log(`Kafka ${KAFKA_VERSION} jars in ${i.home}/libs`);
      return 0;
    }
    case "start": {
      const { broker, started } = await ensureDevBroker({ dir, logger });
      console.log(
        `${started ? "started" : "already running"}: KAFKA_BROKERS=${broker.brokers.join(",")} ` +
          `(pid ${broker.pid}, log ${broker.logFile})`,
      );
      return 0;
    }
    case "stop": {
      const b = await runningBroker(dir);
      if (!b) {
        console.log("not running");
        return 0;
      }
      await b.stop();
      console.log(`stopped (pid ${b.pid})`);
      return 0;
    }
    case "status": {
      const b = await runningBroker(dir);
      if (!b) {
        console.log("not running");
        return 1;
      }
      await waitForBroker(b.brokers, { timeoutMs: 5_000 });
      console.log(`running: KAFKA_BROKERS=${b.brokers.join(",")} (pid ${b.pid})`);
      return 0;
    }
    case "run": {
      const { broker } = await ensureDevBroker({ dir, ownerPid: Deno.pid, logger });
      console.log(`running: KAFKA_BROKERS=${broker.brokers.join(",")}; Ctrl-C stops it`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        Deno.addSignalListener("SIGINT", stop);
        Deno.addSignalListener("SIGTERM", stop);
      });
      await broker.stop();
      return 0;
    }
    default:
      console.error(`unknown command ${command}\n\n${HELP}`);
      return 2;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`kafka: ${(e as Error).message}`);
    Deno.exit(1);
  }
}

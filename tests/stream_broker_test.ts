/**
 * `deno task stream` and the local broker it starts when KAFKA_BROKERS is unset, as real
 * processes: the CLI with the task's permissions and a real broker in a folder of this file's
 * own (KAFKA_LOCAL_DIR, formatted once; var/kafka/data is never touched). A command that started
 * the broker stops it before it exits: normally, with an error, on SIGINT, on SIGTERM (`run` and
 * its children too); a broker that was already running is left running; a bad setting exits 2
 * before any broker starts. Whatever happens, every process naming the folder is killed and the
 * folder removed at the end.
 */
import assert from "node:assert/strict";
import { type RunningBroker, startBroker } from "../lib/stream/local_broker.ts";
import { kafkaTest, spawnStream, type StreamProcess, tail, waitFor } from "./support/kafka.ts";
import { processEnded, taskFlags } from "./support/processes.ts";

const FIXTURE = new URL("./testdata/stream/bars_1m", import.meta.url).pathname;
const REPO = new URL("../", import.meta.url).pathname;
const KAFKA_CLI = "lib/stream/local_broker.ts";

/** The broker folder of every test here (its ports are kept from one start to the next). */
const BROKER_DIR = Deno.makeTempDirSync({ prefix: "egx-kafka-cli-" });

/** Live processes whose command line names `dir`'s broker: the broker (java) and its watchdog. */
function brokerProcesses(dir = BROKER_DIR): number[] {
  const needle = `${dir}/server.properties`;
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (cmdline.includes(needle) && !processEnded(pid)) pids.push(pid);
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

/** Kill whatever a failed test may have left running on a broker folder of ours. */
function killLeftovers(dir = BROKER_DIR) {
  for (const pid of brokerProcesses(dir)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  try {
    Deno.removeSync(`${dir}/broker.pid`);
  } catch { /* none */ }
}

globalThis.addEventListener("unload", () => {
  killLeftovers();
  try {
    Deno.removeSync(BROKER_DIR, { recursive: true });
  } catch (e) {
    console.error(`could not remove ${BROKER_DIR}: ${e}`);
  }
});

/** True when something accepts connections on 127.0.0.1:`port`. */
async function accepts(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

interface Event {
  event: string;
  pid?: number;
  [k: string]: unknown;
}

async function events(log: string): Promise<Event[]> {
  const text = await Deno.readTextFile(log).catch(() => "");
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/** A stream command's environment: no KAFKA_BROKERS, the broker in BROKER_DIR, files in `dir`. */
function env(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KAFKA_BROKERS: "", // empty is unset (and .env does not fill it in)
    KAFKA_LOCAL_DIR: BROKER_DIR,
    EGX_WAREHOUSE: `${dir}/egx.duckdb`,
    EGX_STREAM_STATUS_DIR: `${dir}/status`,
    EGX_STREAM_ALERT_RULES: "off",
    EGX_REPLAY_DIR: FIXTURE,
    EGX_CONSUMER_SESSION_TIMEOUT_MS: "6000",
    ...extra,
  };
}

/**
 * Run `fn` in a temporary folder with the stream processes it spawns; afterwards (also on
 * failure) those still running are killed and the folder goes. (A broker they leave behind is
 * killed when the next test starts, or at the end.)
 */
async function withRun(fn: (dir: string, spawn: typeof spawnStream) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "egx-stream-cli-" });
  const spawned: StreamProcess[] = [];
  try {
    await fn(dir, (args, e, log) => {
      const p = spawnStream(args, e, log);
      spawned.push(p);
      return p;
    });
  } finally {
    for (const { child, output } of spawned) {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await output;
    }
    await Deno.remove(dir, { recursive: true });
  }
}

/** Where the broker of the folder listens (its server.properties). */
/** `deno task kafka <args>` as the task starts it (its exact flags), output captured. */
function kafkaTask(args: string[], env: Record<string, string>): Promise<Deno.CommandOutput> {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...taskFlags("kafka", KAFKA_CLI), KAFKA_CLI, ...args],
    cwd: REPO,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
}

async function brokerPort(): Promise<number> {
  const props = await Deno.readTextFile(`${BROKER_DIR}/server.properties`);
  return Number(/^listeners=PLAINTEXT:\/\/[^:]+:(\d+),/m.exec(props)![1]);
}

/**
 * The command `log` belongs to started the broker and stopped it before exiting: the broker's pid
 * is gone, its port closed, its pid file removed, and its watchdog ends within a few seconds.
 */
async function assertStartedAndStopped(log: string) {
  const e = await events(log);
  const starting = e.find((x) => x.event === "broker.starting");
  assert.ok(starting?.pid, `the command started a broker\n${await tail(log)}`);
  assert.ok(processEnded(starting.pid), `broker pid ${starting.pid} outlived the command`);
  assert.equal(await accepts(await brokerPort()), false, "the broker's port is still open");
  assert.equal(await exists(`${BROKER_DIR}/broker.pid`), false, "broker.pid left behind");
  assert.ok(e.some((x) => x.event === "broker.local_started"), await tail(log));
  assert.ok(e.some((x) => x.event === "broker.local_stopped" && x.pid === starting.pid));
  await waitFor(
    "the broker's watchdog to end",
    () => Promise.resolve(!brokerProcesses().length),
    5_000,
  );
}

/** Wait until every event of `names` is in `log` (the command is up and working). */
function waitForEvents(log: string, names: string[], timeoutMs = 90_000) {
  return waitFor(names.join(" and "), async () => {
    const seen = new Set((await events(log)).map((x) => x.event));
    return names.every((n) => seen.has(n));
  }, timeoutMs);
}

kafkaTest("stream topics starts the local broker and stops it before it exits", async () => {
  killLeftovers();
  await withRun(async (dir, spawn) => {
    const log = `${dir}/topics.log`;
    const { child, output } = spawn(["topics"], env(dir), log);
    assert.equal((await child.status).code, 0, await tail(log));
    await output;
    assert.match(await Deno.readTextFile(`${log}.out`), /^egx\.quotes\.v1: 3 partition\(s\)/);
    await assertStartedAndStopped(log);
  });
});

kafkaTest("a stream command that fails after starting the broker stops it too", async () => {
  killLeftovers();
  await withRun(async (dir, spawn) => {
    const log = `${dir}/consumer.log`;
    // The warehouse "file" is a folder: the consumer fails once connected to Kafka (a setting
    // to fix: exit 2).
    const { child, output } = spawn(["consumer"], env(dir, { EGX_WAREHOUSE: dir }), log);
    assert.equal((await child.status).code, 2, await tail(log));
    await output;
    assert.match(
      await tail(log),
      /stream: ConfigError: DuckDB warehouse file \S+ \(EGX_WAREHOUSE\) is a folder, not a DuckDB database/,
    );
    await assertStartedAndStopped(log);
  });
});

kafkaTest("SIGINT to a producer that started the broker stops both", async () => {
  killLeftovers();
  await withRun(async (dir, spawn) => {
    const log = `${dir}/producer.log`;
    // At real speed the replay mostly waits for its next poll: SIGINT comes mid-wait.
    const { child, output } = spawn(["producer", "--speed", "1"], env(dir), log);
    await waitForEvents(log, ["broker.local_started", "producer.connected"]);
    child.kill("SIGINT");
    assert.equal((await child.status).code, 0, await tail(log));
    await output;
    assert.ok((await events(log)).some((x) => x.event === "producer.stopped"));
    await assertStartedAndStopped(log);
  });
});

kafkaTest("SIGTERM to stream run stops its producer and consumer, then the broker", async () => {
  killLeftovers();
  await withRun(async (dir, spawn) => {
    const log = `${dir}/run.log`;
    const { child, output } = spawn(["run", "--speed", "max"], env(dir), log);
    await waitForEvents(log, ["producer.connected", "consumer.resumed_from_warehouse"]);
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0, await tail(log));
    await output;
    const e = await events(log);
    const children = e.filter((x) => x.event === "supervisor.started").map((x) => x.pid!);
    assert.equal(children.length, 2, await tail(log));
    for (const pid of children) assert.ok(processEnded(pid), `child ${pid} outlived stream run`);
    await assertStartedAndStopped(log);
    // The children stopped before the broker did.
    const stopped = e.findIndex((x) => x.event === "stream.stopped");
    assert.ok(stopped >= 0 && stopped < e.findIndex((x) => x.event === "broker.local_stopping"));
  });
});

kafkaTest("a broker that was already running is used and left running", async () => {
  killLeftovers();
  // Started as `deno task kafka start` does, by someone else than the stream commands (owned by
  // this test process, so a killed test run leaves nothing behind).
  const broker: RunningBroker = await startBroker({ dir: BROKER_DIR, ownerPid: Deno.pid });
  try {
    await withRun(async (dir, spawn) => {
      // deno task kafka finds the same broker through KAFKA_LOCAL_DIR, and it answers.
      const status = kafkaTask(["status"], env(dir));
      for (
        const [name, args, extra, code] of [
          ["topics", ["topics"], {}, 0],
          ["failing consumer", ["consumer"], { EGX_WAREHOUSE: dir }, 2],
        ] as const
      ) {
        const log = `${dir}/${name}.log`;
        const { child, output } = spawn([...args], env(dir, extra), log);
        assert.equal((await child.status).code, code, `${name}: ${await tail(log)}`);
        await output;
        const e = (await events(log)).map((x) => x.event);
        assert.ok(e.includes("broker.local_reused"), `${name}: ${await tail(log)}`);
        assert.ok(!e.includes("broker.starting") && !e.includes("broker.local_stopping"), name);
        assert.ok(!processEnded(broker.pid), `${name} stopped a broker it had not started`);
        assert.ok(await accepts(broker.port), `${name}: the broker stopped listening`);
      }
      const out = await status;
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
      const running = `running: KAFKA_BROKERS=127.0.0.1:${broker.port} (pid ${broker.pid})`;
      assert.equal(text.trim(), running);
    });
  } finally {
    await broker.stop();
  }
  await waitFor(
    "the broker's watchdog to end",
    () => Promise.resolve(!brokerProcesses().length),
    5_000,
  );
});

kafkaTest(
  "redrive refuses a missing DuckDB file and --dry-run on another command, exit 2, before anything starts",
  async () => {
    killLeftovers();
    await withRun(async (dir, spawn) => {
      const unused = `${dir}/never-created`;
      const e = { ...env(dir), KAFKA_LOCAL_DIR: unused };
      const missing = spawn(["redrive"], e, `${dir}/redrive.log`);
      assert.equal((await missing.child.status).code, 2, await tail(`${dir}/redrive.log`));
      await missing.output;
      // Refused before a broker starts, and nothing created (no file, no .wal).
      assert.equal(
        (await Deno.readTextFile(`${dir}/redrive.log`)).replace(/ \(at [^)]*\)\n$/, ""),
        `stream: WarehouseMissingError: DuckDB warehouse file ${dir}/egx.duckdb (EGX_WAREHOUSE, ` +
          'default data/egx.duckdb) does not exist: run "deno task run full_pipeline" first to ' +
          "create it, or fix EGX_WAREHOUSE",
      );
      assert.deepEqual([...Deno.readDirSync(dir)].map((f) => f.name).sort(), [
        "redrive.log",
        "redrive.log.out",
      ]);
      for (const command of ["run", "consumer"]) {
        const log = `${dir}/${command}.log`;
        const { child, output } = spawn([command, "--dry-run"], e, log);
        assert.equal((await child.status).code, 2, await tail(log));
        await output;
        const lines = (await Deno.readTextFile(log)).split("\n");
        assert.equal(lines[0], "--dry-run is an option of redrive only");
        assert.equal(
          lines[2],
          "Usage: deno task stream [run|producer|consumer|topics|redrive] [options]",
        );
      }
      assert.equal(await exists(unused), false, "a broker folder was created");
    });
  },
);

kafkaTest("a bad setting exits 2 before any broker or child process starts", async () => {
  killLeftovers();
  await withRun(async (dir, spawn) => {
    const unused = `${dir}/never-created`;
    const noSnowflake = {
      EGX_WAREHOUSE: "snowflake",
      SNOWFLAKE_ACCOUNT: "",
      SNOWFLAKE_USER: "",
      SNOWFLAKE_PASSWORD: "",
      SNOWFLAKE_PRIVATE_KEY_PATH: "",
    };
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["topics"], { EGX_TOPIC_PARTITIONS: "0" }, /EGX_TOPIC_PARTITIONS must be an integer/],
      [["topics"], { EGX_TOPIC_QUOTES: "egx/quotes" }, /EGX_TOPIC_QUOTES must be a Kafka topic/],
      // Past the broker's group.max.session.timeout.ms every join crashed the consumer.
      [
        ["consumer"],
        { EGX_CONSUMER_SESSION_TIMEOUT_MS: "1800001" },
        /EGX_CONSUMER_SESSION_TIMEOUT_MS must be an integer between 6000 and 1800000/,
      ],
      [
        ["topics"],
        { EGX_TOPIC_RETENTION_HOURS: "10000000000000" },
        /EGX_TOPIC_RETENTION_HOURS must be an integer between 1 and 876000/,
      ],
      // Its fetch size (2,048 bytes a record) overflowed the fetch request's 32-bit field: every
      // fetch crashed the consumer, and run restarted it to crash again.
      [
        ["consumer", "--batch-size", "1048576"],
        {},
        /--batch-size must be an integer between 1 and 100000, got "1048576"/,
      ],
      // A bad flag is named as the flag, not as the variable it stands for.
      [["producer", "--speed", "fast"], {}, /--speed must be a number > 0 or "max", got fast/],
      [
        ["run", "--start", "2025-12-08", "--end", "2025-12-01"],
        {},
        /--start \(2025-12-08\) must not be after --end \(2025-12-01\)/,
      ],
      [
        ["run", "--start", "2025-12-08"],
        { EGX_REPLAY_END: "2025-12-01" },
        /--start \(2025-12-08\) must not be after EGX_REPLAY_END \(2025-12-01\)/,
      ],
      [
        ["run"],
        { EGX_TOPIC_QUOTES: "q.v1", EGX_TOPIC_DEAD_LETTER: "q.v1" },
        /EGX_TOPIC_DEAD_LETTER must differ from EGX_TOPIC_QUOTES, both are q\.v1/,
      ],
      [["producer"], { EGX_REPLAY_SPEED: "fast" }, /EGX_REPLAY_SPEED must be a number/],
      [["consumer"], noSnowflake, /EGX_WAREHOUSE=snowflake needs SNOWFLAKE_ACCOUNT/],
      // run checks its children's settings too (they used to fail, and restart, one by one).
      [["run"], noSnowflake, /EGX_WAREHOUSE=snowflake needs SNOWFLAKE_ACCOUNT/],
      [["run"], { EGX_STREAM_SOURCE: "bloomberg" }, /EGX_STREAM_SOURCE must be replay/],
      [["redrive"], noSnowflake, /EGX_WAREHOUSE=snowflake needs SNOWFLAKE_ACCOUNT/],
    ];
    try {
      await Promise.all(cases.map(async ([args, extra, message], i) => {
        const log = `${dir}/${i}.log`;
        const e = { ...env(dir, extra), KAFKA_LOCAL_DIR: unused };
        const { child, output } = spawn(args, e, log);
        const { code } = await child.status;
        await output;
        const text = await Deno.readTextFile(log);
        assert.equal(code, 2, `${args}: ${text}`);
        assert.match(text, /^stream: ConfigError: /m);
        assert.match(text, message);
        assert.doesNotMatch(text, /"event":"(broker|supervisor)\./, `${args} started something`);
      }));
      assert.equal(await exists(unused), false, "a broker folder was created");
      assert.deepEqual(brokerProcesses(unused), []);
    } finally {
      killLeftovers(unused);
    }
  });
});

kafkaTest(
  "deno task kafka start/run with KAFKA_LOCAL_DIR outside var/kafka exits 2 and says how",
  async () => {
    killLeftovers();
    // The task may write only under var/kafka; BROKER_DIR is a temporary folder elsewhere.
    for (const command of ["start", "run"]) {
      const out = await kafkaTask([command], { KAFKA_BROKERS: "", KAFKA_LOCAL_DIR: BROKER_DIR });
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 2, stderr);
      assert.equal(
        stderr.trim(),
        `kafka: KAFKA_LOCAL_DIR=${BROKER_DIR} is outside var/kafka, the only folder deno task kafka ` +
          `may write; for a broker there run: deno run --allow-read ` +
          `--allow-write=${BROKER_DIR},var/kafka --allow-net=127.0.0.1 --allow-env --allow-run ` +
          `lib/stream/local_broker.ts ${command}`,
      );
      assert.deepEqual(brokerProcesses(), [], `${command} started a broker`);
    }
  },
);

kafkaTest("without java or mvn on PATH, starting the broker says what to install", async () => {
  // Deno's own error named neither the broker nor what to install: "Failed to spawn 'java':
  // entity not found". mvn is needed only while var/kafka holds no jars yet, java always.
  const dir = await Deno.makeTempDir({ prefix: "egx-kafka-nojava-" });
  const emptyPath = await Deno.makeTempDir({ prefix: "egx-empty-path-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        `--allow-write=${dir},var/kafka`,
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-run",
        KAFKA_CLI,
        "start",
      ],
      cwd: REPO,
      env: { PATH: emptyPath, KAFKA_BROKERS: "", KAFKA_LOCAL_DIR: dir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(
      stderr,
      /^kafka: (kafka-storage format: java|mvn dependency:copy-dependencies .*: mvn) was not found: the local Kafka broker needs Java 17 \(java\) and Maven \(mvn\) on PATH \(Debian: apt-get install openjdk-17-jre-headless maven\), or set KAFKA_BROKERS to a running broker$/m,
    );
    assert.deepEqual(brokerProcesses(dir), []);
  } finally {
    killLeftovers(dir);
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(emptyPath, { recursive: true });
  }
});

kafkaTest("deno task kafka with an unknown option or command exits 2 with its usage", async () => {
  for (
    const [args, first] of [
      [["--bogus"], "kafka: Unknown option '--bogus'"],
      [["bogus"], "unknown command bogus"],
    ]
  ) {
    const out = await kafkaTask([...args], { KAFKA_BROKERS: "", KAFKA_LOCAL_DIR: BROKER_DIR });
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    const lines = stderr.split("\n");
    assert.equal(lines[0], first);
    assert.equal(lines[2], "Usage: deno task kafka [install|start|stop|status|run]");
  }
});

kafkaTest("a broker folder whose kept port is taken says so before Java starts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx-kafka-taken-" });
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (held.addr as Deno.NetAddr).port;
    const controller = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const controllerPort = (controller.addr as Deno.NetAddr).port;
    controller.close();
    // As a stopped broker leaves it: its ports, kept for its next start.
    await Deno.writeTextFile(
      `${dir}/server.properties`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}\n`,
    );
    await assert.rejects(startBroker({ dir, ownerPid: Deno.pid }), (e: Error) => {
      assert.equal(
        e.message,
        `port ${port} of the broker in ${dir} (kept in its server.properties since its first ` +
          "start) is taken by another process: stop that process, or give the broker another " +
          "folder (KAFKA_LOCAL_DIR; free ports are chosen for a new one)",
      );
      return true;
    });
    // Nothing was started or formatted there.
    assert.deepEqual([...Deno.readDirSync(dir)].map((f) => f.name), ["server.properties"]);
  } finally {
    held.close();
    await Deno.remove(dir, { recursive: true });
  }
});

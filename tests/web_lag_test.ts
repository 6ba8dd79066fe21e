/**
 * The stream's lag and dead-letter count on pipeline health with the project's local broker (no
 * KAFKA_BROKERS), in a process with exactly the permissions of `deno task serve` (no
 * --allow-run): a real broker started in a directory of its own, a DuckDB warehouse in a temp
 * dir, and the API server in a child process (tests/support/web_serve_probe.ts).
 */
import assert from "node:assert/strict";
import { loadConfig } from "../lib/config/config.ts";
import { KafkaClient } from "../lib/stream/kafka.ts";
import { runningBroker } from "../lib/stream/local_broker.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";
import { kafkaTest, startPrivateBroker, uniqueName } from "./support/kafka.ts";
import { denoCacheEnv, taskFlags } from "./support/processes.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** The `serve` task's command line, read from deno.json (so the test follows the task). */
function servePermissions(): string[] {
  const perms = taskFlags("serve", "lib/web/cli_serve.ts");
  assert.ok(!perms.some((p) => p.startsWith("--allow-run") || p === "-A"), perms.join(" "));
  return perms;
}

/** The pipeline-health `stream` and `deadLetters` parts as a serve-permissioned process sees them. */
async function probeStream(warehouse: string, logDir: string, brokerDir: string) {
  const env = { ...denoCacheEnv(), DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...servePermissions(),
      "tests/support/web_serve_probe.ts",
      warehouse,
      logDir,
      brokerDir,
    ],
    cwd: REPO,
    clearEnv: true, // no KAFKA_BROKERS: the lag must come from the local broker
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

kafkaTest(
  "without --allow-run, pipeline health finds the running local broker and reports the lag and the dead letters",
  async () => {
    const broker = await startPrivateBroker();
    const dir = await Deno.makeTempDir({ prefix: "egx-web-lag-" });
    try {
      const topic = uniqueName("test.web.locallag");
      const client = new KafkaClient(broker.brokers, { clientId: "egx-tests" });
      // The broker is this test's own: the dead-letter topic has its default name.
      const dlq = "egx.quotes.dlq";
      await client.ensureTopics([{ name: topic, partitions: 1 }, { name: dlq, partitions: 1 }]);
      const producer = client.producer();
      await producer.connect();
      try {
        await producer.send(
          topic,
          Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: "{}" })),
        );
        await producer.send(dlq, [{ key: "k", value: "{}" }, { key: "k", value: "[]" }]);
      } finally {
        await producer.disconnect();
      }
      const warehouse = `${dir}/egx.duckdb`;
      const wh = await openWarehouse(
        loadConfig((k) => ({ EGX_WAREHOUSE: warehouse })[k]).warehouse,
      );
      try {
        await wh.transaction((s) =>
          s.execute(
            "INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID, " +
              "NEXT_OFFSET, UPDATED_AT) VALUES ('g', ?, 0, 2, '2025-12-08 10:00:00')",
            [topic],
          )
        );
      } finally {
        await wh.close();
      }
      const row = { group: "g", topic, partition: 0, nextOffset: 2 };
      const updatedAt = "2025-12-08T10:00:00.000Z";

      const noStatus = `no status file consumer.json in ${dir}/logs/stream ` +
        "(EGX_STREAM_STATUS_DIR): the consumer has not run where this server can see it";
      assert.deepEqual(await probeStream(warehouse, `${dir}/logs`, broker.dir), {
        stream: { partitions: [{ ...row, updatedAt, lag: 3 }], note: null },
        deadLetters: { topic: dlq, count: 2, note: null, consumer: null, consumerNote: noStatus },
      });

      // Stopped after a crash (its pid file left behind): not running, said in so many words.
      await broker.stop();
      await Deno.writeTextFile(`${broker.dir}/broker.pid`, `${broker.pid}\n`);
      assert.equal(await runningBroker(broker.dir), undefined);
      const notRunning = "KAFKA_BROKERS is not set and the local broker is not running";
      assert.deepEqual(await probeStream(warehouse, `${dir}/logs`, broker.dir), {
        stream: {
          partitions: [{ ...row, updatedAt, lag: null }],
          note: `Kafka not reachable for the lag: ${notRunning}`,
        },
        deadLetters: {
          topic: dlq,
          count: null,
          note: `the dead-letter topic could not be read: ${notRunning}`,
          consumer: null,
          consumerNote: noStatus,
        },
      });
    } finally {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(broker.dir, { recursive: true });
    }
  },
);

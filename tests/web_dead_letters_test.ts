/**
 * The stream's dead letters on pipeline health: the records the dead-letter topic holds on a real
 * broker (produced to it here, some deleted from its log start), the consumer's counters and last
 * dead letter from a status file written here (and one written by a real consumer), and what
 * the answer says when the broker cannot be asked or there is no status file.
 */
import assert from "node:assert/strict";
import kafkajs from "kafkajs";
import { loadConfig } from "../lib/config/config.ts";
import { jsonLogger } from "../lib/stream/log.ts";
import { freePort } from "../lib/stream/local_broker.ts";
import { DLQ_HEADERS, encodeQuote } from "../lib/stream/message.ts";
import { readStatus, statusWriter, writeStatus } from "../lib/stream/status.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";
import { kafkaRecordCounts } from "../lib/web/stream_lag.ts";
import type { HealthSources } from "../lib/web/endpoint.ts";
import {
  consumeTopics,
  freshTopics,
  kafkaTest,
  testBrokers,
  testClient,
  uniqueName,
  waitFor,
} from "./support/kafka.ts";
import { assertDocumented } from "./support/openapi_check.ts";
import { startTestServer, type TestServer } from "./support/web_fixture.ts";

const REASON = 'unknown ticker "XYZ" (not in OPERATIONAL.TBL_COMPANY)';

/** A consumer status as lib/stream/consumer.ts writes it, with 7 dead letters of 3 kinds. */
const CONSUMER_STATUS = {
  pid: 4242,
  group: "egx-warehouse-writer",
  topic: "egx.quotes.v1",
  startedAt: "2025-12-08T07:00:00.000Z",
  updatedAt: "2025-12-08T12:30:00.000Z",
  partitions: [0, 1, 2],
  counters: {
    consumed: 907,
    written: 900,
    skipped: 0,
    deadLettered: 7,
    unknownTicker: 2,
    keyMismatch: 1,
    transactions: 12,
    warehouseRetries: 0,
    commitErrors: 0,
  },
  lastDeadLetter: { reason: REASON, partition: 2, offset: 41, at: "2025-12-08T12:29:30.000Z" },
  companies: 11,
  finished: false,
};

/** What the API makes of CONSUMER_STATUS at 12:31:40 (100 s after its last write). */
const CONSUMER = {
  startedAt: "2025-12-08T07:00:00.000Z",
  updatedAt: "2025-12-08T12:30:00.000Z",
  ageSeconds: 100,
  counters: { deadLettered: 7, invalid: 4, unknownTicker: 2, keyMismatch: 1 },
  last: { at: "2025-12-08T12:29:30.000Z", reason: REASON, partition: 2, offset: 41 },
};

/**
 * A server on a warehouse of its own, its clock at 12:31:40 unless `now` says otherwise, whose
 * status folder holds CONSUMER_STATUS when `status` is set (or is `statusDir`).
 */
async function withServer(
  opts: { dlq: string; health: HealthSources; status?: boolean; statusDir?: string; now?: string },
  fn: (srv: TestServer, statusDir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "egx-web-dlq-" });
  const statusDir = opts.statusDir ?? `${dir}/status`;
  if (opts.status) writeStatus(statusDir, "consumer", CONSUMER_STATUS);
  const srv = await startTestServer({
    warehouse: `${dir}/egx.duckdb`,
    logDir: `${dir}/logs`,
    asOf: "2025-12-08T12:30:00Z",
    now: opts.now ?? "2025-12-08T12:31:40Z",
    statusDir,
    deadLetterTopic: opts.dlq,
    health: opts.health,
  });
  try {
    await fn(srv, statusDir);
    assert.deepEqual(srv.errors, []);
  } finally {
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

async function deadLettersOf(srv: TestServer) {
  const r = await srv.get("/api/v1/pipeline/health");
  assert.equal(r.status, 200);
  await assertDocumented(srv, "/api/v1/pipeline/health", r.body);
  return r.body.data.deadLetters;
}

/** `n` dead letters on `dlq`, keyed so that both of its partitions get some. */
async function sendDeadLetters(dlq: string, n: number, first = 0) {
  const producer = (await testClient()).producer();
  await producer.connect();
  try {
    await producer.send(
      dlq,
      Array.from({ length: n }, (_, i) => ({
        key: `k${first + i}`,
        value: "not json",
        headers: { [DLQ_HEADERS.reason]: "invalid JSON", [DLQ_HEADERS.offset]: String(first + i) },
      })),
    );
  } finally {
    await producer.disconnect();
  }
}

/** The server's `recordCounts` source, on the test broker (as `deno task serve` builds it). */
async function brokerCounts(): Promise<HealthSources> {
  const env: Record<string, string> = { KAFKA_BROKERS: (await testBrokers()).join(",") };
  return { recordCounts: kafkaRecordCounts(loadConfig((k) => env[k])) };
}

/** Delete a partition's records below `offset` (its log start moves there). */
async function deleteRecordsBelow(topic: string, partition: number, offset: number) {
  const admin = new kafkajs.Kafka({ clientId: "egx-tests", brokers: await testBrokers() }).admin();
  await admin.connect();
  try {
    await admin.fetchTopicMetadata({ topics: [topic] }); // deleteTopicRecords needs it loaded
    await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(offset) }] });
  } finally {
    await admin.disconnect();
  }
}

kafkaTest(
  "pipeline health counts the dead-letter topic's records and shows the consumer's",
  async () => {
    const client = await testClient();
    const dlq = uniqueName("test.web.dlq");
    await client.ensureTopics([{ name: dlq, partitions: 2 }]);
    await sendDeadLetters(dlq, 5);
    const health = await brokerCounts();
    await withServer({ dlq, health, status: true }, async (srv) => {
      assert.deepEqual(await deadLettersOf(srv), {
        topic: dlq,
        count: 5,
        note: null,
        consumer: CONSUMER,
        consumerNote: null,
      });
      // Records past their retention leave from the log start: the count is what the topic holds.
      const perPartition = await health.recordCounts!(dlq);
      assert.equal([...perPartition.values()].reduce((a, b) => a + b, 0), 5);
      const [fullest] = [...perPartition].sort(([, a], [, b]) => b - a)[0];
      await deleteRecordsBelow(dlq, fullest, 2);
      await sendDeadLetters(dlq, 3, 5);
      let count = 5;
      for (let i = 0; i < 40 && count !== 6; i++) {
        await new Promise((r) => setTimeout(r, 250)); // the answer is cached for up to 2 s
        count = (await deadLettersOf(srv)).count;
      }
      assert.equal(count, 6);
    });
  },
);

kafkaTest("a broker that cannot be asked leaves the count null and says why", async () => {
  const port = freePort(); // nothing listens there
  const env: Record<string, string> = { KAFKA_BROKERS: `127.0.0.1:${port}` };
  const dlq = uniqueName("test.web.dlq");
  const health = { recordCounts: kafkaRecordCounts(loadConfig((k) => env[k])) };
  await withServer({ dlq, health, status: true }, async (srv) => {
    assert.deepEqual(await deadLettersOf(srv), {
      topic: dlq,
      count: null,
      note: "the dead-letter topic could not be read: Connection error: connect ECONNREFUSED " +
        `127.0.0.1:${port}`,
      consumer: CONSUMER, // the status file is read all the same
      consumerNote: null,
    });
  });
});

kafkaTest(
  "without a status file the consumer's part is null and says why; an empty topic counts 0",
  async () => {
    const client = await testClient();
    const dlq = uniqueName("test.web.dlq");
    await client.ensureTopics([{ name: dlq, partitions: 1 }]);
    await withServer({ dlq, health: await brokerCounts() }, async (srv, statusDir) => {
      const none = {
        topic: dlq,
        count: 0,
        note: null,
        consumer: null,
        consumerNote: `no status file consumer.json in ${statusDir} (EGX_STREAM_STATUS_DIR): ` +
          "the consumer has not run where this server can see it",
      };
      assert.deepEqual(await deadLettersOf(srv), none);
      // A status file without the counters (another program's, an old consumer's) is not read as 0.
      const { counters: _, ...noCounters } = CONSUMER_STATUS;
      writeStatus(statusDir, "consumer", noCounters);
      await new Promise((r) => setTimeout(r, 2_100)); // past the 2 s the answer is cached for
      assert.deepEqual(await deadLettersOf(srv), {
        ...none,
        consumerNote: `the status file consumer.json in ${statusDir} (EGX_STREAM_STATUS_DIR) has ` +
          "no dead-letter counters",
      });
    });
  },
);

kafkaTest("a dead-letter topic the broker does not have is named as such", async () => {
  const dlq = uniqueName("test.web.dlq");
  await withServer({ dlq, health: await brokerCounts(), status: true }, async (srv) => {
    assert.deepEqual(await deadLettersOf(srv), {
      topic: dlq,
      count: null,
      note: `the dead-letter topic could not be read: topic ${dlq} does not exist on the broker`,
      consumer: CONSUMER,
      consumerNote: null,
    });
  });
});

Deno.test("without a Kafka source the count is unknown, said in so many words", async () => {
  await withServer({ dlq: "egx.quotes.dlq", health: {}, status: true }, async (srv) => {
    assert.deepEqual(await deadLettersOf(srv), {
      topic: "egx.quotes.dlq",
      count: null,
      note: "no Kafka broker configured (KAFKA_BROKERS)",
      consumer: CONSUMER,
      consumerNote: null,
    });
  });
});

/** A valid quote of `ticker` keyed `key`, as the producer encodes it. */
function quote(ticker: string, key = ticker) {
  const m = encodeQuote({
    ticker,
    barStart: "2025-11-02T08:00:00.000Z",
    interval: "1m",
    open: 105,
    high: 106,
    low: 105,
    close: 105.5,
    volume: 10,
    source: "replay",
    fetchedAt: "2025-11-02T08:05:00.000Z",
  });
  if ("error" in m) throw new Error(m.error);
  return { ...m, key };
}

kafkaTest("what a real consumer dead-letters shows up in pipeline health, by reason", async () => {
  const client = await testClient();
  const names = await freshTopics(client, 1);
  const dir = await Deno.makeTempDir({ prefix: "egx-web-dlq-consumer-" });
  const statusDir = `${dir}/status`;
  const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/stream.duckdb` });
  try {
    await wh.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('COMI', 'CIB')",
      )
    );
    const producer = client.producer();
    await producer.connect();
    try {
      await producer.send(names.topic, [
        quote("COMI"), // written
        { key: "COMI", value: "not json" }, // invalid
        quote("XYZ"), // unknown ticker
        quote("COMI", "ETEL"), // key mismatch, the last dead letter (offset 3)
      ]);
    } finally {
      await producer.disconnect();
    }
    // The consumer's status, written as `deno task stream consumer` writes it.
    const ac = new AbortController();
    const status = statusWriter(statusDir, "consumer");
    // Its log, shown if it does not get there (a CI run once timed out here with no clue why).
    const lines: string[] = [];
    const consumer = consumeTopics(client, wh, names, {
      signal: ac.signal,
      onStatus: status.update,
      logger: jsonLogger("consumer", { write: (l) => lines.push(l) }),
    });
    try {
      // Written or dead-lettered, each of the 4 records: not `consumed`, which counts a record
      // again when the partition's rewind to its start (no offset in this new warehouse) lands
      // after the first fetch handed them out (read twice, the second time skipped as written;
      // it made this test time out now and then).
      await waitFor("the consumer to write 1 record and dead-letter 3", async () => {
        const c = (await readStatus(statusDir, "consumer"))?.counters as
          | { written: number; deadLettered: number }
          | undefined;
        return c?.written === 1 && c.deadLettered === 3;
      }, 90_000).catch((e) => {
        throw new Error(`${e.message}; the consumer's log:\n${lines.join("\n")}`);
      });
    } finally {
      ac.abort();
      await consumer;
      status.stop();
    }
    const doc = (await readStatus(statusDir, "consumer"))!;
    const last = doc.lastDeadLetter as { at: string };
    // The server's clock at the status file's last write: its age is 0.
    const health = await brokerCounts();
    await withServer({ dlq: names.dlq, health, statusDir, now: doc.updatedAt }, async (srv) => {
      assert.deepEqual(await deadLettersOf(srv), {
        topic: names.dlq,
        count: 3,
        note: null,
        consumer: {
          startedAt: doc.startedAt,
          updatedAt: doc.updatedAt,
          ageSeconds: 0,
          counters: { deadLettered: 3, invalid: 1, unknownTicker: 1, keyMismatch: 1 },
          last: {
            at: last.at,
            reason: 'key "ETEL" differs from ticker "COMI" (the quotes topic is keyed by ticker)',
            partition: 0,
            offset: 3,
          },
        },
        consumerNote: null,
      });
    });
  } finally {
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

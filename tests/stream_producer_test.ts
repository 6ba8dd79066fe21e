/**
 * The producer's ends without a broker: a fake source and a fake sender. tests/stream_test.ts
 * runs it against a real broker (and an unreachable one).
 */
import assert from "node:assert/strict";
import type { MarketSource, Quote } from "../lib/market/sources/source.ts";
import { jsonLogger } from "../lib/stream/log.ts";
import { type QuoteSender, runProducer } from "../lib/stream/producer.ts";

/** A replay-like source: one poll of `count` quotes of COMI, then `error` thrown. */
function failingSource(count: number, error: Error): MarketSource {
  const t0 = Date.parse("2025-11-02T08:00:00Z");
  const quotes: Quote[] = Array.from({ length: count }, (_, i) => ({
    ticker: "COMI",
    barStart: new Date(t0 + i * 60_000).toISOString(),
    interval: "1m",
    open: 105,
    high: 105.5,
    low: 104.5,
    close: 105.2,
    volume: 1000 + i,
    source: "replay",
    fetchedAt: "2025-11-02T08:15:00.000Z",
  }));
  return {
    name: "failing",
    live: false,
    async *polls() {
      yield { at: "2025-11-02T08:15:00.000Z", quotes, failures: [] };
      throw error;
    },
  };
}

/** A sender that counts its calls; its sends fail while `down`. */
function fakeSender(down: boolean) {
  const calls = { connect: 0, send: 0, sent: 0, disconnect: 0 };
  const sender: QuoteSender = {
    connect: () => {
      calls.connect++;
      return Promise.resolve();
    },
    send: (_topic, messages) => {
      calls.send++;
      if (down) return Promise.reject(new Error("Connection error: ECONNREFUSED"));
      calls.sent += messages.length;
      return Promise.resolve();
    },
    disconnect: () => {
      calls.disconnect++;
      return Promise.resolve();
    },
  };
  return { sender, calls };
}

async function produce(down: boolean) {
  const boom = new Error("bars file vanished");
  const { sender, calls } = fakeSender(down);
  const logs: Record<string, unknown>[] = [];
  const finished: boolean[] = [];
  const thrown = await runProducer(failingSource(10, boom), sender, {
    topic: "quotes",
    retryInitialMs: 1,
    retryMaxMs: 2,
    logger: jsonLogger("producer", { write: (l) => logs.push(JSON.parse(l)) }),
    onStatus: (s) => finished.push(s.finished),
  }).then(() => undefined, (e) => e);
  assert.equal(thrown, boom, "the source's own error is rethrown");
  return { calls, logs, finished };
}

Deno.test("a source that throws while Kafka is down: what was undelivered is logged as dropped, the sender disconnected, the error rethrown", async () => {
  const { calls, logs, finished } = await produce(true);
  const dropped = logs.filter((l) => l.event === "producer.dropped");
  assert.deepEqual(
    dropped.map(({ count, reason, totalDropped }) => ({ count, reason, totalDropped })),
    [
      { count: 10, reason: "undelivered at shutdown (Kafka unreachable)", totalDropped: 10 },
    ],
  );
  assert.equal(dropped[0].level, "error");
  assert.equal(calls.disconnect, 1);
  assert.equal(calls.sent, 0);
  assert.ok(calls.send >= 1);
  assert.equal(finished.at(-1), false, "a failed producer is not reported as finished");
  assert.equal(logs.some((l) => l.event === "producer.stopped"), false);
});

Deno.test("a source that throws while Kafka is up: everything polled is delivered, then the sender disconnected and the error rethrown", async () => {
  const { calls, logs } = await produce(false);
  assert.deepEqual(calls, { connect: 1, send: 1, sent: 10, disconnect: 1 });
  assert.deepEqual(logs.filter((l) => l.event === "producer.dropped"), []);
});

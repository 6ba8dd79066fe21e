/**
 * A child process for tests/web_lag_test.ts: the API server as `deno task serve` builds it, with
 * the serve task's permissions (no --allow-run), over an existing warehouse; it prints the
 * `stream` and `deadLetters` parts of GET /api/v1/pipeline/health as JSON and exits.
 *
 *   deno run --allow-net --allow-read --allow-write --allow-env --allow-ffi --allow-sys \
 *     tests/support/web_serve_probe.ts <warehouse> <logDir> <brokerDir>
 *
 * The Kafka section comes from this process's environment (no KAFKA_BROKERS: the local broker
 * in <brokerDir> is found as the server finds var/kafka/data).
 */
import { loadConfig } from "../../lib/config/config.ts";
import { kafkaLogEnds, kafkaRecordCounts } from "../../lib/web/stream_lag.ts";
import { startTestServer } from "./web_fixture.ts";

if (import.meta.main) {
  const [warehouse, logDir, brokerDir] = Deno.args;
  const logEnds = kafkaLogEnds(loadConfig(), { brokerDir });
  const recordCounts = kafkaRecordCounts(loadConfig(), { brokerDir });
  const srv = await startTestServer({
    warehouse,
    logDir,
    asOf: "2025-12-08T12:30:00Z",
    health: { logEnds, recordCounts },
  });
  try {
    const r = await srv.get("/api/v1/pipeline/health");
    if (r.status !== 200) throw new Error(`health answered ${r.status}: ${JSON.stringify(r.body)}`);
    const { stream, deadLetters } = r.body.data;
    console.log(JSON.stringify({ stream, deadLetters }));
  } finally {
    await srv.stop();
  }
  Deno.exit(0); // kafkajs leaves timers behind
}

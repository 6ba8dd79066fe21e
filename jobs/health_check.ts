/**
 * health_check: is streaming healthy? Reports liveness of the producer and consumer, consumer
 * lag per partition, the last message time and data freshness; fails (exit 1) when streaming is
 * unhealthy during EGX trading hours (at EGX_AS_OF / now, Africa/Cairo). Outside trading hours
 * it only reports. The first job of both pipelines, as in the original DAG.
 *
 *   deno run --allow-read --allow-write=data --allow-net --allow-ffi --allow-sys --allow-env \
 *     jobs/health_check.ts [--json]
 *
 * (--allow-ffi is for the DuckDB binding; it lets native code bypass the other permissions.)
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config/config.ts";
import { runJob } from "../lib/runner/job.ts";
import { checkStreamHealth, formatHealth } from "../lib/stream/health.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";

const HELP = `Usage: jobs/health_check.ts [--json]

Checks the streaming side (deno task stream): producer and consumer alive (status files in
EGX_STREAM_STATUS_DIR), consumer lag per partition (KAFKA_BROKERS, or the local broker), the last
message time and the freshness of streamed rows in the warehouse (EGX_WAREHOUSE). Fails when there
is a problem during EGX trading hours; outside them it only reports.
Limits: EGX_STREAM_MAX_LAG (records, default 1000), EGX_STREAM_MAX_STALENESS_MINUTES (default 15).

  --json   print the report as JSON instead of text`;

if (import.meta.main) {
  await runJob({ name: "health_check", help: HELP }, async (args, signal) => {
    const { values } = parseArgs({ args, options: { json: { type: "boolean" } } });
    const config = loadConfig();
    const warehouse = await openWarehouse(config.warehouse, { signal });
    try {
      const report = await checkStreamHealth(config, { warehouse });
      console.log(values.json ? JSON.stringify(report, null, 2) : formatHealth(report));
      return report.healthy ? 0 : 1;
    } finally {
      await warehouse.close();
    }
  });
}

/**
 * health_check: is streaming healthy? Reports liveness of the producer and consumer, consumer
 * lag per partition, the last message time and data freshness; fails (exit 1) when streaming is
 * unhealthy during EGX trading hours (at EGX_AS_OF / now, Africa/Cairo). Outside trading hours
 * it only reports. The first job of both pipelines, as in the original DAG.
 *
 *   deno run --allow-ffi --allow-net=127.0.0.1 \
 *     --allow-read=data,var/kafka,var/stream,data/egx.duckdb --allow-write=data,data/egx.duckdb \
 *     --allow-sys=uid,homedir,osRelease,cpus,networkInterfaces,hostname \
 *     '--allow-env=KAFKA_*,EGX_TOPIC_*,EGX_CONSUMER_*,EGX_STREAM_*,EGX_REPLAY_*,EGX_POLL_MINUTES,TRADINGVIEW_*,EGX_TV_*,EGX_WAREHOUSE,EGX_AS_OF,EGX_LANDING,SNOWFLAKE_*,NODE_ENV,KAFKAJS_*,TMPDIR,TMP,TEMP' \
 *     jobs/health_check.ts [--json]
 *
 * (The permissions jobs.yaml gives it, with its defaults. --allow-ffi is for the DuckDB binding;
 * it lets native code bypass the other permissions. --allow-net is for the Kafka brokers and
 * Snowflake: EGX_KAFKA_NET and EGX_SNOWFLAKE_NET in jobs.yaml, give your hosts.)
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config/config.ts";
import { runJob } from "../lib/runner/job.ts";
import { checkStreamHealth, formatHealth } from "../lib/stream/health.ts";
import {
  openWarehouse,
  type Warehouse,
  WarehouseMissingError,
} from "../lib/warehouse/warehouse.ts";

const HELP = `Usage: jobs/health_check.ts [--json]

Checks the streaming side (deno task stream): producer and consumer alive (status files in
EGX_STREAM_STATUS_DIR), consumer lag per partition (KAFKA_BROKERS, or the local broker), the last
message time and the freshness of streamed rows in the warehouse (EGX_WAREHOUSE). Fails when there
is a problem during EGX trading hours; outside them it only reports.
Limits: EGX_STREAM_MAX_LAG (records, default 1000), EGX_STREAM_MAX_STALENESS_MINUTES (default 15).

  --json   print the report as JSON instead of text`;

/**
 * A warehouse that fails every use with `error`: a missing DuckDB file is one of the problems
 * the report lists (the check still reports the stream), not a reason to create an empty one.
 * (The first job of the pipelines: on a fresh clone it may run before s3_check creates the file.)
 */
function absentWarehouse(missing: WarehouseMissingError): Warehouse {
  // Said for the pipeline this job runs in, not "run the pipeline first".
  const error = new Error(
    `DuckDB warehouse file ${missing.path} does not exist yet (s3_check and batch_load create ` +
      "it on the pipeline's first run; or EGX_WAREHOUSE names the wrong file)",
  );
  return {
    kind: "duckdb",
    transaction: () => Promise.reject(error),
    query: () => Promise.reject(error),
    migrate: () => Promise.reject(error),
    close: () => Promise.resolve(),
  };
}

if (import.meta.main) {
  await runJob({ name: "health_check", help: HELP }, async (args, signal) => {
    const { values } = parseArgs({ args, options: { json: { type: "boolean" } } });
    const config = loadConfig();
    const warehouse = await openWarehouse(config.warehouse, { signal, mustExist: true })
      .catch((e) => {
        if (e instanceof WarehouseMissingError) return absentWarehouse(e);
        throw e;
      });
    try {
      const report = await checkStreamHealth(config, { warehouse });
      console.log(values.json ? JSON.stringify(report, null, 2) : formatHealth(report));
      return report.healthy ? 0 : 1;
    } finally {
      await warehouse.close();
    }
  });
}

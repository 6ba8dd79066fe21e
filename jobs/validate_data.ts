/**
 * validate_data: the data-quality gate after loading: no duplicate companies or natural keys,
 * every stored ticker an EGX code (the ticker rule, lib/market/ticker.ts), positive prices,
 * non-negative volume, recent data present for the last trading day closed by "now" (EGX_AS_OF;
 * the bundled sample's own end by default), and per-file row counts that reconcile (read = loaded
 * + quarantined). Prints a readable report; exit 1 when a check fails.
 *
 *   deno run --allow-ffi --allow-net=127.0.0.1 --allow-read=data,data/egx.duckdb \
 *     --allow-write=data,data/egx.duckdb --allow-sys=uid,homedir,osRelease,cpus,networkInterfaces,hostname \
 *     '--allow-env=EGX_WAREHOUSE,EGX_LANDING,EGX_AS_OF,SNOWFLAKE_*,TMPDIR,TMP,TEMP' \
 *     jobs/validate_data.ts
 *
 * (The permissions jobs.yaml gives it, with its defaults: --allow-net is for Snowflake,
 * EGX_SNOWFLAKE_NET there, and --allow-read/--allow-write follow EGX_WAREHOUSE. It reads the
 * warehouse only, never the landing store: no AWS credentials, S3 host or var/.)
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config/config.ts";
import { validateData } from "../lib/ingest/validate.ts";
import { runJob } from "../lib/runner/job.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";

const HELP = `Usage: jobs/validate_data.ts

Runs the data-quality checks on the warehouse (EGX_WAREHOUSE) and prints a report. "Recent
data" means prices for the last EGX trading day whose session closed by EGX_AS_OF (default: the
end of the bundled sample when EGX_LANDING is the sample, else now). Exit 1 when a check fails.`;

if (import.meta.main) {
  await runJob({ name: "validate_data", help: HELP }, async (args, signal) => {
    parseArgs({ args, options: {} });
    const config = loadConfig();
    const wh = await openWarehouse(config.warehouse, { signal, mustExist: true });
    try {
      const report = await validateData(wh, { asOf: config.asOf, signal });
      console.log(report.text);
      if (!report.ok) {
        const failed = report.checks.filter((c) => !c.ok).map((c) => c.name);
        throw new Error(`data-quality checks failed: ${failed.join(", ")}`);
      }
    } finally {
      await wh.close();
    }
  });
}

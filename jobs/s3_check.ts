/**
 * s3_check: report the landing store's new or changed files (key + ETag/size compared with the
 * warehouse's load log, OPERATIONAL.TBL_LOAD_LOG), and the loaded ones whose quarantined rows name
 * tickers listed since that load started (TBL_COMPANY.CREATED_AT later than the load log's
 * STARTED_AT: to reload, lib/ingest/reload.ts), and report "nothing to do" (exit 78, see
 * lib/runner/job.ts) when there are none, so the runner skips the batch branch. batch_load
 * recomputes the same list itself, so nothing is handed over between the two. A file to reload
 * that is gone from the landing store is named (its rows stay out) but is no work.
 *
 *   deno run --allow-ffi --allow-net=127.0.0.1 --allow-read=data,var,data/egx.duckdb,data/sample \
 *     --allow-write=data,var,data/egx.duckdb --allow-sys=uid,homedir,osRelease,cpus,networkInterfaces,hostname \
 *     '--allow-env=EGX_WAREHOUSE,EGX_LANDING,EGX_AS_OF,S3_ENDPOINT,S3_FORCE_PATH_STYLE,SNOWFLAKE_*,AWS_*,_X_AMZN_TRACE_ID,HOME,USERPROFILE,HOMEPATH,HOMEDRIVE,TMPDIR,TMP,TEMP' \
 *     jobs/s3_check.ts
 *
 * (The permissions jobs.yaml gives it, with its defaults: --allow-net is for S3 and Snowflake,
 * EGX_S3_NET and EGX_SNOWFLAKE_NET there, and --allow-read/--allow-write follow EGX_WAREHOUSE and
 * EGX_LANDING; the AWS SDK reads the AWS_*, home and sys entries as it loads.)
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config/config.ts";
import { nothingPending, pendingWork } from "../lib/ingest/batch.ts";
import { openLanding } from "../lib/ingest/landing.ts";
import { describeListed, describeUnreloadable } from "../lib/ingest/reload.ts";
import { nothingToDo, runJob } from "../lib/runner/job.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";

const HELP = `Usage: jobs/s3_check.ts

Lists the landing store's .csv files (EGX_LANDING: a folder, default data/sample, or
s3://bucket/prefix) whose current version (key + ETag) is not the one of their most recent
successful load in the warehouse (EGX_WAREHOUSE): new files, changed ones, and ones put back to an
earlier version; and files to reload: loaded as they are, but with rows quarantined for a ticker
listed since that load started. Exits 78 ("nothing to do") when there are none.`;

if (import.meta.main) {
  await runJob({ name: "s3_check", help: HELP }, async (args, signal) => {
    parseArgs({ args, options: {} });
    const config = loadConfig();
    const landing = await openLanding(config.landing);
    const wh = await openWarehouse(config.warehouse, { signal });
    try {
      const work = await pendingWork(wh, landing, { signal });
      const { pending, unreloadable } = work;
      for (const u of unreloadable) {
        console.log(`s3_check: ${describeUnreloadable(u, landing.where)}`);
      }
      if (pending.length === 0) nothingToDo(nothingPending(work, landing.where));
      const reloads = pending.filter((p) => p.change === "reload").length;
      console.log(
        reloads === 0
          ? `s3_check: ${pending.length} new or changed file(s) in ${landing.where}`
          : `s3_check: ${pending.length} file(s) to load in ${landing.where}: ` +
            `${pending.length - reloads} new or changed, ${reloads} to reload`,
      );
      for (const p of pending) {
        console.log(
          `  ${p.change.padEnd(7)} ${p.key} (etag ${p.etag}, ${p.size} bytes)` +
            (p.listed ? `: ${describeListed(p.listed)}` : ""),
        );
      }
    } finally {
      await wh.close();
    }
  });
}

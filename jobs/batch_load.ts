/**
 * batch_load: load the landing store's new or changed files into the warehouse. Each file is
 * recognised by its header (canonical daily CSV, TradingView and Investing.com exports,
 * one-minute bars, company list, index constituents, quarterly financials, screener snapshots),
 * validated row by row in SQL, its bad rows quarantined with a reason and its good rows
 * upserted, atomically per file (see lib/ingest/load.ts). A file loaded before whose quarantined
 * rows name tickers listed since that load started (a later company list) is loaded again, its
 * quarantined lines only and insert-only: a line whose key is stored (by a later file, in this run
 * or before) is left out, never written over it (lib/ingest/reload.ts); also in the run that
 * loads that company list. Fails (exit 1) when any
 * file failed; the others are loaded all the same. A file to reload that is gone from the landing
 * store is named in the output, not failed.
 *
 *   deno run --allow-ffi --allow-net=127.0.0.1 --allow-read=data,var,data/egx.duckdb,data/sample \
 *     --allow-write=data,var,data/egx.duckdb --allow-sys=uid,homedir,osRelease,cpus,networkInterfaces,hostname \
 *     '--allow-env=EGX_WAREHOUSE,EGX_LANDING,EGX_AS_OF,S3_ENDPOINT,S3_FORCE_PATH_STYLE,SNOWFLAKE_*,AWS_*,_X_AMZN_TRACE_ID,HOME,USERPROFILE,HOMEPATH,HOMEDRIVE,TMPDIR,TMP,TEMP' \
 *     jobs/batch_load.ts [--tmp-dir DIR]
 *
 * (The permissions jobs.yaml gives it, with its defaults: --allow-net is for S3 and Snowflake,
 * EGX_S3_NET and EGX_SNOWFLAKE_NET there, and --allow-read/--allow-write follow EGX_WAREHOUSE and
 * EGX_LANDING; the AWS SDK reads the AWS_*, home and sys entries as it loads.)
 *
 * Temporary files: S3 downloads, a group of files at a time, and screened copies go into a folder
 * of this run's own under --tmp-dir (`var/tmp/batch_load-<pid>-<random>`), locked while the run
 * lives and removed when it ends. A run killed with SIGKILL cannot remove it: every run first
 * removes the folders whose lock no live process holds, and never a running load's
 * (lib/ingest/run_folder.ts).
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config/config.ts";
import {
  type BatchOptions,
  describeOutcomes,
  nothingPending,
  pendingWork,
  runBatch,
} from "../lib/ingest/batch.ts";
import { openLanding } from "../lib/ingest/landing.ts";
import { removeDeadRuns } from "../lib/ingest/run_folder.ts";
import {
  describeListed,
  describeUnreloadable,
  type ListedSince,
  versionId,
} from "../lib/ingest/reload.ts";
import { jobContext, nothingToDo, runJob } from "../lib/runner/job.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";

const HELP = `Usage: jobs/batch_load.ts [--tmp-dir DIR]

Loads every .csv file of the landing store (EGX_LANDING: a folder, default data/sample, or
s3://bucket/prefix) whose current version is not the one of its most recent successful load
into the warehouse (EGX_WAREHOUSE), and loads again the quarantined rows of loaded files whose
ticker is listed now (by a later company list). Progress (rows/s, ETA) is shown on a terminal,
logged every 10 s otherwise.

  --tmp-dir DIR   where S3 objects are downloaded while they load, one group at a time, in a
                  folder of the run's own (default var/tmp; folders of runs that died are
                  removed at start)`;

if (import.meta.main) {
  await runJob({ name: "batch_load", help: HELP }, async (args, signal) => {
    const { values } = parseArgs({ args, options: { "tmp-dir": { type: "string" } } });
    const config = loadConfig();
    const tmpDir = values["tmp-dir"] ?? "var/tmp";
    // First, whatever a killed run left (also when there is nothing to load). Housekeeping: what
    // it cannot remove is named and left, never a reason to fail the load.
    const warn = (m: string) => console.warn(`batch_load: ${m}`);
    try {
      for (const path of await removeDeadRuns(tmpDir, warn)) {
        console.log(`batch_load: removed ${path}, left by a run that is no longer running`);
      }
    } catch (e) {
      warn(`cannot look for leftovers of killed runs in ${tmpDir}: ${(e as Error).message}`);
    }
    const landing = await openLanding(config.landing);
    const wh = await openWarehouse(config.warehouse, { signal });
    try {
      const work = await pendingWork(wh, landing, { signal });
      const { pending, unreloadable } = work;
      const told = new Set<string>();
      const gone = (list: readonly ListedSince[]) => {
        for (const u of list) {
          if (told.has(versionId(u.key, u.etag))) continue;
          told.add(versionId(u.key, u.etag));
          console.log(`batch_load: ${describeUnreloadable(u, landing.where)}`);
        }
      };
      gone(unreloadable);
      if (pending.length === 0) nothingToDo(nothingPending(work, landing.where));
      const opts: BatchOptions = {
        runId: jobContext().runId,
        signal,
        tmpDir,
        asOf: config.asOf,
      };
      const reloading = (list: typeof pending) => {
        for (const p of list) {
          if (p.listed) console.log(`batch_load: reloading ${p.key}: ${describeListed(p.listed)}`);
        }
      };
      reloading(pending);
      let outcomes = await runBatch(wh, landing, pending, opts);
      // A company list loaded just now may list tickers that earlier loads quarantined: those
      // files are loaded again in this run (a file loaded or failed above waits for the next).
      if (outcomes.some((o) => o.format === "companies" && o.status === "LOADED")) {
        const done = new Set(outcomes.map((o) => o.key));
        const later = await pendingWork(wh, landing, { signal });
        gone(later.unreloadable);
        const again = later.pending.filter((p) => p.change === "reload" && !done.has(p.key));
        reloading(again);
        if (again.length > 0) outcomes = outcomes.concat(await runBatch(wh, landing, again, opts));
      }
      console.log(`batch_load: ${outcomes.length} file(s) from ${landing.where}`);
      console.log(describeOutcomes(outcomes));
      const failed = outcomes.filter((o) => o.status === "FAILED");
      if (failed.length > 0) {
        const { key, error = "" } = failed[0];
        const first = error.split("\n")[0];
        throw new Error(
          `${failed.length} of ${outcomes.length} file(s) failed to load ` +
            `(first: ${first.includes(key) ? first : `${key}: ${first}`})`,
        );
      }
    } finally {
      await wh.close();
    }
  });
}

/**
 * cleanup: delete run records and logs older than the retention (EGX_RETENTION_DAYS, default 30)
 * from the log directory (EGX_LOG_DIR, default logs). The pipeline's last step; reports
 * "nothing to do" when nothing is that old.
 *
 *   deno run --allow-read=logs --allow-write=logs --allow-env=EGX_LOG_DIR,EGX_RETENTION_DAYS \
 *     jobs/cleanup.ts [--days N] [--dry-run]
 */
import { parseArgs } from "node:util";
import { loadConfig, MAX_RETENTION_DAYS, parseInteger } from "../lib/config/config.ts";
import { cleanup } from "../lib/runner/cleanup.ts";
import { nothingToDo, runJob } from "../lib/runner/job.ts";

const HELP = `Usage: jobs/cleanup.ts [--days N] [--dry-run]

Deletes run records (logs/runs.sqlite) and log files older than N days (default
EGX_RETENTION_DAYS, 30) under EGX_LOG_DIR (default logs): run folders (runs/), and
elsewhere files named *.log or *.log.* only. Runs still in progress are kept; a
folder without runs.sqlite is left alone.

  --days N     retention in days, 1 to ${MAX_RETENTION_DAYS} (overrides EGX_RETENTION_DAYS)
  --dry-run    count what would be deleted, delete nothing`;

if (import.meta.main) {
  await runJob({ name: "cleanup", help: HELP }, (args) => {
    const { values } = parseArgs({
      args,
      options: { days: { type: "string" }, "dry-run": { type: "boolean" } },
    });
    const config = loadConfig();
    const days = values.days === undefined
      ? config.retentionDays
      : parseInteger("--days", values.days, 1, MAX_RETENTION_DAYS);
    const r = cleanup(config.logDir, days, { dryRun: values["dry-run"] });
    if (r.noHistory) {
      nothingToDo(
        `${config.logDir} holds no run history (runs.sqlite): not a log folder of the ` +
          "runner, nothing deleted there",
      );
    }
    const verb = values["dry-run"] ? "would delete" : "deleted";
    const what =
      `${r.runsDeleted} run record(s), ${r.filesDeleted} file(s), ${r.dirsDeleted} folder(s)`;
    if (r.runsDeleted + r.filesDeleted + r.dirsDeleted === 0) {
      nothingToDo(`nothing older than ${days} days (before ${r.cutoff.toISOString()})`);
    }
    console.log(
      `cleanup: ${verb} ${what} older than ${days} days (before ${r.cutoff.toISOString()})`,
    );
  });
}

/**
 * `deno task schedule [--dry-run]`: the long-running scheduler. Fires every pipeline that has a
 * `schedule` in jobs.yaml on its cron, in its time zone (default Africa/Cairo). Each fire re-reads
 * jobs.yaml (job edits apply at the next fire, to overlaps too; schedule edits need a restart) and
 * runs the pipeline in-process like `deno task run` (same logs, history and alerts, trigger
 * "schedule", refused beside a live run sharing its jobs: then skipped or queued as its overlap
 * says); a fire that finds jobs.yaml invalid, or without the pipeline, is a failed run (recorded,
 * alerted).
 * SIGINT/SIGTERM (SIGHUP unless ignored at start, e.g. under nohup): no new fires; running jobs
 * get kill_grace to stop; then exit 0. One scheduler per log directory: a second one refuses to
 * start (exit 2) naming the first one's pid.
 *
 *   deno run --allow-all lib/runner/cli_schedule.ts [--dry-run [--count N]] [--manifest PATH]
 *
 * --allow-all for the reasons cli_run.ts gives.
 */
import { ArgsError, cliFailure, flagInteger, parseArgs } from "./args.ts";
import { alertSettingsProblem } from "./alerts.ts";
import { ConfigError, loadConfig, loadDotEnv, registerSecrets } from "../config/config.ts";
import { checkLogDir, History, historyPath, useLogDir } from "./history.ts";
import { loadManifest, ManifestError } from "./manifest.ts";
import { planRun, planSettingsProblems } from "./plan.ts";
import { recordSkipped, runningElsewhere, runScheduled } from "./scheduled_run.ts";
import {
  describeSchedule,
  runScheduler,
  scheduleEntries,
  upcoming,
  wallClock,
} from "./scheduler.ts";
import { lockScheduler, SchedulerRunningError } from "./scheduler_lock.ts";
import { onStopSignals } from "./stop_signals.ts";

const HELP = `Usage: deno task schedule [--dry-run [--count N]] [--manifest PATH]

Runs until stopped (Ctrl-C / SIGTERM), firing each scheduled pipeline of jobs.yaml on its cron
in its time zone. A fire while the previous run of that pipeline is still running is skipped
or queued (the pipeline's \`overlap\`); while another process (e.g. deno task run) runs it, the
fire is skipped. Each wall-clock time fires once, also across DST changes.

  --dry-run     print each scheduled pipeline's next fire times and exit
  --count N     how many fire times --dry-run prints (default 5)
  --manifest    manifest file (default jobs.yaml)`;

function stamp(): string {
  return new Date().toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "dry-run": { type: "boolean" },
      count: { type: "string" },
      manifest: { type: "string", default: "jobs.yaml" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.count !== undefined && !values["dry-run"]) {
    throw new ArgsError("ERR_PARSE_ARGS_INVALID_OPTION_VALUE", "--count goes with --dry-run");
  }
  const count = flagInteger("--count", values.count ?? "5");
  loadDotEnv();
  registerSecrets(); // jobs' errors reach this process's output and history
  const manifest = loadManifest(values.manifest);
  const entries = scheduleEntries(manifest);
  if (entries.length === 0) {
    console.error(`no pipeline in ${values.manifest} has a schedule: nothing to do`);
    return 2;
  }
  const config = loadConfig();
  const alerts = config.alerts; // a bad alert setting stops the scheduler now, not at a failure
  const alertProblem = alertSettingsProblem(alerts);
  if (alertProblem) throw new ConfigError(alertProblem);
  // As `deno task run` does: a setting a scheduled job would refuse stops the scheduler now,
  // not that job at its fire (each fire checks again: jobs.yaml may change).
  const scheduled = new Set(entries.flatMap((e) => planRun(manifest, e.pipeline).jobs));
  const problems = planSettingsProblems(manifest, [...scheduled], Deno.env.toObject());
  if (problems.length > 0) {
    throw new ConfigError(
      `settings that scheduled jobs would refuse (nothing was scheduled):\n  ${
        problems.join("\n  ")
      }`,
    );
  }
  if (values["dry-run"]) {
    checkLogDir(config.logDir); // as the scheduler would, creating nothing
    for (const e of entries) {
      console.log(`${e.pipeline}: ${describeSchedule(e)}`);
      for (const t of upcoming(e, Date.now(), count)) {
        console.log(`  ${wallClock(t, e.timezone)} ${e.timezone}  (${new Date(t).toISOString()})`);
      }
    }
    return 0;
  }

  useLogDir(config.logDir);
  const lock = lockScheduler(config.logDir); // one scheduler per log directory
  let history: History;
  try {
    history = new History(historyPath(config.logDir));
  } catch (e) {
    lock.close();
    throw e;
  }
  const stale = history.markStale();
  if (stale.length > 0) console.log(`marked ${stale.length} run(s) of dead runners as abandoned`);
  const controller = new AbortController();
  const signals = onStopSignals({
    first: (sig) => {
      console.log(`${stamp()} ${sig}: stopping (running jobs get their kill_grace)`);
      controller.abort();
    },
    again: (sig) =>
      console.log(`${stamp()} ${sig} again: still waiting for running jobs to stop (kill_grace)`),
  });

  for (const e of entries) {
    const next = upcoming(e, Date.now(), 1)[0];
    console.log(
      `${stamp()} scheduling ${e.pipeline} "${e.pattern}" ${e.timezone}, next ${
        next ? wallClock(next, e.timezone) : "never"
      }`,
    );
  }
  try {
    await runScheduler(entries, {
      signal: controller.signal,
      log: (l) => console.log(`${stamp()} ${l}`),
      // Each fire also marks runs of dead runners abandoned (a scheduler lives for months).
      runningElsewhere: (pipeline, jobs) =>
        runningElsewhere(history, pipeline, (l) => console.log(`${stamp()} ${l}`), jobs),
      // The fires recorded by earlier schedulers (a restart inside the autumn repeat).
      firedEarlier: (pipeline, since) => history.scheduledFires(pipeline, since),
      // A fire that did not run is a `skipped` run: deno task runs shows it, firedEarlier has it.
      skipped: (pipeline, at, why, decidedAt) => {
        recordSkipped(history, pipeline, at, why, decidedAt);
      },
      fire: (pipeline, at, signal, jobsRead, runId) =>
        runScheduled(values.manifest, pipeline, {
          at,
          jobsRead,
          runId,
          history,
          logDir: config.logDir,
          env: Deno.env.toObject(),
          signal,
          alerts,
          entry: entries.find((e) => e.pipeline === pipeline),
          print: (l) => console.log(`${stamp()} [${pipeline}] ${l}`),
        }),
    });
  } finally {
    signals.remove();
    history.close();
    lock.close();
  }
  console.log(`${stamp()} scheduler stopped`);
  return 0;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (e instanceof ManifestError) {
      console.error(e.message);
      console.error(`${e.findings.length} problem(s) in ${e.file}: not scheduling`);
      code = 2;
    } else if (e instanceof SchedulerRunningError) {
      console.error(`schedule: ${e.message}`);
      code = 2;
    } else {
      const failure = cliFailure("schedule", e);
      console.error(failure.line);
      code = failure.code;
    }
  }
  Deno.exit(code);
}

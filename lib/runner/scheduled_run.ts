/**
 * One scheduled fire of a pipeline: re-read jobs.yaml (job edits apply at the next fire), plan and
 * run the pipeline like `deno task run` (trigger "schedule"). A fire that cannot start, because
 * jobs.yaml became invalid or no longer has the pipeline, a job's settings are not valid (see
 * planSettingsProblems), or for any other reason (e.g. its log folder cannot be made), is not a
 * silent gap: it is recorded as a failed run (no jobs, the reason as its message) and alerted like
 * any failed run. When not even that can be recorded, the error says so (the scheduler logs it and
 * goes on). Each run records the fire's intended time, which a restarted scheduler reads
 * (History.scheduledFires). Schedules are read once, when the scheduler starts: a fire that finds
 * its pipeline's schedule changed says so. A fire refuses to start beside a live run sharing its
 * jobs (the history's check, as `deno task run` does): it rejects with that RunOverlapError,
 * records nothing, and the scheduler's overlap policy takes it; a fire the scheduler does not run
 * (skipped, or queued and then dropped) is recorded by recordSkipped.
 */
import { type AlertConfig, redact } from "../config/config.ts";
import { alertSummary, sendAlerts } from "./alerts.ts";
import { newRunId } from "./executor.ts";
import { type History, RunOverlapError } from "./history.ts";
import { loadManifestCached } from "./manifest_cache.ts";
import { ManifestError } from "./manifest_error.ts";
import { planRun, planSettingsProblems, UsageError } from "./plan.ts";
import { guardedPrint, runTarget, type TargetResult } from "./run.ts";
import {
  describeSchedule,
  type OtherRun,
  scheduleEntries,
  type ScheduleEntry,
} from "./scheduler.ts";

export interface ScheduledRunOptions {
  history: History;
  logDir: string;
  /** The scheduler's environment (after `.env`). */
  env: Record<string, string>;
  alerts?: AlertConfig;
  signal: AbortSignal;
  /** The schedule this fire came from, as the scheduler read it at its start. */
  entry?: ScheduleEntry;
  /**
   * The fire's intended time (ms), recorded with the run (also with one that could not start): a
   * restarted scheduler does not fire it again (History.scheduledFires).
   */
  at?: number;
  /** Status lines and problems (default console.log). */
  print?: (line: string) => void;
  /** Told every pipeline's jobs as this fire read them (the scheduler decides overlaps on them). */
  jobsRead?: (jobs: ReadonlyMap<string, readonly string[]>) => void;
  /** Told the run's id as soon as it is chosen (a fire skipped behind this run names it). */
  runId?: (id: string) => void;
}

/**
 * A run of `pipeline`, or of any of its `jobs`, that is still running outside this scheduler
 * (e.g. a manual `deno task run` of it, or of one of its jobs), or undefined. Runs whose runner is
 * gone are marked abandoned first (so they do not count, and a long-lived scheduler does not keep
 * them `running`): the run's lock decides, see History.markStale. Only asked when the scheduler
 * itself runs nothing in the pipeline's way.
 */
export function runningElsewhere(
  history: History,
  pipeline: string,
  print: (line: string) => void = (l) => console.log(l),
  jobs: readonly string[] = [],
): OtherRun | undefined {
  const stale = history.markStale();
  if (stale.length > 0) {
    print(`marked ${stale.length} run(s) of dead runners as abandoned: ${stale.join(", ")}`);
  }
  const run = history.runningRuns(pipeline, jobs)[0];
  return run && { id: run.id, target: run.target, pid: run.runner_pid };
}

/**
 * Record a fire of `pipeline` at `at` that the scheduler did not run (skipped, or queued and then
 * dropped; `why` says so and names the run in its way), decided at `decidedAt`: a `skipped` run
 * in the history (History.recordSkipped). Returns its id.
 */
export function recordSkipped(
  history: History,
  pipeline: string,
  at: number,
  why: string,
  decidedAt: number,
): string {
  const id = newRunId(decidedAt, (id) => history.hasRun(id));
  history.recordSkipped({ id, target: pipeline, at: decidedAt, scheduledFor: at, message: why });
  return id;
}

/** Run `pipeline` from the manifest at `manifestPath` as it is now; see the module comment. */
export async function runScheduled(
  manifestPath: string,
  pipeline: string,
  opts: ScheduledRunOptions,
): Promise<TargetResult> {
  const output = guardedPrint(opts.print);
  const print = output.print;
  const startedAt = Date.now();
  // Chosen here so that a failure can tell whether the run got as far as being recorded.
  // A history that cannot be read is met (and reported) by the fire itself.
  const runId = newRunId(startedAt, (id) => {
    try {
      return opts.history.hasRun(id);
    } catch {
      return false;
    }
  });
  opts.runId?.(runId);
  let why: string;
  try {
    const manifest = await loadManifestCached(manifestPath);
    opts.jobsRead?.(new Map([...manifest.pipelines.values()].map((p) => [p.id, p.jobs])));
    if (opts.entry) {
      const now = describeSchedule(scheduleEntries(manifest).find((e) => e.pipeline === pipeline));
      const kept = describeSchedule(opts.entry);
      if (now !== kept) {
        print(
          `note: ${manifestPath} now gives ${pipeline} ${now}; this scheduler keeps ${kept} ` +
            "until it is restarted",
        );
      }
    }
    // planRun also takes a job id: a pipeline removed from jobs.yaml and a job added under its id
    // must not make the fire run that job.
    if (!manifest.pipelines.has(pipeline)) {
      const have = [...manifest.pipelines.keys()].join(", ") || "none";
      throw new UsageError(
        `${manifestPath} has no pipeline "${pipeline}" now (pipelines: ${have})`,
      );
    }
    const plan = planRun(manifest, pipeline);
    const problems = planSettingsProblems(manifest, plan.jobs, opts.env);
    if (problems.length > 0) {
      throw new UsageError(`settings that jobs of the run would refuse: ${problems.join("; ")}`);
    }
    const result = await runTarget(manifest, plan, {
      history: opts.history,
      logDir: opts.logDir,
      env: opts.env,
      trigger: "schedule",
      scheduledFor: opts.at,
      runId,
      // Two runs of the same jobs at once would write the same warehouse tables side by side.
      refuseOverlap: true,
      signal: opts.signal,
      alerts: opts.alerts,
      print,
    });
    output.rethrow(); // a recorded run: thrown on below
    return result;
  } catch (e) {
    if (e instanceof RunOverlapError) throw e; // nothing started or recorded: not a failure
    if (e instanceof ManifestError) {
      for (const line of e.message.split("\n")) print(line);
      why = `${manifestPath} is invalid now (${e.findings.length} problem(s), first: ` +
        `${e.message.split("\n")[0]})`;
    } else if (e instanceof UsageError) why = (e as Error).message;
    else if (isRecorded(opts.history, runId)) throw e; // it started: its records tell the rest
    else {
      // Anything else that kept the run from starting (e.g. its log folder cannot be made) is
      // as much a gap in the schedule as an invalid manifest: recorded and alerted the same way.
      why = `${(e as Error).name}: ${(e as Error).message}`;
    }
  }
  let result: TargetResult;
  try {
    result = await recordNotStarted(pipeline, runId, startedAt, `not started: ${why}`, {
      ...opts,
      print,
    });
  } catch (e) {
    // Not even the history can be written: the scheduler logs this and goes on.
    throw new Error(
      `${pipeline} not started (${why}), and recording that in the history failed too: ` +
        `${(e as Error).name}: ${(e as Error).message}`,
    );
  }
  output.rethrow();
  return result;
}

/** Does the history hold run `runId` (false also when it cannot be read)? */
function isRecorded(history: History, runId: string): boolean {
  try {
    return history.getRun(runId) !== undefined;
  } catch {
    return false;
  }
}

async function recordNotStarted(
  pipeline: string,
  runId: string,
  startedAt: number,
  message: string,
  opts: ScheduledRunOptions,
): Promise<TargetResult> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const endedAt = Date.now();
  opts.history.startRun({
    id: runId,
    target: pipeline,
    trigger: "schedule",
    jobs: [],
    at: startedAt,
    scheduledFor: opts.at,
  });
  opts.history.endRun(runId, "failed", endedAt, message);
  print(`run ${runId} ${pipeline}: failed, ${message}`);
  const result = {
    runId,
    target: pipeline,
    status: "failed" as const,
    startedAt,
    endedAt,
    durationMs: endedAt - startedAt,
    jobs: [],
  };
  const summary = alertSummary(result, opts.history.host);
  summary.text += `; ${redact(message)}`;
  const alerts = opts.alerts ? await sendAlerts(summary, opts.alerts, { signal: opts.signal }) : [];
  for (const a of alerts) print(`alert ${a.channel}: ${a.ok ? "sent" : "FAILED"} (${a.detail})`);
  if (alerts.length > 0) {
    opts.history.noteRun(
      runId,
      alerts.map((a) => `alert ${a.channel} ${a.ok ? "sent" : "failed"}: ${a.detail}`).join("; "),
    );
  }
  return { ...result, alerts };
}

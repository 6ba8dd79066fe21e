/**
 * `deno task run <pipeline|job> [--dry-run] [--only a,b] [--from job]`: run a pipeline or a job
 * from the manifest now.
 *
 *   deno run --allow-all lib/runner/cli_run.ts <pipeline|job> [options]
 *
 * --allow-all, because the runner starts `deno run` with any permissions (an unscoped --allow-run,
 * which Deno documents as effectively --allow-all) and hands each job its log as a descriptor
 * found in /proc/self/fd, which Deno opens only under --allow-all (see launch.ts).
 *
 * Exit codes: 0 run ok (skipped jobs are ok), 1 run failed, 2 bad manifest, usage or configuration
 * (a setting a job of the run would refuse, e.g. EGX_RETENTION_DAYS=abc for cleanup; with
 * --dry-run also: a job's command cannot be built, e.g. an unset `${VAR}` it refers to),
 * 3 not started: a run of the same target, or sharing one of its jobs, is still running on this
 * host (two runs of the same jobs against one warehouse at once; --allow-overlap runs anyway),
 * 130/143/129 cancelled by SIGINT/SIGTERM/SIGHUP (running jobs get the manifest's kill_grace to
 * stop; a SIGHUP ignored at the start, under `nohup`, stays ignored).
 */
import { cliFailure, flagInteger, parseArgs } from "./args.ts";
import { alertSettingsProblem } from "./alerts.ts";
import { ConfigError, loadConfig, loadDotEnv, registerSecrets } from "../config/config.ts";
import { checkLogDir, History, historyPath, RunOverlapError, useLogDir } from "./history.ts";
import { ManifestError } from "./manifest_error.ts";
import { importManifestModule, loadManifestCached } from "./manifest_cache.ts";
import { type Plan, planRun, planSettingsProblems, UsageError } from "./plan.ts";
import type { Manifest } from "./manifest.ts";
import { runTarget } from "./run.ts";
import { formatPlan } from "./status.ts";
import { newRunId } from "./executor.ts";
import { onStopSignals } from "./stop_signals.ts";

const HELP = `Usage: deno task run <pipeline|job> [options]

Runs a pipeline (or one job) from jobs.yaml now, each job as its own permission-scoped
\`deno run\` process, independent jobs concurrently. Logs: <EGX_LOG_DIR>/runs/<run-id>/;
history: <EGX_LOG_DIR>/runs.sqlite (see \`deno task runs\`).

Options:
  --dry-run            print the plan (order, exact commands, permissions) and run nothing
                       (exit 2 if a job's command cannot be built, e.g. an unset \${VAR},
                       or its settings are not valid, e.g. EGX_RETENTION_DAYS=abc)
  --only a,b           run only these jobs of the target
  --from job           run this job and everything downstream of it in the target
  --concurrency N      jobs at once (default: the pipeline's or settings.concurrency)
  --manifest PATH      manifest file (default jobs.yaml); its scripts are relative to its folder
  --allow-overlap      run even while a run of the same target, or of one of its jobs, is still
                       running on this host (by default nothing starts then: exit 3)
  -h, --help           this help

Exit codes: 0 ok, 1 failed, 2 bad manifest, usage or configuration, 3 not started (a run of the
same target or of one of its jobs is still running), 130/143/129 interrupted (SIGINT/SIGTERM/SIGHUP).`;

export async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      "dry-run": { type: "boolean" },
      only: { type: "string" },
      from: { type: "string" },
      concurrency: { type: "string" },
      manifest: { type: "string", default: "jobs.yaml" },
      "allow-overlap": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(
      "usage: deno task run <pipeline|job> [--dry-run] [--only a,b] [--from job] " +
        "[--concurrency N] [--manifest PATH] [--allow-overlap] (see --help)",
    );
    return 2;
  }
  const concurrency = values.concurrency === undefined
    ? undefined
    : flagInteger("--concurrency", values.concurrency);
  loadDotEnv();
  // Jobs' errors reach this process's output and history: mask every secret, not only those
  // this process reads itself.
  registerSecrets();
  const env = Deno.env.toObject();
  const plan = (m: Manifest) =>
    planRun(m, positionals[0], {
      only: values.only?.split(",").map((s) => s.trim()).filter(Boolean),
      from: values.from,
    });
  const config = loadConfig();
  const alerts = config.alerts; // a bad alert setting stops the run before it starts
  const alertProblem = alertSettingsProblem(alerts);
  if (alertProblem) throw new ConfigError(alertProblem);
  if (values["dry-run"]) {
    // Full validation (the settings above, the log folder, the manifest), and nothing written
    // anywhere.
    checkLogDir(config.logDir);
    const { loadManifest } = await importManifestModule();
    const manifest = loadManifest(values.manifest);
    const p = plan(manifest);
    const { lines, unbuildable, misconfigured } = formatPlan(
      manifest,
      { ...p, concurrency: concurrency ?? p.concurrency },
      env,
    );
    lines.forEach((l) => console.log(l));
    // The run would fail these jobs without starting them, or not start: a dry run must say so.
    if (unbuildable.length > 0) {
      console.error(
        `run: ${unbuildable.length} job(s) cannot start as configured: ${unbuildable.join(", ")} ` +
          `("cannot build command" above)`,
      );
    }
    if (misconfigured.length > 0) {
      console.error(
        `run: ${misconfigured.length} job(s) have settings that are not valid: ` +
          `${misconfigured.join(", ")} ("settings:" above); the run would not start`,
      );
    }
    return unbuildable.length + misconfigured.length === 0 ? 0 : 2;
  }
  const dbPath = historyPath(config.logDir);
  let history: History | undefined;
  let manifest: Manifest;
  let thePlan: Plan;
  try {
    // Validated and planned before the history is opened: a bad manifest or target leaves no
    // trace in the log folder (on a first run, not even the folder).
    manifest = await loadManifestCached(values.manifest);
    thePlan = plan(manifest);
    // A bad value for the last job's settings (EGX_RETENTION_DAYS for cleanup) fails the run
    // now, not at its end.
    const problems = planSettingsProblems(manifest, thePlan.jobs, env);
    if (problems.length > 0) {
      throw new ConfigError(
        `settings that jobs of the run would refuse (nothing was started):\n  ${
          problems.join("\n  ")
        }`,
      );
    }
    if (!exists(dbPath)) useLogDir(config.logDir);
    history = new History(dbPath);
  } catch (e) {
    history?.close();
    throw e;
  }
  const stale = history.markStale();
  if (stale.length > 0) {
    console.log(`marked ${stale.length} run(s) of dead runners as abandoned: ${stale.join(", ")}`);
  }
  const controller = new AbortController();
  const signals = onStopSignals({
    first: (sig) => {
      console.log(`${sig}: cancelling the run, stopping running jobs`);
      controller.abort();
    },
    again: (sig) => console.log(`${sig} again: still waiting for jobs to stop (kill_grace)`),
  });
  const runId = newRunId(Date.now(), (id) => history.hasRun(id));
  try {
    const result = await runTarget(manifest, thePlan, {
      history,
      logDir: config.logDir,
      env,
      runId,
      concurrency,
      signal: controller.signal,
      alerts,
      // Two runs of the same jobs at once would write the same warehouse tables side by side.
      refuseOverlap: !values["allow-overlap"],
      // Said once it is recorded, not before: a refused run never started.
      onStart: () =>
        console.log(
          `run ${runId}: ${thePlan.kind} ${thePlan.target}, ${thePlan.jobs.length} job(s)`,
        ),
    });
    if (result.status === "cancelled") {
      return signals.received === "SIGTERM" ? 143 : signals.received === "SIGHUP" ? 129 : 130;
    }
    return result.status === "ok" ? 0 : 1;
  } finally {
    signals.remove();
    // Closing checkpoints the WAL (~2.5 ms here). Skipping it saves nothing: the next start then
    // reads the grown WAL back (0.7 ms -> 2.5 ms over five 50-job runs, measured).
    history.close();
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    if (e instanceof ManifestError) {
      console.error(e.message);
      console.error(`${e.findings.length} problem(s) in ${e.file}: nothing was run`);
      code = 2;
    } else if (e instanceof RunOverlapError) {
      console.error(
        `run: ${e.message}: nothing was started; wait for it to end, or pass --allow-overlap`,
      );
      code = 3;
    } else if (e instanceof UsageError) {
      console.error(`run: ${e.message}`);
      code = 2;
    } else {
      const failure = cliFailure("run", e);
      console.error(failure.line);
      code = failure.code;
    }
  }
  Deno.exit(code);
}

/**
 * `deno task runs [--last N] [<run-id>]`: the run history (status, durations, log paths).
 *
 *   deno run --allow-read --allow-write --allow-env --allow-sys=hostname lib/runner/cli_runs.ts
 *
 * Without an id: the last N runs (default 20), newest first. With an id (or a unique prefix):
 * that run's jobs and every attempt with its exit status and log file. A scheduled fire that did
 * not run (an overlap) is a run with status `skipped`, no jobs, and why as its message.
 */
import { cliFailure, flagInteger, parseArgs } from "./args.ts";
import { ConfigError, loadConfig, loadDotEnv, redact, registerSecrets } from "../config/config.ts";
import { formatDuration } from "./duration.ts";
import { History, historyPath, type RunRow } from "./history.ts";

const HELP = `Usage: deno task runs [--last N] [<run-id>]

Lists recorded runs (from <EGX_LOG_DIR>/runs.sqlite), newest first, or one run's jobs and
attempts with their log files.

Options:
  --last N     how many runs to list (default 20)
  <run-id>     one run: its whole id or a prefix only it has

Exit codes: 0 listed, 1 no run has that id (or more than one starts with that prefix: give more
of it), 2 bad usage or configuration.`;

const dur = (ms: number | null) => (ms === null ? "-" : formatDuration(ms));
const when = (iso: string | null) => (iso ? iso.replace("T", " ").slice(0, 19) + "Z" : "-");

export function formatRuns(runs: RunRow[]): string[] {
  if (runs.length === 0) return ["no runs recorded yet"];
  const w = Math.max(6, ...runs.map((r) => r.target.length));
  const lines = [
    `${"run".padEnd(20)}  ${"target".padEnd(w)}  ${"trigger".padEnd(8)}  ${"status".padEnd(9)}  ${
      "started".padEnd(20)
    }  ${"duration".padStart(8)}  result`,
  ];
  for (const r of runs) {
    lines.push(
      `${r.id.padEnd(20)}  ${r.target.padEnd(w)}  ${r.trigger.padEnd(8)}  ${r.status.padEnd(9)}  ${
        when(r.started_at).padEnd(20)
      }  ${dur(r.duration_ms).padStart(8)}  ${r.message ?? ""}`.trimEnd(),
    );
  }
  return lines;
}

/** Run ids starting with `prefix` (a whole id matches itself), most recent first. */
export function runsMatching(h: History, prefix: string): string[] {
  if (h.getRun(prefix)) return [prefix];
  return h.listRuns(100_000).filter((r) => r.id.startsWith(prefix)).map((r) => r.id);
}

export function formatRun(h: History, id: string): string[] | undefined {
  const detail = h.getRun(id);
  if (!detail) return undefined;
  const { run, jobs, attempts } = detail;
  // A scheduled run's fire time: a dropped queued fire was decided (started) after it.
  const fire = run.scheduled_for ? `, fire time ${when(run.scheduled_for)}` : "";
  const lines = [
    `run ${run.id}  ${run.target}  ${run.status}  (${run.trigger}${fire}, started ${
      when(run.started_at)
    }, ` +
    `${dur(run.duration_ms)}, runner pid ${run.runner_pid} on ${run.runner_host})`,
  ];
  if (run.message) lines.push(`  ${run.message}`);
  // A skipped fire, or a scheduled run that could not start: an empty table says less.
  if (jobs.length === 0) return [...lines, "", "  no jobs"];
  const w = Math.max(4, ...jobs.map((j) => j.job.length));
  lines.push("", `  ${"job".padEnd(w)}  ${"status".padEnd(15)}  attempts  duration  message`);
  for (const j of jobs) {
    lines.push(
      `  ${j.job.padEnd(w)}  ${j.status.padEnd(15)}  ${String(j.attempts).padStart(8)}  ${
        dur(j.duration_ms).padStart(8)
      }  ${j.message ?? ""}`.trimEnd(),
    );
  }
  if (attempts.length > 0) {
    lines.push("", "  attempts:");
    const rows = attempts.map((a) => [
      `${a.job}#${a.attempt}`,
      a.status,
      a.signal ? a.signal : a.exit_code === null ? "-" : `exit ${a.exit_code}`,
      dur(a.duration_ms),
      a.log_path + (a.message ? `  (${a.message})` : ""),
    ]);
    const width = (i: number) => Math.max(...rows.map((r) => r[i].length));
    const [wName, wStatus, wExit, wDur] = [0, 1, 2, 3].map(width);
    for (const [name, status, exit, duration, rest] of rows) {
      lines.push(
        `  ${name.padEnd(wName)}  ${status.padEnd(wStatus)}  ${exit.padEnd(wExit)}  ${
          duration.padStart(wDur)
        }  ${rest}`,
      );
    }
  }
  return lines;
}

export function main(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    options: { last: { type: "string" }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  // One run at most, named: a second id (or an empty one) was ignored, showing another run or
  // every run's id instead of saying so.
  if (positionals.length > 1 || positionals[0] === "") {
    console.error("usage: deno task runs [--last N] [<run-id>] (see --help)");
    return 2;
  }
  const last = values.last === undefined ? 20 : flagInteger("--last", values.last);
  loadDotEnv();
  registerSecrets(); // masked again on display: rows written before a secret was set or known
  const logDir = loadConfig().logDir;
  const path = historyPath(logDir);
  const wanted = positionals[0];
  // A log folder that cannot be one (a file, or under a file) is the mistake `run` refuses too,
  // not an empty history.
  try {
    if (!Deno.statSync(logDir).isDirectory) throw new Error("it is a file");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new ConfigError(
        `the log folder ${logDir} (EGX_LOG_DIR) cannot be used: ${(e as Error).message}`,
      );
    }
  }
  try {
    Deno.statSync(path);
  } catch {
    // Nothing recorded: a list is empty, a run asked for by id is not there.
    if (wanted === undefined) {
      console.log(`no runs recorded yet (${path} does not exist)`);
      return 0;
    }
    console.error(`no run ${wanted}: no runs recorded yet (${path} does not exist)`);
    return 1;
  }
  const h = new History(path);
  try {
    h.markStale();
    if (wanted !== undefined) {
      const ids = runsMatching(h, wanted);
      if (ids.length !== 1) {
        console.error(
          ids.length === 0
            ? `no run ${wanted} in ${path}`
            : `${ids.length} runs start with ${wanted} (give more of the id): ${
              ids.slice(0, 5).join(", ")
            }${ids.length > 5 ? ", ..." : ""}`,
        );
        return 1;
      }
      formatRun(h, ids[0])!.forEach((l) => console.log(redact(l)));
    } else formatRuns(h.listRuns(last)).forEach((l) => console.log(redact(l)));
    return 0;
  } finally {
    h.close();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(main(Deno.args));
  } catch (e) {
    const failure = cliFailure("runs", e);
    console.error(failure.line);
    Deno.exit(failure.code);
  }
}

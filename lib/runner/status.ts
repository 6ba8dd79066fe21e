/**
 * What the runner prints: one line per job state change (running, ok, skipped, failed, retry n),
 * the failure's log path and last lines, the final summary, and the `--dry-run` plan.
 */
import { formatDuration } from "./duration.ts";
import type { RunEvent, RunResult } from "./executor.ts";
import type { Manifest } from "./manifest.ts";
import { jobCommand, type Plan, settingsProblems, shellLine } from "./plan.ts";
import { redact } from "../config/config.ts";

function clock(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}

/** The status column's width: the longest status a line can show (`upstream_failed`). */
const STATUS_WIDTH = 15;

/** Lines for one event, e.g. `01:00:03 ok              s3_check  1.2s`. */
export function formatEvent(e: RunEvent, width = 16): string[] {
  const name = e.job.padEnd(width);
  const status = (s: string) => s.padEnd(STATUS_WIDTH);
  switch (e.type) {
    case "start":
      return [
        `${clock(e.at)} ${status("running")} ${name}${e.attempt > 1 ? ` attempt ${e.attempt}` : ""}`
          .trimEnd(),
      ];
    case "retry":
      return [
        `${clock(e.at)} ${status(`retry ${e.attempt - 1}`)} ${name}in ${
          formatDuration(e.delayMs)
        } (${redact(e.reason)})`,
      ];
    case "end": {
      const took = e.attempts > 0 ? ` ${formatDuration(e.durationMs)}` : "";
      const msg = e.message ? `  ${redact(e.message)}` : "";
      const lines = [`${clock(e.at)} ${status(e.status)} ${name}${took}${msg}`.trimEnd()];
      if (e.status === "failed" && e.logPath) {
        lines.push(`         log: ${e.logPath}`);
        for (const l of e.tail ?? []) lines.push(`         | ${l}`);
      }
      return lines;
    }
  }
}

/** The closing summary: one line for the run, one per job with status, attempts and duration. */
export function formatSummary(r: RunResult): string[] {
  const width = Math.max(4, ...r.jobs.map((j) => j.id.length));
  const lines = [
    `run ${r.runId} ${r.target}: ${r.status} in ${formatDuration(r.durationMs)}`,
    `  ${"job".padEnd(width)}  ${"status".padEnd(15)}  attempts  duration`,
  ];
  for (const j of r.jobs) {
    const d = j.attempts > 0 ? formatDuration(j.durationMs) : "-";
    lines.push(
      `  ${j.id.padEnd(width)}  ${j.status.padEnd(15)}  ${String(j.attempts).padStart(8)}  ${d}`,
    );
  }
  return lines;
}

/**
 * The `--dry-run` plan: jobs in order, each with its dependencies, exact command and env, and
 * the jobs whose command cannot be built (an unset `${VAR}`, a bad permission entry): a real run
 * fails them without starting them; and the jobs whose settings are not valid (settingsProblems):
 * a real run does not start.
 */
export function formatPlan(
  manifest: Manifest,
  plan: Plan,
  env: Readonly<Record<string, string>>,
): { lines: string[]; unbuildable: string[]; misconfigured: string[] } {
  const unbuildable: string[] = [];
  const misconfigured: string[] = [];
  const lines = [
    `plan for ${plan.kind} ${plan.target}: ${plan.jobs.length} job(s), concurrency ${plan.concurrency}, cwd ${manifest.root}`,
  ];
  plan.jobs.forEach((job, i) => {
    const deps = plan.deps.get(job.id)!;
    lines.push(
      `${i + 1}. ${job.id}${
        deps.length ? ` (after ${deps.join(", ")}; trigger ${job.trigger})` : ""
      }` +
        ` timeout ${formatDuration(job.timeoutMs)}, retries ${job.retries}`,
    );
    try {
      const cmd = jobCommand(manifest, job, { source: env, deno: "deno" });
      lines.push(`   ${shellLine(cmd.argv)}`);
      const p = cmd.permissions;
      const names = p.env.map((n) => `${n}${n.endsWith("*") || n in cmd.env ? "" : " (unset)"}`)
        .concat(Object.keys(job.env).map((n) => `${n} (fixed)`));
      lines.push(
        `   permissions: net=${p.net === true ? "any" : p.net.join(",") || "-"} read=${
          p.read.join(",") || "-"
        } write=${p.write.join(",") || "-"} env=${p.env.join(",") || "-"} ffi=${p.ffi} sys=${
          Array.isArray(p.sys) ? p.sys.join(",") : p.sys
        }`,
      );
      lines.push(`   env passed: ${names.join(", ") || "(none declared)"}`);
      const problems = settingsProblems(cmd.env);
      for (const p of problems) lines.push(`   settings: ${p}`);
      if (problems.length > 0) misconfigured.push(job.id);
    } catch (e) {
      lines.push(`   cannot build command: ${(e as Error).message}`);
      unbuildable.push(job.id);
    }
  });
  // Commands carry expanded args and permissions, and so may a secret.
  return { lines: lines.map((l) => redact(l)), unbuildable, misconfigured };
}

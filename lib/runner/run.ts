/**
 * One run of a target, as the CLI and the scheduler do it: execute the plan while printing live
 * status, print the summary, and send failure alerts when the run failed.
 */
import type { AlertConfig } from "../config/config.ts";
import { type AlertOutcome, alertSummary, sendAlerts } from "./alerts.ts";
import { type ExecuteOptions, executePlan, type RunResult } from "./executor.ts";
import type { Manifest } from "./manifest.ts";
import type { Plan } from "./plan.ts";
import { formatEvent, formatSummary } from "./status.ts";

export interface RunTargetOptions extends Omit<ExecuteOptions, "onEvent"> {
  /** Alert channels; alerts go out only when the run failed. */
  alerts?: AlertConfig;
  /** Where status lines go (default console.log). */
  print?: (line: string) => void;
}

export interface TargetResult extends RunResult {
  alerts: AlertOutcome[];
}

export async function runTarget(
  manifest: Manifest,
  plan: Plan,
  opts: RunTargetOptions,
): Promise<TargetResult> {
  const output = guardedPrint(opts.print);
  const print = output.print;
  const width = Math.max(8, ...plan.jobs.map((j) => j.id.length)) + 2;
  const result = await executePlan(manifest, plan, {
    ...opts,
    onEvent: (e) => formatEvent(e, width).forEach((l) => print(l)),
  });
  formatSummary(result).forEach((l) => print(l));
  let alerts: AlertOutcome[] = [];
  if (result.status === "failed" && opts.alerts) {
    alerts = await sendAlerts(alertSummary(result, opts.history.host), opts.alerts, {
      signal: opts.signal,
    });
    for (const a of alerts) print(`alert ${a.channel}: ${a.ok ? "sent" : "FAILED"} (${a.detail})`);
    if (alerts.length > 0) {
      opts.history.noteRun(
        result.runId,
        alerts.map((a) => `alert ${a.channel} ${a.ok ? "sent" : "failed"}: ${a.detail}`).join("; "),
      );
    }
  }
  output.rethrow();
  return { ...result, alerts };
}

/**
 * Output that cannot be written (a full disk under a redirected stdout) must not cost the run its
 * records or its failure alert, when that alert is the one word to get out: `print` (default
 * console.log) keeps the first error, and `rethrow` throws it once the run is recorded and alerted.
 */
export function guardedPrint(out: (line: string) => void = (l) => console.log(l)) {
  let failed: { error: unknown } | undefined;
  return {
    print: (line: string) => {
      try {
        out(line);
      } catch (error) {
        failed ??= { error };
      }
    },
    rethrow: () => {
      if (failed) throw failed.error;
    },
  };
}

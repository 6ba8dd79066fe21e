/**
 * The stream side of alerting: while the stream writes today's bars, re-evaluate the rules each
 * time the warehouse changes (a cheap file stat, see lib/web/data_version.ts), recording alerts
 * with source "stream". The once-per-day key keeps repeated evaluations from firing twice.
 */
import type { Warehouse } from "../warehouse/warehouse.ts";
import { type DataVersion, filesVersion, timeBucketVersion } from "../web/data_version.ts";
import { type AlertRunResult, evaluateAlerts } from "./run_alerts.ts";
import type { Rule } from "./rules.ts";

export interface WatchOptions {
  /** The DuckDB file to watch (undefined: re-evaluate every interval). */
  path?: string;
  /** Watch this instead of the file (the stream consumer counts its own commits). */
  version?: DataVersion;
  intervalMs: number;
  webhookUrl?: string;
  /** Where alert lines go (default console.log). */
  write?: (line: string) => void;
  signal: AbortSignal;
  /** An evaluation failed (the watch goes on). */
  onError: (e: unknown) => void;
  /** After each evaluation (tests). */
  onEvaluated?: (r: AlertRunResult) => void;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Evaluate now and after every change, until `signal` aborts. */
export async function watchAlerts(
  wh: Warehouse,
  rules: readonly Rule[],
  opts: WatchOptions,
): Promise<void> {
  const version: DataVersion = opts.version ??
    (opts.path
      ? filesVersion([opts.path, `${opts.path}.wal`], { minIntervalMs: 0 })
      : timeBucketVersion(opts.intervalMs));
  let seen: string | undefined;
  while (!opts.signal.aborted) {
    const v = await version.current();
    if (v !== seen) {
      // The version this evaluation starts from: a write during it (the stream's, or recording
      // our own alerts) brings one more evaluation, which finds nothing new and settles.
      seen = v;
      try {
        const r = await evaluateAlerts(wh, rules, {
          source: "stream",
          webhookUrl: opts.webhookUrl,
          write: opts.write,
          signal: opts.signal,
        });
        opts.onEvaluated?.(r);
        for (const f of r.failed) opts.onError(new Error(`delivery failed: ${f.error}`));
      } catch (e) {
        if (opts.signal.aborted) break;
        opts.onError(e);
      }
    }
    await sleep(opts.intervalMs, opts.signal);
  }
}

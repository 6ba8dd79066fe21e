/**
 * The stream side of alerting: while the stream writes today's bars, re-evaluate the rules each
 * time the warehouse changes (a cheap file stat, see lib/web/data_version.ts), recording alerts
 * with source "stream". The once-per-day key keeps repeated evaluations from firing twice.
 */
import type { Warehouse } from "../warehouse/warehouse.ts";
import { type DataVersion, filesVersion, timeBucketVersion } from "../web/data_version.ts";
import { type AlertRunResult, evaluateAlerts, notPermittedError } from "./run_alerts.ts";
import type { Rule } from "./rules.ts";

/**
 * After a failed delivery, how long the watch POSTs nothing (default of `retryMs`). Recording
 * the failure changes the warehouse, which brought the next evaluation and its POST one
 * interval (5 s) later, forever: a webhook answering 429 or 500 was hit every few seconds.
 */
export const WATCH_RETRY_MS = 60_000;

/**
 * The longest wait a webhook's `Retry-After` (429 or 503) gets: a webhook asking for a day (or a
 * mistyped date years ahead) would hold every alert that long.
 */
export const WATCH_RETRY_AFTER_MAX_MS = 3_600_000;

export interface WatchOptions {
  /** The DuckDB file to watch (undefined: re-evaluate every interval). */
  path?: string;
  /** Watch this instead of the file (the stream consumer counts its own commits). */
  version?: DataVersion;
  intervalMs: number;
  /**
   * After a failed delivery, POST nothing for this long (default WATCH_RETRY_MS), or as long as
   * a 429 or 503 answer's `Retry-After` asks, if longer (at most WATCH_RETRY_AFTER_MAX_MS).
   * After a failed evaluation, evaluate again this long after it, also without a change.
   */
  retryMs?: number;
  webhookUrl?: string;
  /** Where alert lines go (default console.log). */
  write?: (line: string) => void;
  signal: AbortSignal;
  /** An evaluation failed (the watch goes on, and evaluates again after retryMs). */
  onError: (e: unknown) => void;
  /** After each evaluation (tests). */
  onEvaluated?: (r: AlertRunResult) => void;
  /** The clock (tests; default the real one): back-off times and the evaluations' own. */
  now?: () => Date;
}

/**
 * How long to POST nothing after the failures `failed` of one evaluation, and what the log line
 * says about it: `floorMs`, or a 429 or 503 answer's `Retry-After` when longer, up to
 * WATCH_RETRY_AFTER_MAX_MS; a value that is neither seconds nor a date counts for nothing.
 */
export function backOff(
  failed: AlertRunResult["failed"],
  floorMs: number,
): { ms: number; why: string } {
  const retryAfter = failed.find((f) => f.retryAfter !== undefined)?.retryAfter;
  if (retryAfter === undefined) return { ms: floorMs, why: "" };
  const asked = retryAfter.ms;
  if (asked === undefined) {
    return {
      ms: floorMs,
      // Quoted (escaped) and cut: the webhook's words, not ours.
      why: ` (its Retry-After ${
        JSON.stringify(retryAfter.raw.slice(0, 80))
      } is neither seconds nor a date)`,
    };
  }
  const max = Math.max(floorMs, WATCH_RETRY_AFTER_MAX_MS);
  const ms = Math.min(Math.max(asked, floorMs), max);
  const s = (n: number) => `${n / 1000} s`;
  return {
    ms,
    why: ms === asked
      ? ", as its Retry-After asks"
      : asked > ms
      ? ` (its Retry-After asks ${s(asked)}; ${s(max)} at most)`
      : ` (its Retry-After asks ${s(asked)}; ${s(floorMs)} at least)`,
  };
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

/**
 * Evaluate now and after every change, until `signal` aborts. Rejects with a ConfigError when
 * the webhook's host may not be connected to (see notPermittedError): a configuration error no
 * later evaluation can get past.
 */
export async function watchAlerts(
  wh: Warehouse,
  rules: readonly Rule[],
  opts: WatchOptions,
): Promise<void> {
  const version: DataVersion = opts.version ??
    (opts.path
      ? filesVersion([opts.path, `${opts.path}.wal`], { minIntervalMs: 0 })
      : timeBucketVersion(opts.intervalMs));
  const now = opts.now ?? (() => new Date());
  const floorMs = opts.retryMs ?? WATCH_RETRY_MS;
  let seen: string | undefined;
  // While set, a delivery failed: new alerts are recorded and printed, and POSTed from then on
  // (evaluating then even without a change, so that they are not left waiting for one).
  let retryAt: number | undefined;
  // While set, an evaluation failed (a busy warehouse, a model being rebuilt): the data it was
  // to read is evaluated again then, even without a change, not left waiting for the next one
  // (alerts it recorded before failing would wait unsent for hours after the close).
  let evaluateAt: number | undefined;
  while (!opts.signal.aborted) {
    const v = await version.current();
    const t = now().getTime();
    const due = retryAt !== undefined && t >= retryAt;
    if (v !== seen || due || (evaluateAt !== undefined && t >= evaluateAt)) {
      // The version this evaluation starts from: a write during it (the stream's, or recording
      // our own alerts) brings one more evaluation, which finds nothing new and settles.
      seen = v;
      evaluateAt = undefined;
      const holding = retryAt !== undefined && !due;
      let refused: Error | undefined;
      try {
        const r = await evaluateAlerts(wh, rules, {
          source: "stream",
          webhookUrl: opts.webhookUrl,
          holdDeliveries: holding,
          write: opts.write,
          signal: opts.signal,
          now: opts.now,
        });
        // The failed alerts stay recorded as undelivered: held (recorded and printed, never
        // POSTed) until `retryAt`, then all sent by the first evaluation after it.
        const wait = backOff(r.failed, floorMs);
        if (!holding) retryAt = r.failed.length > 0 ? now().getTime() + wait.ms : undefined;
        opts.onEvaluated?.(r);
        // No permission to reach the webhook's host: no later POST can succeed, so the watch
        // stops with the one-shot's configuration error (exit 2 for the job), instead of
        // backing off and retrying forever. The alerts stay recorded, undelivered.
        refused = notPermittedError(r);
        // One line per evaluation: the reason and the wait, not one line per alert it left.
        if (r.failed.length > 0 && !refused) {
          const more = r.failed.length - 1;
          opts.onError(
            new Error(
              `delivery failed: ${r.failed[0].error}` +
                (more > 0 ? ` (${more} more alert(s) not delivered)` : "") +
                `; POSTing again in ${wait.ms / 1000} s${wait.why}`,
            ),
          );
        }
      } catch (e) {
        if (opts.signal.aborted) break;
        evaluateAt = now().getTime() + floorMs;
        opts.onError(e);
      }
      if (refused) throw refused;
    }
    await sleep(opts.intervalMs, opts.signal);
  }
}

/**
 * Alerts on the stream side: the consumer process evaluates the alert rules (alerts.yaml, see
 * lib/alerts) at start and after it committed new rows, at most once per interval, in the
 * background on its own warehouse handle (lib/alerts/watch.ts, watching a count of commits).
 * Alerts are recorded with source "stream", printed on stdout and POSTed to the webhook; each
 * fires once per rule, ticker, day and direction however many polls update the day's bar. A
 * failed evaluation is logged and tried again after the next commit: it never stops the consumer.
 * A webhook the process may not connect to (no net permission) ends the alerts, not the consumer:
 * logged once as alerts.stopped, as no later POST could succeed.
 * A rule naming a ticker or index the warehouse does not list is logged once at start (it can
 * never fire; the alerts_evaluate job refuses such a file) and the other rules go on.
 */
import type { Config } from "../config/config.ts";
import { AlertRulesError, checkRuleSubjects, loadRules, type Rule } from "../alerts/rules.ts";
import { watchAlerts } from "../alerts/watch.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import type { Logger } from "./log.ts";

/**
 * The rules the stream evaluates (config.stream.alertRules), or undefined when there are none:
 * switched off, no such file, no rules, or a file with mistakes (logged as an error: the stream
 * goes on without alerts, and the pipeline's alerts_evaluate job fails on the same file).
 */
async function streamAlertRules(
  path: string | undefined,
  log: Logger,
): Promise<Rule[] | undefined> {
  if (path === undefined) {
    log.info("alerts.off", { reason: "EGX_STREAM_ALERT_RULES=off" });
    return undefined;
  }
  let rules: Rule[];
  try {
    rules = await loadRules(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) log.warn("alerts.off", { reason: `no file ${path}` });
    else log.error("alerts.off", { reason: `${path} has mistakes`, error: e });
    return undefined;
  }
  if (rules.length === 0) log.info("alerts.off", { reason: `${path} has no rules` });
  return rules.length > 0 ? rules : undefined;
}

export interface StreamAlerts {
  /** The consumer committed a transaction: evaluate again (within the interval). */
  committed(): void;
  /** Resolves once `signal` aborted and the evaluation in flight (if any) ended. */
  done: Promise<void>;
}

/**
 * Evaluate the configured rules at start (what earlier runs wrote) and after the consumer's
 * commits, at most once per interval, until `signal` aborts.
 */
export function watchStreamAlerts(
  wh: Warehouse,
  config: Config,
  opts: { logger: Logger; signal: AbortSignal; intervalMs?: number },
): StreamAlerts {
  const log = opts.logger;
  let commits = 0;
  let lastError: string | undefined;
  const watch = async () => {
    const rules = await streamAlertRules(config.stream.alertRules, log);
    if (!rules) return;
    await checkRuleSubjects(wh, rules, { signal: opts.signal }).catch((e) =>
      e instanceof AlertRulesError
        ? log.warn("alerts.unknown_subjects", { error: e })
        : log.warn("alerts.subjects_unchecked", { error: e }) // e.g. a busy warehouse
    );
    log.info("alerts.watching", { file: config.stream.alertRules, rules: rules.length });
    await watchAlerts(wh, rules, {
      version: { current: () => Promise.resolve(String(commits)) },
      intervalMs: opts.intervalMs ?? 5_000,
      webhookUrl: config.alerts.webhookUrl,
      signal: opts.signal,
      onEvaluated: (r) => {
        lastError = undefined;
        log.info("alerts.evaluated", {
          matched: r.matched,
          fired: r.fired.length,
          delivered: r.delivered,
          failed: r.failed.length,
        });
      },
      onError: (e) => {
        // The same failure again (e.g. a fresh warehouse without the gold models) is not news.
        const message = e instanceof Error ? e.message : String(e);
        (message === lastError ? log.debug : log.warn)("alerts.failed", { error: e });
        lastError = message;
      },
    });
  };
  return {
    committed: () => void commits++,
    done: watch().catch((e) => log.error("alerts.stopped", { error: e })),
  };
}

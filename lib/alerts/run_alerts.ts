/**
 * One alert evaluation: load the daily series the rules need, evaluate, record what is new
 * (once per rule, subject, day and direction), print it, and deliver everything undelivered to
 * the webhook. Without a webhook stdout is the only channel: the alerts this evaluation printed
 * (its new ones) are recorded as delivered, and no others. Used by the pipeline job
 * (jobs/alerts_evaluate.ts, after the marts models) and by the stream side (`--watch`, or
 * `evaluateAlerts` called by the consumer after a batch).
 */
import { ConfigError } from "../config/config.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import {
  type AlertEvent,
  alertLine,
  DeliveryError,
  postWebhook,
  WEBHOOK_TIMEOUT_MS,
  WebhookNotPermittedError,
} from "./deliver.ts";
import type { RetryAfter } from "./retry_after.ts";
import { evaluateRules } from "./evaluate.ts";
import type { Rule } from "./rules.ts";
import { loadSeries } from "./series.ts";
import {
  CLAIM_LEASE_MS,
  claimUndelivered,
  countUndelivered,
  recordAlerts,
  recordDeliveries,
} from "./store.ts";

/** How long a stopped evaluation may still wait to record its deliveries and release claims. */
const RELEASE_TIMEOUT_MS = 5_000;

export interface AlertRunOptions {
  /** "pipeline" or "stream": recorded with each alert. */
  source: string;
  /** Evaluate on this Cairo trade date (default: each series' latest day). */
  date?: string;
  /** Only these tickers (the stream side passes the tickers of a batch). */
  tickers?: readonly string[];
  /** POST each alert here (config.alerts.webhookUrl); stdout only when absent. */
  webhookUrl?: string;
  /** Where alert lines go (default console.log). */
  write?: (line: string) => void;
  /**
   * With a webhook: record and print the new alerts but POST nothing now (the watch backing off
   * a failing webhook); they stay undelivered, counted in `undelivered`.
   */
  holdDeliveries?: boolean;
  now?: () => Date;
  signal?: AbortSignal;
}

export interface AlertRunResult {
  /** Conditions that hold now (fired earlier or now). */
  matched: number;
  /** Alerts recorded by this evaluation. */
  fired: AlertEvent[];
  /** Alerts delivered to the webhook by this evaluation (new ones and retries). */
  delivered: number;
  /**
   * Deliveries that failed (kept undelivered, retried at the next evaluation); `retryAfter`: the
   * webhook's 429 or 503 answer asked to be left alone for a while; `notPermitted`: the job may
   * not connect to the webhook's host (a configuration error: no later try can succeed).
   */
  failed: { alert: AlertEvent; error: string; retryAfter?: RetryAfter; notPermitted?: true }[];
  /**
   * Undelivered alerts another evaluation holds under a live claim (one running now, or one
   * killed less than the lease ago): sent by it, or by the first evaluation after the lease.
   */
  heldElsewhere: number;
  /**
   * Without a webhook: the alerts left undelivered, all recorded earlier (e.g. a webhook's
   * failures) and not printed by this evaluation; they wait for a webhook. With a webhook, 0,
   * unless `holdDeliveries`: then every undelivered alert.
   */
  undelivered: number;
  /**
   * With `date`: how many of the series the rules watch (tickers, indices) have a bar on it; 0
   * for a weekend, a holiday or a day beyond the data, where nothing can fire.
   */
  barsOnDate?: number;
}

/**
 * The configuration error an evaluation's failures amount to when the job may not connect to the
 * webhook's host (exit 2, not retried: no later try with the same permissions can succeed), or
 * undefined. The one-shot job throws it after its summary; the watch stops with it.
 */
export function notPermittedError(r: Pick<AlertRunResult, "failed">): ConfigError | undefined {
  const refused = r.failed.find((f) => f.notPermitted);
  if (!refused) return undefined;
  return new ConfigError(
    `${r.failed.length} alert(s) not delivered (kept for the next run): ${refused.error}`,
  );
}

/** Evaluate `rules` on the warehouse and deliver the alerts that fire. */
export async function evaluateAlerts(
  wh: Warehouse,
  rules: readonly Rule[],
  opts: AlertRunOptions,
): Promise<AlertRunResult> {
  const now = opts.now ?? (() => new Date());
  const write = opts.write ?? ((l: string) => console.log(l));
  const series = await loadSeries(wh, rules, {
    date: opts.date,
    tickers: opts.tickers,
    signal: opts.signal,
  });
  const candidates = evaluateRules(rules, series, opts.date ? { dates: [opts.date] } : {});
  const barsOnDate = opts.date === undefined
    ? undefined
    : [...series.stocks.values(), ...series.indices.values()]
      .filter((bars) => bars.at(-1)?.date === opts.date).length;
  const fired = await recordAlerts(wh, candidates, {
    source: opts.source,
    now: now(),
    signal: opts.signal,
  });
  for (const a of fired) write(alertLine(a));
  if (!opts.webhookUrl) {
    return { ...await printedOnly(wh, candidates.length, fired, opts), barsOnDate };
  }
  if (opts.holdDeliveries) {
    const undelivered = await countUndelivered(wh, { signal: opts.signal });
    return {
      matched: candidates.length,
      fired,
      delivered: 0,
      failed: [],
      heldElsewhere: 0,
      undelivered,
      barsOnDate,
    };
  }

  // Claimed, so that an evaluation running at the same time does not send them too.
  const token = `${opts.source}:${crypto.randomUUID()}`;
  const claimedAt = now();
  const { alerts: pending, heldElsewhere } = await claimUndelivered(wh, {
    token,
    now: claimedAt,
    signal: opts.signal,
  });
  // A POST starting later could still run when the lease ends and another evaluation may take
  // the claim over and send the same alert.
  const sendBy = claimedAt.getTime() + CLAIM_LEASE_MS - WEBHOOK_TIMEOUT_MS;
  const outcomes: {
    alert: AlertEvent;
    error?: string;
    retryAfter?: RetryAfter;
    notPermitted?: true;
  }[] = [];
  // Recorded even when the evaluation is stopped, before or meanwhile (then within
  // RELEASE_TIMEOUT_MS): the alerts sent are not sent again after the claim's lease, and those
  // not sent go back to the next evaluation at once.
  const recording = recordingSignal(opts.signal);
  const record = (batch: typeof outcomes) => {
    outcomes.push(...batch);
    return recordDeliveries(wh, batch, { token, now: now(), signal: recording.signal });
  };
  try {
    let next = 0;
    for (; next < pending.length; next++) {
      if (opts.signal?.aborted || now().getTime() > sendBy) break;
      const alert = pending[next];
      let error: string | undefined;
      let retryAfter: RetryAfter | undefined;
      let notPermitted = false;
      try {
        await postWebhook(opts.webhookUrl, alert, { signal: opts.signal, now });
      } catch (e) {
        if (e instanceof DeliveryError) retryAfter = e.retryAfter;
        notPermitted = e instanceof WebhookNotPermittedError;
        // Cut off by the stop itself (fetch rejects with the signal's reason), not an answer
        // or a failure that came first.
        const cutOff = opts.signal?.aborted && e instanceof Error &&
          e.cause === opts.signal.reason;
        error = cutOff
          ? "not confirmed: the evaluation was stopped during its POST (it may have arrived; " +
            "sent again next evaluation)"
          : e instanceof Error
          ? e.message
          : String(e);
      }
      // Recorded before the next POST: an evaluation killed later sends none of these again.
      await record([{
        alert,
        error,
        ...(retryAfter ? { retryAfter } : {}),
        ...(notPermitted ? { notPermitted: true as const } : {}),
      }]);
      // The webhook failed (down, refusing, rate-limiting, or silent until the timeout): the
      // rest wait for the next evaluation. Trying each in turn took up to the timeout per
      // alert (a hanging webhook held 100 alerts for the whole lease) and hammered a 429.
      if (error !== undefined) {
        next++;
        break;
      }
    }
    const failedBefore = outcomes.some((o) => o.error !== undefined);
    const error = opts.signal?.aborted
      ? "not sent: the evaluation was stopped (sent next evaluation)"
      : failedBefore
      ? "not sent: the webhook failed on an earlier alert of this evaluation (sent next " +
        "evaluation)"
      : "not sent: the delivery claim's lease would end first (sent next evaluation)";
    await record(pending.slice(next).map((alert) => ({ alert, error })));
  } finally {
    recording.dispose();
  }
  const failed = outcomes.filter((o) => o.error !== undefined) as AlertRunResult["failed"];
  return {
    matched: candidates.length,
    fired,
    delivered: outcomes.length - failed.length,
    failed,
    heldElsewhere,
    undelivered: 0,
    barsOnDate,
  };
}

/**
 * No webhook: stdout was the channel, and exactly `fired` has been printed. Those are recorded
 * as delivered (also when the evaluation is being stopped, within RELEASE_TIMEOUT_MS); nothing
 * is claimed, and the alerts recorded earlier and still undelivered are left for a webhook.
 */
async function printedOnly(
  wh: Warehouse,
  matched: number,
  fired: AlertEvent[],
  opts: AlertRunOptions,
): Promise<AlertRunResult> {
  const recording = recordingSignal(opts.signal);
  try {
    await recordDeliveries(wh, fired.map((alert) => ({ alert })), {
      token: `${opts.source}:stdout`,
      now: (opts.now ?? (() => new Date()))(),
      signal: recording.signal,
      printed: true, // one a webhook evaluation claimed in between is left to its POST
    });
  } finally {
    recording.dispose();
  }
  const undelivered = await countUndelivered(wh, { signal: opts.signal });
  return { matched, fired, delivered: 0, failed: [], heldElsewhere: 0, undelivered };
}

/**
 * A signal for recording deliveries: it aborts RELEASE_TIMEOUT_MS after `signal` (the
 * evaluation's stop) does, so what was sent or printed is still recorded when stopped.
 */
function recordingSignal(signal: AbortSignal | undefined) {
  const recording = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stopped = () => timer = setTimeout(() => recording.abort(), RELEASE_TIMEOUT_MS);
  if (signal?.aborted) stopped();
  else signal?.addEventListener("abort", stopped, { once: true });
  return {
    signal: recording.signal,
    dispose: () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stopped);
    },
  };
}

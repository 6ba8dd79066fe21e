/**
 * Alert delivery: one stdout line per alert, and one JSON POST per alert to a webhook
 * (EGX_ALERT_WEBHOOK_URL). The body carries `text` (so Slack/Mattermost-style incoming webhooks
 * show the message as is) and `alert` with the structured fields.
 */
import { redact, secretForms } from "../config/config.ts";
import type { AlertCandidate } from "./evaluate.ts";
import { type RetryAfter, retryAfterOf } from "./retry_after.ts";

export interface AlertEvent extends AlertCandidate {
  /** When the alert was first recorded (UTC ISO). */
  triggeredAt: string;
  /** Who recorded it: "pipeline" (alerts_evaluate job) or "stream". */
  source: string;
}

/** How long one POST may take (default of `postWebhook`). */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * Most bytes of an error answer read for its message (of which 200 characters are shown); the
 * rest is not read. The whole body was read before: a webhook answering 2 GB held 2 GB.
 */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** The webhook answered with an error or could not be reached. */
export class DeliveryError extends Error {
  override name = "DeliveryError";
  /** A 429 or 503 answer's `Retry-After` (how long the webhook asks to be left alone). */
  retryAfter?: RetryAfter;
  constructor(message: string, opts: ErrorOptions & { retryAfter?: RetryAfter } = {}) {
    super(message, opts);
    if (opts.retryAfter) this.retryAfter = opts.retryAfter;
  }
}

/**
 * The job may not connect to the webhook's host (Deno's net permission: under the runner,
 * EGX_ALERT_WEBHOOK_NET in jobs.yaml). A configuration error, not an outage: trying again with
 * the same permissions cannot succeed. `host` is the host:port the permission must name.
 */
export class WebhookNotPermittedError extends DeliveryError {
  override name = "WebhookNotPermittedError";
  constructor(readonly host: string, opts: ErrorOptions = {}) {
    super(
      `webhook not permitted: this job may not connect to ${host}; set ` +
        `EGX_ALERT_WEBHOOK_NET=${host} (the job's net permission in jobs.yaml; run by hand, ` +
        `--allow-net=${host})`,
      opts,
    );
  }
}

/** The stdout line for an alert. */
export function alertLine(a: AlertEvent): string {
  return `ALERT ${a.date} ${a.subject} [${a.ruleId}] ${a.message}`;
}

/** The JSON body POSTed to the webhook. */
export function webhookBody(a: AlertEvent): Record<string, unknown> {
  return {
    text: `EGX alert: ${a.message}`,
    alert: {
      rule: a.ruleId,
      kind: a.kind,
      subject: a.subject,
      date: a.date,
      direction: a.direction,
      observed: a.observed,
      threshold: a.threshold,
      message: a.message,
      triggeredAt: a.triggeredAt,
      source: a.source,
    },
  };
}

/**
 * POST one alert; resolves on a 2xx answer, throws DeliveryError otherwise (with the
 * `Retry-After` of a 429 or 503, an HTTP date read at `now`).
 */
export async function postWebhook(
  url: string,
  alert: AlertEvent,
  opts: { signal?: AbortSignal; timeoutMs?: number; now?: () => Date } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": "egx-pipeline-alerts" },
      body: JSON.stringify(webhookBody(alert)),
      signal,
      // A followed 301/302/303 turns the POST into a GET without the alert, and its 200 would
      // count as delivered; a redirect may also lead to another host.
      redirect: "manual",
    });
  } catch (e) {
    // No net permission for the host: Deno's own words ("run again with the --allow-net flag")
    // do not fit a job the runner starts, and waiting cannot help.
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      const quoted = e.message.match(/net access to "([^"]+)"/)?.[1];
      const host = quoted ?? hostPort(url);
      throw new WebhookNotPermittedError(redact(host, secretForms(url)), { cause: e });
    }
    // Deno's fetch says only "fetch failed"; its cause says why (refused, DNS, TLS), quoting the
    // URL normalised and without its user: every form of the URL is masked.
    let why = e instanceof Error ? e.message : String(e);
    if (e instanceof Error && e.cause instanceof Error) why += `: ${e.cause.message}`;
    // The timeout's own words ("The operation was aborted due to timeout") do not say how long.
    if (timeout.aborted && !opts.signal?.aborted) why = `no answer within ${timeoutMs / 1000} s`;
    throw new DeliveryError(redact(`webhook unreachable: ${why}`, secretForms(url)), { cause: e });
  }
  if (res.ok || (res.status >= 300 && res.status < 400)) {
    // Only the status counts: a 2xx's body is not read (nor waited for).
    await res.body?.cancel().catch(() => {});
  }
  if (res.status >= 300 && res.status < 400) {
    throw new DeliveryError(
      `webhook answered ${res.status} ${res.statusText} (a redirect, not followed: set ` +
        "EGX_ALERT_WEBHOOK_URL to the final URL)",
    );
  }
  if (!res.ok) {
    // Masked before it is cut: a cut through the URL (a 404 page quoting the path) would leave
    // most of its token unmasked.
    const text = await readStart(res, MAX_ERROR_BODY_BYTES);
    // On one line, without control characters: a page's newlines or terminal escapes made lines
    // of their own on stderr and in the run history (one reading "ALERT ..." looked like ours).
    const body = redact(text, secretForms(url)).replace(/\p{Cc}+/gu, " ").slice(0, 200);
    const retryAfter = retryAfterOf(res, (opts.now?.() ?? new Date()).getTime());
    throw new DeliveryError(`webhook answered ${res.status} ${res.statusText}: ${body}`, {
      retryAfter,
    });
  }
}

/** The first `max` bytes of `res`'s body as text ("" when it fails); the rest is not read. */
async function readStart(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let read = 0;
  try {
    while (read < max) {
      const { done, value } = await reader.read();
      if (done) return text + decoder.decode();
      const part = value.subarray(0, max - read);
      read += part.length;
      text += decoder.decode(part, { stream: true });
    }
    return text;
  } catch {
    return text;
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** The host:port of `url` (the port its scheme implies when it names none). */
function hostPort(url: string): string {
  try {
    const u = new URL(url);
    const port = u.port || (u.protocol === "https:" ? "443" : "80");
    return `${u.hostname}:${port}`;
  } catch {
    return "the webhook's host";
  }
}

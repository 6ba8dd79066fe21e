/**
 * Failure alerts: when a run fails, a JSON summary (with a one-line `text`) is POSTed to the
 * webhook (EGX_ALERT_WEBHOOK_URL) and/or mailed through SMTP (EGX_SMTP_URL to EGX_ALERT_EMAIL_TO, a comma
 * list, from EGX_ALERT_EMAIL_FROM). Both are optional and independent; a channel that fails is
 * reported in one line (secrets masked) and never changes the run's own outcome.
 */
import { type AlertConfig, redact } from "../config/config.ts";
import type { RunResult } from "./executor.ts";
import { formatDuration } from "./duration.ts";

/**
 * The longest `Retry-After` (of a 429 or 503) the failure webhook waits for, once, before it
 * POSTs the summary again. The summary is sent once per failed run, so a webhook rate-limiting
 * for a moment lost it; a longer wait would hold up the runner's (or scheduler's) end of the run.
 */
export const WEBHOOK_RETRY_AFTER_MAX_MS = 5_000;

/** Wait `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

export interface AlertSummary {
  /** One line for chat webhooks (Slack, Mattermost and the like show `text` as the message). */
  text: string;
  run_id: string;
  target: string;
  status: string;
  host: string;
  started_at: string;
  ended_at: string;
  duration_ms: number;
  failed_jobs: { job: string; status: string; attempts: number; message?: string; log?: string }[];
  jobs: { job: string; status: string; attempts: number; duration_ms: number }[];
}

export interface AlertOutcome {
  channel: "webhook" | "email";
  ok: boolean;
  /** One line, secrets masked. */
  detail: string;
}

export function alertSummary(r: RunResult, host: string): AlertSummary {
  const failed = r.jobs.filter((j) => j.status === "failed");
  const text =
    `egx-pipeline: run ${r.runId} of ${r.target} on ${host} ${r.status} after ${
      formatDuration(r.durationMs)
    }` + (failed.length === 0
      ? ""
      : `; failed: ${
        failed.map((j) => j.message === undefined ? j.id : `${j.id} (${j.message})`).join(", ")
      }`);
  return {
    text: redact(text),
    run_id: r.runId,
    target: r.target,
    status: r.status,
    host,
    started_at: new Date(r.startedAt).toISOString(),
    ended_at: new Date(r.endedAt).toISOString(),
    duration_ms: r.durationMs,
    failed_jobs: failed.map((j) => ({
      job: j.id,
      status: j.status,
      attempts: j.attempts,
      message: j.message === undefined ? undefined : redact(j.message),
      log: j.logPath,
    })),
    jobs: r.jobs.map((j) => ({
      job: j.id,
      status: j.status,
      attempts: j.attempts,
      duration_ms: j.durationMs,
    })),
  };
}

function mailText(s: AlertSummary): string {
  const lines = [
    `Run ${s.run_id} of ${s.target} on ${s.host} ${s.status} after ${
      formatDuration(s.duration_ms)
    }.`,
    "",
  ];
  for (const j of s.failed_jobs) {
    lines.push(`FAILED ${j.job} after ${j.attempts} attempt(s): ${j.message ?? ""}`);
    if (j.log) lines.push(`  log: ${j.log}`);
  }
  lines.push("", "All jobs:");
  for (const j of s.jobs) lines.push(`  ${j.job}: ${j.status}`);
  lines.push("", "Summary (JSON):", JSON.stringify(s, null, 2));
  return lines.join("\n");
}

function describe(e: unknown): string {
  const err = e as Error;
  let m = `${err?.name ?? "Error"}: ${err?.message ?? String(e)}`;
  if (err?.cause instanceof Error) m += ` (${err.cause.message})`;
  return m.split("\n")[0];
}

/**
 * The secret forms of alert URLs as they may appear in error messages: the URL as given and
 * normalised, its path and query (webhook tokens live there) and its password.
 */
export function secretParts(urls: readonly (string | undefined)[]): string[] {
  const out = new Set<string>();
  for (const raw of urls) {
    if (!raw) continue;
    out.add(raw);
    try {
      const u = new URL(raw);
      out.add(u.href);
      if (u.pathname.length > 1 || u.search) out.add(u.pathname + u.search);
      if (u.password) {
        out.add(u.password);
        out.add(decodeURIComponent(u.password));
      }
    } catch { /* not a URL: the raw form is enough */ }
  }
  // Longest first, so a URL is masked whole before its parts.
  return [...out].sort((a, b) => b.length - a.length);
}

/**
 * Why the alert settings cannot work, or undefined: found when the runner or the scheduler
 * starts, not at the first failure (when the alert is needed, and a scheduler may have run for
 * months). The SMTP URL is a secret: never shown.
 */
export function alertSettingsProblem(cfg: AlertConfig): string | undefined {
  if (cfg.smtpUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(cfg.smtpUrl);
    } catch { /* reported below */ }
    if (!u || (u.protocol !== "smtp:" && u.protocol !== "smtps:") || u.hostname === "") {
      return "EGX_SMTP_URL must look like smtp://[user:password@]host[:port] or " +
        "smtps://...; its value is not one (not shown: secret)";
    }
    try {
      decodeURIComponent(u.username);
      decodeURIComponent(u.password);
    } catch {
      return "EGX_SMTP_URL has a user or password with a broken %-escape (write % as %25); " +
        "not shown: secret";
    }
  }
  if ((cfg.smtpUrl === undefined) !== (cfg.emailTo === undefined)) {
    return `email alerts need both EGX_SMTP_URL and EGX_ALERT_EMAIL_TO (only ${
      cfg.smtpUrl === undefined ? "EGX_ALERT_EMAIL_TO" : "EGX_SMTP_URL"
    } is set)`;
  }
  const address = /^[^\s<>,@]+@[^\s<>,@]+$/;
  if (cfg.emailTo !== undefined) {
    const to = cfg.emailTo.split(",").map((s) => s.trim()).filter(Boolean);
    const bad = to.find((a) => !address.test(a));
    if (to.length === 0 || bad !== undefined) {
      return `EGX_ALERT_EMAIL_TO must be a comma list of addresses (name@host), got ` +
        JSON.stringify(cfg.emailTo);
    }
    if (!address.test(cfg.emailFrom)) {
      return `EGX_ALERT_EMAIL_FROM must be an address (name@host), got ${
        JSON.stringify(cfg.emailFrom)
      }`;
    }
  }
  return undefined;
}

/**
 * Send the summary on every configured channel. Never throws; returns one outcome per channel.
 * A webhook answering 429 or 503 with a `Retry-After` of at most WEBHOOK_RETRY_AFTER_MAX_MS gets
 * the summary once more after that wait (`sleep` and `now`, the clock for an HTTP date, are for
 * tests).
 */
export async function sendAlerts(
  summary: AlertSummary,
  cfg: AlertConfig,
  opts: {
    timeoutMs?: number;
    signal?: AbortSignal;
    sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
    now?: () => number;
  } = {},
): Promise<AlertOutcome[]> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // Each channel gets `timeoutMs` in all (a webhook's retry and its wait included), and stops at
  // once when the runner is told to stop.
  const limit = () =>
    opts.signal
      ? AbortSignal.any([AbortSignal.timeout(timeoutMs), opts.signal])
      : AbortSignal.timeout(timeoutMs);
  const secrets = secretParts([cfg.webhookUrl, cfg.smtpUrl]);
  const clean = (s: string) => redact(s, secrets);
  const why = (e: unknown) =>
    opts.signal?.aborted ? "stopped (the runner was told to stop)" : describe(e);
  const tasks: Promise<AlertOutcome>[] = [];
  if (cfg.webhookUrl) {
    const url = cfg.webhookUrl;
    tasks.push((async (): Promise<AlertOutcome> => {
      // One limit for the channel, a retry and its wait included.
      const signal = limit();
      const deadline = Date.now() + timeoutMs;
      const post = async () => {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(summary),
          signal,
          // A followed 301/302/303 turns the POST into a GET without the summary, and its 200
          // looked like a delivered alert; a redirect may also lead to another host.
          redirect: "manual",
        });
        await res.body?.cancel();
        return res;
      };
      try {
        let res = await post();
        // What the answer's Retry-After made of it, said after the status.
        let note = "";
        // Loaded only for such an answer, as the SMTP client only for an email: every run
        // loads this module at its start, few ever send an alert.
        const retryAfter = res.status === 429 || res.status === 503
          ? (await import("../alerts/retry_after.ts")).retryAfterOf(res, (opts.now ?? Date.now)())
          : undefined;
        const left = deadline - Date.now();
        if (
          retryAfter?.ms !== undefined && retryAfter.ms <= WEBHOOK_RETRY_AFTER_MAX_MS &&
          retryAfter.ms >= left
        ) {
          note = ` (its Retry-After asks ${retryAfter.ms / 1000} s: more than is left of the ` +
            `alert's ${timeoutMs / 1000} s, not retried)`;
        } else if (retryAfter?.ms !== undefined && retryAfter.ms <= WEBHOOK_RETRY_AFTER_MAX_MS) {
          await (opts.sleep ?? sleep)(retryAfter.ms, signal);
          signal.throwIfAborted();
          note = ` (after HTTP ${res.status} with Retry-After ${retryAfter.ms / 1000} s: ` +
            "retried once)";
          res = await post();
        } else if (retryAfter?.ms !== undefined) {
          note = ` (its Retry-After asks ${retryAfter.ms / 1000} s: more than ` +
            `${WEBHOOK_RETRY_AFTER_MAX_MS / 1000} s, not retried)`;
        } else if (retryAfter) {
          note = ` (its Retry-After ${
            JSON.stringify(retryAfter.raw.slice(0, 80))
          } is neither seconds nor a date: not retried)`;
        }
        if (res.status >= 300 && res.status < 400) {
          return {
            channel: "webhook",
            ok: false,
            detail: `webhook answered HTTP ${res.status} (a redirect, not followed: ` +
              "set EGX_ALERT_WEBHOOK_URL to the final URL)",
          };
        }
        // The note may quote the answer's Retry-After: masked as the rest of what it sent.
        const detail = clean(`webhook answered HTTP ${res.status}${note}`);
        return { channel: "webhook", ok: res.ok, detail };
      } catch (e) {
        return { channel: "webhook", ok: false, detail: clean(`webhook failed: ${why(e)}`) };
      }
    })());
  }
  if (cfg.smtpUrl || cfg.emailTo) {
    tasks.push((async (): Promise<AlertOutcome> => {
      if (!cfg.smtpUrl || !cfg.emailTo) {
        return {
          channel: "email",
          ok: false,
          detail: "email alert needs both EGX_SMTP_URL and EGX_ALERT_EMAIL_TO",
        };
      }
      const to = cfg.emailTo.split(",").map((s) => s.trim()).filter(Boolean);
      try {
        const { sendMail } = await import("./smtp.ts");
        await sendMail(cfg.smtpUrl, {
          from: cfg.emailFrom,
          to,
          subject: `[egx-pipeline] ${summary.target} ${summary.status} (run ${summary.run_id})`,
          text: mailText(summary),
        }, { signal: limit() });
        return { channel: "email", ok: true, detail: `email sent to ${to.join(", ")}` };
      } catch (e) {
        return { channel: "email", ok: false, detail: clean(`email failed: ${why(e)}`) };
      }
    })());
  }
  return await Promise.all(tasks);
}

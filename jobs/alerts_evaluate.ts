/**
 * alerts_evaluate: evaluate the price and volume alert rules in alerts.yaml on the newest data
 * (runs in the pipelines after the marts models), record new alerts in
 * OPERATIONAL.TBL_ALERT_EVENT (each fires once per rule, ticker or index, Cairo day and
 * direction), print them, and POST them to EGX_ALERT_WEBHOOK_URL when set. With --watch it
 * stays up next to the stream and re-evaluates whenever the warehouse changes.
 *
 *   deno run --allow-ffi --allow-net=127.0.0.1 \
 *     --allow-read=alerts.yaml,data,data/egx.duckdb,data/egx.duckdb.wal \
 *     --allow-write=data,data/egx.duckdb --allow-sys=uid,homedir,osRelease,cpus,networkInterfaces,hostname \
 *     '--allow-env=EGX_WAREHOUSE,EGX_ALERT_WEBHOOK_URL,SNOWFLAKE_*,LOG_TOKENS,LOG_STREAM,TMPDIR,TMP,TEMP' \
 *     jobs/alerts_evaluate.ts [--rules alerts.yaml] [--date YYYY-MM-DD | --watch [--interval SEC]]
 *
 * (The permissions jobs.yaml gives it, with its defaults. --allow-ffi is for the DuckDB binding;
 * it lets native code bypass the other permissions. --allow-net is for the webhook and for
 * Snowflake: EGX_ALERT_WEBHOOK_NET and EGX_SNOWFLAKE_NET in jobs.yaml, give your hosts; a --rules
 * file elsewhere needs its own --allow-read. It reads no SMTP setting: email alerts are the
 * runner's, and the job is not given EGX_SMTP_URL and its password.)
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../lib/config/config.ts";
import { nothingToDo, runJob } from "../lib/runner/job.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";
import { AlertRulesError, checkRuleSubjects, loadRules, type Rule } from "../lib/alerts/rules.ts";
import { watchAlerts } from "../lib/alerts/watch.ts";
import { evaluateAlerts, notPermittedError } from "../lib/alerts/run_alerts.ts";
import { CLAIM_LEASE_MS } from "../lib/alerts/store.ts";
import { DeliveryError } from "../lib/alerts/deliver.ts";
import { parseDate } from "../lib/web/validate.ts";

const HELP =
  `Usage: jobs/alerts_evaluate.ts [--rules FILE] [--date YYYY-MM-DD | --watch [--interval SEC]]

Evaluates the alert rules (default alerts.yaml) on the warehouse (EGX_WAREHOUSE): each rule
fires at most once per ticker or index, Cairo trade date and direction. New alerts are recorded
in OPERATIONAL.TBL_ALERT_EVENT, printed ("ALERT ...") and POSTed as JSON to
EGX_ALERT_WEBHOOK_URL when set; a failed delivery is retried at the next evaluation and makes
the job fail (exit 2 when the job may not connect to the webhook's host: under the runner, set
EGX_ALERT_WEBHOOK_NET to its host:port). Without a webhook, the alerts printed are recorded as delivered, and no others.
A bad rules file (mistakes, or a ticker or index the warehouse does not list) exits 2.

  --rules FILE      rule file (default alerts.yaml)
  --date D          evaluate on trade date D (default: each ticker's newest day)
  --watch           keep running: re-evaluate (as the stream side) whenever the warehouse
                    changes, until stopped (SIGINT/SIGTERM)
  --interval SEC    how often --watch checks for changes (default 5, 0.1 to 86400)

A bad flag or value exits 2.`;

/** Longest --interval, in seconds (a day). */
const MAX_INTERVAL_S = 86_400;

/**
 * The flags' values, checked: a bad one is a usage error (ConfigError: exit 2, not retried),
 * named with its value.
 */
function checkFlags(values: { rules: string; date?: string; watch?: boolean; interval?: string }) {
  const usage = (message: string) => new ConfigError(message);
  if (values.rules === "") throw usage('--rules must name a file, got ""');
  let date: string | undefined;
  if (values.date !== undefined) {
    try {
      date = parseDate(values.date, "--date");
    } catch (e) {
      throw usage(e instanceof Error ? e.message : String(e));
    }
    if (values.watch) {
      throw usage(
        `--date ${date} cannot be used with --watch (it evaluates each ticker's newest day)`,
      );
    }
  }
  if (values.interval !== undefined && !values.watch) {
    throw usage(`--interval ${values.interval} applies only with --watch`);
  }
  const raw = values.interval ?? "5";
  const seconds = /^(?:\d+(?:\.\d*)?|\.\d+)$/.test(raw) ? Number(raw) : NaN;
  if (!(seconds >= 0.1 && seconds <= MAX_INTERVAL_S)) {
    throw usage(
      `--interval must be a number of seconds from 0.1 to ${MAX_INTERVAL_S}, got ${
        JSON.stringify(raw)
      }`,
    );
  }
  return { date, intervalMs: seconds * 1000 };
}

/** The rules of `path`; a file that cannot be read is a configuration error (exit 2). */
async function readRules(path: string): Promise<Rule[]> {
  try {
    return await loadRules(path);
  } catch (e) {
    if (e instanceof AlertRulesError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new ConfigError(`--rules ${path}: cannot read the rules file: ${why}`, { cause: e });
  }
}

if (import.meta.main) {
  await runJob({ name: "alerts_evaluate", help: HELP }, async (args, signal) => {
    const { values } = parseArgs({
      args,
      options: {
        rules: { type: "string", default: "alerts.yaml" },
        date: { type: "string" },
        watch: { type: "boolean" },
        interval: { type: "string" },
      },
    });
    const { date, intervalMs } = checkFlags(values);
    // A file with mistakes: its good rules' tickers and indices are still checked, so that
    // every problem is reported at once.
    let bad: AlertRulesError | undefined;
    const rules = await readRules(values.rules).catch((e) => {
      if (!(e instanceof AlertRulesError) || e.rules.length === 0) throw e;
      bad = e;
      return e.rules;
    });
    if (rules.length === 0) nothingToDo(`${values.rules} has no rules`);
    const config = loadConfig();
    const webhookUrl = config.alertWebhookUrl;
    const wh = await openWarehouse(config.warehouse, { signal, mustExist: true }).catch((e) => {
      throw bad ?? e;
    });
    try {
      try {
        await checkRuleSubjects(wh, rules, { signal });
      } catch (e) {
        if (bad && e instanceof AlertRulesError) throw bad.with(e.findings);
        throw bad ?? e;
      }
      if (bad) throw bad;
      if (values.watch) {
        console.log(
          `alerts_evaluate: watching the warehouse every ${intervalMs / 1000} s with ` +
            `${rules.length} rules${webhookUrl ? "" : " (no webhook set)"}; Ctrl-C stops`,
        );
        await watchAlerts(wh, rules, {
          path: config.warehouse.kind === "duckdb" ? config.warehouse.path : undefined,
          intervalMs,
          webhookUrl,
          signal,
          onError: (e) => console.error(`alerts_evaluate: ${e instanceof Error ? e.message : e}`),
        });
        console.log("alerts_evaluate: stopped watching");
        return;
      }
      const r = await evaluateAlerts(wh, rules, { source: "pipeline", date, webhookUrl, signal });
      console.log(
        `alerts_evaluate: ${rules.length} rules, ${r.matched} conditions hold` +
          // A --date without bars (a weekend, a holiday, a typo'd year) fires nothing: say why.
          (r.barsOnDate === 0
            ? ` (no ticker or index the rules watch has a bar on ${date}: a weekend, a ` +
              "holiday or a day beyond the data)"
            : "") +
          ", " +
          `${r.fired.length} new alert(s)` +
          (webhookUrl ? `, ${r.delivered} delivered to the webhook` : " (no webhook set)") +
          (r.undelivered > 0
            ? `; ${r.undelivered} alert(s) recorded earlier are still undelivered (not printed ` +
              `again: kept for EGX_ALERT_WEBHOOK_URL)`
            : "") +
          (r.heldElsewhere > 0
            ? `; ${r.heldElsewhere} undelivered alert(s) held by another evaluation (sent by ` +
              `it, or by the first evaluation after its ${CLAIM_LEASE_MS / 60_000}-minute lease)`
            : ""),
      );
      // No permission to reach the webhook: a configuration error (exit 2), which the runner
      // does not retry; trying again in 30 s could not succeed. The alerts stay undelivered.
      const refused = notPermittedError(r);
      if (refused) throw refused;
      if (r.failed.length > 0) {
        throw new DeliveryError(
          `${r.failed.length} alert(s) not delivered (kept for the next run): ${r.failed[0].error}`,
        );
      }
    } finally {
      await wh.close();
    }
  });
}

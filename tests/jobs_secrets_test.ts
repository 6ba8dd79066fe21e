/**
 * Which secrets each job of jobs.yaml is given. The runner starts a job with a cleared environment
 * holding only the variables its `permissions.env` names (lib/runner/plan.ts), and a job with
 * `ffi` runs native code that could read any of them: a variable a job does not use must not be
 * in its grant at all. Then the jobs whose grants were narrowed run for real with them.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { loadManifest } from "../lib/runner/manifest.ts";
import { jobCommand } from "../lib/runner/plan.ts";
import { buildMarketWarehouse } from "./support/market_warehouse.ts";
import { projectJob } from "./support/processes.ts";

const REPO = new URL("..", import.meta.url).pathname;

/** Every secret-bearing variable of lib/config/config.ts, set as the runner would see them. */
const SECRETS: Record<string, string> = {
  SNOWFLAKE_PASSWORD: "sf-password-1",
  SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: "sf-passphrase-2",
  AWS_ACCESS_KEY_ID: "AKIAEXAMPLEKEY3",
  AWS_SECRET_ACCESS_KEY: "aws/secret+key-4",
  AWS_SESSION_TOKEN: "aws-session-5",
  EGX_API_TOKEN: "api-token-6",
  EGX_ALERT_WEBHOOK_URL: "https://hooks.example.com/services/T0/B0/hook-token-7",
  EGX_SMTP_URL: "smtp://ops:smtp-password-8@mail.example.com:587",
};

Deno.test("each job of jobs.yaml is given only the secrets it uses", () => {
  const manifest = loadManifest(`${REPO}/jobs.yaml`);
  const given: Record<string, string[]> = {};
  for (const job of manifest.jobs.values()) {
    const { env } = jobCommand(manifest, job, { source: SECRETS });
    given[job.id] = Object.keys(env).filter((k) => k in SECRETS).sort();
  }
  const snowflake = ["SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"];
  const landing = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", ...snowflake];
  assertEquals(given, {
    cleanup: [],
    // The warehouse's; the models never read the landing store.
    models_staging: snowflake,
    models_marts: snowflake,
    models_test: snowflake,
    docs_generate: snowflake,
    // The landing store's credentials only where the landing store is read.
    s3_check: landing,
    batch_load: landing,
    validate_data: snowflake,
    // The webhook, not the SMTP URL and its password (email alerts are the runner's).
    alerts_evaluate: ["EGX_ALERT_WEBHOOK_URL", ...snowflake],
    health_check: snowflake,
  });
});

Deno.test("validate_data and alerts_evaluate run with their narrowed grants", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jobs_secrets_" });
  const received: string[] = [];
  const hook = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      received.push(new URL(req.url).pathname + " " + (await req.text()).slice(0, 40));
      return new Response("ok");
    },
  );
  try {
    const path = `${dir}/egx.duckdb`;
    await buildMarketWarehouse(path);
    const run = async (name: string, args: string[], env: Record<string, string>) => {
      const out = await (await projectJob(name, { ...SECRETS, ...env }, args)).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };

    const valid = await run("validate_data", [], { EGX_WAREHOUSE: path });
    assertEquals([valid.code, valid.stderr], [0, ""]);
    assertEquals(valid.stdout.split("\n")[0], "validate_data: 8 checks, 0 failed");

    const hookUrl = `http://127.0.0.1:${hook.addr.port}/services/T0/B0/hook-token-7`;
    const alerts = await run("alerts_evaluate", ["--date", "2025-11-13"], {
      EGX_WAREHOUSE: path,
      EGX_ALERT_WEBHOOK_URL: hookUrl,
    });
    assertEquals([alerts.code, alerts.stderr], [0, ""]);
    const fired = alerts.stdout.split("\n").filter((l) => l.startsWith("ALERT ")).length;
    assertEquals(fired > 0, true);
    assertEquals(received.length, fired);
    assertEquals(
      received.every((r) => r.startsWith('/services/T0/B0/hook-token-7 {"text":"EGX alert: ')),
      true,
      received.join("\n"),
    );
  } finally {
    await hook.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

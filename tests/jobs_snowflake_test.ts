/**
 * The jobs that open the warehouse, started as the runner starts them (jobs.yaml's grants, a
 * cleared environment) with EGX_WAREHOUSE=snowflake against a local Snowflake-protocol server
 * (fakesnow, tests/support/snowflake_server.ts). snowflake-sdk and the AWS SDK it loads read
 * process.env freely, the system's report (cpus, network interfaces, host name) and the home
 * folder as they load and connect: under a scoped grant every job failed at once (NotCapable).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { loadManifest } from "../lib/runner/manifest.ts";
import { jobCommand } from "../lib/runner/plan.ts";
import { copyDir, REPO } from "./models_fixture.ts";
import { denoCacheEnv } from "./support/processes.ts";
import { snowflakeTestConfig } from "./support/snowflake_server.ts";

const manifest = loadManifest(`${REPO}/jobs.yaml`);
const dec = new TextDecoder();

/**
 * Run job `id` with its jobs.yaml grant in `cwd` (default the repository), env as given, with
 * `args` instead of the manifest's when given.
 */
async function run(id: string, env: Record<string, string>, cwd = REPO, args?: string[]) {
  const job = manifest.jobs.get(id)!;
  const cmd = jobCommand(manifest, job, { source: { ...denoCacheEnv(), ...env } });
  const script = cmd.argv.indexOf(job.script);
  // In another folder: the repository's node_modules, script and deno.json.
  const flags = cmd.argv.slice(1, script).map((f) =>
    cwd === REPO ? f : f.replace(/([=,])node_modules(?=,|$)/, `$1${REPO}/node_modules`)
  );
  const out = await new Deno.Command(cmd.argv[0], {
    args: [
      ...flags.slice(0, 1),
      ...(cwd === REPO ? [] : [`--config=${REPO}/deno.json`]),
      ...flags.slice(1),
      cwd === REPO ? job.script : `${REPO}/${job.script}`,
      ...(args ?? cmd.argv.slice(script + 1)),
    ],
    cwd,
    clearEnv: true,
    env: cmd.env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("the warehouse jobs run on Snowflake with exactly their jobs.yaml grants", async () => {
  const c = await snowflakeTestConfig();
  const env: Record<string, string> = {
    EGX_WAREHOUSE: "snowflake",
    SNOWFLAKE_ACCOUNT: c.account,
    SNOWFLAKE_USER: c.user,
    SNOWFLAKE_PASSWORD: c.password!,
    SNOWFLAKE_DATABASE: c.database,
    SNOWFLAKE_WAREHOUSE: c.warehouse!,
    SNOWFLAKE_ROLE: c.role!,
    SNOWFLAKE_ACCESS_URL: c.accessUrl!,
    EGX_SNOWFLAKE_NET: new URL(c.accessUrl!).host,
    EGX_AS_OF: "2025-12-08T12:30:00Z",
  };
  const dir = await Deno.makeTempDir({ prefix: "egx-jobs-snowflake-" });
  try {
    // A landing folder with the company list: listed, loaded, validated.
    await Deno.mkdir(`${dir}/landing`);
    await Deno.copyFile(`${REPO}/data/sample/companies.csv`, `${dir}/landing/companies.csv`);
    const landing = { ...env, EGX_LANDING: `${dir}/landing` };
    const check = await run("s3_check", landing);
    assertEquals([check.code, check.stderr], [0, ""]);
    assert(check.stdout.includes("new     companies.csv"), check.stdout);
    const load = await run("batch_load", landing);
    assertEquals(load.code, 0, load.stderr);
    assert(
      load.stderr.endsWith("batch_load: 1/1 files, 223 rows, done\n") ||
        /1\/1 files, 223 rows, \d+ rows\/s, done\n$/.test(load.stderr),
      load.stderr,
    );
    // The models, in a working folder of their own (they write target/).
    await copyDir(`${REPO}/models`, `${dir}/work/models`);
    const staging = await run("models_staging", env, `${dir}/work`);
    assertEquals([staging.code, staging.stderr], [0, ""]);
    assert(/models_run: 6 model\(s\): 6 ok, 0 failed/.test(staging.stdout), staging.stdout);
    // The facts the alerts read (the whole gold layer is beyond this test server: its
    // DuckDB underneath has no DATE - integer for gold_dim_date).
    const fact = await run("models_marts", env, `${dir}/work`, [
      "--select",
      "gold_fct_stock_daily_prices",
      "--select",
      "gold_fct_index_performance",
    ]);
    assertEquals([fact.code, fact.stderr], [0, ""]);
    const alerts = await run("alerts_evaluate", env);
    assertEquals(alerts.code, 0, alerts.stderr);
    assert(alerts.stdout.includes("alerts_evaluate: 4 rules, 0 conditions hold"), alerts.stdout);
    const health = await run("health_check", env);
    assertEquals(health.code, 0, health.stderr); // outside trading hours: it only reports
    // No prices were loaded: the gate fails on its checks, not on its permissions.
    const gate = await run("validate_data", env);
    assertEquals(gate.code, 1);
    assert(
      gate.stdout.includes("FAIL  recent data present: no prices for 2025-12-08"),
      gate.stdout,
    );
    assert(!/NotCapable/.test(gate.stderr), gate.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("npm code in a job sees its granted variables, and the others as unset (not an error)", async () => {
  const probe = `import process from "node:process";
import "${REPO}/lib/warehouse/job_env.ts";
const out = [process.env.A, "B" in process.env, process.env.B, "CI" in process.env,
  Object.keys(process.env).length];
delete process.env.A;
process.env.W = "w";
out.push(process.env.A, process.env.W, Object.keys(process.env));
console.log(JSON.stringify(out));`;
  const dir = await Deno.makeTempDir({ prefix: "egx-job-env-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, probe);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", `--allow-read=${REPO}`, "--allow-env=A,B", `${dir}/probe.ts`],
      clearEnv: true,
      env: { ...denoCacheEnv(), A: "a", CI: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals([out.code, dec.decode(out.stderr)], [0, ""]);
    assertEquals(JSON.parse(dec.decode(out.stdout)), ["a", false, null, false, 0, null, "w", [
      "W",
    ]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

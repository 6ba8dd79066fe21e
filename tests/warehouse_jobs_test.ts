/**
 * The warehouse file as the jobs see it, started as the runner starts them (jobs.yaml's
 * permissions, a cleared environment): a job that only reads the warehouse refuses a missing
 * DuckDB file (a mistyped EGX_WAREHOUSE) instead of creating an empty one (docs_generate has
 * nothing to document: exit 78); a file that is not a
 * DuckDB database is a configuration error; a writer names a missing folder. Each is exit 2 (not
 * retried by the runner) with one line naming the file, and nothing is created or changed.
 */
import assert from "node:assert/strict";
import { denoCacheEnv, projectJob, taskFlags } from "./support/processes.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

async function run(
  job: string,
  env: Record<string, string>,
  args: string[] = [],
  attempt: Record<string, string> = {},
) {
  const out = await (await projectJob(job, env, args, undefined, attempt)).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The job's error line without its `(at file:line)`. */
function errorLine(stderr: string): string {
  return stderr.replace(/ \(at [^)]*\)\n$/, "");
}

/** Names of the entries of `dir`, sorted. */
function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "egx_wh_jobs_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const MISSING = (path: string) =>
  `WarehouseMissingError: DuckDB warehouse file ${path} (EGX_WAREHOUSE, default ` +
  'data/egx.duckdb) does not exist: run "deno task run full_pipeline" first to create it, or ' +
  "fix EGX_WAREHOUSE";

Deno.test("the jobs that only read the warehouse refuse a missing DuckDB file: exit 2, one line naming it, no file created", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/egx.duckbd`; // a typo of egx.duckdb
    for (const job of ["validate_data", "models_test", "alerts_evaluate"]) {
      const r = await run(job, { EGX_WAREHOUSE: path });
      assert.deepEqual(
        [r.code, errorLine(r.stderr), r.stdout],
        [2, `${job}: ${MISSING(path)}`, ""],
        job,
      );
      assert.deepEqual(entries(dir), [], `${job} created a file`); // no file, no .wal
    }
  });
});

Deno.test("docs_generate without a warehouse has nothing to document: exit 78, one line, no file created", async () => {
  await withDir(async (dir) => {
    // The warehouse's folder missing too, as on a fresh clone whose first pipeline run failed in
    // s3_check: docs_generate (trigger all_done) adds no second failure and does not tell the
    // user to run the pipeline they just ran; by hand (deno task docs) it says how to make one.
    const path = `${dir}/data/egx.duckdb`;
    const said = `docs_generate: nothing to do: no warehouse yet to document: DuckDB warehouse ` +
      `file ${path} (EGX_WAREHOUSE, default data/egx.duckdb) does not exist`;
    const runner = await run("docs_generate", { EGX_WAREHOUSE: path }, [], {
      EGX_RUN_ID: "20261127-230000-ab12",
      EGX_JOB: "docs_generate",
      EGX_ATTEMPT: "1",
    });
    assert.deepEqual([runner.code, runner.stdout, runner.stderr], [78, `${said}\n`, ""]);
    const byHand = await run("docs_generate", { EGX_WAREHOUSE: path });
    assert.deepEqual(
      [byHand.code, byHand.stdout, byHand.stderr],
      [
        78,
        `${said}; run "deno task run full_pipeline" to create it, or fix EGX_WAREHOUSE\n`,
        "",
      ],
    );
    assert.deepEqual(entries(dir), []);
  });
});

Deno.test("health_check reports a missing warehouse as one of its problems and creates no file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/egx.duckbd`;
    await Deno.mkdir(`${dir}/status`);
    await Deno.mkdir(`${dir}/kafka`);
    // The first job of both pipelines: on a fresh clone it may run before s3_check has created
    // the file, so it reports (and fails only in trading hours, as for an empty warehouse).
    const r = await run("health_check", {
      EGX_WAREHOUSE: path,
      EGX_STREAM_STATUS_DIR: `${dir}/status`,
      KAFKA_LOCAL_DIR: `${dir}/kafka`,
      EGX_AS_OF: "2025-11-07T09:00:00Z", // a Friday: no trading
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(
      r.stdout.includes(
        `warehouse unreachable: DuckDB warehouse file ${path} does not exist yet (s3_check and ` +
          "batch_load create it on the pipeline's first run; or EGX_WAREHOUSE names the wrong " +
          "file)\n",
      ),
      r.stdout,
    );
    // Whether it holds streamed rows is unknown: not reported as "no streamed rows yet".
    assert.ok(!r.stdout.includes("no streamed rows in the warehouse yet"), r.stdout);
    assert.deepEqual(entries(dir), ["kafka", "status"]);
  });
});

Deno.test("a warehouse file that is not a DuckDB database stops reader and writer jobs with exit 2, the file unchanged", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/prices.csv`; // EGX_WAREHOUSE pointed at a landing file
    const csv = new TextEncoder().encode("TICKER,CLOSE\nCOMI,80.5\n");
    await Deno.writeFile(path, csv);
    for (const job of ["models_test", "batch_load"]) {
      const r = await run(job, { EGX_WAREHOUSE: path });
      assert.deepEqual(
        [r.code, errorLine(r.stderr)],
        [
          2,
          `${job}: ConfigError: DuckDB warehouse file ${path} (EGX_WAREHOUSE) is not a DuckDB ` +
          "database (DuckDB would only read it as a data file, in memory): point EGX_WAREHOUSE " +
          "at the warehouse file; this one was left as it is",
        ],
        job,
      );
      assert.deepEqual(await Deno.readFile(path), csv);
      assert.deepEqual(entries(dir), ["prices.csv"]);
    }
  });
});

Deno.test("a writer pointed into a folder that does not exist says so, exit 2, and creates nothing", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/dta/egx.duckdb`;
    const r = await run("batch_load", { EGX_WAREHOUSE: path });
    assert.deepEqual(
      [r.code, errorLine(r.stderr)],
      [
        2,
        `batch_load: ConfigError: cannot create DuckDB warehouse file ${path} (EGX_WAREHOUSE): ` +
        `its folder ${dir}/dta does not exist: create the folder, or fix EGX_WAREHOUSE`,
      ],
    );
    assert.deepEqual(entries(dir), []);
  });
});

Deno.test("deno task stream run refuses a warehouse that cannot be one before it starts a broker or a child", async () => {
  await withDir(async (dir) => {
    // A folder as the warehouse: the consumer child would fail on it and be restarted forever.
    await Deno.mkdir(`${dir}/kafka`);
    const script = "lib/stream/cli.ts";
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...taskFlags("stream", script), script, "run"],
      cwd: REPO,
      clearEnv: true,
      env: {
        ...denoCacheEnv(),
        NO_COLOR: "1",
        KAFKA_BROKERS: "", // the local broker, in dir/kafka, if it got that far
        KAFKA_LOCAL_DIR: `${dir}/kafka`,
        EGX_WAREHOUSE: dir,
        EGX_STREAM_STATUS_DIR: `${dir}/status`,
        EGX_STREAM_ALERT_RULES: "off",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.deepEqual([out.code, errorLine(stderr)], [
      2,
      `stream: ConfigError: DuckDB warehouse file ${dir} (EGX_WAREHOUSE) is a folder, not a ` +
      "DuckDB database",
    ]);
    assert.deepEqual(entries(dir), ["kafka"]);
    assert.deepEqual(entries(`${dir}/kafka`), []); // no broker started
  });
});

import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { type Manifest, parseManifest } from "../lib/runner/manifest.ts";
import { denoCacheEnv, waitForEnd } from "./support/processes.ts";
import { testTempDir } from "./support/temp_dir.ts";
import { registerSecrets } from "../lib/config/config.ts";
import { planRun } from "../lib/runner/plan.ts";
import { RUNNER_ENV } from "../lib/runner/job.ts";
import {
  type ExecuteOptions,
  executePlan,
  newRunId,
  retryDelay,
  type RunEvent,
  tailOf,
} from "../lib/runner/executor.ts";
import {
  History,
  lockRun,
  processIdentity,
  runLockPath,
  runnerAlive,
  RunOverlapError,
} from "../lib/runner/history.ts";
import { DatabaseSync } from "node:sqlite";
import { closeSync, constants, openSync } from "node:fs";

const ROOT = new URL("./testdata/runner/", import.meta.url).pathname.replace(/\/$/, "");

interface Recorded {
  job: string;
  attempt: number;
  start: number;
  end: number;
}

async function runYaml(
  yaml: string,
  target: string,
  opts: {
    env?: Record<string, string>;
    /**
     * Cancel the run once this job has started and written this file (relative to the run's
     * STATE folder: the job's pidfile, written after its signal handler is installed), plus
     * 300 ms.
     */
    abortAfterStart?: { job: string; file: string };
    checkScripts?: boolean;
    tmp?: string;
    root?: string;
  } = {},
) {
  const tmp = opts.tmp ?? testTempDir("runner_exec_");
  const root = opts.root ?? ROOT;
  const manifest = parseManifest(yaml, { root, checkScripts: opts.checkScripts });
  const logDir = `${tmp}/logs`;
  const history = new History(`${logDir}/runs.sqlite`);
  const events: RunEvent[] = [];
  const controller = new AbortController();
  const result = await executePlan(manifest, planRun(manifest, target), {
    history,
    logDir,
    env: { ...denoCacheEnv(), STATE: tmp, ...opts.env },
    signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      const abort = opts.abortAfterStart;
      if (e.type === "start" && e.job === abort?.job) {
        // A loaded machine can take well over 300 ms to start a job: wait for its file.
        const deadline = Date.now() + 15_000;
        const poll = () => {
          try {
            Deno.statSync(`${tmp}/${abort.file}`);
            setTimeout(() => controller.abort(), 300);
          } catch {
            if (Date.now() < deadline) setTimeout(poll, 20);
            else controller.abort();
          }
        };
        poll();
      }
    },
  });
  const detail = history.getRun(result.runId)!;
  history.close();
  const recorded = (): Recorded[] => {
    try {
      return Deno.readTextFileSync(`${tmp}/record.txt`).trim().split("\n").map((l) => {
        const [job, attempt, start, end] = l.split(" ");
        return { job, attempt: Number(attempt), start: Number(start), end: Number(end) };
      });
    } catch {
      return [];
    }
  };
  const status = Object.fromEntries(result.jobs.map((j) => [j.id, j.status]));
  return { tmp, result, events, detail, recorded, status };
}

const job = (name: string, args: string, extra = "") =>
  `  ${name}:
    script: jobs/behave.ts
    args: [${args}]
    permissions: {write: ["\${STATE}"]}
${extra}`;

Deno.test("a DAG runs dependencies first and independent jobs side by side", async () => {
  const rec = `--record, "\${STATE}/record.txt"`;
  const r = await runYaml(
    `pipelines:
  main: {jobs: [a, b, c, d]}
jobs:
${job("a", `--say, hello from a, ${rec}`)}
${job("b", `--sleep, 1500, ${rec}`, "    depends_on: [a]\n")}
${job("c", `--sleep, 1500, ${rec}`, "    depends_on: [a]\n")}
${job("d", rec, "    depends_on: [b, c]\n")}`,
    "main",
  );
  assertEquals(r.result.status, "ok");
  assertEquals(r.status, { a: "ok", b: "ok", c: "ok", d: "ok" });
  const by = Object.fromEntries(r.recorded().map((x) => [x.job, x]));
  assert(by.a.end <= by.b.start && by.a.end <= by.c.start, "a finishes before b and c start");
  assert(by.b.start < by.c.end && by.c.start < by.b.end, "b and c overlap");
  assert(by.d.start >= Math.max(by.b.end, by.c.end), "d starts after b and c");
  // History: run, jobs and attempts recorded with their log files.
  assertEquals(r.detail.run.status, "ok");
  assertEquals(r.detail.run.message, "4 ok");
  assertEquals(r.detail.jobs.map((j) => [j.job, j.status, j.attempts]), [
    ["a", "ok", 1],
    ["b", "ok", 1],
    ["c", "ok", 1],
    ["d", "ok", 1],
  ]);
  const a = r.detail.attempts.find((x) => x.job === "a")!;
  assertEquals(a.log_path, `${r.tmp}/logs/runs/${r.result.runId}/a.1.log`);
  assertEquals(Deno.readTextFileSync(a.log_path), "hello from a\n");
  assertEquals(a.exit_code, 0);
  assert(r.detail.jobs.every((j) => j.duration_ms !== null && j.duration_ms >= 0));
});

Deno.test("concurrency bounds how many jobs run at once", async () => {
  const rec = `--sleep, 250, --record, "\${STATE}/record.txt"`;
  const r = await runYaml(
    `settings: {concurrency: 2}
pipelines:
  wide: {jobs: [j1, j2, j3, j4, j5]}
jobs:
${["j1", "j2", "j3", "j4", "j5"].map((n) => job(n, rec)).join("\n")}`,
    "wide",
  );
  assertEquals(r.result.status, "ok");
  const spans = r.recorded();
  assertEquals(spans.length, 5);
  const maxOverlap = Math.max(
    ...spans.map((s) => spans.filter((o) => o.start <= s.start && s.start < o.end).length),
  );
  assertEquals(maxOverlap, 2);
});

Deno.test("'nothing to do' skips all_ok dependents while none_failed dependents still run", async () => {
  const r = await runYaml(
    `pipelines:
  full: {jobs: [s3_check, batch_load, validate, models, other]}
jobs:
${job("s3_check", "--nothing, no new files in the landing")}
${job("batch_load", "", "    depends_on: [s3_check]\n")}
${job("validate", "", "    depends_on: [batch_load]\n    trigger: none_failed\n")}
${job("models", "", "    depends_on: [validate]\n")}
${job("other", "")}`,
    "full",
  );
  assertEquals(r.result.status, "ok");
  assertEquals(r.status, {
    s3_check: "skipped",
    batch_load: "skipped",
    validate: "ok",
    models: "ok",
    other: "ok",
  });
  const msg = Object.fromEntries(r.result.jobs.map((j) => [j.id, j.message]));
  assertEquals(msg.s3_check, "behave: nothing to do: no new files in the landing");
  assertEquals(msg.batch_load, "skipped: s3_check skipped");
  assertEquals(r.detail.attempts.find((a) => a.job === "s3_check")!.status, "nothing_to_do");
  assertEquals(r.detail.attempts.find((a) => a.job === "s3_check")!.exit_code, 78);
  assertEquals(r.detail.attempts.some((a) => a.job === "batch_load"), false);
});

Deno.test("a failing job fails the run; its dependents are not run, other jobs still are", async () => {
  const r = await runYaml(
    `pipelines:
  p: {jobs: [bad, after_bad, lenient, independent]}
jobs:
${job("bad", "--say, step 1 done, --say, about to fail, --exit, 3")}
${job("after_bad", "", "    depends_on: [bad]\n")}
${job("lenient", "", "    depends_on: [after_bad]\n    trigger: none_failed\n")}
${job("independent", "")}`,
    "p",
  );
  assertEquals(r.result.status, "failed");
  assertEquals(r.status, {
    bad: "failed",
    after_bad: "upstream_failed",
    lenient: "upstream_failed",
    independent: "ok",
  });
  const end = r.events.find((e) => e.type === "end" && e.job === "bad")!;
  assert(end.type === "end");
  assertEquals(end.message, "exit code 3");
  assertEquals(end.logPath, `${r.tmp}/logs/runs/${r.result.runId}/bad.1.log`);
  assertEquals(end.tail, ["step 1 done", "about to fail"]);
  assertEquals(r.detail.run.status, "failed");
  assertEquals(r.detail.run.message, "1 ok, 1 failed, 2 upstream_failed");
  assertEquals(r.result.jobs.find((j) => j.id === "after_bad")!.message, "not run: bad failed");
});

Deno.test("an all_done job runs after its dependencies whatever their outcome", async () => {
  const r = await runYaml(
    `pipelines:
  p: {jobs: [bad, skipper, after_bad, last]}
jobs:
${job("bad", "--exit, 1")}
${job("skipper", "--nothing, nothing new")}
${job("after_bad", "", "    depends_on: [bad]\n")}
${job("last", "", "    depends_on: [after_bad, skipper]\n    trigger: all_done\n")}`,
    "p",
  );
  assertEquals(r.status, {
    bad: "failed",
    skipper: "skipped",
    after_bad: "upstream_failed",
    last: "ok",
  });
  assertEquals(r.result.status, "failed");
  const order = r.events.filter((e) => e.type === "end").map((e) => e.job);
  assertEquals(order.at(-1), "last");
});

Deno.test("a failing job is retried with exponential backoff until it succeeds", async () => {
  const r = await runYaml(
    `pipelines:
  p: {jobs: [flaky]}
jobs:
${
      job(
        "flaky",
        `--fail-first, 2, --record, "\${STATE}/record.txt"`,
        "    retries: 3\n    retry_backoff: 150ms\n",
      )
    }`,
    "p",
  );
  assertEquals(r.status, { flaky: "ok" });
  assertEquals(
    r.events.filter((e) => e.type === "retry").map((e) =>
      e.type === "retry" && [e.attempt, e.delayMs]
    ),
    [[2, 150], [3, 300]],
  );
  assertEquals(r.detail.attempts.map((a) => [a.attempt, a.status, a.exit_code]), [
    [1, "failed", 1],
    [2, "failed", 1],
    [3, "ok", 0],
  ]);
  const spans = r.recorded();
  assert(spans[1].start - spans[0].end >= 150, "first retry waits >= 150ms");
  assert(spans[2].start - spans[1].end >= 300, "second retry waits >= 300ms");
  assertEquals(r.detail.jobs[0].attempts, 3);
  const log1 = Deno.readTextFileSync(r.detail.attempts[0].log_path);
  assert(log1.includes("behave: Error: failing attempt 1 on purpose"), log1);
});

Deno.test("a job that exits 2 (bad usage or configuration) fails at once, without retries", async () => {
  const r = await runYaml(
    `pipelines:
  p: {jobs: [misconfigured, flaky]}
jobs:
${job("misconfigured", "--exit, 2", "    retries: 3\n    retry_backoff: 10ms\n")}
${job("flaky", "--exit, 3", "    retries: 1\n    retry_backoff: 10ms\n")}`,
    "p",
  );
  assertEquals(r.status, { misconfigured: "failed", flaky: "failed" });
  assertEquals(
    r.detail.attempts.map((a) => [a.job, a.attempt, a.exit_code, a.message]).toSorted(),
    [
      ["flaky", 1, 3, "exit code 3"],
      ["flaky", 2, 3, "exit code 3"],
      ["misconfigured", 1, 2, "exit code 2 (bad usage or configuration: not retried)"],
    ],
  );
});

Deno.test("a job that hangs is stopped at its timeout with SIGTERM", async () => {
  const t0 = Date.now();
  const r = await runYaml(
    `settings: {kill_grace: 5s}
pipelines:
  p: {jobs: [hang]}
jobs:
${job("hang", `--sleep, 60000, --pidfile, "\${STATE}/pid"`, "    timeout: 2s\n")}`,
    "p",
  );
  // (2 s: a job started on a loaded machine has its handler installed by then.)
  assert(Date.now() - t0 < 6500, "stopped well before the grace period");
  assertEquals(r.status, { hang: "failed" });
  const a = r.detail.attempts[0];
  assertEquals([a.status, a.exit_code, a.signal, a.message], [
    "timed_out",
    143,
    null,
    "timed out after 2.0s",
  ]);
  assertEquals(Deno.readTextFileSync(a.log_path), "behave: stopped by SIGTERM\n");
  const pid = Number(Deno.readTextFileSync(`${r.tmp}/pid`));
  assertEquals(processExists(pid), false);
});

Deno.test("at its timeout a job and the processes it started are stopped", async () => {
  const r = await runYaml(
    `settings: {kill_grace: 5s}
pipelines:
  p: {jobs: [forker]}
jobs:
  forker:
    script: jobs/spawn_via_ffi.ts
    args: ["\${STATE}/grandchild.pid"]
    permissions: {ffi: true, write: ["\${STATE}"]}
    timeout: 1s
`,
    "p",
  );
  assertEquals(r.status, { forker: "failed" });
  assertEquals(r.detail.attempts[0].status, "timed_out");
  const grandchild = Number(Deno.readTextFileSync(`${r.tmp}/grandchild.pid`));
  assert(grandchild > 0);
  // The grandchild was re-parented when its sh exited; only the process-group kill reaches it,
  // and the run ends once it is gone.
  assertEquals(processRunning(grandchild), false);
});

for (const how of ["timeout", "cancel"] as const) {
  Deno.test(`an ffi job has ended only when all it started has: SIGKILL after kill_grace (${how})`, async () => {
    const r = await runYaml(
      `settings: {kill_grace: 1s}
pipelines:
  p: {jobs: [forker]}
jobs:
  forker:
    script: jobs/spawn_via_ffi.ts
    args: ["\${STATE}/grandchild.pid", --ignore-term]
    permissions: {ffi: true, write: ["\${STATE}"]}
    timeout: ${how === "timeout" ? "1s" : "1h"}
`,
      "p",
      {
        abortAfterStart: how === "cancel" ? { job: "forker", file: "grandchild.pid" } : undefined,
      },
    );
    assertEquals(r.status, { forker: how === "timeout" ? "failed" : "cancelled" });
    assertEquals(r.detail.attempts[0].status, how === "timeout" ? "timed_out" : "cancelled");
    // The job's own process ended on SIGTERM; its grandchild ignores SIGTERM and outlives it, so
    // the run waits out kill_grace, kills the group, and ends only once the grandchild is gone.
    const grandchild = Number(Deno.readTextFileSync(`${r.tmp}/grandchild.pid`));
    assert(grandchild > 0);
    assertEquals(processRunning(grandchild), false);
    assert(r.detail.attempts[0].duration_ms! >= (how === "timeout" ? 2000 : 1300));
  });
}

Deno.test("an ffi job that ends leaving a process behind ends with it stopped (SIGKILL after kill_grace)", async () => {
  const r = await runYaml(
    `settings: {kill_grace: 300ms}
pipelines:
  p: {jobs: [leaver, after]}
jobs:
  leaver:
    script: jobs/spawn_via_ffi.ts
    args: ["\${STATE}/grandchild.pid", --ignore-term, --exit]
    permissions: {ffi: true, write: ["\${STATE}"]}
  after:
    script: jobs/behave.ts
    depends_on: [leaver]
`,
    "p",
  );
  assertEquals(r.status, { leaver: "ok", after: "ok" });
  assertEquals(r.detail.attempts.map((a) => [a.job, a.status, a.exit_code]), [
    ["leaver", "ok", 0],
    ["after", "ok", 0],
  ]);
  const grandchild = Number(Deno.readTextFileSync(`${r.tmp}/grandchild.pid`));
  assert(grandchild > 0);
  assertEquals(processRunning(grandchild), false);
});

Deno.test("a job that ignores SIGTERM is killed with SIGKILL after the grace period", async () => {
  const r = await runYaml(
    `settings: {kill_grace: 300ms}
pipelines:
  p: {jobs: [stubborn]}
jobs:
${
      job(
        "stubborn",
        `--sleep, 60000, --ignore-term, --pidfile, "\${STATE}/pid"`,
        "    timeout: 2s\n",
      )
    }`,
    "p",
  );
  const a = r.detail.attempts[0];
  assertEquals([a.status, a.signal], ["timed_out", "SIGKILL"]);
  assertEquals(Deno.readTextFileSync(a.log_path), "ignoring SIGTERM\n");
  assert(a.duration_ms! >= 2300 && a.duration_ms! < 8000, `took ${a.duration_ms}ms`);
  assertEquals(processExists(Number(Deno.readTextFileSync(`${r.tmp}/pid`))), false);
});

/**
 * behave.ts run directly (not by the runner), ignoring SIGTERM while it sleeps `sleepMs`, with
 * `env` as its only variables, allowed to read the runner's. Killed if still running after 15 s.
 */
async function runBehaveByHand(env: Record<string, string>, sleepMs: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-env=${Object.values(RUNNER_ENV).join(",")}`,
      `${ROOT}/jobs/behave.ts`,
      "--ignore-term",
      "--sleep",
      String(sleepMs),
    ],
    clearEnv: true,
    env: { ...denoCacheEnv(), NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return [out.code, out.signal, dec.decode(out.stdout), dec.decode(out.stderr)];
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a job past its timeout and kill_grace stops itself, saying why, though its runner lives", async () => {
  // As if the runner were stuck and never sent its SIGKILL: the job's parent (this test) lives.
  const out = await runBehaveByHand({
    EGX_RUN_ID: "20260101-000000-0000",
    EGX_JOB: "stubborn",
    EGX_ATTEMPT: "1",
    EGX_DEADLINE: String(Date.now() + 500),
    EGX_KILL_GRACE_MS: "300",
  }, 60_000);
  assertEquals(out, [
    137,
    null,
    "",
    "behave: stopping itself: its timeout and kill_grace (300 ms) have passed\n",
  ]);
});

Deno.test("a job run by hand, without the runner's deadline and kill_grace, never stops itself", async () => {
  // Its sleep outlasts the job's first checks (a second apart): it ends as it would alone, with
  // no runner variable, or with only a run id (then it watches its parent, alive here).
  assertEquals(await runBehaveByHand({}, 2500), [0, null, "", ""]);
  assertEquals(
    await runBehaveByHand({ EGX_RUN_ID: "20260101-000000-0000" }, 2500),
    [0, null, "", ""],
  );
});

/** Alive: neither gone nor a zombie (state Z) waiting for its parent to reap it. */
function processRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

function processExists(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a job killed by a signal is reported as killed, with the signal", async () => {
  const tmp = testTempDir("runner_exec_");
  const pidFile = `${tmp}/pid`;
  const killer = (async () => {
    for (let i = 0; i < 200; i++) {
      try {
        const pid = Number(Deno.readTextFileSync(pidFile));
        if (pid > 0) return Deno.kill(pid, "SIGKILL");
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error("the job never wrote its pid");
  })();
  const r = await runYaml(
    `pipelines:
  p: {jobs: [victim]}
jobs:
${job("victim", `--pidfile, "\${STATE}/pid", --sleep, 60000`)}`,
    "p",
    { tmp },
  );
  await killer;
  assertEquals(r.status, { victim: "failed" });
  const a = r.detail.attempts[0];
  assertEquals([a.status, a.signal, a.message], ["killed", "SIGKILL", "killed by SIGKILL"]);
});

Deno.test("a job whose script does not exist fails with deno's message in its log", async () => {
  const r = await runYaml(
    `pipelines:
  p: {jobs: [ghost]}
jobs:
  ghost: {script: jobs/no_such_job.ts}
`,
    "p",
    { checkScripts: false },
  );
  assertEquals(r.status, { ghost: "failed" });
  const end = r.events.find((e) => e.type === "end")!;
  assert(end.type === "end");
  assertEquals(end.message, "exit code 1");
  assert(end.tail!.join("\n").includes("Module not found"), end.tail!.join("\n"));
  assert(end.tail!.join("\n").includes("no_such_job.ts"));
});

Deno.test("a job sees only its declared variables and files, in a cleared environment", async () => {
  const tmp = testTempDir("runner_exec_");
  Deno.writeTextFileSync(`${tmp}/allowed.txt`, "hello");
  Deno.writeTextFileSync(`${tmp}/secret.txt`, "s3cr3t");
  // While the job holds, read its whole process environment from outside.
  const environ = (async () => {
    for (let i = 0; i < 400; i++) {
      try {
        const pid = Number(Deno.readTextFileSync(`${tmp}/pid`));
        if (pid > 0) return Deno.readTextFileSync(`/proc/${pid}/environ`);
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("the job never wrote its pid");
  })();
  const r = await runYaml(
    `pipelines:
  p: {jobs: [probe]}
jobs:
  probe:
    script: jobs/probe_env.ts
    args: [--env, VISIBLE, --env, FIXED, --env, SECRET_TOKEN, --env, HOME,
           --env, EGX_DEADLINE, --env, EGX_KILL_GRACE_MS,
           --file, "\${STATE}/allowed.txt", --file, "\${STATE}/secret.txt",
           --import, "https://esm.sh/leak?secret=tok", --import, "npm:egx-no-such-package@1.0.0",
           --pidfile, "\${STATE}/pid", --hold, 1000]
    env: {FIXED: fixed value}
    permissions:
      env: [VISIBLE]
      read: ["\${STATE}/allowed.txt"]
      write: ["\${STATE}/pid"]
`,
    "p",
    { tmp, env: { VISIBLE: "yes", SECRET_TOKEN: "tok-123456" } },
  );
  assertEquals(r.status, { probe: "ok" });
  const log = Deno.readTextFileSync(r.detail.attempts[0].log_path).trim().split("\n");
  assertEquals(log, [
    "VISIBLE=yes",
    "FIXED=fixed value",
    "SECRET_TOKEN denied (NotCapable)",
    "HOME denied (NotCapable)",
    // The attempt's start plus the default timeout (1h), and the default kill_grace (10s).
    `EGX_DEADLINE=${Date.parse(r.detail.attempts[0].started_at) + 3_600_000}`,
    "EGX_KILL_GRACE_MS=10000",
    `file ${tmp}/allowed.txt: 5 bytes`,
    `file ${tmp}/secret.txt denied (NotCapable)`,
    // Deno loads remote modules and npm packages without --allow-net: the runner's
    // --cached-only keeps a job from reaching the network through an import.
    'import https://esm.sh/leak?secret=tok: Specifier not found in cache: "https://esm.sh/leak?secret=tok", --cached-only is specified.',
    'import npm:egx-no-such-package@1.0.0: Failed loading https://registry.npmjs.org/egx-no-such-package for package "egx-no-such-package"',
  ]);
  const vars = (await environ).split("\0").filter(Boolean);
  const base = denoCacheEnv();
  assertEquals(
    vars.map((kv) => kv.split("=")[0]).sort(),
    [
      "DENO_NO_UPDATE_CHECK",
      "EGX_ATTEMPT",
      "EGX_DEADLINE",
      "EGX_JOB",
      "EGX_KILL_GRACE_MS",
      "EGX_RUN_ID",
      "FIXED",
      "NO_COLOR",
      "VISIBLE",
      ...Object.keys(base),
    ].sort(),
  );
  assertEquals(vars.some((kv) => kv.includes("tok-123456")), false);
  assertEquals(r.detail.attempts[0].command.includes("tok-123456"), false);
});

Deno.test("a script named like a deno flag is run as a script, never read as a flag", async () => {
  const tmp = testTempDir("runner_exec_");
  const probe = 'console.log((await Deno.permissions.query({ name: "run" })).state, Deno.args);\n';
  Deno.writeTextFileSync(`${tmp}/--allow-run=x.ts`, probe);
  Deno.writeTextFileSync(`${tmp}/-A.ts`, probe);
  Deno.writeTextFileSync(`${tmp}/other.ts`, 'console.log("other ran");\n');
  const r = await runYaml(
    `jobs:
  flag: {script: "--allow-run=x.ts", args: [other.ts]}
  short: {script: "-A.ts", args: [hi]}
pipelines:
  p: {jobs: [flag, short]}
`,
    "p",
    { tmp, root: tmp },
  );
  assertEquals(r.status, { flag: "ok", short: "ok" });
  const log = (job: string) =>
    Deno.readTextFileSync(r.detail.attempts.find((a) => a.job === job)!.log_path);
  assertEquals(log("flag"), 'prompt [ "other.ts" ]\n');
  assertEquals(log("short"), 'prompt [ "hi" ]\n');
});

Deno.test("numbers and booleans in args and env reach the job as written, not as parsed", async () => {
  const tmp = testTempDir("runner_exec_");
  Deno.writeTextFileSync(
    `${tmp}/show.ts`,
    'console.log(JSON.stringify([Deno.args, Deno.env.get("CODE"), Deno.env.get("ON")]));\n',
  );
  const r = await runYaml(
    `jobs:
  show:
    script: show.ts
    args: [1.10, 0x10, 1e3, 007, &big 12345678901234567890, *big, "2.50"]
    env: {CODE: 0123, ON: True}
`,
    "show",
    { tmp, root: tmp },
  );
  assertEquals(r.status, { show: "ok" });
  const out = '[["1.10","0x10","1e3","007","12345678901234567890","12345678901234567890","2.50"],' +
    '"0123","True"]\n';
  assertEquals(Deno.readTextFileSync(r.detail.attempts[0].log_path), out);
});

Deno.test("a job that cannot be started fails with the reason, in its history and its log", async () => {
  // Its folder (the job's cwd) is gone: the manifest was moved away after it was read.
  const r = await runYaml(
    `pipelines:
  p: {jobs: [a]}
jobs:
  a: {script: a.ts, retries: 1, retry_backoff: 10ms}
`,
    "p",
    { root: "/nonexistent-egx-root", checkScripts: false },
  );
  assertEquals(r.status, { a: "failed" });
  const message = "cannot start: its folder /nonexistent-egx-root does not exist";
  assertEquals(r.detail.attempts.map((a) => [a.attempt, a.status, a.message]), [
    [1, "failed", message],
    [2, "failed", message],
  ]);
  const log = Deno.readTextFileSync(r.detail.attempts[0].log_path);
  assertEquals(log, `runner: ${r.detail.attempts[0].message}\n`);
});

Deno.test("an unset ${VAR} in a permission fails that job with a clear message", async () => {
  const r = await runYaml(
    `pipelines:
  p: {jobs: [needs_var, fine]}
jobs:
  needs_var:
    script: jobs/behave.ts
    permissions: {write: ["\${EGX_TEST_UNSET_DIR}/out"]}
${job("fine", "")}`,
    "p",
  );
  assertEquals(r.status, { needs_var: "failed", fine: "ok" });
  assertEquals(
    r.result.jobs[0].message,
    '"${EGX_TEST_UNSET_DIR}/out" references EGX_TEST_UNSET_DIR, which is not set and has no default',
  );
});

Deno.test("cancelling a run stops the running job and records the rest as cancelled", async () => {
  const r = await runYaml(
    `settings: {kill_grace: 2s}
pipelines:
  p: {jobs: [long, later]}
jobs:
${job("long", `--sleep, 60000, --pidfile, "\${STATE}/pid"`)}
${job("later", "", "    depends_on: [long]\n")}`,
    "p",
    { abortAfterStart: { job: "long", file: "pid" } },
  );
  assertEquals(r.result.status, "cancelled");
  assertEquals(r.status, { long: "cancelled", later: "cancelled" });
  assertEquals(r.detail.run.status, "cancelled");
  assertEquals(r.detail.attempts.map((a) => [a.job, a.status]), [["long", "cancelled"]]);
  assertEquals(r.detail.jobs.filter((j) => j.status === "running").length, 0);
  assertEquals(processExists(Number(Deno.readTextFileSync(`${r.tmp}/pid`))), false);
});

Deno.test("history.batch records its rows in one transaction: an error inside leaves none of them", () => {
  const tmp = testTempDir("runner_exec_");
  const h = new History(`${tmp}/runs.sqlite`);
  try {
    h.startRun({ id: "r1", target: "p", trigger: "manual", jobs: ["a", "b"], at: 0 });
    const start = (job: string) => {
      h.startJob("r1", job, 1000);
      h.startAttempt({
        runId: "r1",
        job,
        attempt: 1,
        at: 1000,
        logPath: `${job}.log`,
        command: "x",
      });
    };
    let thrown: unknown;
    try {
      h.batch(() => {
        start("a");
        h.batch(() => start("b")); // nested: part of the same transaction
        throw new Error("runner failed mid-batch");
      });
    } catch (e) {
      thrown = e;
    }
    assertEquals((thrown as Error).message, "runner failed mid-batch");
    let detail = h.getRun("r1")!;
    assertEquals(detail.jobs.map((j) => [j.job, j.status]), [["a", "pending"], ["b", "pending"]]);
    assertEquals(detail.attempts.length, 0);
    h.batch(() => start("a"));
    detail = h.getRun("r1")!;
    assertEquals(detail.jobs.map((j) => [j.job, j.status]), [["a", "running"], ["b", "pending"]]);
    assertEquals(detail.attempts.map((a) => [a.job, a.status]), [["a", "running"]]);
  } finally {
    h.close();
  }
});

/**
 * Pipeline `p` of `manifest` with its logs and STATE in `tmp`, recorded in `history` (left open:
 * the test reads or closes it): the error the run ends with, undefined when none.
 */
async function runCatching(
  manifest: Manifest,
  tmp: string,
  history: History,
  onEvent?: ExecuteOptions["onEvent"],
): Promise<unknown> {
  try {
    await executePlan(manifest, planRun(manifest, "p"), {
      history,
      logDir: `${tmp}/logs`,
      env: { ...denoCacheEnv(), STATE: tmp },
      onEvent,
    });
  } catch (e) {
    return e;
  }
}

Deno.test("an observer that throws disturbs neither the run nor its history; the run then reports it", async () => {
  const tmp = testTempDir("runner_exec_");
  const manifest = parseManifest(
    `settings: {concurrency: 1}
pipelines:
  p: {jobs: [a, b, c]}
jobs:
${job("a", `--sleep, 100, --record, "\${STATE}/record.txt"`)}
${job("b", `--sleep, 300, --record, "\${STATE}/record.txt"`)}
${job("c", `--sleep, 100, --record, "\${STATE}/record.txt"`)}`,
    { root: ROOT },
  );
  const history = new History(`${tmp}/logs/runs.sqlite`);
  const events: string[] = [];
  let thrown = false;
  const error = await runCatching(manifest, tmp, history, (e) => {
    events.push(`${e.type} ${e.job}`);
    if (e.type === "end" && !thrown) {
      thrown = true;
      throw new Error("observer broke");
    }
  });
  const detail = history.getRun(history.listRuns(1)[0].id)!;
  history.close();
  assertEquals((error as Error)?.message, "observer broke");
  assertEquals(events, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  assertEquals(detail.run.status, "ok");
  assertEquals(detail.jobs.map((j) => [j.job, j.status]), [["a", "ok"], ["b", "ok"], ["c", "ok"]]);
  assertEquals(detail.attempts.map((a) => [a.job, a.status]), [
    ["a", "ok"],
    ["b", "ok"],
    ["c", "ok"],
  ]);
  // concurrency 1: each job started after the previous one ended
  const spans = Deno.readTextFileSync(`${tmp}/record.txt`).trim().split("\n").map((l) =>
    l.split(" ").slice(2, 4).map(Number)
  );
  assert(spans[0][1] <= spans[1][0] && spans[1][1] <= spans[2][0], JSON.stringify(spans));
});

/** A history whose write of job `quick`'s end fails, as on a full disk. */
class FailingHistory extends History {
  override endJob(...args: Parameters<History["endJob"]>) {
    if (args[1] === "quick") throw new Error("database or disk is full");
    super.endJob(...args);
  }
}

Deno.test("a history that cannot be written ends the run with its error and stops the running jobs", async () => {
  const tmp = testTempDir("runner_exec_");
  const manifest = parseManifest(
    `settings: {concurrency: 2}
pipelines:
  p: {jobs: [quick, slow, later]}
jobs:
  quick: {script: jobs/behave.ts, args: [--sleep, "1000"]}
  slow:
    script: jobs/behave.ts
    args: [--pidfile, "\${STATE}/slow.pid", --sleep, "20000"]
    permissions: {write: ["\${STATE}"]}
  later: {script: jobs/behave.ts, depends_on: [quick]}
`,
    { root: ROOT },
  );
  const t0 = Date.now();
  const history = new FailingHistory(`${tmp}/logs/runs.sqlite`);
  const error = await runCatching(manifest, tmp, history);
  assertEquals((error as Error).message, "database or disk is full");
  assert(Date.now() - t0 < 10_000, "the run waited for the slow job");
  const pid = Number(Deno.readTextFileSync(`${tmp}/slow.pid`));
  assert(await waitForEnd(pid), "the slow job is still running");
  history.close();
});

Deno.test("after the history fails, nothing more of the run starts: no waiting job, no retry", async () => {
  // A scheduler lives on after such a run: anything started now would run unrecorded, beside the
  // pipeline's next fire, after its run lock was released.
  const tmp = testTempDir("runner_exec_");
  // At 1 s quick's end cannot be recorded: slow is stopped (which would let after_slow start),
  // and flaky waits for its retry (due 2 s after its first attempt failed).
  const manifest = parseManifest(
    `settings: {concurrency: 3, kill_grace: 5s}
pipelines:
  p: {jobs: [quick, slow, flaky, after_slow]}
jobs:
${job("quick", '--sleep, "1000"')}
${job("slow", '--pidfile, "${STATE}/slow.pid", --sleep, "20000"')}
${
      job(
        "flaky",
        '--record, "${STATE}/record.txt", --fail-first, "1"',
        "    retries: 1\n    retry_backoff: 2s\n",
      )
    }
${
      job(
        "after_slow",
        '--record, "${STATE}/record.txt"',
        "    depends_on: [slow]\n    trigger: all_done\n",
      )
    }
`,
    { root: ROOT },
  );
  const history = new FailingHistory(`${tmp}/logs/runs.sqlite`);
  const error = await runCatching(manifest, tmp, history);
  assertEquals((error as Error).message, "database or disk is full");
  // The running job was stopped before the run ended with the error.
  const pid = Number(Deno.readTextFileSync(`${tmp}/slow.pid`));
  assert(await waitForEnd(pid, 0), "the slow job is still running");
  await new Promise((r) => setTimeout(r, 2500)); // past flaky's retry
  const started = Deno.readTextFileSync(`${tmp}/record.txt`).trim().split("\n")
    .map((l) => l.split(" ").slice(0, 2).join(" "));
  assertEquals(started, ["flaky 1"]);
  history.close();
});

Deno.test("run ids are never repeated: not within a process, nor one the history holds", () => {
  // 5,000 ids in one second: drawn from 65,536, some would repeat (about 190 expected).
  const at = Date.parse("2026-01-01T00:00:00Z");
  const ids = Array.from({ length: 5000 }, () => newRunId(at));
  assertEquals(new Set(ids).size, 5000);
  assert(ids.every((id) => /^20260101-000000-[0-9a-f]{4}$/.test(id)));
  const refused: string[] = [];
  const id = newRunId(at, (c) => refused.push(c) <= 3);
  assertEquals(refused.length, 4);
  assertEquals(id, refused[3]);
});

Deno.test("a run's runner is alive only while its pid is still the process that recorded the run", async () => {
  const child = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
  try {
    const me = processIdentity(Deno.pid)!;
    const it = processIdentity(child.pid)!;
    const boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    assert(me.startsWith(`${boot}:`) && it.startsWith(`${boot}:`), `${me} ${it}`);
    assertEquals(runnerAlive(child.pid, it), true);
    // The same pid held by another process (this boot, or after a reboot): not its runner.
    assertEquals(runnerAlive(child.pid, me), false);
    assertEquals(runnerAlive(child.pid, `another-boot:${it.split(":")[1]}`), false);
    // Runs recorded before identities were: the live pid is all there is to go by.
    assertEquals(runnerAlive(child.pid, null), true);
    // The next runner start marks a run whose pid went to another process abandoned, and
    // leaves a live one alone; a history file from before the identity column gets it.
    const tmp = testTempDir("runner_exec_");
    const path = `${tmp}/runs.sqlite`;
    const old = new DatabaseSync(path);
    old.exec(
      "CREATE TABLE runs (id TEXT PRIMARY KEY, target TEXT NOT NULL, trigger TEXT NOT NULL, " +
        "status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, duration_ms INTEGER, " +
        "runner_pid INTEGER NOT NULL, runner_host TEXT NOT NULL, message TEXT)",
    );
    old.close();
    const h = new History(path);
    h.startRun({ id: "reused", target: "p", trigger: "manual", jobs: ["a"], at: Date.now() });
    h.startRun({ id: "live", target: "p", trigger: "manual", jobs: ["a"], at: Date.now() });
    h.close();
    const db = new DatabaseSync(path);
    db.prepare("UPDATE runs SET runner_pid = ?").run(child.pid);
    db.prepare("UPDATE runs SET runner_start = ? WHERE id = 'live'").run(it);
    db.close();
    const h2 = new History(path);
    assertEquals(h2.markStale(), ["reused"]);
    assertEquals(h2.getRun("live")!.run.status, "running");
    h2.close();
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  // A dead pid is no runner.
  assertEquals(runnerAlive(child.pid, null), false);
});

Deno.test("a run's lock decides before its pid: held means alive, free means its runner is gone", async () => {
  const tmp = testTempDir("runner_exec_");
  const sleeper = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" })
    .spawn();
  const ended = new Deno.Command("true").spawn();
  await ended.status;
  try {
    const h = new History(`${tmp}/runs.sqlite`);
    const ids = [
      "held",
      "free",
      "no_lock_dead",
      "no_lock_alive",
      "own_pid_free",
      "own_pid_no_lock",
    ];
    for (const id of ids) {
      h.startRun({ id, target: "p", trigger: "manual", jobs: ["a"], at: Date.now() });
    }
    h.close();
    const db = new DatabaseSync(`${tmp}/runs.sqlite`);
    // A dead pid whose lock is held (by this process, as a runner would), a live pid whose lock
    // is free (the pid went to another process), and two runs from before the lock existed. And
    // this process's own pid: with a free lock, a runner of another pid namespace that had it
    // (gone); without a lock, this process's own run (left alone).
    const pids = {
      held: ended.pid,
      free: sleeper.pid,
      no_lock_dead: ended.pid,
      own_pid_free: Deno.pid,
      own_pid_no_lock: Deno.pid,
    };
    for (const [id, pid] of Object.entries({ ...pids, no_lock_alive: sleeper.pid })) {
      db.prepare("UPDATE runs SET runner_pid = ?, runner_start = NULL WHERE id = ?").run(pid, id);
    }
    db.close();
    for (const id of ["held", "free", "own_pid_free"]) {
      Deno.mkdirSync(`${tmp}/runs/${id}`, { recursive: true });
    }
    const held = lockRun(tmp, "held");
    Deno.writeTextFileSync(runLockPath(tmp, "free"), "");
    Deno.writeTextFileSync(runLockPath(tmp, "own_pid_free"), "");
    assertThrows(() => lockRun(tmp, "held"), /run held is locked by another runner/);
    const h2 = new History(`${tmp}/runs.sqlite`);
    assertEquals(h2.markStale().sort(), ["free", "no_lock_dead", "own_pid_free"]);
    for (const id of ["held", "no_lock_alive", "own_pid_no_lock"]) {
      assertEquals(h2.getRun(id)!.run.status, "running", id);
    }
    held.close();
    assertEquals(h2.markStale(), ["held"]);
    h2.close();
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
});

Deno.test("startRun with refuseOverlap refuses beside a live run of the same target or a shared job, recording nothing", () => {
  const tmp = testTempDir("runner_exec_");
  const h = new History(`${tmp}/runs.sqlite`);
  const start = (id: string, target: string, jobs: string[], refuseOverlap?: boolean) =>
    h.startRun({ id, target, trigger: "manual", jobs, at: Date.now(), refuseOverlap });
  const refusal = (id: string, target: string, jobs: string[]) => {
    try {
      start(id, target, jobs, true);
    } catch (e) {
      if (!(e instanceof RunOverlapError)) throw e;
      return [e.run.id, e.shared, e.message];
    }
    return "started";
  };
  try {
    // Its runner gone (its lock free), not yet marked abandoned: it does not count.
    start("gone", "p", ["a", "b"]);
    Deno.mkdirSync(`${tmp}/runs/gone`, { recursive: true });
    Deno.writeTextFileSync(runLockPath(tmp, "gone"), "");
    assertEquals(refusal("r1", "p", ["a"]), "started");
    h.endRun("r1", "ok", Date.now());
    // A live run (its lock held, as by its runner) of the pipeline p with eight jobs.
    const jobs = ["a", "b", "c", "d", "e", "f", "g", "h"];
    start("live", "p", jobs);
    Deno.mkdirSync(`${tmp}/runs/live`, { recursive: true });
    const lock = lockRun(tmp, "live");
    const pid = Deno.pid;
    assertEquals(refusal("r2", "q", ["x", "c", "a"]), [
      "live",
      ["c", "a"],
      `run live of p is still running (runner pid ${pid}) and runs jobs of this one (c, a)`,
    ]);
    assertEquals(refusal("r3", "p", [...jobs].reverse()), [
      "live",
      [...jobs].reverse(),
      `run live of p is still running (runner pid ${pid}) and runs jobs of this one ` +
      "(h, g, f, e, d and 3 more)",
    ]);
    assertEquals(refusal("r4", "p", ["z"]), [
      "live",
      [],
      `run live of p is still running (runner pid ${pid}) and has the same target`,
    ]);
    assertEquals(["r2", "r3", "r4"].map((id) => h.hasRun(id)), [false, false, false]);
    // Sharing nothing, or not asked to refuse: started.
    assertEquals(refusal("r5", "q", ["x"]), "started");
    start("r6", "p", ["a"]);
    assertEquals(["r5", "r6"].map((id) => h.getRun(id)!.run.status), ["running", "running"]);
    lock.close();
  } finally {
    h.close();
  }
});

Deno.test("markStale never overwrites a run its runner ended between markStale's read and its update", async () => {
  // The race fixed in 2db32f1, made deterministic without a hook: another connection (the run's
  // runner) ends the run in a write transaction it holds open, committed only once markStale has
  // read the run as running. It knows when: the run's lock file is a FIFO, which markStale opens
  // (to try the lock) after its read, and opening a FIFO waits for its other end. markStale's own
  // write transaction then waits for that commit. First the same steps rolled back (a runner gone
  // without ending its run): the run is marked abandoned, so the FIFO reads as a free lock, and
  // in the second only the status read again inside markStale's transaction keeps the run 'ok'.
  const tmp = testTempDir("runner_exec_");
  const path = `${tmp}/runs.sqlite`;
  const runner = new Worker(
    URL.createObjectURL(
      new Blob([`
        import { DatabaseSync } from "node:sqlite";
        self.onmessage = async ({ data: { path, id, lock, end } }) => {
          const db = new DatabaseSync(path);
          db.exec("PRAGMA busy_timeout=30000; BEGIN IMMEDIATE");
          db.prepare("UPDATE runs SET status = 'ok', ended_at = ? WHERE id = ?")
            .run(new Date().toISOString(), id);
          self.postMessage("ending");
          const f = await Deno.open(lock, { write: true }); // once markStale opened it
          db.exec(end ? "COMMIT" : "ROLLBACK");
          db.close();
          f.close();
          self.postMessage("done");
        };
      `], { type: "text/javascript" }),
    ),
    { type: "module" },
  );
  const next = () =>
    new Promise<string>((resolve) =>
      runner.addEventListener("message", (e) => resolve(e.data), { once: true })
    );
  const h = new History(path);
  try {
    for (const [id, end] of [["gone", false], ["ending", true]] as const) {
      h.startRun({ id, target: "p", trigger: "manual", jobs: ["a"], at: Date.now() });
      Deno.mkdirSync(`${tmp}/runs/${id}`, { recursive: true });
      const lock = runLockPath(tmp, id);
      assertEquals((await new Deno.Command("mkfifo", { args: [lock] }).output()).code, 0);
      const ending = next();
      runner.postMessage({ path, id, lock, end });
      assertEquals(await ending, "ending");
      const done = next();
      const marked = h.markStale();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve("markStale did not open the run's lock"), 10_000);
      });
      const outcome = await Promise.race([done, late]);
      clearTimeout(timer);
      if (outcome !== "done") {
        // Let the runner's open return (a non-blocking open of the other end), so it ends.
        closeSync(openSync(lock, constants.O_RDONLY | constants.O_NONBLOCK));
        await done;
      }
      assertEquals([id, outcome, marked], [id, "done", end ? [] : [id]]);
      assertEquals(h.getRun(id)!.run.status, end ? "ok" : "abandoned");
    }
  } finally {
    h.close();
    runner.terminate();
  }
});

Deno.test("a failed job's last lines are shown printable: control characters escaped, long lines cut", () => {
  const tmp = testTempDir("runner_exec_");
  const log = `${tmp}/job.1.log`;
  Deno.writeTextFileSync(
    log,
    "first\n\x1b]0;title\x07\x1b[31mred\x1b[0m\r\ncol1\tcol2\r\nbell\x07 del\x7f\n" +
      "y".repeat(1000) + "\n",
  );
  assertEquals(tailOf(log, 4), [
    "\\x1b]0;title\\x07\\x1b[31mred\\x1b[0m",
    "col1  col2",
    "bell\\x07 del\\x7f",
    `${"y".repeat(300)}... (700 more characters)`,
  ]);
});

Deno.test("retries wait retry_backoff, doubled each time up to an hour; a longer one as given", () => {
  const s = 1000, h = 3_600_000;
  assertEquals([1, 2, 3, 4].map((n) => retryDelay(10 * s, n)), [10 * s, 20 * s, 40 * s, 80 * s]);
  assertEquals(retryDelay(10 * s, 20), h);
  assertEquals([1, 2, 3].map((n) => retryDelay(2 * h, n)), [2 * h, 2 * h, 2 * h]);
  assertEquals([1, 2].map((n) => retryDelay(h, n)), [h, h]);
});

Deno.test("a history that cannot be opened is named in the error, with the reason", () => {
  const tmp = testTempDir("runner_exec_");
  Deno.mkdirSync(`${tmp}/runs.sqlite`); // where the file should be
  assertThrows(
    () => new History(`${tmp}/runs.sqlite`),
    (e: Error) =>
      e.message ===
        `cannot open the run history ${tmp}/runs.sqlite: unable to open database file: ` +
          `${tmp}/runs.sqlite (Is a directory (os error 21): open '${tmp}/runs.sqlite')`,
  );
});

Deno.test("a history opened while another process holds a new file's lock waits for it instead of failing", async () => {
  // Runners started together on a new log folder: one creates the file and holds its lock while
  // the others switch it to WAL and create the schema.
  const tmp = testTempDir("runner_exec_");
  const path = `${tmp}/runs.sqlite`;
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(${JSON.stringify(path)});
db.exec("BEGIN EXCLUSIVE; CREATE TABLE held (x);");
console.log("locked");
await new Promise((r) => setTimeout(r, 2000));
db.exec("COMMIT");
db.close();`,
    ],
    stdout: "piped",
  }).spawn();
  const reader = holder.stdout.getReader();
  const first = await reader.read();
  assertEquals(new TextDecoder().decode(first.value).trim(), "locked");
  const t0 = Date.now();
  const h = new History(path);
  const waited = Date.now() - t0;
  h.startRun({ id: "r1", target: "p", trigger: "manual", jobs: ["a"], at: Date.now() });
  assertEquals(h.listRuns().map((r) => [r.id, r.status]), [["r1", "running"]]);
  h.close();
  reader.releaseLock();
  await holder.stdout.cancel();
  assertEquals((await holder.status).code, 0);
  assert(waited > 100, `opened after ${waited} ms, while the file was locked`);
});

Deno.test("a failed job's last line longer than the window read is shown by its end, not dropped", () => {
  const tmp = testTempDir("runner_exec_");
  const log = `${tmp}/job.1.log`;
  // One line of 20,000 characters (a JSON error, a minified stack): no line starts in the last
  // 16 KB, and the tail was empty.
  Deno.writeTextFileSync(log, `starting\nError: ${"x".repeat(19_986)}{"row":42}\n`);
  assertEquals(tailOf(log, 10), [`... ${"x".repeat(290)}{"row":42}`]);
  // Without a final newline, the same.
  Deno.writeTextFileSync(log, `starting\nError: ${"x".repeat(19_986)}\t{"row":42}`);
  assertEquals(tailOf(log, 10), [`... ${"x".repeat(288)}  {"row":42}`]);
});

// Last: the secret it registers stays registered for the rest of this file's tests.
Deno.test("the last lines of a long log never start inside a line, where a secret could be cut", () => {
  registerSecrets((k) =>
    ({ SNOWFLAKE_PASSWORD: "Sf-Tail-Secret-42" } as Record<string, string>)[k]
  );
  const tmp = testTempDir("runner_exec_");
  const log = `${tmp}/job.1.log`;
  // The last 16 KB start inside the secret: "ail-Secret-42" alone would not be masked.
  const rest = "z\n".repeat(8181);
  const window = `ail-Secret-42 refused\n${rest}`;
  assertEquals(window.length, 16_384);
  Deno.writeTextFileSync(log, `login Sf-T${window}`);
  const lines = tailOf(log, 10_000);
  assertEquals([lines.length, lines.every((l) => l === "z")], [8181, true]);
  // A window that starts with a whole line keeps it.
  const whole = `first\n${"z\n".repeat(8189)}`;
  assertEquals(whole.length, 16_384);
  Deno.writeTextFileSync(log, `login refused\n${whole}`);
  assertEquals(tailOf(log, 10_000)[0], "first");
});

Deno.test("a log that cannot be masked is said on the runner's stderr, the log left as written", async () => {
  registerSecrets((k) =>
    ({ SNOWFLAKE_PASSWORD: "Sf-Tail-Secret-42" } as Record<string, string>)[k]
  );
  const tmp = testTempDir("runner_exec_");
  const logDir = `${tmp}/logs`;
  const runId = "20260101-000000-beef";
  const log = `${logDir}/runs/${runId}/leak.1.log`;
  // Where the masked copy goes, a folder that cannot be replaced nor removed.
  Deno.mkdirSync(`${log}.masking/kept`, { recursive: true });
  const manifest = parseManifest(
    `jobs:\n${job("leak", "--say, 'login Sf-Tail-Secret-42 refused'")}`,
    {
      root: ROOT,
    },
  );
  const history = new History(`${logDir}/runs.sqlite`);
  const said: string[] = [];
  const error = console.error;
  console.error = (...a: unknown[]) => said.push(a.join(" "));
  try {
    const result = await executePlan(manifest, planRun(manifest, "leak"), {
      history,
      logDir,
      env: { ...denoCacheEnv(), STATE: tmp },
      runId,
    });
    assertEquals(result.status, "ok");
  } finally {
    console.error = error;
    history.close();
  }
  assertEquals(said.length, 1, said.join("\n"));
  assert(
    said[0].startsWith(`runner: could not mask the secrets in ${log}: Is a directory`),
    said[0],
  );
  assertEquals(Deno.readTextFileSync(log), "login Sf-Tail-Secret-42 refused\n");
  assertEquals([...Deno.readDirSync(`${log}.masking`)].map((e) => e.name), ["kept"]);
});

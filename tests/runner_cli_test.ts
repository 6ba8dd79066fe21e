import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { History } from "../lib/runner/history.ts";
import { DatabaseSync } from "node:sqlite";
import { loadManifest } from "../lib/runner/manifest.ts";
import { jobCommand, settingsProblems } from "../lib/runner/plan.ts";
import { formatEvent } from "../lib/runner/status.ts";
import { formatRun, formatRuns } from "../lib/runner/cli_runs.ts";
import { formatDuration } from "../lib/runner/duration.ts";
import { startSmtpServer } from "./support/smtp_server.ts";
import { denoCacheEnv, denoOutput, taskFlags, waitForEnd } from "./support/processes.ts";
import { testTempDir } from "./support/temp_dir.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DATA = `${REPO}/tests/testdata/runner`;

function baseEnv(): Record<string, string> {
  return { ...denoCacheEnv(), DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };
}

/** `deno run` arguments of a runner CLI as its task in deno.json starts it (its permissions). */
function taskArgs(cli: string): string[] {
  const script = `lib/runner/cli_${cli}.ts`;
  return [...taskFlags(cli, script), script];
}

/** A runner command (`run`, `runs`, `validate`, `schedule`) as its task starts it. */
function command(cli: string, args: string[], env: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...taskArgs(cli), ...args],
    cwd: REPO,
    clearEnv: true,
    env: { ...baseEnv(), ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

function cli(cli: string, args: string[], env: Record<string, string> = {}) {
  return denoOutput(["run", ...taskArgs(cli), ...args], {
    cwd: REPO,
    env: { ...baseEnv(), ...env },
  });
}

function tmpState() {
  const state = testTempDir("runner_cli_");
  return { state, env: { STATE: state, EGX_LOG_DIR: `${state}/logs` } };
}

/** Every file under `dir`, recursively, and every folder (as `path/`). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(`${p}/`, ...filesUnder(p));
    else out.push(p);
  }
  return out;
}

Deno.test("run prints live status and a summary, exits 0, and runs lists the run", async () => {
  const { state, env } = tmpState();
  const r = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "ok_pipe"], env);
  assertEquals(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  const runId = /^run (\d{8}-\d{6}-[0-9a-f]{4}): pipeline ok_pipe, 2 job\(s\)$/.exec(lines[0])![1];
  match(lines[1], /^\d\d:\d\d:\d\d running {9}greet$/);
  match(lines[2], /^\d\d:\d\d:\d\d ok {14}greet\s+\d+ms$/);
  match(lines[3], /^\d\d:\d\d:\d\d running {9}after_greet$/);
  match(lines[4], /^\d\d:\d\d:\d\d ok {14}after_greet\s+\d+ms$/);
  match(lines[5], new RegExp(`^run ${runId} ok_pipe: ok in \\d+ms$`));
  assertEquals(lines[6], "  job          status           attempts  duration");
  match(lines[7], /^ {2}greet {8}ok {22}1 {2}\d+ms$/);
  assertEquals(lines.length, 9);
  assertEquals(
    Deno.readTextFileSync(`${state}/logs/runs/${runId}/greet.1.log`),
    "hello\n",
  );

  const list = await cli("runs", ["--last", "5"], env);
  assertEquals(list.code, 0, list.stderr);
  const rows = list.stdout.trimEnd().split("\n");
  assertEquals(rows.length, 2);
  // The last column: the jobs' counts, or why (a failed start, a skipped fire, alerts).
  assert(rows[0].endsWith("  duration  result"), rows[0]);
  match(
    rows[1],
    new RegExp(`^${runId}  ok_pipe  manual    ok         \\d{4}-.*Z\\s+\\d+ms  2 ok$`),
  );

  const one = await cli("runs", [runId], env);
  assertEquals(one.code, 0, one.stderr);
  // The attempts in columns: names, statuses and exits padded, durations right-aligned.
  const attemptLines = one.stdout.split("\n").filter((l) => l.includes("#1  "));
  const dir = `${state}/logs/runs/${runId}`;
  assertEquals(attemptLines.length, 2, one.stdout);
  const durCol = attemptLines.map((l) => /^ {2}\S+ +ok {2}exit 0 {2}( *\d+ms) {2}/.exec(l)?.[1]);
  assertEquals(durCol[0]?.length, durCol[1]?.length, one.stdout);
  assertEquals(
    attemptLines.map((l, i) => l.replace(durCol[i]!, "D")),
    [
      `  greet#1        ok  exit 0  D  ${dir}/greet.1.log`,
      `  after_greet#1  ok  exit 0  D  ${dir}/after_greet.1.log`,
    ],
  );
  const missing = await cli("runs", ["20000101-000000-0000"], env);
  assertEquals([missing.code, missing.stderr.trim()], [
    1,
    `no run 20000101-000000-0000 in ${state}/logs/runs.sqlite`,
  ]);
  // A prefix shows the one run it names; one that several runs share says so.
  const byPrefix = await cli("runs", [runId.slice(0, -1)], env);
  assertEquals([byPrefix.code, byPrefix.stdout.split("\n")[0].split("  ")[0]], [0, `run ${runId}`]);
  const again = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "ok_pipe"], env);
  const second = /^run (\S+):/.exec(again.stdout)![1];
  const shared = await cli("runs", ["2"], env);
  assertEquals([shared.code, shared.stdout, shared.stderr], [
    1,
    "",
    `2 runs start with 2 (give more of the id): ${second}, ${runId}\n`,
  ]);
});

Deno.test("the runner starts without Node compatibility: its static imports reach node:sqlite only", async () => {
  // A node: module such as node:buffer or node:util (or any npm package) imported at the top of
  // a module the runner loads starts Deno's Node compatibility layer, ~6 ms of every run's start
  // before its first job. Loaded where needed (import()), they cost only the processes using them.
  const out = await denoOutput(["info", "--json", "lib/runner/cli_run.ts"], {
    cwd: REPO,
    env: baseEnv(),
  });
  assertEquals(out.code, 0, out.stderr);
  type Dep = { specifier: string; code?: { specifier: string }; isDynamic?: boolean };
  const graph = JSON.parse(out.stdout) as {
    modules: { specifier: string; dependencies?: Dep[] }[];
  };
  const deps = new Map(graph.modules.map((m) => [m.specifier, m.dependencies ?? []]));
  const seen = new Set<string>();
  const outside = new Set<string>();
  const visit = (spec: string) => {
    if (seen.has(spec)) return;
    seen.add(spec);
    for (const d of deps.get(spec) ?? []) {
      if (!d.code || d.isDynamic) continue; // type-only and dynamic imports load nothing at start
      if (/^(node|npm):/.test(d.code.specifier)) outside.add(d.code.specifier);
      else visit(d.code.specifier);
    }
  };
  visit(`file://${REPO}/lib/runner/cli_run.ts`);
  assertEquals([...outside], ["node:sqlite"]);
  assert(seen.has(`file://${REPO}/lib/config/config.ts`), "the walk reached the runner's modules");
});

Deno.test("every live status line puts the job name in the same column, upstream_failed too", () => {
  const at = Date.parse("2026-04-24T22:00:00Z");
  const lines = [
    formatEvent({ type: "start", job: "a", attempt: 1, at, logPath: "a.1.log" }, 4),
    formatEvent(
      { type: "retry", job: "a", attempt: 2, at, delayMs: 2000, reason: "exit code 1" },
      4,
    ),
    formatEvent({ type: "end", job: "a", status: "ok", at, durationMs: 5, attempts: 2 }, 4),
    formatEvent({
      type: "end",
      job: "b",
      status: "upstream_failed",
      at,
      durationMs: 0,
      attempts: 0,
      message: "not run: a failed",
    }, 4),
    formatEvent({ type: "end", job: "c", status: "cancelled", at, durationMs: 0, attempts: 0 }, 4),
  ].map((l) => l[0].slice(9)); // after the clock
  assertEquals(lines, [
    "running         a",
    "retry 1         a   in 2.0s (exit code 1)",
    "ok              a    5ms",
    "upstream_failed b     not run: a failed",
    "cancelled       c",
  ]);
});

Deno.test("durations just under a second or a minute show in the next unit, not as 1000ms or 60.0s", () => {
  assertEquals(
    [999, 999.5, 59_949, 59_950, 59_999, 60_000, 61_000].map(formatDuration),
    ["999ms", "1.0s", "59.9s", "1m00s", "1m00s", "1m00s", "1m01s"],
  );
  const dir = Deno.makeTempDirSync();
  const h = new History(`${dir}/runs.sqlite`);
  try {
    const at = Date.UTC(2026, 10, 26, 23, 0, 0);
    h.startRun({
      id: "20261126-230000-aaaa",
      target: "cleanup",
      trigger: "manual",
      jobs: ["cleanup"],
      at,
    });
    h.startJob("20261126-230000-aaaa", "cleanup", at);
    h.endJob("20261126-230000-aaaa", "cleanup", { status: "ok", at: at + 59_960, attempts: 1 });
    h.endRun("20261126-230000-aaaa", "ok", at + 59_970);
    const list = formatRuns(h.listRuns(5));
    assertEquals(
      list[1],
      "20261126-230000-aaaa  cleanup  manual    ok         2026-11-26 23:00:00Z     1m00s",
    );
    const one = formatRun(h, "20261126-230000-aaaa")!;
    match(one[0], /, 1m00s, runner pid/);
    match(one.find((l) => l.trim().startsWith("cleanup "))!, /^ {2}cleanup +ok +1 +1m00s$/);
  } finally {
    h.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("runs <id> with no history at all is 'no run' (exit 1), the list is empty (exit 0)", async () => {
  const { state, env } = tmpState();
  const list = await cli("runs", [], env);
  assertEquals([list.code, list.stdout], [
    0,
    `no runs recorded yet (${state}/logs/runs.sqlite does not exist)\n`,
  ]);
  const one = await cli("runs", ["20260101-000000-abcd"], env);
  assertEquals([one.code, one.stdout, one.stderr], [
    1,
    "",
    `no run 20260101-000000-abcd: no runs recorded yet (${state}/logs/runs.sqlite does not exist)\n`,
  ]);
});

Deno.test("runs lists a skipped fire with why, and runs <id> shows it with its fire time", async () => {
  const { state, env } = tmpState();
  const h = new History(`${state}/logs/runs.sqlite`);
  const why = `skipped: the previous run (run 20260501-110000-aaaa, runner pid ${Deno.pid}) ` +
    "is still running";
  try {
    // The scheduled 14:00 (Cairo) run, then the 14:10 fire it was still in the way of.
    const at = Date.parse("2026-05-01T11:00:00Z");
    h.startRun({
      id: "20260501-110000-aaaa",
      target: "p",
      trigger: "schedule",
      jobs: [],
      at,
      scheduledFor: at,
    });
    h.endRun("20260501-110000-aaaa", "ok", at + 23 * 60_000);
    h.recordSkipped({
      id: "20260501-111000-bbbb",
      target: "p",
      at: at + 10 * 60_000,
      scheduledFor: at + 10 * 60_000,
      message: why,
    });
  } finally {
    h.close();
  }
  const list = await cli("runs", [], env);
  assertEquals([list.code, list.stdout.split("\n")], [0, [
    "run                   target  trigger   status     started               duration  result",
    `20260501-111000-bbbb  p       schedule  skipped    2026-05-01 11:10:00Z       0ms  ${why}`,
    "20260501-110000-aaaa  p       schedule  ok         2026-05-01 11:00:00Z    23m00s",
    "",
  ]]);
  const one = await cli("runs", ["20260501-111000-bbbb"], env);
  assertEquals([one.code, one.stdout.split("\n")], [0, [
    "run 20260501-111000-bbbb  p  skipped  (schedule, fire time 2026-05-01 11:10:00Z, started " +
    `2026-05-01 11:10:00Z, 0ms, runner pid ${Deno.pid} on ${Deno.hostname()})`,
    `  ${why}`,
    "",
    "  no jobs",
    "",
  ]]);
});

Deno.test("a failed run exits 1, shows the log's last lines, and alerts without leaking secrets", async () => {
  const { state, env } = tmpState();
  const smtp = await startSmtpServer({ user: "alerts", password: "Smtp-Pa55-secret" });
  const l = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const deadPort = (l.addr as Deno.NetAddr).port;
  l.close();
  const token = "WebHook-T0ken-secret";
  try {
    const r = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "fail_pipe"], {
      ...env,
      EGX_ALERT_WEBHOOK_URL: `http://127.0.0.1:${deadPort}/hooks/${token}`,
      EGX_SMTP_URL: smtp.url("alerts", "Smtp-Pa55-secret"),
      EGX_ALERT_EMAIL_TO: "ops@egx.test",
    });
    assertEquals(r.code, 1, r.stderr);
    const out = r.stdout;
    const runId = /^run (\S+):/.exec(out)![1];
    match(out, /\d\d:\d\d:\d\d failed {10}failing\s+\d+ms {2}exit code 4\n/);
    assert(out.includes(`         log: ${state}/logs/runs/${runId}/failing.1.log\n`), out);
    assert(out.includes("         | loading batch 7\n         | connection reset\n"), out);
    assert(
      out.includes(
        "alert webhook: FAILED (webhook failed: TypeError: fetch failed (error sending request for url (***)",
      ),
      out,
    );
    assert(out.includes("alert email: sent (email sent to ops@egx.test)"), out);
    assertEquals(smtp.messages.length, 1);
    assert(smtp.messages[0].data.includes("FAILED failing after 1 attempt(s): exit code 4"));
    // Neither secret appears in the output, the logs or the run history.
    const texts = [
      r.stdout,
      r.stderr,
      ...filesUnder(`${state}/logs`).filter((f) => !f.endsWith("/")).map((f) => {
        return new TextDecoder().decode(Deno.readFileSync(f));
      }),
    ];
    for (const t of texts) {
      assertEquals(t.includes(token), false);
      assertEquals(t.includes("Smtp-Pa55-secret"), false);
    }
    const h = new History(`${state}/logs/runs.sqlite`);
    const run = h.getRun(runId)!.run;
    h.close();
    assertEquals(run.status, "failed");
    match(
      run.message!,
      /^1 ok, 1 failed; alert webhook failed: webhook failed: .*\*\*\*.*; alert email sent: email sent to ops@egx.test$/,
    );
  } finally {
    await smtp.close();
  }
});

Deno.test("secrets reaching the runner through a job stay out of its output, logs and history", async () => {
  const { state, env } = tmpState();
  const hook = "https://hooks.example.test/services/T0/B0/Hook-T0ken-secret";
  const secrets = {
    ...env,
    EGX_ALERT_WEBHOOK_URL: hook,
    EGX_ALERT_WEBHOOK_NET: hook, // the URL where its host was meant
    SNOWFLAKE_USER: "sf_user",
    // A quote in a secret: quoting the command line for sh splits it (masked before quoting).
    SNOWFLAKE_PASSWORD: "Sf-Pa55'secret",
  };
  const leaked = (t: string) =>
    t.includes("Hook-T0ken-secret") || t.includes("Sf-Pa55") || t.includes("secret refused");
  const dry = await cli("run", ["--manifest", `${DATA}/secrets.yaml`, "leak_pipe", "--dry-run"], {
    ...secrets,
  });
  // The run would fail that job without starting it: the dry run says so and exits 2.
  assertEquals(dry.code, 2, dry.stderr);
  assertEquals(
    dry.stderr,
    'run: 1 job(s) cannot start as configured: hooked ("cannot build command" above)\n',
  );
  assertEquals(leaked(dry.stdout + dry.stderr), false, dry.stdout);
  const urlProblem =
    '${EGX_ALERT_WEBHOOK_NET:-127.0.0.1} -> net entry "https://hooks.example.test/..." ' +
    "is a URL: give host or host:port (hooks.example.test)";
  assert(dry.stdout.includes(`   cannot build command: ${urlProblem}\n`), dry.stdout);
  const leakyCommand =
    "jobs/behave.ts --pad 1048552 --say-env 'login as {SNOWFLAKE_USER}:{SNOWFLAKE_PASSWORD} " +
    "refused' --exit 3";
  assert(dry.stdout.includes(`${leakyCommand}\n`), dry.stdout);

  // No alert channel reachable here: EGX_ALERT_WEBHOOK_URL only has to be known as a secret.
  const r = await cli("run", ["--manifest", `${DATA}/secrets.yaml`, "leak_pipe"], secrets);
  assertEquals(r.code, 1, r.stderr);
  const runId = /^run (\S+):/.exec(r.stdout)![1];
  assertEquals(leaked(r.stdout + r.stderr), false, r.stdout);
  // Still useful: what is wrong and where, and the job's last lines with the secret masked.
  assert(
    new RegExp(`failed {10}hooked +\\d+ms {2}\\$\\{EGX_ALERT_WEBHOOK_NET`).test(r.stdout) &&
      r.stdout.includes(`ms  ${urlProblem}\n`),
    r.stdout,
  );
  assert(r.stdout.includes("         | login as sf_user:*** refused\n"), r.stdout);
  // The job's own log file too (it wrote the secret there itself), a MiB long: masked where the
  // runner's first MiB cut it ("Sf-Pa55" | "'secret"), the lines before it as they were.
  const leakyLog = Deno.readTextFileSync(`${state}/logs/runs/${runId}/leaky.1.log`);
  assertEquals(leakyLog.slice(1048552), "login as sf_user:*** refused\n");
  assertEquals([leakyLog.length, /^(\.{99}\n){10485}\.{51}\n$/.test(leakyLog.slice(0, 1048552))], [
    1048552 + 29,
    true,
  ]);
  assertEquals(
    Deno.readTextFileSync(`${state}/logs/runs/${runId}/hooked.1.log`),
    `runner: ${urlProblem}\n`,
  );
  const h = new History(`${state}/logs/runs.sqlite`);
  const detail = h.getRun(runId)!;
  h.close();
  // A bad permission entry fails the job at once: a retry would fail the same way.
  assertEquals(detail.jobs.map((j) => [j.job, j.status, j.attempts, j.message]), [
    ["hooked", "failed", 1, urlProblem],
    ["leaky", "failed", 1, "exit code 3"],
  ]);
  assertEquals(leaked(JSON.stringify(detail)), false, JSON.stringify(detail));
  assert(
    detail.attempts[1].command.endsWith(leakyCommand),
  );
});

Deno.test("a bad setting exits 2 before anything runs, a secret one without showing it", async () => {
  const { state, env } = tmpState();
  const r = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "ok_pipe"], {
    ...env,
    EGX_ALERT_WEBHOOK_URL: "hooks.example.com/services/Bad-Hook-Secret",
  });
  assertEquals(r.code, 2);
  assertEquals(
    r.stderr,
    "run: EGX_ALERT_WEBHOOK_URL must be an http(s) URL such as " +
      "https://hooks.slack.com/services/...; its value is not one (not shown: secret)\n",
  );
  assertEquals(r.stdout, "");
  assertEquals(filesUnder(state), []);
});

Deno.test("email alert settings that cannot work exit 2 before anything runs or is scheduled", async () => {
  const cases: [Record<string, string>, string][] = [
    [
      {
        EGX_SMTP_URL: "https://ops:Smtp-Pa55-secret@mail.example.com",
        EGX_ALERT_EMAIL_TO: "a@b.c",
      },
      "EGX_SMTP_URL must look like smtp://[user:password@]host[:port] or smtps://...; " +
      "its value is not one (not shown: secret)",
    ],
    [
      { EGX_SMTP_URL: "smtp://ops:Pa55%zz-secret@127.0.0.1:2525", EGX_ALERT_EMAIL_TO: "a@b.c" },
      "EGX_SMTP_URL has a user or password with a broken %-escape (write % as %25); " +
      "not shown: secret",
    ],
    [
      { EGX_ALERT_EMAIL_TO: "ops@egx.test" },
      "email alerts need both EGX_SMTP_URL and EGX_ALERT_EMAIL_TO (only EGX_ALERT_EMAIL_TO is set)",
    ],
    [
      { EGX_SMTP_URL: "smtp://127.0.0.1:2525" },
      "email alerts need both EGX_SMTP_URL and EGX_ALERT_EMAIL_TO (only EGX_SMTP_URL is set)",
    ],
    [
      { EGX_SMTP_URL: "smtp://127.0.0.1:2525", EGX_ALERT_EMAIL_TO: "ops@egx.test; cto" },
      'EGX_ALERT_EMAIL_TO must be a comma list of addresses (name@host), got "ops@egx.test; cto"',
    ],
  ];
  // A manifest with a schedule, outside the log folder (nothing may be written there).
  const dir = testTempDir("runner_cli_");
  Deno.writeTextFileSync(`${dir}/noop.ts`, "");
  const scheduled = `${dir}/jobs.yaml`;
  Deno.writeTextFileSync(
    scheduled,
    'jobs:\n  noop: {script: noop.ts}\npipelines:\n  p: {jobs: [noop], schedule: "0 1 * * *"}\n',
  );
  for (const [settings, message] of cases) {
    const { state, env } = tmpState();
    const r = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "ok_pipe"], {
      ...env,
      ...settings,
    });
    assertEquals([r.code, r.stderr, r.stdout], [2, `run: ${message}\n`, ""]);
    const s = await cli("schedule", ["--manifest", scheduled], { ...env, ...settings });
    assertEquals([s.code, s.stderr, s.stdout], [2, `schedule: ${message}\n`, ""]);
    assertEquals(filesUnder(state), []);
  }
});

Deno.test("runs with two run ids or an empty one is a usage error (exit 2), not another listing", async () => {
  const { env } = tmpState();
  const first = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "ok_pipe"], env);
  const runId = /^run (\S+):/.exec(first.stdout)![1];
  // The second id was ignored (the first run shown), an empty one matched every run.
  for (const args of [[runId, "20000101-000000-0000"], [""], ["--last", "3", runId, runId]]) {
    const r = await cli("runs", args, env);
    assertEquals([r.code, r.stdout, r.stderr], [
      2,
      "",
      "usage: deno task runs [--last N] [<run-id>] (see --help)\n",
    ], JSON.stringify(args));
  }
});

Deno.test("a count flag that is not a decimal integer >= 1 exits 2 naming it, before anything runs", async () => {
  const { state, env } = tmpState();
  const run = ["--manifest", `${DATA}/cli.yaml`, "ok_pipe"];
  const cases: [string, string[], string, string][] = [
    ["run", run, "--concurrency", "0x2"],
    ["run", run, "--concurrency", "0"],
    ["run", run, "--concurrency", " 2"],
    ["runs", [], "--last", "1e1"],
    ["runs", [], "--last", "5.0"],
    // A negative count is a value, not a missing one ("argument missing" said it was).
    ["runs", [], "--last", "-1"],
    ["run", run, "--concurrency", "-2"],
    ["schedule", ["--dry-run"], "--count", ""],
    ["schedule", ["--dry-run"], "--count", "2.5"],
  ];
  for (const [name, args, flag, value] of cases) {
    const r = await cli(name, [...args, flag, value], env);
    assertEquals(r.code, 2, `${name} ${flag} ${value}: ${r.stderr}`);
    assertEquals(
      r.stderr,
      `${name}: ${flag} must be an integer >= 1, got ${JSON.stringify(value)} (see --help)\n`,
    );
    assertEquals(r.stdout, "");
  }
  // One past what a count can hold: too large, not "not an integer >= 1".
  const big = await cli("runs", ["--last", "99999999999999999999"], env);
  assertEquals([big.code, big.stderr], [
    2,
    "runs: --last is too large, got 99999999999999999999 (at most 9007199254740991) (see --help)\n",
  ]);
  // --count is for --dry-run: without it the scheduler would have ignored it.
  const count = await cli("schedule", ["--count", "3"], env);
  assertEquals([count.code, count.stderr, count.stdout], [
    2,
    "schedule: --count goes with --dry-run (see --help)\n",
    "",
  ]);
  assertEquals(filesUnder(state), []);
});

Deno.test("an EGX_LOG_DIR that cannot be a folder exits 2 naming it, for run, schedule and runs", async () => {
  const { state } = tmpState();
  Deno.writeTextFileSync(`${state}/file`, "kept\n");
  const run = ["--manifest", `${DATA}/cli.yaml`, "ok_pipe"];
  const cases: [string, string[], string, string][] = [
    ["run", run, `${state}/file`, "it is a file"],
    ["schedule", [], `${state}/file`, "it is a file"], // the repository's jobs.yaml
    ["schedule", ["--dry-run"], `${state}/file/logs`, `${state}/file is a file`],
    ["run", run, `${state}/file/logs`, `${state}/file is a file`],
    // A dry run checks it too, creating nothing.
    ["run", [...run, "--dry-run"], `${state}/file`, "it is a file"],
    ["run", [...run, "--dry-run"], `${state}/file/logs/x`, `${state}/file is a file`],
    ["runs", [], `${state}/file`, "it is a file"],
    ["runs", ["20260101-000000-abcd"], `${state}/file/logs`, "Not a directory (os error 20): stat"],
  ];
  for (const [name, args, dir, why] of cases) {
    const r = await cli(name, args, { EGX_LOG_DIR: dir });
    assertEquals(r.code, 2, r.stderr);
    assertEquals(r.stdout, "");
    const prefix = `${name}: `; // the same in each command
    assert(
      r.stderr.startsWith(`${prefix}the log folder ${dir} (EGX_LOG_DIR) cannot be used: ${why}`),
      r.stderr,
    );
  }
  assertEquals(filesUnder(state), [`${state}/file`]);
  assertEquals(Deno.readTextFileSync(`${state}/file`), "kept\n");
});

Deno.test("--dry-run refuses the settings a run (or the scheduler) refuses: a malformed alert webhook URL, exit 2", async () => {
  const { state, env } = tmpState();
  const r = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "ok_pipe", "--dry-run"], {
    ...env,
    EGX_ALERT_WEBHOOK_URL: "notaurl-s3cret",
  });
  assertEquals([r.code, r.stdout], [2, ""]);
  assertEquals(
    r.stderr,
    "run: EGX_ALERT_WEBHOOK_URL must be an http(s) URL such as " +
      "https://hooks.slack.com/services/...; its value is not one (not shown: secret)\n",
  );
  assertEquals(filesUnder(state), []);
  const s = await cli("schedule", ["--dry-run"], { ...env, EGX_ALERT_WEBHOOK_URL: "notaurl" });
  assertEquals([s.code, s.stdout], [2, ""]);
  assert(s.stderr.startsWith("schedule: EGX_ALERT_WEBHOOK_URL must be"), s.stderr);
});

Deno.test("settingsProblems: every section of a job's settings parsed, each problem once", () => {
  assertEquals(settingsProblems({}), []);
  assertEquals(settingsProblems({ EGX_RETENTION_DAYS: "7", HOME: "/root" }), []);
  assertEquals(
    settingsProblems({
      EGX_RETENTION_DAYS: "abc",
      EGX_WAREHOUSE: "snowflake",
      SNOWFLAKE_USER: "u",
      EGX_ALERT_WEBHOOK_URL: "not-a-url",
    }),
    [
      "EGX_WAREHOUSE=snowflake needs SNOWFLAKE_ACCOUNT and SNOWFLAKE_PASSWORD or " +
      "SNOWFLAKE_PRIVATE_KEY_PATH",
      // Read by two sections (alerts and alertWebhookUrl): said once.
      "EGX_ALERT_WEBHOOK_URL must be an http(s) URL such as https://hooks.slack.com/services/...; " +
      "its value is not one (not shown: secret)",
      'EGX_RETENTION_DAYS must be an integer between 1 and 36500, got "abc"',
    ],
  );
});

Deno.test("a run (or the scheduler) whose jobs would refuse their settings exits 2 before anything runs; --dry-run says which", async () => {
  const { state, env } = tmpState();
  const bad = { ...env, EGX_RETENTION_DAYS: "abc" };
  const args = ["--manifest", `${DATA}/settings.yaml`, "settings_pipe"];
  const r = await cli("run", args, bad);
  assertEquals([r.code, r.stdout], [2, ""]);
  assertEquals(
    r.stderr,
    "run: settings that jobs of the run would refuse (nothing was started):\n" +
      '  EGX_RETENTION_DAYS must be an integer between 1 and 36500, got "abc" (jobs keeper, ' +
      "keeper_too)\n" +
      "  EGX_STREAM_SOURCE must be replay or tradingview, got carrier-pigeon (job fixed)\n",
  );
  // Not even the first job (which reads no setting) ran; no log folder, no history.
  assertEquals(filesUnder(state), []);

  const dry = await cli("run", [...args, "--dry-run"], bad);
  assertEquals(dry.code, 2);
  assertEquals(
    dry.stdout.split("\n").filter((l) => /^\d+\. |settings:/.test(l)),
    [
      "1. recorder timeout 1h00m, retries 0",
      "2. keeper (after recorder; trigger all_ok) timeout 1h00m, retries 0",
      '   settings: EGX_RETENTION_DAYS must be an integer between 1 and 36500, got "abc"',
      "3. keeper_too (after recorder; trigger all_ok) timeout 1h00m, retries 0",
      '   settings: EGX_RETENTION_DAYS must be an integer between 1 and 36500, got "abc"',
      "4. fixed (after recorder; trigger all_ok) timeout 1h00m, retries 0",
      "   settings: EGX_STREAM_SOURCE must be replay or tradingview, got carrier-pigeon",
    ],
  );
  assertEquals(
    dry.stderr,
    "run: 3 job(s) have settings that are not valid: keeper, keeper_too, fixed " +
      '("settings:" above); the run would not start\n',
  );
  assertEquals(filesUnder(state), []);

  // Only the plan's jobs count: without `fixed`, and a good retention, the run goes.
  const good = await cli("run", [...args, "--only", "recorder,keeper,keeper_too"], {
    ...env,
    EGX_RETENTION_DAYS: "7",
  });
  assertEquals(good.code, 0, good.stderr);
  assertEquals(Deno.statSync(`${state}/recorder-ran`).isFile, true);

  // The scheduler checks every scheduled job at its start (jobs.yaml's cleanup reads this one).
  const s = await cli("schedule", ["--dry-run"], { ...env, EGX_RETENTION_DAYS: "0" });
  assertEquals([s.code, s.stdout], [2, ""]);
  assertEquals(
    s.stderr,
    "schedule: settings that scheduled jobs would refuse (nothing was scheduled):\n" +
      '  EGX_RETENTION_DAYS must be an integer between 1 and 36500, got "0" (job cleanup)\n',
  );
});

Deno.test("--dry-run prints the plan with exact commands and permissions and runs nothing", async () => {
  const { state, env } = tmpState();
  const r = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "slow_pipe", "--dry-run"], env);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.trimEnd().split("\n"), [
    `plan for pipeline slow_pipe: 2 job(s), concurrency 2, cwd ${DATA}`,
    "1. sleeper timeout 1h00m, retries 0",
    `   deno run --no-prompt --cached-only --frozen --allow-write=${state} --allow-env=EGX_RUN_ID,EGX_JOB,EGX_ATTEMPT,EGX_DEADLINE,EGX_KILL_GRACE_MS jobs/behave.ts --pidfile ${state}/pid --sleep 60000`,
    `   permissions: net=- read=- write=${state} env=- ffi=false sys=false`,
    "   env passed: (none declared)",
    "2. after_sleeper (after sleeper; trigger all_ok) timeout 1h00m, retries 0",
    "   deno run --no-prompt --cached-only --frozen --allow-env=EGX_RUN_ID,EGX_JOB,EGX_ATTEMPT,EGX_DEADLINE,EGX_KILL_GRACE_MS jobs/behave.ts",
    "   permissions: net=- read=- write=- env=- ffi=false sys=false",
    "   env passed: (none declared)",
  ]);
  assertEquals(filesUnder(state), []);
  // --concurrency overrides the pipeline's, in the plan as in the run.
  const one = await cli("run", [
    "--manifest",
    `${DATA}/cli.yaml`,
    "slow_pipe",
    "--dry-run",
    "--concurrency",
    "1",
  ], env);
  assertEquals(
    one.stdout.split("\n")[0],
    `plan for pipeline slow_pipe: 2 job(s), concurrency 1, cwd ${DATA}`,
  );
});

Deno.test("a bad manifest exits 2 with every problem and runs nothing; validate agrees", async () => {
  const { state, env } = tmpState();
  const expected = [
    'bad.yaml:5:15 pipeline p: schedule "every day" must have 5 fields (minute hour day month weekday)',
    "bad.yaml:9:18 dependency cycle: a -> b -> a",
    'bad.yaml:11:7 unknown key "run" in job a: permissions: a job is never given --allow-run (starting a process escapes its sandbox)',
    `bad.yaml:16:13 job c: script "jobs/nope.ts" does not exist (looked for ${REPO}/tests/testdata/runner/jobs/nope.ts)`,
    'bad.yaml:17:14 job c: timeout must be a duration like 500ms, 30s, 5m, 2h, 1d (got "forever")',
  ];
  const none = await cli("run", ["--manifest", "no_such.yaml", "p"], env);
  assertEquals(none.code, 2);
  match(none.stderr, /^no_such\.yaml:1:1 cannot read: No such file or directory/);
  const rel = "tests/testdata/runner/bad.yaml";
  const r = await cli("run", ["--manifest", rel, "p"], env);
  assertEquals(r.code, 2);
  assertEquals(r.stderr.trimEnd().split("\n"), [
    ...expected.map((l) => l.replace("bad.yaml", rel)),
    `5 problem(s) in ${rel}: nothing was run`,
  ]);
  assertEquals(r.stdout, "");
  assertEquals(filesUnder(state), []);
  // An unknown target in a good manifest leaves no trace either (not even the log folder).
  const target = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "no_such_pipeline"], env);
  assertEquals(target.code, 2, target.stderr);
  match(target.stderr, /^run: .*no_such_pipeline/);
  assertEquals(filesUnder(state), []);
  const v = await cli("validate", ["--manifest", rel], env);
  assertEquals(v.code, 2);
  assertEquals(v.stderr.trimEnd().split("\n"), [
    ...expected.map((l) => l.replace("bad.yaml", rel)),
    `5 problem(s) in ${rel}`,
  ]);
  const good = await cli("validate", [], env);
  assertEquals(good.code, 0, good.stderr);
  match(
    good.stdout,
    /^jobs\.yaml: ok \(\d+ jobs, \d+ pipelines, 2 scheduled\)\nmodels\/: ok \(\d+ models, \d+ sources, \d+ tests\)\n$/,
  );
  const unknown = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "nope"], env);
  assertEquals([unknown.code, unknown.stderr], [
    2,
    `run: unknown pipeline or job "nope" in ${DATA}/cli.yaml (have: ok_pipe, fail_pipe, slow_pipe, stubborn_pipe, greet, after_greet, failing, sleeper, after_sleeper, stubborn)\n`,
  ]);
  const badFlag = await cli("run", ["--bogus"], env);
  assertEquals([badFlag.code, badFlag.stderr], [2, "run: Unknown option '--bogus' (see --help)\n"]);
});

/** Start the runner on slow_pipe and resolve once the sleeper job is running. */
async function startSlowRun(
  env: Record<string, string>,
  pipeline = "slow_pipe",
  job = "sleeper",
  opts: { nohup?: boolean; setsid?: boolean } = {},
) {
  const args = ["--manifest", `${DATA}/cli.yaml`, pipeline];
  // setsid: in a session and process group of its own, as a terminal's shell starts a command (a
  // hangup reaches the whole group: the runner and its jobs without ffi). nohup: SIGHUP ignored,
  // which the runner inherits.
  const argv = [
    ...(opts.setsid ? ["setsid"] : []),
    ...(opts.nohup ? ["/bin/sh", "-c", `trap '' HUP; exec "$0" "$@"`] : []),
    Deno.execPath(),
    "run",
    ...taskArgs("run"),
    ...args,
  ];
  const child = (opts.setsid || opts.nohup
    ? new Deno.Command(argv[0], {
      args: argv.slice(1),
      cwd: REPO,
      clearEnv: true,
      env: { ...baseEnv(), ...env },
      stdout: "piped",
      stderr: "piped",
    })
    : command("run", args, env)).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!new RegExp(`running {9}${job}`).test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`runner ended early: ${seen}`);
    seen += value;
  }
  const rest = (async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return seen;
      seen += value;
    }
  })();
  const stderr = new Response(child.stderr).text();
  // Wait until the job has written its pid (it installed its signal handler by then).
  const pidFile = `${env.STATE}/pid`;
  let pid = 0;
  for (let i = 0; i < 500 && pid === 0; i++) {
    try {
      const text = Deno.readTextFileSync(pidFile);
      if (text.endsWith("\n")) pid = Number(text); // whole (created empty, then written)
    } catch { /* not yet */ }
    if (pid === 0) await new Promise((r) => setTimeout(r, 10));
  }
  return { child, output: rest, stderr, jobPid: pid };
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

// SIGHUP: a closed terminal or ssh session (it ended the runner outright, its run left running).
for (const [sig, code] of [["SIGTERM", 143], ["SIGINT", 130], ["SIGHUP", 129]] as const) {
  Deno.test(`${sig} to the runner stops the running job, exits ${code} and leaves nothing running`, async () => {
    const { state, env } = tmpState();
    const run = await startSlowRun(env);
    assert(run.jobPid > 0 && alive(run.jobPid), `the job's pid file said ${run.jobPid}`);
    run.child.kill(sig);
    const status = await run.child.status;
    const out = await run.output;
    await run.stderr;
    assertEquals(status.code, code, out);
    assert(out.includes(`${sig}: cancelling the run, stopping running jobs`), out);
    assertEquals(alive(run.jobPid), false);
    const h = new History(`${state}/logs/runs.sqlite`);
    const [last] = h.listRuns(1);
    const detail = h.getRun(last.id)!;
    h.close();
    assertEquals(detail.run.status, "cancelled");
    assertEquals(detail.jobs.map((j) => [j.job, j.status]), [
      ["sleeper", "cancelled"],
      ["after_sleeper", "cancelled"],
    ]);
    assertEquals(detail.attempts.map((a) => [a.job, a.status, a.exit_code]), [
      ["sleeper", "cancelled", 143],
    ]);
  });
}

Deno.test("a hangup of the terminal (SIGHUP to the runner's process group) stops the job as SIGHUP to the runner does", async () => {
  const { state, env } = tmpState();
  const run = await startSlowRun(env, "slow_pipe", "sleeper", { setsid: true });
  assert(run.jobPid > 0 && alive(run.jobPid), `the job's pid file said ${run.jobPid}`);
  Deno.kill(-run.child.pid, "SIGHUP");
  const status = await run.child.status;
  const out = await run.output;
  await run.stderr;
  assertEquals(status.code, 129, out);
  assertEquals(alive(run.jobPid), false);
  const h = new History(`${state}/logs/runs.sqlite`);
  const [last] = h.listRuns(1);
  const detail = h.getRun(last.id)!;
  h.close();
  assertEquals(detail.run.status, "cancelled");
  assertEquals(detail.attempts.map((a) => [a.job, a.status, a.exit_code]), [
    ["sleeper", "cancelled", 143],
  ]);
});

Deno.test("a runner started under nohup goes on, and so does its job, after a SIGHUP to it or to its whole group (a terminal's hangup)", async () => {
  const { env } = tmpState();
  const run = await startSlowRun(env, "slow_pipe", "sleeper", { nohup: true, setsid: true });
  for (const target of [run.child.pid, -run.child.pid]) {
    Deno.kill(target, "SIGHUP");
    await new Promise((r) => setTimeout(r, 500));
    assert(alive(run.jobPid), `the job was stopped by SIGHUP to ${target}`);
  }
  run.child.kill("SIGTERM");
  const status = await run.child.status;
  const out = await run.output;
  await run.stderr;
  assertEquals(status.code, 143, out);
  assertEquals(out.includes("SIGHUP"), false, out);
});

Deno.test("a signal arriving with the first is one request to the runner; a later one is answered", async () => {
  const { env } = tmpState();
  const run = await startSlowRun(env, "stubborn_pipe", "stubborn"); // ignores SIGTERM
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const first = Date.now();
  run.child.kill("SIGINT");
  await sleep(20);
  run.child.kill("SIGINT"); // as `deno task` passes a terminal's Ctrl-C on: the same press
  // A second press, while the job has its kill_grace (3 s): 1.8 s after the first, so that the
  // runner's one second of coalescing has passed even when it saw the first press late.
  await sleep(Math.max(0, 1800 - (Date.now() - first)));
  run.child.kill("SIGINT");
  const status = await run.child.status;
  const out = await run.output;
  await run.stderr;
  assertEquals(status.code, 130, out);
  assertEquals(out.split("\n").filter((l) => l.startsWith("SIGINT")), [
    "SIGINT: cancelling the run, stopping running jobs",
    "SIGINT again: still waiting for jobs to stop (kill_grace)",
  ]);
  assertEquals(alive(run.jobPid), false);
});

Deno.test("`deno task runs` leaves a live run running; a runner killed outright: its job stops by itself, and `runs` marks the run abandoned", async () => {
  const { state, env } = tmpState();
  const run = await startSlowRun(env);
  const live = await cli("runs", [], env);
  assertEquals(live.code, 0, live.stderr);
  assertEquals(live.stdout.split("\n")[1].split(/ +/).slice(1, 4), [
    "slow_pipe",
    "manual",
    "running",
  ]);
  run.child.kill("SIGKILL");
  await run.child.status;
  await run.output;
  await run.stderr;
  // The job (sleeping 60 s) notices within about a second that its runner is gone.
  assertEquals(await waitForEnd(run.jobPid, 5000), true);
  const before = new History(`${state}/logs/runs.sqlite`);
  const id = before.listRuns(1)[0].id;
  assertEquals(before.getRun(id)!.run.status, "running");
  before.close();
  const list = await cli("runs", [id], env);
  assertEquals(list.code, 0, list.stderr);
  const h = new History(`${state}/logs/runs.sqlite`);
  const detail = h.getRun(id)!;
  h.close();
  assertEquals(detail.run.status, "abandoned");
  assertEquals(detail.jobs.map((j) => j.status), ["abandoned", "abandoned"]);
  // The job that was running had made its first attempt (`runs` shows its attempts count).
  assertEquals(detail.jobs.map((j) => j.attempts), [1, 0]);
  assertEquals(detail.attempts.map((a) => a.status), ["abandoned"]);
  match(
    detail.run.message!,
    /^runner pid \d+ ended without finishing the run \(noticed \S+Z; its last record is from \S+Z\)$/,
  );
  // It ends at its last record (the attempt's start), not when its death was noticed.
  assertEquals(detail.run.ended_at, detail.attempts[0].started_at);
  assertEquals(detail.attempts[0].ended_at, detail.attempts[0].started_at);
  assert(list.stdout.startsWith(`run ${id}  slow_pipe  abandoned`), list.stdout);
});

Deno.test("a runner killed outright: its job that ignores the stop exits by itself once kill_grace has passed, saying why", async () => {
  const { state, env } = tmpState();
  const run = await startSlowRun(env, "stubborn_pipe", "stubborn"); // ignores SIGTERM, sleeps 60 s
  try {
    run.child.kill("SIGKILL");
    await run.child.status;
    await run.output;
    await run.stderr;
    // It notices within a second that its runner is gone, and exits kill_grace (3 s) later.
    assertEquals(await waitForEnd(run.jobPid, 10_000), true);
  } finally {
    if (alive(run.jobPid)) Deno.kill(run.jobPid, "SIGKILL");
  }
  const h = new History(`${state}/logs/runs.sqlite`);
  const [attempt] = h.getRun(h.listRuns(1)[0].id)!.attempts;
  h.close();
  assertEquals(
    Deno.readTextFileSync(attempt.log_path),
    "behave: stopping itself: its runner is gone and kill_grace (3000 ms) has passed\n",
  );
});

/** `--allow-x=a,b` flags as {x: [a, b] sorted} (true for a bare flag), without the runner's own. */
function permissionSets(flags: string[]): Record<string, string[] | true> {
  const out: Record<string, string[] | true> = {};
  for (const f of flags) {
    if (["--no-prompt", "--cached-only", "--frozen"].includes(f)) continue;
    const [name, list] = f.replace(/^'|'$/g, "").split("=", 2);
    const values = list?.split(",").filter((v) =>
      !["EGX_RUN_ID", "EGX_JOB", "EGX_ATTEMPT", "EGX_DEADLINE", "EGX_KILL_GRACE_MS"].includes(v)
    );
    out[name] = values === undefined ? true : values.sort();
  }
  return out;
}

Deno.test("every job in jobs.yaml answers --help when run alone with its header's deno run line", async () => {
  const manifest = loadManifest(`${REPO}/jobs.yaml`);
  assert(manifest.jobs.size >= 1);
  for (const job of manifest.jobs.values()) {
    const source = Deno.readTextFileSync(`${REPO}/${job.script}`);
    const header = /^\/\*\*([\s\S]*?)\*\//.exec(source)?.[1] ?? "";
    const joined = header.split("\n").map((l) => l.replace(/^\s*\*\s?/, "")).join("\n")
      .replace(/\\\n\s*/g, "");
    const line = joined.split("\n").find((l) => l.trim().startsWith("deno run "));
    assert(line, `${job.script}: the header comment has no "deno run" line`);
    // Optional parts in [brackets] (e.g. "[--allow-net=<hosts>]") are left out.
    const shellWords = line.replace(/\[[^\]]*\]/g, " ").trim().split(/\s+/);
    // Pasted into a shell: a word with an unquoted `*` (SNOWFLAKE_*) is a file pattern, which
    // zsh refuses when no file matches it ("no matches found"), so such words are quoted.
    for (const w of shellWords) {
      assert(!w.includes("*") || /^'[^']*'$/.test(w), `${job.script}: unquoted pattern ${w}`);
    }
    const words = shellWords.map((w) => w.replace(/^'([^']*)'$/, "$1"));
    const at = words.indexOf(job.script);
    assert(at > 1, `${job.script}: the header's deno run line does not run ${job.script}`);
    const flags = words.slice(2, at);
    // The header's permissions are the job's own: those the runner gives it with jobs.yaml's
    // defaults (less the runner's per-attempt variables), no more and no fewer.
    const runnerFlags = jobCommand(manifest, job, { source: {} }).argv;
    assertEquals(
      permissionSets(flags),
      permissionSets(runnerFlags.slice(2, runnerFlags.indexOf(job.script))),
      `${job.script}: the header's deno run line grants other permissions than jobs.yaml`,
    );
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, job.script, "--help"],
      cwd: REPO,
      clearEnv: true,
      env: baseEnv(),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assertEquals(r.code, 0, `${job.script} --help: ${dec.decode(r.stderr)}`);
    assert(dec.decode(r.stdout).length > 0, `${job.script} --help printed nothing`);
  }
});

Deno.test("validate reports a model with an unknown ref at its file, line and column", async () => {
  const root = testTempDir("validate_models_");
  const copy = new Deno.Command("cp", { args: ["-r", `${REPO}/models`, `${root}/models`] });
  assert((await copy.output()).success);
  const file = `${root}/models/marts/gold_dim_company.sql`;
  const sql = Deno.readTextFileSync(file);
  Deno.writeTextFileSync(file, sql.replace("ref('stg_index_membership')", "ref('no_such_model')"));
  const v = await cli("validate", ["--models", root], tmpState().env);
  assertEquals(v.code, 2);
  const line = sql.split("\n").findIndex((l) => l.includes("ref('stg_index_membership')")) + 1;
  assertEquals(v.stderr.trimEnd().split("\n"), [
    `models/marts/gold_dim_company.sql:${line}:8 ref('no_such_model'): no model named no_such_model`,
    "1 problem(s) in the models",
  ]);
  match(v.stdout, /^jobs\.yaml: ok /);
});

Deno.test("the runner reuses the validated manifest only while its text and scripts are unchanged", async () => {
  const { state, env } = tmpState();
  const manifestPath = `${state}/jobs.yaml`;
  Deno.writeTextFileSync(`${state}/hello.ts`, 'console.log(Deno.args.join(" "));\n');
  const write = (word: string, extra = "") =>
    Deno.writeTextFileSync(
      manifestPath,
      `jobs:\n  hello: {script: hello.ts, args: [${word}]${extra}}\n`,
    );
  const lastLog = () => {
    const h = new History(`${state}/logs/runs.sqlite`);
    const id = h.listRuns(1)[0].id;
    const path = h.getRun(id)!.attempts[0].log_path;
    h.close();
    return Deno.readTextFileSync(path);
  };
  write("one");
  assertEquals((await cli("run", ["--manifest", manifestPath, "hello"], env)).code, 0);
  assertEquals(lastLog(), "one\n");
  assertEquals((await cli("run", ["--manifest", manifestPath, "hello"], env)).code, 0);
  write("two");
  assertEquals((await cli("run", ["--manifest", manifestPath, "hello"], env)).code, 0);
  assertEquals(lastLog(), "two\n");
  write("two", ", retries: lots");
  const bad = await cli("run", ["--manifest", manifestPath, "hello"], env);
  assertEquals([bad.code, bad.stderr.split("\n")[0]], [
    2,
    `${manifestPath}:2:51 job hello: retries must be an integer >= 0`,
  ]);
  write("two");
  Deno.removeSync(`${state}/hello.ts`);
  const gone = await cli("run", ["--manifest", manifestPath, "hello"], env);
  assertEquals([gone.code, gone.stderr.split("\n")[0]], [
    2,
    `${manifestPath}:2:19 job hello: script "hello.ts" does not exist (looked for ${state}/hello.ts)`,
  ]);
});

Deno.test("a job takes a signal arriving with the first as the same request; a later one stops it at once", async () => {
  const { state } = tmpState();
  const job = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-write=${state}`,
      `${DATA}/jobs/behave.ts`,
      "--ignore-term",
      "--sleep",
      "20000",
      "--pidfile",
      `${state}/pid`,
    ],
    clearEnv: true,
    env: baseEnv(),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = job.output();
  for (let i = 0; i < 500; i++) {
    try {
      if (Deno.readTextFileSync(`${state}/pid`)) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const first = Date.now();
  job.kill("SIGINT"); // a terminal's Ctrl-C ...
  await sleep(100);
  job.kill("SIGTERM"); // ... and the runner's SIGTERM right after it: one request
  await sleep(400);
  assert(alive(job.pid), "the job stopped on the coalesced second signal");
  // A second request: stop now (2 s after the first, so that the job's one second of coalescing
  // has passed even when it saw the first signal late).
  await sleep(Math.max(0, 2000 - (Date.now() - first)));
  job.kill("SIGTERM");
  const res = await out;
  assertEquals(res.code, 143);
  assert(Date.now() - first < 8000); // not the 20 s sleep
  // The job's own listener saw the coalesced SIGTERM; the later one exited before it ran.
  assertEquals(new TextDecoder().decode(res.stdout), "ignoring SIGTERM\n");
});

Deno.test("a run without a lock file whose runner cannot be checked stays running in `runs`; the runner marks it", async () => {
  // `deno task runs` cannot read /proc (Deno allows that only with --allow-all): with no run
  // lock to go by, it cannot tell a dead runner from a live one, so it leaves the run alone.
  const { state, env } = tmpState();
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  const h = new History(`${state}/logs/runs.sqlite`);
  h.startRun({ id: "20260101-000000-dead", target: "p", trigger: "manual", jobs: ["a"], at: 0 });
  h.close();
  const db = new DatabaseSync(`${state}/logs/runs.sqlite`);
  db.prepare("UPDATE runs SET runner_pid = ?, runner_start = NULL").run(gone.pid);
  db.close();
  const list = await cli("runs", [], env);
  assertEquals(list.code, 0, list.stderr);
  assertEquals(list.stdout.split("\n")[1].split(/ +/).slice(0, 4), [
    "20260101-000000-dead",
    "p",
    "manual",
    "running",
  ]);
  const run = await cli("run", ["--manifest", `${DATA}/cli.yaml`, "ok_pipe"], env);
  assertEquals(run.code, 0, run.stderr);
  assert(
    run.stdout.startsWith(
      "marked 1 run(s) of dead runners as abandoned: 20260101-000000-dead\n",
    ),
    run.stdout,
  );
});

const OVERLAP = `${DATA}/overlap.yaml`;

/** The refusal `run` prints when run `id` of gated_pipe (runner `pid`) runs `jobs` of its own. */
const refusal = (id: string, pid: number, jobs: string) =>
  `run: run ${id} of gated_pipe is still running (runner pid ${pid}) and runs jobs of this one ` +
  `(${jobs}): nothing was started; wait for it to end, or pass --allow-overlap\n`;

/**
 * `run gated_pipe`, resolved once it is either running its first job (which then waits for
 * ${STATE}/go) or has ended (refused): a run that should have been refused fails a test rather
 * than hang it.
 */
async function startGated(env: Record<string, string>) {
  const child = command("run", ["--manifest", OVERLAP, "gated_pipe"], env).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  const started = /running {9}gated/;
  while (!started.test(stdout)) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  const rest = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) stdout += r.value;
  })();
  const stderr = new Response(child.stderr).text();
  return {
    pid: child.pid,
    started: started.test(stdout),
    end: async () => {
      const { code } = await child.status;
      await rest;
      return { code, stdout, stderr: await stderr };
    },
  };
}

/** Run ids in the history, oldest first, with their targets and statuses. */
function runsIn(state: string): string[][] {
  const h = new History(`${state}/logs/runs.sqlite`);
  const runs = h.listRuns(20).reverse().map((r) => [r.id, r.target, r.status]);
  h.close();
  return runs;
}

Deno.test("a manual run beside a live run of the same pipeline, or of one of its jobs, starts nothing and exits 3", async () => {
  const { state, env } = tmpState();
  const first = await startGated(env);
  assertEquals(first.started, true);
  const [[id]] = runsIn(state);
  const pid = first.pid;
  const again = await startGated(env);
  assertEquals(again.started, false);
  const refused = await again.end();
  assertEquals([refused.code, refused.stdout, refused.stderr], [
    3,
    "",
    refusal(id, pid, "gated, after_gated"),
  ]);
  // A job of the pipeline that has not started yet in it counts as well.
  const job = await cli("run", ["--manifest", OVERLAP, "after_gated"], env);
  assertEquals([job.code, job.stdout, job.stderr], [3, "", refusal(id, pid, "after_gated")]);
  // Neither left a trace: no run recorded, no log folder.
  assertEquals(runsIn(state), [[id, "gated_pipe", "running"]]);
  assertEquals([...Deno.readDirSync(`${state}/logs/runs`)].map((e) => e.name), [id]);
  Deno.writeTextFileSync(`${state}/go`, "");
  const end = await first.end();
  assertEquals(end.code, 0, end.stdout + end.stderr);
  assertEquals(runsIn(state), [[id, "gated_pipe", "ok"]]);
});

Deno.test("--allow-overlap runs beside a live run of the same jobs; a job it does not run needs no flag", async () => {
  const { state, env } = tmpState();
  const first = await startGated(env);
  assertEquals(first.started, true);
  const [[id]] = runsIn(state);
  const forced = await cli("run", ["--manifest", OVERLAP, "after_gated", "--allow-overlap"], env);
  assertEquals([forced.code, forced.stderr], [0, ""]);
  match(forced.stdout, /^run \S+: job after_gated, 1 job\(s\)\n/);
  const apart = await cli("run", ["--manifest", OVERLAP, "apart"], env);
  assertEquals([apart.code, apart.stderr], [0, ""]);
  Deno.writeTextFileSync(`${state}/go`, "");
  const end = await first.end();
  assertEquals(end.code, 0, end.stdout + end.stderr);
  assertEquals(runsIn(state).map(([i, target, st]) => [i === id, target, st]), [
    [true, "gated_pipe", "ok"],
    [false, "after_gated", "ok"],
    [false, "apart", "ok"],
  ]);
});

Deno.test("a running run whose runner is gone does not block a manual run: it is marked abandoned", async () => {
  const { state, env } = tmpState();
  const h = new History(`${state}/logs/runs.sqlite`);
  const id = "20260101-000000-dead";
  h.startRun({
    id,
    target: "gated_pipe",
    trigger: "manual",
    jobs: ["gated", "after_gated"],
    at: 0,
  });
  h.close();
  // Its lock file is there and free: the runner that held it is gone (the pid recorded, this
  // test's, is alive, but the lock decides).
  Deno.mkdirSync(`${state}/logs/runs/${id}`, { recursive: true });
  Deno.writeTextFileSync(`${state}/logs/runs/${id}/.runner.lock`, "");
  const run = await cli("run", ["--manifest", OVERLAP, "after_gated"], env);
  assertEquals([run.code, run.stderr], [0, ""]);
  assert(
    run.stdout.startsWith(`marked 1 run(s) of dead runners as abandoned: ${id}\nrun `),
    run.stdout,
  );
  const runId = run.stdout.split("\n")[1].split(":")[0].slice("run ".length);
  assertEquals(runsIn(state), [[id, "gated_pipe", "abandoned"], [runId, "after_gated", "ok"]]);
});

Deno.test("of two runs of the same pipeline started at once, exactly one is refused", async () => {
  const { state, env } = tmpState();
  const results = await Promise.all([startGated(env), startGated(env)]);
  Deno.writeTextFileSync(`${state}/go`, "");
  const ends = await Promise.all(results.map((r) => r.end()));
  const runs = runsIn(state);
  assertEquals(runs.map(([, target, st]) => [target, st]), [["gated_pipe", "ok"]]);
  const ran = results.find((r) => r.started);
  assertEquals(
    results.map((r, i) => [r.started, ends[i].code, ends[i].stderr]).sort(),
    [[false, 3, refusal(runs[0][0], ran?.pid ?? 0, "gated, after_gated")], [true, 0, ""]],
  );
});

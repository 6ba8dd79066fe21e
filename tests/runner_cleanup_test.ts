import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { cleanup } from "../lib/runner/cleanup.ts";
import { History } from "../lib/runner/history.ts";
import { loadManifest } from "../lib/runner/manifest.ts";
import { planRun } from "../lib/runner/plan.ts";
import { executePlan } from "../lib/runner/executor.ts";
import { lockScheduler, SchedulerRunningError } from "../lib/runner/scheduler_lock.ts";
import { denoCacheEnv, projectJob } from "./support/processes.ts";
import { testTempDir } from "./support/temp_dir.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DAY = 86_400_000;

/** A log folder with old and recent runs, an old run still running, and loose files. */
function fixture(now: number) {
  const logDir = `${testTempDir("runner_cleanup_")}/logs`;
  const h = new History(`${logDir}/runs.sqlite`);
  const old = (d: number) => new Date(now - d * DAY);
  const addRun = (id: string, daysAgo: number, finished: boolean) => {
    const at = now - daysAgo * DAY;
    h.startRun({ id, target: "full_pipeline", trigger: "schedule", jobs: ["a"], at });
    const log = `${logDir}/runs/${id}/a.1.log`;
    Deno.mkdirSync(`${logDir}/runs/${id}`, { recursive: true });
    Deno.writeTextFileSync(log, `log of ${id}\n`);
    Deno.utimeSync(log, old(daysAgo), old(daysAgo));
    h.startAttempt({ runId: id, job: "a", attempt: 1, at, logPath: log, command: "deno run a.ts" });
    if (finished) {
      h.endAttempt({
        runId: id,
        job: "a",
        attempt: 1,
        status: "ok",
        at: at + 1000,
        durationMs: 1000,
        exitCode: 0,
        signal: null,
      });
      h.endJob(id, "a", { status: "ok", at: at + 1000, attempts: 1 });
      h.endRun(id, "ok", at + 1000, "1 ok");
    }
  };
  addRun("old-run", 40, true);
  addRun("old-but-running", 40, false);
  addRun("recent-run", 2, true);
  Deno.mkdirSync(`${logDir}/runs/orphan`, { recursive: true });
  Deno.writeTextFileSync(`${logDir}/runs/orphan/x.log`, "no record\n");
  Deno.utimeSync(`${logDir}/runs/orphan/x.log`, old(35), old(35));
  Deno.utimeSync(`${logDir}/runs/orphan`, old(35), old(35));
  Deno.writeTextFileSync(`${logDir}/stream.log`, "old tool log\n");
  Deno.utimeSync(`${logDir}/stream.log`, old(31), old(31));
  Deno.writeTextFileSync(`${logDir}/fresh.log`, "recent\n");
  h.close();
  return logDir;
}

function tree(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    out.push(p.slice(base.length + 1) + (e.isDirectory ? "/" : ""));
    if (e.isDirectory) out.push(...tree(p, base));
  }
  return out.sort();
}

Deno.test("cleanup deletes old finished runs and old log files, keeping recent and running ones", () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  const logDir = fixture(now);
  const old = (d: number) => new Date(now - d * DAY);
  // Old, but no logs: a log folder shared with something else keeps them.
  Deno.writeTextFileSync(`${logDir}/notes.txt`, "not a log\n");
  Deno.utimeSync(`${logDir}/notes.txt`, old(60), old(60));
  Deno.mkdirSync(`${logDir}/empty`);
  Deno.utimeSync(`${logDir}/empty`, old(60), old(60));
  // A rotated log in a folder of its own: both go.
  Deno.mkdirSync(`${logDir}/tool`);
  Deno.writeTextFileSync(`${logDir}/tool/app.log.1`, "rotated\n");
  Deno.utimeSync(`${logDir}/tool/app.log.1`, old(45), old(45));
  Deno.utimeSync(`${logDir}/tool`, old(45), old(45));
  const before = tree(logDir);
  const dry = cleanup(logDir, 30, { now: new Date(now), dryRun: true });
  assertEquals(tree(logDir), before);
  const r = cleanup(logDir, 30, { now: new Date(now) });
  assertEquals(r, {
    cutoff: new Date("2026-05-02T00:00:00Z"),
    runsDeleted: 1,
    filesDeleted: 4, // old-run/a.1.log, orphan/x.log, stream.log, tool/app.log.1
    dirsDeleted: 3, // runs/old-run, runs/orphan, tool
  });
  assertEquals([dry.runsDeleted, dry.filesDeleted, dry.dirsDeleted], [1, 4, 3]);
  assertEquals(
    tree(logDir).filter((p) => !p.startsWith("runs.sqlite")),
    [
      "empty/",
      "fresh.log",
      "notes.txt",
      "runs/",
      "runs/old-but-running/",
      "runs/old-but-running/a.1.log",
      "runs/recent-run/",
      "runs/recent-run/a.1.log",
    ],
  );
  const h = new History(`${logDir}/runs.sqlite`);
  assertEquals(h.listRuns().map((x) => x.id).sort(), ["old-but-running", "recent-run"]);
  assertEquals(h.getRun("old-run"), undefined);
  h.close();
  // Nothing left to delete the second time.
  assertEquals(cleanup(logDir, 30, { now: new Date(now) }).filesDeleted, 0);
});

Deno.test("cleanup deletes an old skipped fire's record like any finished run's (it has no logs)", () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  const logDir = `${testTempDir("runner_cleanup_skipped_")}/logs`;
  const h = new History(`${logDir}/runs.sqlite`);
  try {
    for (const [id, daysAgo] of [["old-skip", 40], ["recent-skip", 2]] as const) {
      const at = now - daysAgo * DAY;
      h.recordSkipped({ id, target: "p", at, scheduledFor: at, message: "skipped: busy" });
    }
    assertEquals(h.finishedBefore(new Date(now - 30 * DAY)), [{ id: "old-skip", logs: [] }]);
    const r = cleanup(logDir, 30, { now: new Date(now) });
    assertEquals([r.runsDeleted, r.filesDeleted, r.dirsDeleted], [1, 0, 0]);
    assertEquals(h.listRuns().map((x) => [x.id, x.status]), [["recent-skip", "skipped"]]);
  } finally {
    h.close();
  }
});

Deno.test("an old run's folder replaced by a link: the link goes, never what it points to", () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  const logDir = fixture(now);
  const outside = Deno.makeTempDirSync({ prefix: "runner_cleanup_outside_" });
  try {
    Deno.writeTextFileSync(`${outside}/important.txt`, "keep me\n");
    Deno.removeSync(`${logDir}/runs/old-run`, { recursive: true });
    Deno.symlinkSync(outside, `${logDir}/runs/old-run`);
    const r = cleanup(logDir, 30, { now: new Date(now) });
    assertEquals([r.runsDeleted, r.filesDeleted, r.dirsDeleted], [1, 3, 1]); // the link, x.log, stream.log; orphan/
    assertEquals(Deno.readTextFileSync(`${outside}/important.txt`), "keep me\n");
    assertEquals(tree(`${logDir}/runs`), [
      "old-but-running/",
      "old-but-running/a.1.log",
      "recent-run/",
      "recent-run/a.1.log",
    ]);
  } finally {
    Deno.removeSync(outside, { recursive: true });
  }
});

Deno.test("cleanup deletes nothing in a folder without the run history (EGX_LOG_DIR pointed astray)", () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  const dir = testTempDir("runner_cleanup_astray_");
  for (const f of ["syslog.log", "runs/x/a.1.log", "data.csv"]) {
    Deno.mkdirSync(`${dir}/${f}`.slice(0, `${dir}/${f}`.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(`${dir}/${f}`, "old\n");
    Deno.utimeSync(`${dir}/${f}`, new Date(now - 90 * DAY), new Date(now - 90 * DAY));
  }
  const before = tree(dir);
  assertEquals(cleanup(dir, 30, { now: new Date(now) }), {
    cutoff: new Date("2026-05-02T00:00:00Z"),
    runsDeleted: 0,
    filesDeleted: 0,
    dirsDeleted: 0,
    noHistory: true,
  });
  assertEquals(tree(dir), before);
  assertEquals(before, ["data.csv", "runs/", "runs/x/", "runs/x/a.1.log", "syslog.log"]);
});

Deno.test("cleanup keeps the lock of a scheduler running for longer than the retention", () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  const logDir = fixture(now);
  const lock = lockScheduler(logDir);
  try {
    const lockPath = `${logDir}/scheduler.lock`;
    Deno.utimeSync(lockPath, new Date(now - 60 * DAY), new Date(now - 60 * DAY));
    const r = cleanup(logDir, 30, { now: new Date(now) });
    assertEquals(r.filesDeleted, 3); // old-run/a.1.log, orphan/x.log, stream.log
    assertEquals(Deno.readTextFileSync(lockPath), `${Deno.pid}\n`);
    // So a second scheduler is still refused.
    let refused: unknown;
    try {
      lockScheduler(logDir).close();
    } catch (e) {
      refused = e;
    }
    assertEquals(refused instanceof SchedulerRunningError, true);
    assertEquals((refused as SchedulerRunningError).pid, Deno.pid);
  } finally {
    lock.close();
  }
});

/** A folder under `dir` nested deeper than a path can name (PATH_MAX): cleanup cannot walk it. */
function tooDeep(dir: string): string {
  const seg = "d".repeat(200);
  // Each step is a short relative path; only the whole is too long (another process: chdir).
  const code = `Deno.chdir(${JSON.stringify(dir)}); for (let i = 0; i < 25; i++) ` +
    `{ Deno.mkdirSync("${seg}"); Deno.chdir("${seg}"); }`;
  const made = new Deno.Command(Deno.execPath(), { args: ["eval", code] }).outputSync();
  if (!made.success) throw new Error(new TextDecoder().decode(made.stderr));
  return `${dir}/${seg}`;
}

Deno.test("a cleanup stopped half-way leaves old files, never a record pointing at a deleted log", () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  const logDir = fixture(now);
  const runDir = `${logDir}/runs/old-run`;
  const deep = tooDeep(runDir);
  try {
    let failed = false;
    try {
      cleanup(logDir, 30, { now: new Date(now) });
    } catch {
      failed = true;
    }
    assertEquals(failed, true);
    // The record went first; its folder is still there, for the next cleanup to sweep by age.
    const h = new History(`${logDir}/runs.sqlite`);
    assertEquals(h.getRun("old-run"), undefined);
    h.close();
    assertEquals(Deno.statSync(runDir).isDirectory, true);
  } finally {
    new Deno.Command("rm", { args: ["-rf", deep] }).outputSync();
  }
  // What is left is swept by age (the folder as a real old run's: untouched since its run).
  Deno.utimeSync(runDir, new Date(now - 40 * DAY), new Date(now - 40 * DAY));
  const r = cleanup(logDir, 30, { now: new Date(now) });
  assertEquals([r.runsDeleted, tree(logDir).some((p) => p.startsWith("runs/old-run"))], [0, false]);
});

Deno.test("the cleanup job in jobs.yaml runs under the runner with only its declared permissions", async () => {
  const now = Date.now();
  const logDir = fixture(now);
  const manifest = loadManifest(`${REPO}/jobs.yaml`);
  const history = new History(`${logDir}/runs.sqlite`);
  const env = { EGX_LOG_DIR: logDir, EGX_RETENTION_DAYS: "30", ...denoCacheEnv() };
  try {
    const first = await executePlan(manifest, planRun(manifest, "cleanup"), {
      history,
      logDir,
      env,
    });
    assertEquals(first.jobs.map((j) => [j.id, j.status]), [["cleanup", "ok"]]);
    const log = Deno.readTextFileSync(first.jobs[0].logPath!);
    assertEquals(
      log.replace(/\(before [^)]*\)/, "(before T)"),
      "cleanup: deleted 1 run record(s), 3 file(s), 2 folder(s) older than 30 days (before T)\n",
    );
    const second = await executePlan(manifest, planRun(manifest, "cleanup"), {
      history,
      logDir,
      env,
    });
    assertEquals(second.jobs.map((j) => [j.id, j.status]), [["cleanup", "skipped"]]);
    assertEquals(
      second.jobs[0].message!.replace(/\(before [^)]*\)/, "(before T)"),
      "cleanup: nothing to do: nothing older than 30 days (before T)",
    );
  } finally {
    history.close();
  }
});

/** The cleanup job as the runner starts it, on `logDir`: its exit code and stderr. */
async function cleanupJob(logDir: string, env: Record<string, string>, args: string[] = []) {
  const cmd = await projectJob("cleanup", { EGX_LOG_DIR: logDir, ...env }, args);
  const out = await cmd.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("the cleanup job in a folder without the run history deletes nothing and says why", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "runner_cleanup_job_astray_" });
  Deno.writeTextFileSync(`${dir}/app.log`, "old\n");
  Deno.utimeSync(
    `${dir}/app.log`,
    new Date(Date.now() - 90 * DAY),
    new Date(Date.now() - 90 * DAY),
  );
  try {
    const cmd = await projectJob("cleanup", { EGX_LOG_DIR: dir }, []);
    const out = await cmd.output();
    assertEquals(
      [out.code, new TextDecoder().decode(out.stdout)],
      [
        78, // nothing to do
        `cleanup: nothing to do: ${dir} holds no run history (runs.sqlite): not a log folder ` +
        "of the runner, nothing deleted there\n",
      ],
    );
    assertEquals(tree(dir), ["app.log"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a bad --days is a usage error (exit 2, not retried), worded like EGX_RETENTION_DAYS's", async () => {
  const logDir = fixture(Date.now());
  const env = await cleanupJob(logDir, { EGX_RETENTION_DAYS: "0" });
  assertEquals(
    [env.code, env.stderr.replace(/ \(at [^)]*\)\n$/, "")],
    [
      2,
      'cleanup: ConfigError: EGX_RETENTION_DAYS must be an integer between 1 and 36500, got "0"',
    ],
  );
  for (const bad of ["0", "-1", "abc", "1.5", ""]) {
    const r = await cleanupJob(logDir, {}, [`--days=${bad}`]);
    assertEquals(
      [r.code, r.stderr.replace(/ \(at [^)]*\)\n$/, "")],
      [
        2,
        `cleanup: ConfigError: --days must be an integer between 1 and 36500, got ${
          JSON.stringify(bad)
        }`,
      ],
    );
  }
  // Nothing was deleted.
  assertEquals(tree(logDir).includes("runs/old-run/a.1.log"), true);
});

Deno.test("a retention above 36500 days (100 years) is refused with exit 2, naming the setting", async () => {
  const logDir = fixture(Date.now());
  // Such a cutoff is before the earliest date there is: it crashed (RangeError, exit 1).
  for (const days of ["200000000", "36501"]) {
    const env = await cleanupJob(logDir, { EGX_RETENTION_DAYS: days });
    const flag = await cleanupJob(logDir, { EGX_RETENTION_DAYS: "30" }, ["--days", days]);
    assertEquals(
      [env.code, env.stderr.replace(/ \(at [^)]*\)\n$/, "")],
      [
        2,
        `cleanup: ConfigError: EGX_RETENTION_DAYS must be an integer between 1 and 36500, got "${days}"`,
      ],
    );
    assertEquals(
      [flag.code, flag.stderr.replace(/ \(at [^)]*\)\n$/, "")],
      [2, `cleanup: ConfigError: --days must be an integer between 1 and 36500, got "${days}"`],
    );
  }
  // 100 years is allowed: the fixture's runs are younger (exit 78, nothing to do).
  assertEquals((await cleanupJob(logDir, { EGX_RETENTION_DAYS: "36500" })).code, 78);
  assertEquals((await cleanupJob(logDir, {}, ["--days=36500"])).code, 78);
  assertEquals(tree(logDir).includes("runs/old-run/a.1.log"), true);
  // Called directly, cleanup says what is wrong instead of "Invalid time value".
  let err: unknown;
  try {
    cleanup(logDir, 200_000_000);
  } catch (e) {
    err = e;
  }
  assertEquals(
    [err instanceof RangeError, (err as Error).message],
    [true, "retention must be an integer between 1 and 36500 days, got 200000000"],
  );
});

Deno.test("cleanup keeps the crontab's flock files at the top of the log folder, held or not", async () => {
  const now = Date.parse("2026-06-01T00:00:00Z");
  const logDir = fixture(now);
  const full = `${logDir}/.pipelines.lock`;
  const tr = `${logDir}/.tr.lock`; // not held: e.g. one an earlier crontab used
  // A long run started by cron, as the README's crontab starts it (flock -F: the lock's holder is
  // the child itself, so killing it releases the lock). Without -n: a probe below that takes the
  // lock first only delays it.
  const holder = new Deno.Command("flock", { args: ["-F", full, "sleep", "60"] }).spawn();
  const busy = () => new Deno.Command("flock", { args: ["-n", full, "true"] }).outputSync().code;
  try {
    for (let i = 0; busy() !== 1; i++) {
      assert(i < 500, "the flock holder never took the lock");
      await new Promise((r) => setTimeout(r, 10));
    }
    Deno.writeTextFileSync(tr, "");
    // flock never changes a lock file's mtime: it stays that of the first cron start.
    for (const p of [full, tr]) {
      Deno.utimeSync(p, new Date(now - 60 * DAY), new Date(now - 60 * DAY));
    }
    const ino = Deno.statSync(full).ino;
    const r = cleanup(logDir, 30, { now: new Date(now) });
    assertEquals(r.filesDeleted, 3); // old-run/a.1.log, orphan/x.log, stream.log
    assertEquals([Deno.statSync(full).ino, Deno.statSync(tr).isFile], [ino, true]);
    // So the next cron start still finds the run going and starts nothing (flock -n: exit 1).
    assertEquals(busy(), 1);
  } finally {
    holder.kill("SIGKILL");
    await holder.status;
  }
});

Deno.test("deleteRuns deletes every named run across its 500-run transactions, and no other", () => {
  const dir = Deno.makeTempDirSync({ prefix: "runner_cleanup_" });
  const h = new History(`${dir}/runs.sqlite`);
  try {
    const ids = Array.from({ length: 1_002 }, (_, i) => `r${String(i).padStart(4, "0")}`);
    for (const [i, id] of ids.entries()) {
      h.startRun({ id, target: "p", trigger: "manual", jobs: ["a"], at: i });
      h.endRun(id, "ok", i + 1, "1 ok");
    }
    // 1,001 to delete (two full transactions and one of a single run), one unknown id.
    assertEquals(h.deleteRuns([...ids.slice(1), "unknown"]), 1_001);
    assertEquals(h.listRuns(5).map((r) => r.id), ["r0000"]);
  } finally {
    h.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { launch } from "../lib/runner/launch.ts";
import { waitForEnd } from "./support/processes.ts";

function tmp(): string {
  return Deno.makeTempDirSync({ prefix: "egx-launch-" });
}

/** Field 5 of /proc/PID/stat: the process group id (the name in field 2 may hold spaces). */
function pgrpOf(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

const ENV = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };

Deno.test("stdout and stderr reach the log in exactly the order written", async () => {
  const dir = tmp();
  const logPath = `${dir}/a.log`;
  const job = launch({
    argv: ["/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 3"],
    cwd: dir,
    env: ENV,
    logPath,
    ownGroup: false,
  });
  const status = await job.status;
  assertEquals([status.code, status.signal], [3, null]);
  assertEquals(Deno.readTextFileSync(logPath), "out1\nerr1\nout2\nerr2\n");
});

Deno.test("a job without ffi shares the runner's process group; an ffi job gets its own", async () => {
  const dir = tmp();
  const own = Deno.readTextFileSync("/proc/self/stat");
  const results: Record<string, number[]> = {};
  for (const ownGroup of [false, true]) {
    const logPath = `${dir}/${ownGroup}.log`;
    const job = launch({
      argv: ["/bin/sh", "-c", "cat /proc/$$/stat"],
      cwd: dir,
      env: ENV,
      logPath,
      ownGroup,
    });
    assertEquals((await job.status).code, 0);
    results[String(ownGroup)] = [job.pid, pgrpOf(Deno.readTextFileSync(logPath))];
  }
  assertEquals(results.false[1], pgrpOf(own));
  assertEquals(results.true[1], results.true[0]);
});

Deno.test("kill reaches an ffi job's whole group; a plain job's kill reaches the job", async () => {
  const dir = tmp();
  const job = launch({
    // The background sleep writes its pid, then the shell waits: both are in the group.
    argv: ["/bin/sh", "-c", `sleep 30 & echo $! > ${dir}/bg.pid; wait`],
    cwd: dir,
    env: ENV,
    logPath: `${dir}/g.log`,
    ownGroup: true,
  });
  let bg = 0;
  for (let i = 0; i < 200 && !bg; i++) {
    try {
      bg = Number(Deno.readTextFileSync(`${dir}/bg.pid`));
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  assert(bg > 0);
  job.kill("SIGTERM");
  assertEquals((await job.status).signal, "SIGTERM");
  assert(await waitForEnd(bg), "the background process of the group is still running");

  const plain = launch({
    argv: ["/bin/sh", "-c", "sleep 30"],
    cwd: dir,
    env: ENV,
    logPath: `${dir}/p.log`,
    ownGroup: false,
  });
  plain.kill("SIGKILL");
  assertEquals((await plain.status).signal, "SIGKILL");
  plain.kill("SIGKILL"); // after exit: ignored, never a reused pid
});

Deno.test("a job that leaves a process behind ends when the job's own process exits", async () => {
  const dir = tmp();
  const logPath = `${dir}/left.log`;
  const job = launch({
    argv: ["/bin/sh", "-c", `echo started; sleep 30 & echo $! > ${dir}/bg.pid; exit 0`],
    cwd: dir,
    env: ENV,
    logPath,
    ownGroup: true,
  });
  const t0 = Date.now();
  const status = await job.status;
  const waited = Date.now() - t0;
  const bg = Number(Deno.readTextFileSync(`${dir}/bg.pid`));
  Deno.kill(bg, "SIGKILL");
  assertEquals(status.code, 0);
  assert(waited < 5000, `waited ${waited} ms`);
  assertEquals(Deno.readTextFileSync(logPath), "started\n");
});

Deno.test("a program that cannot be found fails with exit 127 and the shell's message in the log", async () => {
  const dir = tmp();
  const job = launch({
    argv: [`${dir}/no-such-program`, "--flag"],
    cwd: dir,
    env: ENV,
    logPath: `${dir}/x.log`,
    ownGroup: false,
  });
  assertEquals((await job.status).code, 127);
  assertMatch(Deno.readTextFileSync(`${dir}/x.log`), /no-such-program: not found/);
});

Deno.test("an ffi job signalled the moment it is launched still gets the signal", async () => {
  // setsid creates the job's group only once it runs: a group signal sent before that reaches
  // nobody, and a cancel or Ctrl-C right after a start would wait for kill_grace's SIGKILL.
  const dir = tmp();
  for (let i = 0; i < 5; i++) {
    const job = launch({
      argv: ["/bin/sh", "-c", "sleep 30"],
      cwd: dir,
      env: ENV,
      logPath: `${dir}/now.log`,
      ownGroup: true,
    });
    job.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), 2000)));
    const first = await Promise.race([job.status, late]);
    clearTimeout(timer);
    if (first === "late") {
      job.kill("SIGKILL");
      await job.status;
    }
    assertEquals(first === "late" ? "still running" : first.signal, "SIGTERM");
  }
});

Deno.test("a relative log path is the runner's, not the job's directory's", async () => {
  const dir = tmp();
  const jobDir = `${dir}/job`;
  Deno.mkdirSync(jobDir);
  const before = Deno.cwd();
  Deno.chdir(dir);
  try {
    const job = launch({
      argv: ["/bin/sh", "-c", "pwd"],
      cwd: jobDir,
      env: ENV,
      logPath: "logs.txt",
      ownGroup: false,
    });
    assertEquals((await job.status).code, 0);
  } finally {
    Deno.chdir(before);
  }
  assertEquals(Deno.readTextFileSync(`${dir}/logs.txt`), `${jobDir}\n`);
});

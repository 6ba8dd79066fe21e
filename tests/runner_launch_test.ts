import assert, { deepStrictEqual as assertEquals, match as assertMatch } from "node:assert/strict";
import { launch } from "../lib/runner/launch.ts";
import { taskFlags, waitForEnd } from "./support/processes.ts";
import { testTempDir } from "./support/temp_dir.ts";

const tmp = () => testTempDir("egx-launch-");

/** Field 5 of /proc/PID/stat: the process group id (the name in field 2 may hold spaces). */
function pgrpOf(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

const ENV = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };

for (const via of ["descriptor", "shell"] as const) {
  Deno.test(`stdout and stderr reach the log in exactly the order written (log via ${via})`, async () => {
    const dir = tmp();
    const logPath = `${dir}/a.log`;
    const job = launch({
      argv: ["/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 3"],
      cwd: dir,
      env: ENV,
      logPath,
      ownGroup: false,
      via,
    });
    const status = await job.status;
    assertEquals([status.code, status.signal], [3, null]);
    assertEquals(Deno.readTextFileSync(logPath), "out1\nerr1\nout2\nerr2\n");
  });

  Deno.test(`a job without ffi shares the runner's process group; an ffi job gets its own (log via ${via})`, async () => {
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
        via,
      });
      assertEquals((await job.status).code, 0);
      results[String(ownGroup)] = [job.pid, pgrpOf(Deno.readTextFileSync(logPath))];
    }
    assertEquals(results.false[1], pgrpOf(own));
    assertEquals(results.true[1], results.true[0]);
  });

  Deno.test(`kill reaches an ffi job's whole group; a plain job's kill reaches the job (log via ${via})`, async () => {
    const dir = tmp();
    const job = launch({
      // The background sleep writes its pid, then the shell waits: both are in the group.
      argv: ["/bin/sh", "-c", `sleep 30 & echo $! > ${dir}/bg.pid; wait`],
      cwd: dir,
      env: ENV,
      logPath: `${dir}/g.log`,
      ownGroup: true,
      via,
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
      via,
    });
    plain.kill("SIGKILL");
    assertEquals((await plain.status).signal, "SIGKILL");
    plain.kill("SIGKILL"); // after exit: ignored, never a reused pid
  });

  Deno.test(`a job that leaves a process behind ends when the job's own process exits (log via ${via})`, async () => {
    const dir = tmp();
    const logPath = `${dir}/left.log`;
    const job = launch({
      argv: ["/bin/sh", "-c", `echo started; sleep 30 & echo $! > ${dir}/bg.pid; exit 0`],
      cwd: dir,
      env: ENV,
      logPath,
      ownGroup: true,
      via,
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

  Deno.test(`an ffi job signalled the moment it is launched still gets the signal (log via ${via})`, async () => {
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
        via,
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

  Deno.test(`a relative log path is the runner's, not the job's directory's (log via ${via})`, async () => {
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
        via,
      });
      assertEquals((await job.status).code, 0);
    } finally {
      Deno.chdir(before);
    }
    assertEquals(Deno.readTextFileSync(`${dir}/logs.txt`), `${jobDir}\n`);
  });
}

Deno.test("a program that cannot be found: the launch names it (descriptor); the shell exits 127 saying so", async () => {
  const dir = tmp();
  const spec = {
    argv: [`${dir}/no-such-program`, "--flag"],
    cwd: dir,
    env: ENV,
    logPath: `${dir}/x.log`,
    ownGroup: false,
  };
  assert.throws(
    () => launch({ ...spec, via: "descriptor" }),
    (e: Error) => e instanceof Deno.errors.NotFound && e.message.includes(`${dir}/no-such-program`),
  );
  const job = launch({ ...spec, via: "shell" });
  assertEquals((await job.status).code, 127);
  assertMatch(Deno.readTextFileSync(`${dir}/x.log`), /no-such-program: not found/);
});

Deno.test("the runner keeps no descriptor of a started job's log, and the job writes through its own", async () => {
  const dir = tmp();
  /** Inodes of the files this process has open. */
  const openFiles = () =>
    new Set([...Deno.readDirSync("/proc/self/fd")].map((e) => {
      try {
        return Deno.statSync(`/proc/self/fd/${e.name}`).ino;
      } catch {
        return null; // gone meanwhile (the readDir's own descriptor)
      }
    }));
  const count = () => [...Deno.readDirSync("/proc/self/fd")].length;
  const before = count();
  const jobs = [];
  for (let i = 0; i < 20; i++) {
    jobs.push(launch({
      argv: ["/bin/sh", "-c", `sleep 0.3; echo job ${i}`],
      cwd: dir,
      env: ENV,
      logPath: `${dir}/${i}.log`,
      ownGroup: false,
      via: "descriptor",
    }));
  }
  const held = openFiles();
  const logs = Array.from({ length: 20 }, (_, i) => Deno.statSync(`${dir}/${i}.log`).ino);
  assertEquals(logs.filter((ino) => held.has(ino)), []);
  for (const j of jobs) assertEquals((await j.status).code, 0);
  assertEquals(count(), before);
  for (let i = 0; i < 20; i++) assertEquals(Deno.readTextFileSync(`${dir}/${i}.log`), `job ${i}\n`);
});

Deno.test("a job Deno refuses to start (a NUL byte in an argument) fails alone: the next job's log is still a descriptor", async () => {
  const dir = tmp();
  const spec = (name: string, argv: string[]) => ({
    argv,
    cwd: dir,
    env: ENV,
    logPath: `${dir}/${name}.log`,
    ownGroup: false,
  });
  assert.throws(
    () => launch(spec("nul", ["/bin/echo", "a\0b"])),
    (e: Error) => e instanceof TypeError && /nul byte/.test(e.message),
  );
  // How many of the job's descriptors are its log: 1 and 2, plus Deno's two spare copies when
  // the runner handed the log over itself (the shell opens it only as 1 and 2).
  const count =
    'n=0; for f in /proc/$$/fd/*; do [ "$(readlink $f)" = "$0" ] && n=$((n+1)); done; ' +
    "echo $n";
  for (const [via, expected] of [[undefined, "4"], ["shell", "2"]] as const) {
    const logPath = `${dir}/count-${via}.log`;
    const job = launch({ ...spec("", ["/bin/sh", "-c", count, logPath]), logPath, via });
    assertEquals((await job.status).code, 0);
    assertEquals(Deno.readTextFileSync(logPath).trim(), expected, `via ${via}`);
  }
});

Deno.test("with the permissions of `deno task run` and `deno task schedule` the log is handed over as a descriptor; without --allow-all, through the shell", async () => {
  // The in-process tests above run with --allow-all, and Deno reads /proc/self/fd only then: an
  // earlier runner, started with a list of permissions, went through the shell outside the tests.
  const dir = tmp();
  const logPath = `${dir}/job.log`;
  const probe = `${dir}/probe.ts`;
  const launchTs = new URL("../lib/runner/launch.ts", import.meta.url).href;
  Deno.writeTextFileSync(
    probe,
    `import { launch } from ${JSON.stringify(launchTs)};
const count = 'n=0; for f in /proc/$$/fd/*; do [ "$(readlink $f)" = "$0" ] && n=$((n+1)); done; echo $n';
const log = ${JSON.stringify(logPath)};
const job = launch({ argv: ["/bin/sh", "-c", count, log], cwd: "/", env: {}, logPath: log, ownGroup: false });
console.log(job.via, (await job.status).code);
`,
  );
  const listed =
    "--allow-read --allow-write --allow-env --allow-net --allow-run --allow-sys=hostname";
  const cases: [string, string[]][] = [
    ["run", taskFlags("run", "lib/runner/cli_run.ts")],
    ["schedule", taskFlags("schedule", "lib/runner/cli_schedule.ts")],
    ["a list of permissions", listed.split(" ")],
  ];
  for (const [name, flags] of cases) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...flags, probe],
      env: { DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    const shell = name === "a list of permissions";
    const expected = shell ? "shell 0\n" : "descriptor 0\n";
    assertEquals(
      [new TextDecoder().decode(out.stdout), out.code],
      [expected, 0],
      `${name}: ${stderr}`,
    );
    // 1 and 2, plus Deno's two spare copies when the runner handed the log over itself.
    assertEquals(Deno.readTextFileSync(logPath), shell ? "2\n" : "4\n", name);
  }
});

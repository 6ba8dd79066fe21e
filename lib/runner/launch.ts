/**
 * Starting one attempt of a job: its process, its log file, and how to stop it.
 *
 * The runner opens the attempt's log and hands that file to the child as both its stdout and its
 * stderr, so the pid, exit code and signal are the job's own, and the two streams reach the file
 * in exactly the order written, without passing through the runner. `Deno.Command` takes an OS
 * file descriptor (a number) for a stdio option: the path Deno's own `node:child_process` uses,
 * outside its public types. A `Deno.FsFile` does not show its descriptor, so it is found in
 * `/proc/self/fd` by the file's device and inode. Deno lets a process read `/proc/self/fd` only
 * under --allow-all, which is why the runner's tasks grant it (their unscoped --allow-run was
 * already as much, in Deno's own words). `node:fs` would give the number directly, but loading it
 * costs the runner ~20 ms at its start. Without `/proc` or --allow-all, or if a Deno ever refuses
 * the number, the child is `/bin/sh -c 'exec "$@" >LOG 2>&1' LOG deno run ...` instead: the shell
 * opens the log and execs deno in place (the same result, one exec more per job). Deno
 * duplicates the descriptor without close-on-exec, so the job also holds two spare descriptors of
 * its own log; the runner holds none once the job has started.
 *
 * Process tree: a job without `ffi` cannot start a process (the runner never grants
 * `--allow-run`), so its deno process is its whole tree and signals go to that pid. A job with
 * `ffi` runs native code that can fork; it is started under `setsid` (its own session and process
 * group, also exec'd in place) and signals go to the whole group, reaching whatever it started.
 * Without a setsid binary, Deno's `detached: true` does the same by forking the runner.
 *
 * Cost, measured on our 2-core machines (200 spawns in a row): the `sh` exec costs ~0.6 ms a
 * job, opening the log and finding its descriptor ~0.2 ms. Reading the output through pipes
 * instead cost the runner as much CPU and would give up the exact interleaving of the streams.
 */

/** util-linux setsid (Debian: /usr/bin/setsid), found once. */
const SETSID = ["/usr/bin/setsid", "/bin/setsid"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

export interface LaunchSpec {
  /** Program and arguments, e.g. [deno, "run", ...flags, script, ...args]. */
  argv: readonly string[];
  cwd: string;
  /** The complete environment (nothing is inherited). */
  env: Record<string, string>;
  /** Where stdout and stderr go; a relative path is taken from the runner's directory. */
  logPath: string;
  /** Give the process its own session and signal its whole process group (ffi jobs). */
  ownGroup: boolean;
  /** How the log reaches the child (see the header); default: a descriptor where this works. */
  via?: "descriptor" | "shell";
}

export interface Launched {
  pid: number;
  /** How the log reached the child. */
  via: "descriptor" | "shell";
  status: Promise<Deno.CommandStatus>;
  /** Signal the job (its process group for an ffi job). Never throws. */
  kill(signal: Deno.Signal): void;
  /**
   * Stop the job: SIGTERM now, SIGKILL after `graceMs` to whatever is left of it. Resolves once
   * the job has ended and, for an ffi job, its whole process group too (its first process can end
   * and leave behind what its native code started). A second call returns the first's promise.
   */
  stop(graceMs: number): Promise<void>;
  /** The promise of `stop`, once it was called. */
  readonly stopping: Promise<void> | undefined;
  /**
   * Whether anything of an ffi job's process group is still running (its first process ended);
   * false when nothing is, or when /proc cannot tell (then it is not waited for).
   */
  groupLeft(): boolean;
}

/** Start the job's process. Throws when it cannot be started (no such program, bad cwd, log). */
export function launch(spec: LaunchSpec): Launched {
  let via = spec.via ?? (viaDescriptor ? "descriptor" : "shell");
  let child: Deno.ChildProcess;
  if (via === "descriptor") [child, via] = spawnWithLog(spec);
  else child = spawnViaShell(spec);
  const target = spec.ownGroup ? -child.pid : child.pid;
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const kill = (signal: Deno.Signal) => {
    // Once reaped, the pid may belong to another process: a plain job is not signalled any
    // more. An ffi job's group can outlive its leader and keeps its id while it has members.
    if (exited && !spec.ownGroup) return;
    try {
      Deno.kill(target, signal);
    } catch {
      // No such group yet: setsid has not run (the job was signalled right after its launch),
      // so the process is still alone in the runner's group and its pid reaches it.
      if (exited || target === child.pid) return;
      try {
        Deno.kill(child.pid, signal);
      } catch { /* already gone */ }
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = async (graceMs: number) => {
    const killAt = Date.now() + graceMs;
    kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<void>((res) => timer = setTimeout(res, graceMs));
    try {
      await Promise.race([status, graceOver]);
      if (!exited) {
        kill("SIGKILL");
        await status;
      }
      if (spec.ownGroup) await drainGroup(child.pid, killAt, kill);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    pid: child.pid,
    via,
    status,
    kill,
    stop: (graceMs) => stopping ??= stop(graceMs),
    get stopping() {
      return stopping;
    },
    groupLeft: () => spec.ownGroup && groupAlive(child.pid) === true,
  };
}

/** After SIGKILL, how long a group member may take to go (e.g. in uninterruptible I/O). */
const KILLED_WAIT_MS = 5000;

/**
 * Wait until no process of group `pgid` is left (its leader has ended), sending the group
 * SIGKILL at `killAt`. Without /proc to tell, one SIGKILL at `killAt` is all it can do.
 */
async function drainGroup(pgid: number, killAt: number, kill: (s: Deno.Signal) => void) {
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  let killed = false;
  for (;;) {
    const alive = groupAlive(pgid);
    const now = Date.now();
    if (alive === false || (killed && now >= killAt + KILLED_WAIT_MS)) return;
    if (alive === undefined) {
      if (now < killAt) await sleep(killAt - now);
      kill("SIGKILL");
      return;
    }
    if (!killed && now >= killAt) {
      kill("SIGKILL");
      killed = true;
    }
    await sleep(killed ? 20 : Math.min(100, killAt - now));
  }
}

/** Whether a live (not zombie) process is in group `pgid`; undefined if /proc cannot tell. */
function groupAlive(pgid: number): boolean | undefined {
  try {
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      let stat: string;
      try {
        stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      } catch {
        continue; // ended meanwhile
      }
      // After the name (which may hold spaces and ")"): state, ppid, pgrp, ...
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z") return true;
    }
    return false;
  } catch {
    return undefined;
  }
}

/** Whether logs go to children as descriptors (false after a refusal, or without /proc access). */
let viaDescriptor = Deno.build.os === "linux";
/** The descriptor the last log had: the lowest free number, usually the same every time. */
let lastFd = -1;

function command(argv: readonly string[], spec: LaunchSpec, out: "null" | number): Deno.Command {
  const stdio = out as "null"; // a number is an OS descriptor (see the header)
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: spec.cwd,
    clearEnv: true,
    env: spec.env,
    detached: spec.ownGroup && SETSID === undefined,
    stdin: "null",
    stdout: stdio,
    stderr: stdio,
  });
}

function withSetsid(spec: LaunchSpec, argv: readonly string[]): readonly string[] {
  return spec.ownGroup && SETSID ? [SETSID, ...argv] : argv;
}

function spawnWithLog(spec: LaunchSpec): [Deno.ChildProcess, "descriptor" | "shell"] {
  const log = Deno.openSync(spec.logPath, { write: true, create: true, truncate: true });
  try {
    const fd = descriptorOf(log);
    if (fd === undefined) {
      viaDescriptor = false;
    } else {
      try {
        return [command(withSetsid(spec, spec.argv), spec, fd).spawn(), "descriptor"];
      } catch (e) {
        if (!(e instanceof TypeError)) throw e; // e.g. NotFound: the program, or the cwd
        // Refused: the descriptor, or something the shell refuses alike (then it throws here).
        const child = spawnViaShell(spec);
        viaDescriptor = false; // this Deno does not take a descriptor
        return [child, "shell"];
      }
    }
  } finally {
    log.close(); // the child has its own copy
  }
  return [spawnViaShell(spec), "shell"];
}

function spawnViaShell(spec: LaunchSpec): Deno.ChildProcess {
  // The shell opens the log from the job's cwd: a relative path must not be read from there.
  const log = spec.logPath.startsWith("/") ? spec.logPath : `${Deno.cwd()}/${spec.logPath}`;
  const sh = ["/bin/sh", "-c", 'exec "$@" >"$0" 2>&1', log, ...spec.argv];
  return command(withSetsid(spec, sh), spec, "null").spawn();
}

/** The descriptor of an open file in this process, found by its identity in /proc/self/fd. */
function descriptorOf(file: Deno.FsFile): number | undefined {
  const { dev, ino } = file.statSync();
  const is = (fd: number) => {
    try {
      const st = Deno.statSync(`/proc/self/fd/${fd}`);
      return st.ino === ino && st.dev === dev;
    } catch {
      return false; // closed meanwhile, or not a path
    }
  };
  if (lastFd >= 0 && is(lastFd)) return lastFd;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync("/proc/self/fd")];
  } catch {
    return undefined;
  }
  for (const e of entries) {
    const fd = Number(e.name);
    if (fd > 2 && is(fd)) return (lastFd = fd);
  }
  return undefined;
}

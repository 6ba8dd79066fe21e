/**
 * Starting one attempt of a job: its process, its log file, and how to stop it.
 *
 * The child is `/bin/sh -c 'exec "$@" >LOG 2>&1' LOG deno run ...`: the shell opens the log and
 * execs deno in place, so the pid, exit code and signal are the job's own, and stdout and stderr
 * reach the file in exactly the order written, without passing through the runner.
 *
 * Process tree: a job without `ffi` cannot start a process (the runner never grants
 * `--allow-run`), so its deno process is its whole tree and signals go to that pid. A job with
 * `ffi` runs native code that can fork; it is started under `setsid` (its own session and process
 * group, also exec'd in place) and signals go to the whole group, reaching whatever it started.
 * Without a setsid binary, Deno's `detached: true` does the same by forking the runner.
 *
 * Cost, measured on our 2-core machines: each exec'd wrapper costs ~0.5 ms of a ~20 ms
 * `deno run` start. Reading the output through pipes instead of the sh redirect cost the runner
 * as much CPU (~0.5 ms a job), and would give up the exact interleaving of the two streams.
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
}

export interface Launched {
  pid: number;
  status: Promise<Deno.CommandStatus>;
  /** Signal the job (its process group for an ffi job). Never throws. */
  kill(signal: Deno.Signal): void;
}

/** Start the job's process. Throws when it cannot be started at all (no /bin/sh, bad cwd). */
export function launch(spec: LaunchSpec): Launched {
  // The shell opens the log from the job's cwd: a relative path must not be read from there.
  const log = spec.logPath.startsWith("/") ? spec.logPath : `${Deno.cwd()}/${spec.logPath}`;
  const sh = ["/bin/sh", "-c", 'exec "$@" >"$0" 2>&1', log, ...spec.argv];
  const argv = spec.ownGroup && SETSID ? [SETSID, ...sh] : sh;
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: spec.cwd,
    clearEnv: true,
    env: spec.env,
    detached: spec.ownGroup && SETSID === undefined,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const target = spec.ownGroup ? -child.pid : child.pid;
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    pid: child.pid,
    status,
    kill(signal) {
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
    },
  };
}

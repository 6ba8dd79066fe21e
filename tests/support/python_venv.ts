/**
 * The Python virtual environment for test servers (fakesnow, moto): `.cache/venv` (git-ignored),
 * created and filled from tests/support/requirements.txt on first use, so `deno task test` works
 * on a fresh clone. A marker holds the requirements' hash: a change reinstalls. Processes that
 * start at once (several `deno test` runs) take turns through a lock file.
 */
const ROOT = new URL("../../", import.meta.url).pathname;
export const VENV = `${ROOT}.cache/venv`;
const REQUIREMENTS = new URL("./requirements.txt", import.meta.url).pathname;
const LOCK = `${ROOT}.cache/venv.lock`;
const STALE_LOCK_MS = 15 * 60_000;

let ready: Promise<string> | undefined;

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-15).join("\n");
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${err}`);
  }
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(`${ROOT}.cache`, { recursive: true });
  for (;;) {
    try {
      const f = await Deno.open(LOCK, { createNew: true, write: true });
      f.close();
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const st = await Deno.stat(LOCK).catch(() => null);
      if (st?.mtime && Date.now() - st.mtime.getTime() > STALE_LOCK_MS) {
        await Deno.remove(LOCK).catch(() => {});
      } else {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
  try {
    return await fn();
  } finally {
    await Deno.remove(LOCK).catch(() => {});
  }
}

/** The venv's python executable, installing the requirements first when needed. */
export function venvPython(): Promise<string> {
  ready ??= (async () => {
    const python = `${VENV}/bin/python`;
    const marker = `${VENV}/.egx-requirements`;
    const want = await sha256(await Deno.readTextFile(REQUIREMENTS));
    const have = () => Deno.readTextFile(marker).catch(() => "");
    if ((await have()) === want) return python;
    await withLock(async () => {
      if ((await have()) === want) return;
      console.error(`installing Python test servers into ${VENV} (first run only)...`);
      const exists = await Deno.stat(python).then(() => true, () => false);
      if (!exists) await run("python3", ["-m", "venv", VENV]);
      await run(python, [
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "-q",
        "-r",
        REQUIREMENTS,
      ]);
      await Deno.writeTextFile(marker, want);
    });
    return python;
  })();
  return ready;
}

export interface PythonServer {
  port: number;
  pid: number;
  /** The server's stderr (its log). */
  logFile: string;
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/**
 * Start `script` (a Python server taking `--port-file` and `--owner-pid`) detached, in its own
 * session, and wait until it writes "PORT PID" to the port file. It holds no resource of this
 * process (so test sanitizers stay quiet) and exits by itself when this process is gone.
 */
export async function startPythonServer(
  script: string,
  args: string[] = [],
  opts: { timeoutMs?: number } = {},
): Promise<PythonServer> {
  const python = await venvPython();
  const dir = await Deno.makeTempDir({ prefix: "egx-pyserver-" });
  const portFile = `${dir}/port`;
  const logFile = `${dir}/server.log`;
  const launched = await new Deno.Command("sh", {
    args: [
      "-c",
      'cd "$DIR" && setsid "$@" >/dev/null 2>"$LOG" </dev/null & echo $! > "$DIR/launch.pid"',
      "sh",
      python,
      script,
      "--port-file",
      portFile,
      "--owner-pid",
      String(Deno.pid),
      ...args,
    ],
    // TMPDIR: what the server puts in temporary folders (fakesnow's stage bucket, made when it
    // is imported) goes in `dir`, which the server removes when this process is gone.
    env: { DIR: dir, LOG: logFile, TMPDIR: dir },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!launched.success) {
    throw new Error(`could not launch ${script}: ${new TextDecoder().decode(launched.stderr)}`);
  }
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const log = () => Deno.readTextFile(logFile).catch(() => "");
  for (;;) {
    const text = (await Deno.readTextFile(portFile).catch(() => "")).trim();
    if (text) {
      const [port, pid] = text.split(/\s+/).map(Number);
      return { port, pid, logFile };
    }
    const launchedPid = Number(await Deno.readTextFile(`${dir}/launch.pid`).catch(() => "0"));
    if (launchedPid > 0 && !alive(launchedPid)) {
      throw new Error(`${script} exited before it was ready:\n${await log()}`);
    }
    if (Date.now() > deadline) {
      if (launchedPid > 0) Deno.kill(launchedPid, "SIGKILL");
      throw new Error(`${script} was not ready within ${timeoutMs} ms:\n${await log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// `deno run -A tests/support/python_venv.ts`: install ahead of the tests (used by .ci/run).
if (import.meta.main) console.log(await venvPython());

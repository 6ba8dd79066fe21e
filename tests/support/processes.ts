/** Process checks for tests, from /proc (Linux). */

/** Has process `pid` ended (gone, or exited and waiting to be reaped)? */
export function processEnded(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z"); // the name may hold spaces
  } catch {
    return true;
  }
}

/** Wait up to `ms` for process `pid` to end; true when it did. */
export async function waitForEnd(pid: number, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!processEnded(pid)) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** What a child `deno` needs to find its cache and tools: HOME, PATH and DENO_DIR, copied. */
export function denoCacheEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ["HOME", "PATH", "DENO_DIR"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) env[k] = v;
  }
  return env;
}

/** Decoded output of a finished process. */
export interface ProcessOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno <args>` in `cwd` with exactly `env` (nothing inherited); waits and decodes its output. */
export async function denoOutput(
  args: string[],
  opts: { cwd: string; env: Record<string, string> },
): Promise<ProcessOutput> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: opts.cwd,
    clearEnv: true,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Run a job of jobs.yaml as the runner starts it (projectJob); its exit code and output. */
export async function runProjectJob(
  name: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string; err: string }> {
  const res = await (await projectJob(name, env)).output();
  const dec = new TextDecoder();
  return { code: res.code, out: dec.decode(res.stdout), err: dec.decode(res.stderr) };
}

/**
 * A job of the project's jobs.yaml as the runner starts it: its exact `deno run` flags, cleared
 * environment (only the declared variables of `env`, plus what deno needs) and folder, with
 * `extraArgs` after the manifest's arguments.
 */
export async function projectJob(
  name: string,
  env: Record<string, string>,
  extraArgs: string[] = [],
  io: Pick<Deno.CommandOptions, "stdout" | "stderr"> = { stdout: "piped", stderr: "piped" },
  /** Variables the runner adds per attempt (EGX_RUN_ID...): the job then sees a runner's run. */
  attempt: Record<string, string> = {},
): Promise<Deno.Command> {
  const { loadManifest } = await import("../../lib/runner/manifest.ts");
  const { jobCommand } = await import("../../lib/runner/plan.ts");
  const manifest = loadManifest(new URL("../../jobs.yaml", import.meta.url).pathname);
  const job = manifest.jobs.get(name);
  if (!job) throw new Error(`no job ${name} in jobs.yaml`);
  const cmd = jobCommand(manifest, job, { source: { ...denoCacheEnv(), ...env } });
  return new Deno.Command(cmd.argv[0], {
    args: [...cmd.argv.slice(1), ...extraArgs],
    cwd: cmd.cwd,
    clearEnv: true,
    env: { ...cmd.env, ...attempt },
    ...io,
  });
}

/**
 * The permission flags of a deno.json task of the form `deno run <flags> <script>`, checked
 * against that script, so a test starts the program exactly as the task does.
 */
export function taskFlags(task: string, script: string): string[] {
  const tasks = JSON.parse(
    Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)),
  ).tasks as Record<string, string>;
  const words = (tasks[task] ?? "").split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run" || words.at(-1) !== script) {
    throw new Error(`task ${task} is not "deno run <flags> ${script}": ${tasks[task]}`);
  }
  return words.slice(2, -1);
}

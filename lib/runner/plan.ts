/**
 * From a manifest and a target (a pipeline or a single job) to a plan: the selected jobs in a
 * dependency-respecting order, the edges between them, and each job's exact command.
 *
 * Selection rules:
 *   - a pipeline selects its listed jobs; dependencies on jobs outside the selection are ignored
 *     (e.g. `transformations` runs the model jobs without re-running the loads they follow);
 *   - a job id selects that job alone (its dependencies are assumed done);
 *   - `--from j` keeps j and everything downstream of it in the target;
 *   - `--only a,b` keeps just those jobs of the target (combined with --from: both must hold).
 * Ties in the order follow the pipeline's list of jobs (what its author reads as the order: with
 * --concurrency 1, `health_check`, listed first, runs first wherever it is defined under `jobs:`).
 */
import type { JobSpec, Manifest } from "./manifest.ts";
import { RUNNER_ENV } from "./job.ts";
import {
  type Config,
  ConfigError,
  isSecretVariable,
  loadConfig,
  redact,
} from "../config/config.ts";
import {
  childEnv,
  denoFlags,
  expandEntry,
  expandPermissions,
  PermissionError,
  type Permissions,
  writeEntryProblem,
} from "./permissions.ts";

/** A request the manifest cannot satisfy (unknown target, --only outside it, ...): exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface PlanOptions {
  only?: string[];
  from?: string;
}

export interface Plan {
  target: string;
  kind: "pipeline" | "job";
  /** Selected jobs, dependencies first. */
  jobs: JobSpec[];
  /** For each selected job, its dependencies within the selection. */
  deps: Map<string, string[]>;
  concurrency: number;
}

export function planRun(manifest: Manifest, target: string, opts: PlanOptions = {}): Plan {
  const pipeline = manifest.pipelines.get(target);
  const job = manifest.jobs.get(target);
  if (!pipeline && !job) {
    const names = [...manifest.pipelines.keys(), ...manifest.jobs.keys()].join(", ");
    throw new UsageError(
      `unknown pipeline or job "${target}" in ${manifest.file} (have: ${names})`,
    );
  }
  const inTarget = new Set(pipeline ? pipeline.jobs : [target]);
  let selected = new Set(inTarget);
  const what = pipeline ? `pipeline ${target}` : `job ${target}`;
  /** `--only x` / `--from x` naming a job outside the target: which, and what the target has. */
  const outside = (flag: string, id: string) =>
    new UsageError(
      `${flag} ${id}: ${
        manifest.jobs.has(id) ? `not part of ${what}` : `no job ${id} in ${manifest.file}`
      } (${what} has: ${[...inTarget].join(", ")})`,
    );
  if (opts.from !== undefined) {
    if (!inTarget.has(opts.from)) throw outside("--from", opts.from);
    const down = new Set([opts.from]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const id of inTarget) {
        if (down.has(id)) continue;
        if (manifest.jobs.get(id)!.dependsOn.some((d) => down.has(d))) {
          down.add(id);
          grew = true;
        }
      }
    }
    selected = down;
  }
  if (opts.only !== undefined) {
    if (opts.only.length === 0) throw new UsageError("--only names no job (give --only a,b)");
    for (const o of opts.only) {
      if (!inTarget.has(o)) throw outside("--only", o);
    }
    selected = new Set([...selected].filter((id) => opts.only!.includes(id)));
    if (selected.size === 0) throw new UsageError("--only and --from select no job together");
  }
  const deps = new Map<string, string[]>();
  for (const id of selected) {
    deps.set(id, manifest.jobs.get(id)!.dependsOn.filter((d) => selected.has(d)));
  }
  // Kahn's algorithm, ties broken by the pipeline's list (the manifest has no cycles).
  const order: JobSpec[] = [];
  const done = new Set<string>();
  const listed = [...inTarget].filter((id) => selected.has(id));
  while (order.length < listed.length) {
    const next = listed.find((id) => !done.has(id) && deps.get(id)!.every((d) => done.has(d)));
    if (next === undefined) throw new Error("internal: cycle in a validated manifest");
    done.add(next);
    order.push(manifest.jobs.get(next)!);
  }
  return {
    target,
    kind: pipeline ? "pipeline" : "job",
    jobs: order,
    deps,
    concurrency: pipeline?.concurrency ?? manifest.settings.concurrency,
  };
}

export interface JobCommand {
  /** Program and arguments, e.g. [deno, "run", "--no-prompt", ..., "jobs/x.ts", ...args]. */
  argv: string[];
  /** The child's complete environment (without the per-attempt runner variables). */
  env: Record<string, string>;
  permissions: Permissions;
  cwd: string;
}

/**
 * The exact command for a job. `source` is the runner's environment (after `.env`): declared
 * variables and `${NAME}` references in args and permission entries are taken from it.
 */
export function jobCommand(
  manifest: Manifest,
  job: JobSpec,
  opts: { source: Readonly<Record<string, string>>; deno?: string },
): JobCommand {
  const permissions = expandPermissions(job.permissions, (n) => opts.source[n]);
  for (const w of permissions.write) {
    const problem = writeEntryProblem(w, manifest.root);
    if (problem) throw new PermissionError(problem);
  }
  const flags = denoFlags(permissions, Object.keys(job.env));
  // Never a secret: the manifest refuses one in an argument (a cache of older rules aside).
  const args = job.args.map((a) =>
    expandEntry(a, (n) => isSecretVariable(n) ? undefined : opts.source[n])
  );
  // A script named like a flag ("--allow-run=x.ts", "-A.ts") would be read by deno as one: it
  // could grant the job more than its permissions, and a job argument became the script.
  const script = job.script.startsWith("-") ? `./${job.script}` : job.script;
  return {
    argv: [opts.deno ?? Deno.execPath(), "run", ...flags, script, ...args],
    env: childEnv(permissions.env, opts.source, job.env, { ffi: permissions.ffi }),
    permissions,
    cwd: manifest.root,
  };
}

/**
 * Per-attempt variables the runner adds to a job's environment; `deadline` is when the attempt's
 * timeout ends (epoch milliseconds): with `killGraceMs`, the job stops itself if the runner cannot
 * (see runJob).
 */
export function attemptEnv(
  runId: string,
  job: string,
  attempt: number,
  opts: { deadline: number; killGraceMs: number },
): Record<string, string> {
  return {
    [RUNNER_ENV.runId]: runId,
    [RUNNER_ENV.job]: job,
    [RUNNER_ENV.attempt]: String(attempt),
    [RUNNER_ENV.deadline]: String(opts.deadline),
    [RUNNER_ENV.killGrace]: String(opts.killGraceMs),
  };
}

/**
 * A command line for humans: every secret masked, then arguments quoted for sh when needed. Masked
 * argument by argument, before quoting: quoting a secret that holds a `'` splits it, and a mask of
 * the whole line would then miss it.
 */
export function shellLine(argv: readonly string[]): string {
  return argv.map((arg) => {
    const a = redact(arg);
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`;
  }).join(" ");
}

/**
 * What the configuration a job reads says of its own values, from the job's environment as the
 * runner builds it (`JobCommand.env`): every section of lib/config parsed as the job would parse
 * it, e.g. `EGX_RETENTION_DAYS must be an integer between 1 and 36500, got "abc"`. A variable the
 * job does not get reads as unset, and a section then falls back to its defaults, which are valid:
 * every problem found is one of the job's own values.
 */
export function settingsProblems(env: Readonly<Record<string, string>>): string[] {
  const config = loadConfig((name) => env[name] || undefined);
  const problems: string[] = [];
  for (const section of Object.keys(config) as (keyof Config)[]) {
    try {
      void config[section];
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      if (!problems.includes(e.message)) problems.push(e.message);
    }
  }
  return problems;
}

/**
 * The settings problems of the plan's jobs (settingsProblems), each once with the jobs it stops,
 * e.g. `EGX_RETENTION_DAYS must be ... (job cleanup)`: checked before a run starts, so that a bad
 * value for the pipeline's last job does not fail it at the end of the run. Jobs that declare no
 * variable are not looked at; a job whose command cannot be built fails as it starts (its own
 * message), and is left to that.
 */
export function planSettingsProblems(
  manifest: Manifest,
  jobs: readonly JobSpec[],
  source: Readonly<Record<string, string>>,
): string[] {
  const byProblem = new Map<string, string[]>();
  for (const job of jobs) {
    if (job.permissions.env.length === 0 && Object.keys(job.env).length === 0) continue;
    let cmd: JobCommand;
    try {
      cmd = jobCommand(manifest, job, { source });
    } catch {
      continue;
    }
    for (const p of settingsProblems(cmd.env)) {
      byProblem.set(p, [...byProblem.get(p) ?? [], job.id]);
    }
  }
  return [...byProblem].map(([p, ids]) =>
    `${p} (${ids.length === 1 ? "job" : "jobs"} ${ids.join(", ")})`
  );
}

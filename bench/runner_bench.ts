/**
 * Runner overhead, measured side by side with its baseline in one run (issue 2). The runner is
 * started with the `run` task's line from deno.json (without `deno task` itself):
 *
 * 1. Per-job overhead: `deno task run` of a chain of N no-op jobs, for two chain lengths; the
 *    extra wall time per added job (the slope) divided by the wall time of a bare `deno run` of
 *    the same no-op script with the same flags. Target: at most 1.2.
 * 2. Fan-out: 50 independent no-op jobs at concurrency 2, divided by 50 bare `deno run`s one
 *    after another. Target: at most 0.6.
 *
 * For context it also times, in the same rounds, the 50 bare runs two at a time from this process
 * (no process start at all) and from a fresh `deno run` of a minimal spawner script (no manifest,
 * history or logs): what any runner process at concurrency 2 could reach on this machine.
 *
 * Measurements are interleaved (runner, bare, runner, bare, ...) and medians are reported, so
 * machine noise hits both sides alike. The no-op script and the manifest go to bench/.work/runner
 * (git-ignored: the jobs start inside the project, with its deno.json, as real jobs do); the
 * runner's logs and history to a fresh temporary folder, removed at the end. A long-lived scratch
 * folder can be slow to create files in (on one of our machines, for a while, bench/.work took
 * 0.67 ms per file against 0.06 ms in a new folder of the same ext4 file system: 33 ms over the
 * 50 logs of the fan-out, which the bare runs never pay). The benchmark prints what creating a
 * file costs in both folders.
 *
 *   deno run --allow-all bench/runner_bench.ts [--rounds N] [--short N] [--long N]
 */
import { parseArgs } from "node:util";
import { denoFlags, NO_PERMISSIONS } from "../lib/runner/permissions.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const WORK = `${REPO}/bench/.work/runner`;
/** The runner's EGX_LOG_DIR: a fresh temporary folder (see the header). */
let LOGS = "";
const NOOP = "export {};\n";
/** The flags the runner gives a job without permissions, from the runner's own code. */
const FLAGS = denoFlags(NO_PERMISSIONS);

function env(): Record<string, string> {
  const e: Record<string, string> = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };
  for (const k of ["HOME", "PATH", "DENO_DIR"]) {
    const v = Deno.env.get(k);
    if (v !== undefined) e[k] = v;
  }
  e.EGX_LOG_DIR = LOGS;
  return e;
}

/** A minimal runner: spawns the bare run 50 times, two at a time, and does nothing else. */
const SPAWNER = `const args = ${JSON.stringify(["run", ...FLAGS, "noop.ts"])};
let next = 0;
const worker = async () => {
  while (next < 50) {
    next++;
    const cmd = new Deno.Command(Deno.execPath(), { args, clearEnv: true, env: Deno.env.toObject(),
      stdin: "null", stdout: "null", stderr: "inherit" });
    if (!(await cmd.spawn().status).success) Deno.exit(1);
  }
};
await Promise.all([worker(), worker()]);
`;

function manifest(): string {
  const lines = ["settings: {concurrency: 2}", "pipelines:"];
  const chain = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);
  lines.push(`  chain_short: {jobs: [${chain(SHORT).join(", ")}]}`);
  lines.push(`  chain_long: {jobs: [${chain(LONG).join(", ")}]}`);
  lines.push(`  fan50: {jobs: [${Array.from({ length: 50 }, (_, i) => `f${i}`).join(", ")}]}`);
  lines.push("jobs:");
  for (let i = 0; i < LONG; i++) {
    lines.push(`  c${i}: {script: noop.ts${i > 0 ? `, depends_on: [c${i - 1}]` : ""}}`);
  }
  for (let i = 0; i < 50; i++) lines.push(`  f${i}: {script: noop.ts}`);
  return lines.join("\n") + "\n";
}

async function timed(cmd: Deno.Command): Promise<number> {
  const t0 = performance.now();
  const st = await cmd.spawn().status;
  const ms = performance.now() - t0;
  if (!st.success) throw new Error(`benchmark command failed (exit ${st.code})`);
  return ms;
}

/** `deno task run` exactly: the task's line from deno.json, after `deno run`. */
const RUN_TASK: string[] = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)).tasks.run
  .split(" ").slice(2);

function runner(target: string): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...RUN_TASK, "--manifest", `${WORK}/jobs.yaml`, target],
    cwd: REPO,
    clearEnv: true,
    env: env(),
    stdout: "null",
    stderr: "inherit",
  });
}

function spawner(): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "spawner.ts"],
    cwd: WORK,
    clearEnv: true,
    env: env(),
    stdout: "null",
    stderr: "inherit",
  });
}

function bare(): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...FLAGS, "noop.ts"],
    cwd: WORK,
    clearEnv: true,
    env: env(),
    stdout: "null",
    stderr: "inherit",
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

let SHORT = 2;
let LONG = 22;

async function bench() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "7" },
      short: { type: "string", default: "2" },
      long: { type: "string", default: "22" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("Usage: deno run -A bench/runner_bench.ts [--rounds N] [--short N] [--long N]");
    return;
  }
  const rounds = Number(values.rounds);
  SHORT = Number(values.short);
  LONG = Number(values.long);
  LOGS = Deno.makeTempDirSync({ prefix: "egx-runner-bench-" });
  try {
    await measure(rounds);
  } finally {
    Deno.removeSync(LOGS, { recursive: true });
  }
}

/** Milliseconds to create (and close) an empty file in `dir`, the median of 50. */
function createCost(dir: string): number {
  const scratch = Deno.makeTempDirSync({ dir, prefix: "create-" });
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    Deno.openSync(`${scratch}/f${i}.log`, { write: true, create: true, truncate: true }).close();
    times.push(performance.now() - t0);
  }
  Deno.removeSync(scratch, { recursive: true });
  return median(times);
}

async function measure(rounds: number) {
  try {
    Deno.removeSync(WORK, { recursive: true });
  } catch { /* first run */ }
  Deno.mkdirSync(WORK, { recursive: true });
  Deno.writeTextFileSync(`${WORK}/noop.ts`, NOOP);
  Deno.writeTextFileSync(`${WORK}/jobs.yaml`, manifest());
  Deno.writeTextFileSync(`${WORK}/spawner.ts`, SPAWNER);

  // Warm-up: module caches, page cache, the history file.
  await timed(runner("chain_short"));
  for (let i = 0; i < 3; i++) await timed(bare());
  await timed(spawner());

  console.log(
    `runner benchmark: ${rounds} rounds, chains of ${SHORT} and ${LONG} no-op jobs, 50-job fan-out`,
  );
  console.log(`no-op script: ${JSON.stringify(NOOP.trim())}, flags: ${FLAGS.join(" ")}`);
  console.log(
    `runner logs and history: ${LOGS} (creating a file there: ${
      createCost(LOGS).toFixed(3)
    } ms; in ${WORK}: ${createCost(WORK).toFixed(3)} ms)`,
  );

  const short: number[] = [];
  const long: number[] = [];
  const bareOne: number[] = [];
  const fan: number[] = [];
  const bareSeq50: number[] = [];
  const barePool50: number[] = [];
  const spawner50: number[] = [];
  for (let r = 0; r < rounds; r++) {
    short.push(await timed(runner("chain_short")));
    for (let i = 0; i < 4; i++) bareOne.push(await timed(bare()));
    long.push(await timed(runner("chain_long")));
    for (let i = 0; i < 4; i++) bareOne.push(await timed(bare()));
    fan.push(await timed(runner("fan50")));
    let t0 = performance.now();
    for (let i = 0; i < 50; i++) await timed(bare());
    bareSeq50.push(performance.now() - t0);
    // Context: the same 50 bare runs two at a time, what any runner at concurrency 2 can reach.
    t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < 50) {
        next++;
        await timed(bare());
      }
    };
    await Promise.all([worker(), worker()]);
    barePool50.push(performance.now() - t0);
    spawner50.push(await timed(spawner()));
  }

  const bareMs = median(bareOne);
  const slope = (median(long) - median(short)) / (LONG - SHORT);
  const perJobRatio = slope / bareMs;
  const fanRatio = median(fan) / median(bareSeq50);

  console.log("");
  console.log(`bare deno run of the no-op (median of ${bareOne.length}):   ${ms(bareMs)}`);
  console.log(`runner, chain of ${SHORT} (median of ${rounds}):         ${ms(median(short))}`);
  console.log(`runner, chain of ${LONG} (median of ${rounds}):        ${ms(median(long))}`);
  console.log(`per added job in the chain (slope):          ${ms(slope)}`);
  console.log(`runner, 50 independent jobs, concurrency 2:  ${ms(median(fan))}`);
  console.log(`50 bare deno runs one after another:         ${ms(median(bareSeq50))}`);
  console.log(`50 bare deno runs two at a time (context):   ${ms(median(barePool50))}`);
  console.log(`the same from a minimal spawner process:     ${ms(median(spawner50))}`);
  console.log("");
  console.log(
    `per-job overhead ratio (slope / bare run):   ${perJobRatio.toFixed(3)}  (target <= 1.2: ${
      perJobRatio <= 1.2 ? "met" : "NOT met"
    })`,
  );
  console.log(
    `fan-out ratio (50 jobs conc. 2 / 50 bare):   ${fanRatio.toFixed(3)}  (target <= 0.6: ${
      fanRatio <= 0.6 ? "met" : "NOT met"
    })`,
  );
  // The same ratio round by round (each round's fan-out over that round's 50 bare runs): how far
  // the machine's noise spreads it.
  const perRound = fan.map((f, r) => f / bareSeq50[r]).sort((a, b) => a - b);
  const under = perRound.filter((x) => x <= 0.6).length;
  console.log(
    `  per round: ${perRound.map((x) => x.toFixed(3)).join(" ")} (${under} of ${rounds} <= 0.6)`,
  );
  console.log(
    `  context: bare two-at-a-time / bare in sequence = ${
      (median(barePool50) / median(bareSeq50)).toFixed(3)
    } (this machine's floor for the fan-out ratio, before any runner cost)`,
  );
  console.log(
    `  context: a minimal spawner process (a deno run that only starts the 50 runs two at a time) = ${
      (median(spawner50) / median(bareSeq50)).toFixed(3)
    } (the floor for any runner process: its own start included)`,
  );
  // Paired within each round (the fan-out, then the same round's two-at-a-time runs): steadier
  // than the difference of the two medians when the machine's speed drifts between rounds.
  const paired = fan.map((f, r) => f - barePool50[r]);
  console.log(
    `  paired per round, the runner's cost over the two-at-a-time runs: median ${
      ms(median(paired))
    } (rounds from ${ms(Math.min(...paired))} to ${ms(Math.max(...paired))})`,
  );
  const room = 0.6 * median(bareSeq50) - median(barePool50);
  console.log(
    `  the runner's own cost in the fan-out: ${ms(median(fan) - median(barePool50))} over the ` +
      `two-at-a-time runs (its start, the history, logs, timers, status); the target leaves ${
        ms(room)
      }`,
  );
}

if (import.meta.main) await bench();

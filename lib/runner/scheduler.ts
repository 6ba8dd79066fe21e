/**
 * Cron scheduling of pipelines (croner, pinned) in each pipeline's time zone, with an overlap
 * policy and a guard of our own for daylight-saving transitions.
 *
 * - Fire times come from croner's `nextRun` in 5-field mode; the waiting is ours (a Clock), so
 *   tests drive the scheduler through fake time.
 * - DST: a wall-clock time is fired at most once per pipeline. In Cairo's autumn repeat (clocks go
 *   from 24:00 back to 23:00 on the last Thursday of October) a time in the repeated hour would
 *   otherwise exist twice; the second occurrence is dropped whatever croner returns. In the
 *   spring gap (00:00 -> 01:00 on the last Friday of April) the schedule's times that do not
 *   exist fire at the first existing minute (01:00), once for all of them (croner does this only
 *   for one time a day: `0 0,12 * * *` lost its 00:00); the log names the times that fire there.
 *   The guard outlives a restart: at its start the scheduler takes the fires an earlier one made
 *   (`firedEarlier`, from the run history), so a scheduler restarted inside the repeated hour
 *   does not fire again the times its first pass already fired.
 * - Overlap: a fire while the previous run of the same pipeline is still running is skipped
 *   (`overlap: skip`) or queued to start when it ends (`overlap: queue`, at most one waiting).
 *   A run of another pipeline that shares a job with it counts the same (full_pipeline and
 *   transformations both run the models: two model builds must not run side by side), and so
 *   does a run by another process (a manual `deno task run` of the pipeline or of a job it
 *   shares, seen in the history through `runningElsewhere`); a fire that finds one of those is
 *   skipped under either policy, since this scheduler is not told when another process's run
 *   ends (waiting would mean polling the history), and a queued fire that finds one when it
 *   would start is dropped the same way. The jobs are those the last fire read from jobs.yaml
 *   (a running run's, those it read at its start). A fire that the history still refuses (a run
 *   sharing its jobs that this scheduler did not see in time: jobs.yaml edited, a manual run
 *   started that moment) takes the same policy: skipped, or queued until this scheduler's run in
 *   its way ends (behind another process's run it is skipped: the next fire looks again).
 * - A fire that does not run (skipped, or queued and then dropped) is recorded in the run history
 *   (`skipped`, see SchedulerOptions.skipped), naming the run in its way: `deno task runs` shows
 *   it, and a restarted scheduler counts it among the fires made (the DST guard above).
 * - Clock jumps: after a forward jump (VM resume, NTP step) the overdue fire runs once and the
 *   next one is computed from now; the fire times jumped over are counted in one line, not
 *   replayed.
 * - A failing run is logged and the schedule goes on. Aborting the signal stops new fires, passes
 *   the abort to running runs (their jobs get kill_grace to stop) and resolves when they ended.
 */
import { Cron } from "croner";
import { RunOverlapError } from "./history.ts";
import type { Manifest, Overlap } from "./manifest.ts";

export interface Clock {
  now(): number;
  /** Resolve at `at` (ms since epoch) or as soon as `signal` aborts. Never rejects. */
  sleepUntil(at: number, signal: AbortSignal): Promise<void>;
}

/** The real clock; long waits are cut into <= 60 s pieces so clock changes are noticed. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleepUntil(at, signal) {
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      let timer: ReturnType<typeof setTimeout>;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const step = () => {
        const left = at - Date.now();
        if (left <= 0) return done();
        timer = setTimeout(step, Math.min(left, 60_000));
      };
      signal.addEventListener("abort", done, { once: true });
      step();
    });
  },
};

/**
 * A clock that moves only when told: `advanceTo(t)` wakes every sleeper due by `t` in time order,
 * letting each one's continuation run before the next (for tests of schedules).
 */
export class ManualClock implements Clock {
  #t: number;
  #sleepers: { at: number; seq: number; wake: () => void }[] = [];
  #seq = 0;
  constructor(start: number | Date) {
    this.#t = typeof start === "number" ? start : start.getTime();
  }
  now(): number {
    return this.#t;
  }
  sleepUntil(at: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted || at <= this.#t) return resolve();
      const s = {
        at,
        seq: this.#seq++,
        wake: () => {
          signal.removeEventListener("abort", s.wake);
          this.#sleepers = this.#sleepers.filter((x) => x !== s);
          resolve();
        },
      };
      this.#sleepers.push(s);
      signal.addEventListener("abort", s.wake, { once: true });
    });
  }
  /** Let pending continuations run (several macrotask turns). */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  }
  async advanceTo(end: number | Date): Promise<void> {
    const target = typeof end === "number" ? end : end.getTime();
    await this.settle();
    while (true) {
      const next = [...this.#sleepers].sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next || next.at > target) break;
      this.#t = Math.max(this.#t, next.at);
      next.wake();
      await this.settle();
    }
    this.#t = Math.max(this.#t, target);
  }
  /** Set the time to `end` at once (a VM resume, an NTP step), then wake the sleepers due. */
  async jumpTo(end: number | Date): Promise<void> {
    const target = typeof end === "number" ? end : end.getTime();
    await this.settle();
    this.#t = Math.max(this.#t, target);
    await this.advanceTo(target);
  }
}

export interface ScheduleEntry {
  pipeline: string;
  /** 5-field cron pattern. */
  pattern: string;
  timezone: string;
  overlap: Overlap;
  /** The pipeline's jobs: a run of a pipeline sharing one of them is an overlap too. */
  jobs?: readonly string[];
}

/** The scheduled pipelines of a manifest, in its order. */
export function scheduleEntries(manifest: Manifest): ScheduleEntry[] {
  return [...manifest.pipelines.values()]
    .filter((p) => p.schedule !== undefined)
    .map((p) => ({
      pipeline: p.id,
      pattern: p.schedule!,
      timezone: p.timezone,
      overlap: p.overlap,
      jobs: p.jobs,
    }));
}

/** `"0 1 * * *" in Africa/Cairo, overlap skip`, or `no schedule`. */
export function describeSchedule(entry: ScheduleEntry | undefined): string {
  return entry
    ? `"${entry.pattern}" in ${entry.timezone}, overlap ${entry.overlap}`
    : "no schedule";
}

/**
 * The first fire strictly after `after` (ms), or undefined if there is none. A schedule time that
 * a spring-forward gap skips fires at the gap's end, the first existing minute (croner does that
 * only for patterns with one time a day: `0 0,12 * * *` lost its 00:00, `0,30 0 * * *` its day).
 */
export function nextFire(entry: ScheduleEntry, after: number): number | undefined {
  const cron = new Cron(entry.pattern, { timezone: entry.timezone, paused: true, mode: "5-part" });
  const next = cron.nextRun(new Date(after))?.getTime();
  if (next === undefined) return undefined;
  for (let from = after;;) {
    const gap = gapIn(entry.timezone, from, next);
    if (gap === undefined) return next;
    if (localMatches(entry.pattern, gap.skipped, 1).length > 0) return gap.at;
    from = gap.at;
  }
}

/**
 * The schedule's local times (`YYYY-MM-DD HH:MM`) that did not exist because a spring-forward gap
 * ended at `at`: all of them fire once, at `at`. Empty when `at` ends no gap, or none matches.
 */
export function skippedAt(entry: ScheduleEntry, at: number): string[] {
  const before = utcOffset(at - 1, entry.timezone);
  const after = utcOffset(at, entry.timezone);
  if (after <= before) return [];
  return localMatches(entry.pattern, [at + before, at + after]).map((t) =>
    new Date(t).toISOString().slice(0, 16).replace("T", " ")
  );
}

const DAY_MS = 86_400_000;
const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** How far `timeZone`'s clocks are ahead of UTC at `at` (ms). */
function utcOffset(at: number, timeZone: string): number {
  let f = offsetFormats.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      hourCycle: "h23",
    });
    offsetFormats.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(at)).map((x) => [x.type, Number(x.value)]));
  const local = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return local - Math.floor(at / 1000) * 1000;
}

/**
 * The first spring-forward gap of `timeZone` ending in (after, until]: `at`, its end (the first
 * existing instant after it), and `skipped`, the local times it skipped as [from, to) in ms of a
 * UTC clock showing local time. Transitions are assumed at least a day apart.
 */
function gapIn(
  timeZone: string,
  after: number,
  until: number,
): { at: number; skipped: [number, number] } | undefined {
  for (let lo = after; lo < until; lo += DAY_MS) {
    const before = utcOffset(lo, timeZone);
    let hi = Math.min(lo + DAY_MS, until);
    if (utcOffset(hi, timeZone) <= before) continue;
    let a = lo;
    while (hi - a > 1) {
      const mid = Math.floor((a + hi) / 2);
      if (utcOffset(mid, timeZone) > before) hi = mid;
      else a = mid;
    }
    return { at: hi, skipped: [hi + before, hi + utcOffset(hi, timeZone)] };
  }
  return undefined;
}

/** The times in [from, to) (ms of a UTC clock showing local time) `pattern` matches, <= `max`. */
function localMatches(pattern: string, [from, to]: [number, number], max = Infinity): number[] {
  const cron = new Cron(pattern, { timezone: "UTC", paused: true, mode: "5-part" });
  const out: number[] = [];
  for (let t = cron.nextRun(new Date(from - 1)); t && t.getTime() < to; t = cron.nextRun(t)) {
    out.push(t.getTime());
    if (out.length >= max) break;
  }
  return out;
}

/**
 * The fire times strictly after `after` up to `until` (each wall-clock time once), at most `max`:
 * what a scheduler asleep over that span (a suspended VM, a clock step) did not fire.
 */
export function firesBetween(
  entry: ScheduleEntry,
  after: number,
  until: number,
  max = 10_000,
): number[] {
  const out: number[] = [];
  const seen = new Set<string>();
  for (let t = nextFire(entry, after); t !== undefined && t <= until; t = nextFire(entry, t)) {
    const key = wallClock(t, entry.timezone);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(t);
    if (out.length >= max) break;
  }
  return out;
}

/** "YYYY-MM-DD HH:MM" wall-clock time of `at` in `timeZone`. */
export function wallClock(at: number, timeZone: string): string {
  const p = Object.fromEntries(
    wallFormat(timeZone).formatToParts(new Date(at)).map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** One formatter per time zone: making one per call took most of 4 s for 10,000 missed fires. */
const wallFormats = new Map<string, Intl.DateTimeFormat>();
function wallFormat(timeZone: string): Intl.DateTimeFormat {
  let f = wallFormats.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    wallFormats.set(timeZone, f);
  }
  return f;
}

/** The next `n` fire times after `from` (same rules as the scheduler, DST guard included). */
export function upcoming(entry: ScheduleEntry, from: number, n: number): number[] {
  const out: number[] = [];
  const seen = new Set<string>();
  let t = from;
  while (out.length < n) {
    const next = nextFire(entry, t);
    if (next === undefined) break;
    t = next;
    const key = wallClock(next, entry.timezone);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(next);
  }
  return out;
}

export type FireOutcome = "started" | "skipped" | "queued" | "duplicate";

export interface SchedulerOptions {
  clock?: Clock;
  /**
   * Start one run of the pipeline; resolves when it has ended. Errors are logged, but for a
   * RunOverlapError (the history refused the run): the pipeline's overlap policy takes it.
   * `jobsRead` tells the scheduler every pipeline's jobs as the fire read them from jobs.yaml;
   * `runId` the id of its run (as soon as it is chosen), which a fire skipped behind it names.
   */
  fire: (
    pipeline: string,
    at: number,
    signal: AbortSignal,
    jobsRead: (jobs: ReadonlyMap<string, readonly string[]>) => void,
    runId: (id: string) => void,
  ) => Promise<unknown>;
  log?: (line: string) => void;
  signal: AbortSignal;
  /**
   * A run that another process is running of `pipeline` or of any of its `jobs`, or undefined;
   * asked at each fire when this scheduler itself runs nothing in the way (and before a queued
   * fire starts).
   */
  runningElsewhere?: (
    pipeline: string,
    jobs: readonly string[],
  ) => OtherRun | undefined;
  /**
   * Called on every scheduled time (tests observe the overlap policy through it); a started fire
   * that the history then refuses is told again, skipped or queued.
   */
  onFire?: (pipeline: string, at: number, outcome: FireOutcome) => void;
  /**
   * The fire times (ms) of `pipeline` from `since` on that earlier schedulers fired (the run
   * history's intended times of scheduled runs), asked once at the start: their wall-clock times
   * are not fired again, as if this scheduler had fired them (the DST guard across a restart).
   */
  firedEarlier?: (pipeline: string, since: number) => readonly number[];
  /**
   * A fire at `at` that does not run: skipped, or queued and then dropped; `why` is what the log
   * says after the time (`skipped: ...`, `queued fire dropped: ...`), `decidedAt` when (ms).
   * `deno task schedule` records it in the history (History.recordSkipped), so that a restarted
   * scheduler's firedEarlier has it. An error is logged; the schedule goes on.
   */
  skipped?: (pipeline: string, at: number, why: string, decidedAt: number) => void;
}

/** A run by another process in a fire's way, as the history has it. */
export interface OtherRun {
  id: string;
  target: string;
  /** Its runner's pid, when known. */
  pid?: number;
}

/** Run the schedules until `signal` aborts, then wait for running runs to end. */
export async function runScheduler(
  entries: readonly ScheduleEntry[],
  opts: SchedulerOptions,
): Promise<void> {
  const clock = opts.clock ?? systemClock;
  const out = opts.log ?? ((l: string) => console.log(l));
  // A line that cannot be written (stdout on a full disk) must not end the schedule: thrown in a
  // pipeline's loop, it stopped every schedule and left the running runs behind.
  const log = (line: string) => {
    try {
      out(line);
    } catch { /* the runs are still recorded in the history */ }
  };
  const signal = opts.signal;
  const running = new Map<string, Promise<void>>();
  const queued = new Map<string, number>();
  const zones = new Map(entries.map((e) => [e.pipeline, e.timezone]));
  const overlapOf = new Map(entries.map((e) => [e.pipeline, e.overlap]));
  /** Each pipeline's jobs as jobs.yaml last gave them (read by every fire). */
  const jobsOf = new Map(entries.map((e) => [e.pipeline, e.jobs ?? []]));
  /** The jobs of each running run, as its fire read them. */
  const runJobs = new Map<string, readonly string[]>();
  /** The id of each running run, once its fire has chosen it. */
  const runIds = new Map<string, string>();
  /** The jobs `pipeline` shares with `other`, running (both this scheduler's pipelines). */
  const shared = (pipeline: string, other: string) => {
    const theirs = new Set(runJobs.get(other) ?? jobsOf.get(other));
    return (jobsOf.get(pipeline) ?? []).filter((j) => theirs.has(j));
  };
  /** This scheduler's running pipeline in the way of `pipeline`: itself, or one sharing a job. */
  const inTheWay = (pipeline: string): string | undefined =>
    running.has(pipeline)
      ? pipeline
      : [...running.keys()].find((other) => shared(pipeline, other).length > 0);
  /** The run in the way, by id and pid (this process's) once its fire has chosen the id. */
  const busyHere = (pipeline: string, other: string) => {
    const id = runIds.get(other);
    const run = id === undefined ? "" : ` (run ${id}, runner pid ${Deno.pid})`;
    return other === pipeline
      ? `the previous run${run} is still running`
      : `${other}${run} is running, which shares jobs with it (${
        shared(pipeline, other).join(", ")
      })`;
  };
  const when = (pipeline: string, at: number) => {
    const tz = zones.get(pipeline) ?? "UTC";
    return `${wallClock(at, tz)} ${tz}`;
  };

  const elsewhere = (pipeline: string): OtherRun | undefined => {
    try {
      return opts.runningElsewhere?.(pipeline, jobsOf.get(pipeline) ?? []);
    } catch (e) {
      // The fire then meets the same problem and reports it; the schedule must go on.
      log(`scheduler: cannot look for other runs of ${pipeline}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const busyElsewhere = (pipeline: string, run: OtherRun, overlap: Overlap) =>
    `run ${run.id} of ${
      run.target === pipeline ? "the pipeline" : `${run.target}, which shares jobs with it,`
    } is still running in another process` +
    (run.pid === undefined ? "" : ` (runner pid ${run.pid})`) +
    (overlap === "queue" ? " (a queued fire waits only for this scheduler's own runs)" : "");

  const jobsRead = (pipeline: string) => (jobs: ReadonlyMap<string, readonly string[]>) => {
    for (const p of jobsOf.keys()) jobsOf.set(p, jobs.get(p) ?? []);
    runJobs.set(pipeline, jobsOf.get(pipeline)!);
  };
  /**
   * A fire the history refused: the overlap policy decides, as when the scheduler saw the run in
   * its way. Queued only behind a run of this scheduler's, whose end starts it; behind another
   * process's run it is skipped (see busyElsewhere), and the next fire looks again.
   */
  const refused = (pipeline: string, at: number, e: RunOverlapError) => {
    const queue = overlapOf.get(pipeline) === "queue";
    const behind = [...running.keys()].some((o) =>
      o !== pipeline && shared(pipeline, o).length > 0
    );
    const outcome = queue && behind && !queued.has(pipeline) && !signal.aborted
      ? "queued"
      : "skipped";
    if (outcome === "queued") queued.set(pipeline, at);
    opts.onFire?.(pipeline, at, outcome);
    const why = `${outcome}: ${e.message}` +
      (queue && !behind ? " (a queued fire waits only for this scheduler's own runs)" : "");
    if (outcome === "skipped") notRun(pipeline, at, why);
    else log(`scheduler: ${pipeline} (${when(pipeline, at)}) ${why}`);
  };

  /** A fire that does not run: logged, and told to `skipped` (the history records it). */
  const notRun = (pipeline: string, at: number, why: string) => {
    log(`scheduler: ${pipeline} (${when(pipeline, at)}) ${why}`);
    try {
      opts.skipped?.(pipeline, at, why, clock.now());
    } catch (e) {
      log(
        `scheduler: cannot record the fire of ${pipeline} (${when(pipeline, at)}) that did not ` +
          `run: ${(e as Error).message}`,
      );
    }
  };

  const start = (pipeline: string, at: number) => {
    let ended = false;
    const p = (async () => {
      try {
        await opts.fire(pipeline, at, signal, jobsRead(pipeline), (id) => {
          if (!ended) runIds.set(pipeline, id); // a late report must not name an ended run
        });
      } catch (e) {
        if (e instanceof RunOverlapError) return refused(pipeline, at, e);
        log(`scheduler: run of ${pipeline} failed to start or crashed: ${(e as Error).message}`);
      }
    })().finally(() => {
      ended = true;
      running.delete(pipeline);
      runJobs.delete(pipeline);
      runIds.delete(pipeline);
      // Queued fires (this pipeline's, or one sharing a job with it) nothing is in the way of now.
      for (const [waiting, q] of [...queued]) {
        if (inTheWay(waiting) !== undefined) continue;
        queued.delete(waiting);
        const other = signal.aborted ? undefined : elsewhere(waiting);
        if (signal.aborted) notRun(waiting, q, "queued fire dropped: stopping");
        else if (other !== undefined) {
          notRun(waiting, q, `queued fire dropped: ${busyElsewhere(waiting, other, "queue")}`);
        } else {
          log(`scheduler: firing ${waiting} (${when(waiting, q)}, queued)`);
          start(waiting, q);
        }
      }
    });
    running.set(pipeline, p);
  };

  /** Wall-clock times fired by earlier schedulers, by their time (see firedEarlier). */
  const earlier = (entry: ScheduleEntry, since: number): Map<string, number> => {
    try {
      const times = opts.firedEarlier?.(entry.pipeline, since) ?? [];
      return new Map(times.map((t) => [wallClock(t, entry.timezone), t]));
    } catch (e) {
      log(`scheduler: cannot read earlier fires of ${entry.pipeline}: ${(e as Error).message}`);
      return new Map();
    }
  };

  const loop = async (entry: ScheduleEntry) => {
    let from = clock.now();
    // The fires of the last two days (older ones cannot come back in a DST repeat), with those
    // an earlier scheduler made in that span.
    const fired = earlier(entry, from - 2 * 86_400_000);
    const before = new Set(fired.keys());
    while (!signal.aborted) {
      const next = nextFire(entry, from);
      if (next === undefined) {
        log(`scheduler: ${entry.pipeline} has no further fire times`);
        return;
      }
      await clock.sleepUntil(next, signal);
      if (signal.aborted) return;
      // After a forward clock jump (VM resume, NTP step) `next` is long past: it fires, late, once,
      // and the next fire is computed from now; the fire times in between are counted, not
      // replayed in a burst (each would find the previous still running and be skipped anyway).
      const now = clock.now();
      from = Math.max(next, now);
      const key = wallClock(next, entry.timezone);
      const missed = firesBetween(entry, next, now).filter((t) =>
        wallClock(t, entry.timezone) !== key
      );
      if (missed.length > 0) {
        const n = missed.length >= 10_000 ? "10000 or more" : String(missed.length);
        log(
          `scheduler: ${entry.pipeline} missed ${n} fire time(s) since ` +
            `${when(entry.pipeline, missed[0])} (the clock jumped forward, or the machine was ` +
            `suspended, until ${when(entry.pipeline, now)}): not replayed`,
        );
      }
      for (const [k, t] of fired) if (t < next - 2 * 86_400_000) fired.delete(k);
      if (fired.has(key)) {
        opts.onFire?.(entry.pipeline, next, "duplicate");
        log(
          `scheduler: ${entry.pipeline} ${key} ${entry.timezone} already fired (DST repeat` +
            `${before.has(key) ? "; by an earlier scheduler, as the run history says" : ""})`,
        );
        continue;
      }
      fired.set(key, next);
      const at = when(entry.pipeline, next);
      const skipped = skippedAt(entry, next);
      if (skipped.length > 0) {
        const times = skipped.length === 1
          ? `${skipped[0]} does not exist`
          : `${skipped.length} times, ${skipped[0]} to ${skipped.at(-1)!.slice(11)}, do not exist`;
        log(
          `scheduler: ${entry.pipeline}: ${times} in ${entry.timezone} (clocks go forward): ` +
            `one fire for ${skipped.length === 1 ? "it" : "them"}, at ${at}`,
        );
      }
      const own = inTheWay(entry.pipeline);
      const other = own === undefined ? elsewhere(entry.pipeline) : undefined;
      if (own === undefined && other === undefined) {
        opts.onFire?.(entry.pipeline, next, "started");
        log(`scheduler: firing ${entry.pipeline} (${at})`);
        start(entry.pipeline, next);
      } else if (other !== undefined) {
        opts.onFire?.(entry.pipeline, next, "skipped");
        notRun(
          entry.pipeline,
          next,
          `skipped: ${busyElsewhere(entry.pipeline, other, entry.overlap)}`,
        );
      } else if (entry.overlap === "queue" && !queued.has(entry.pipeline)) {
        opts.onFire?.(entry.pipeline, next, "queued");
        queued.set(entry.pipeline, next);
        log(`scheduler: ${entry.pipeline} (${at}) queued: ${busyHere(entry.pipeline, own!)}`);
      } else {
        opts.onFire?.(entry.pipeline, next, "skipped");
        notRun(entry.pipeline, next, `skipped: ${busyHere(entry.pipeline, own!)}`);
      }
    }
  };

  await Promise.all(entries.map(loop));
  while (running.size > 0) await Promise.all([...running.values()]);
}

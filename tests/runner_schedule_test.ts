import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { formatDuration } from "../lib/runner/duration.ts";
import { History, lockRun, runLockPath } from "../lib/runner/history.ts";
import { loadManifest } from "../lib/runner/manifest.ts";
import { recordSkipped, runningElsewhere, runScheduled } from "../lib/runner/scheduled_run.ts";
import {
  type FireOutcome,
  ManualClock,
  runScheduler,
  scheduleEntries,
  type ScheduleEntry,
  upcoming,
  wallClock,
} from "../lib/runner/scheduler.ts";
import { denoCacheEnv } from "./support/processes.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const CAIRO = "Africa/Cairo";

/** The real schedules from jobs.yaml. */
function projectEntries(): ScheduleEntry[] {
  return scheduleEntries(loadManifest(`${REPO}/jobs.yaml`));
}

interface Fired {
  pipeline: string;
  at: string;
  wall: string;
  outcome: FireOutcome;
}

/** Drive the scheduler through fake time from `start` to `end`; each run lasts `runMs`. */
async function simulate(
  entries: ScheduleEntry[],
  start: string,
  end: string,
  opts: {
    runMs?: number;
    failFirst?: boolean;
    jump?: { at: string; to: string };
    /** A run by another process at time `now` (ms) of `pipeline` or its `jobs`, if any. */
    elsewhere?: (
      now: number,
      pipeline: string,
      jobs: readonly string[],
    ) => { id: string; target: string } | undefined;
    /** How long each pipeline's runs last (default runMs). */
    runMsOf?: Record<string, number>;
  } = {},
) {
  const clock = new ManualClock(new Date(start));
  const controller = new AbortController();
  const fired: Fired[] = [];
  const runs: { pipeline: string; startedAt: string }[] = [];
  const logs: string[] = [];
  let calls = 0;
  const done = runScheduler(entries, {
    clock,
    signal: controller.signal,
    log: (l) => logs.push(l),
    runningElsewhere: opts.elsewhere &&
      ((pipeline, jobs) => opts.elsewhere!(clock.now(), pipeline, jobs)),
    onFire: (pipeline, at, outcome) =>
      fired.push({
        pipeline,
        at: new Date(at).toISOString(),
        wall: wallClock(at, CAIRO),
        outcome,
      }),
    fire: async (pipeline, _at, signal) => {
      runs.push({ pipeline, startedAt: new Date(clock.now()).toISOString() });
      if (opts.failFirst && calls++ === 0) throw new Error("warehouse unreachable");
      const ms = opts.runMsOf?.[pipeline] ?? opts.runMs;
      if (ms) await clock.sleepUntil(clock.now() + ms, signal);
    },
  });
  if (opts.jump) {
    await clock.advanceTo(new Date(opts.jump.at));
    await clock.jumpTo(new Date(opts.jump.to));
  }
  await clock.advanceTo(new Date(end));
  controller.abort();
  await done;
  return { fired, runs, logs };
}

const started = (f: Fired[], pipeline: string) =>
  f.filter((x) => x.pipeline === pipeline && x.outcome === "started").map((x) => x.wall);

Deno.test("the project's schedules fire once per intended time across the April DST gap", async () => {
  // Cairo springs forward at 2026-04-24 00:00 (to 01:00).
  const { fired } = await simulate(
    projectEntries(),
    "2026-04-22T00:30:00+02:00",
    "2026-04-26T23:59:00+03:00",
  );
  assertEquals(started(fired, "full_pipeline"), [
    "2026-04-22 01:00",
    "2026-04-23 01:00",
    "2026-04-24 01:00",
    "2026-04-25 01:00",
    "2026-04-26 01:00",
  ]);
  assertEquals(
    fired.filter((f) => f.pipeline === "full_pipeline").map((f) => f.at),
    [
      "2026-04-21T23:00:00.000Z",
      "2026-04-22T23:00:00.000Z",
      "2026-04-23T22:00:00.000Z",
      "2026-04-24T22:00:00.000Z",
      "2026-04-25T22:00:00.000Z",
    ],
  );
  assertEquals(started(fired, "transformations"), [
    "2026-04-22 02:00",
    "2026-04-22 14:00",
    "2026-04-23 02:00",
    "2026-04-23 14:00",
    "2026-04-24 02:00",
    "2026-04-24 14:00",
    "2026-04-25 02:00",
    "2026-04-25 14:00",
    "2026-04-26 02:00",
    "2026-04-26 14:00",
  ]);
  assertEquals(fired.every((f) => f.outcome === "started"), true);
});

Deno.test("the project's schedules fire once per intended time across the October DST repeat", async () => {
  // Cairo falls back at 2026-10-29 24:00 (to 23:00): 23:00-23:59 happens twice that night.
  const { fired } = await simulate(
    projectEntries(),
    "2026-10-27T00:30:00+03:00",
    "2026-10-31T23:59:00+02:00",
  );
  assertEquals(
    fired.filter((f) => f.pipeline === "full_pipeline").map((f) => [f.wall, f.at]),
    [
      ["2026-10-27 01:00", "2026-10-26T22:00:00.000Z"],
      ["2026-10-28 01:00", "2026-10-27T22:00:00.000Z"],
      ["2026-10-29 01:00", "2026-10-28T22:00:00.000Z"],
      ["2026-10-30 01:00", "2026-10-29T23:00:00.000Z"],
      ["2026-10-31 01:00", "2026-10-30T23:00:00.000Z"],
    ],
  );
  const days = ["27", "28", "29", "30", "31"];
  assertEquals(
    started(fired, "transformations"),
    days.flatMap((d) => [`2026-10-${d} 02:00`, `2026-10-${d} 14:00`]),
  );
  assertEquals(fired.every((f) => f.outcome === "started"), true);
});

Deno.test("a time inside the spring gap fires once, at the first existing minute after it", async () => {
  const entries: ScheduleEntry[] = [
    { pipeline: "half_past_midnight", pattern: "30 0 * * *", timezone: CAIRO, overlap: "skip" },
    { pipeline: "midnight", pattern: "0 0 * * *", timezone: CAIRO, overlap: "skip" },
  ];
  const { fired } = await simulate(
    entries,
    "2026-04-22T12:00:00+02:00",
    "2026-04-25T12:00:00+03:00",
  );
  assertEquals(started(fired, "half_past_midnight"), [
    "2026-04-23 00:30",
    "2026-04-24 01:00",
    "2026-04-25 00:30",
  ]);
  assertEquals(started(fired, "midnight"), [
    "2026-04-23 00:00",
    "2026-04-24 01:00",
    "2026-04-25 00:00",
  ]);
});

Deno.test("a time inside the autumn repeat fires once, even for an every-30-minutes schedule", async () => {
  const entries: ScheduleEntry[] = [
    { pipeline: "late", pattern: "30 23 * * *", timezone: CAIRO, overlap: "skip" },
    { pipeline: "halfhourly", pattern: "*/30 * * * *", timezone: CAIRO, overlap: "skip" },
  ];
  const { fired, logs } = await simulate(
    entries,
    "2026-10-29T22:00:00+03:00",
    "2026-10-30T00:45:00+02:00",
  );
  assertEquals(started(fired, "late"), ["2026-10-29 23:30"]);
  assertEquals(fired.filter((f) => f.pipeline === "late").map((f) => f.at), [
    "2026-10-29T20:30:00.000Z",
  ]);
  assertEquals(started(fired, "halfhourly"), [
    "2026-10-29 22:30",
    "2026-10-29 23:00",
    "2026-10-29 23:30",
    "2026-10-30 00:00",
    "2026-10-30 00:30",
  ]);
  // croner offers 23:00 and 23:30 a second time (after the clocks go back): both are dropped.
  assertEquals(
    fired.filter((f) => f.outcome === "duplicate").map((f) => [f.pipeline, f.wall, f.at]),
    [
      ["halfhourly", "2026-10-29 23:00", "2026-10-29T21:00:00.000Z"],
      ["halfhourly", "2026-10-29 23:30", "2026-10-29T21:30:00.000Z"],
    ],
  );
  assert(
    logs.includes("scheduler: halfhourly 2026-10-29 23:00 Africa/Cairo already fired (DST repeat)"),
  );
});

Deno.test("a scheduler restarted inside the autumn repeat does not fire again what the previous one fired (run history)", async () => {
  // As `deno task schedule` wires it: each fire is runScheduled (recording its intended time),
  // and a starting scheduler reads the earlier fires from the history. The first scheduler fires
  // 23:00 and 23:20 (EEST) and is stopped at 23:30; a second one starts at 23:10 of the repeat
  // (EET): the second 23:20 is dropped, 23:40 (never fired) and the next day's times fire.
  const dir = Deno.makeTempDirSync({ prefix: "runner_sched_restart_" });
  const history = new History(`${dir}/logs/runs.sqlite`);
  try {
    const manifest = `${dir}/jobs.yaml`;
    Deno.writeTextFileSync(`${dir}/j.ts`, "");
    Deno.writeTextFileSync(
      manifest,
      'pipelines:\n  p:\n    schedule: "*/20 * * * *"\n    jobs: [j]\njobs:\n  j:\n    script: j.ts\n',
    );
    const entry: ScheduleEntry = {
      pipeline: "p",
      pattern: "*/20 * * * *",
      timezone: CAIRO,
      overlap: "skip",
      jobs: ["j"],
    };
    const env = denoCacheEnv();
    const session = async (start: string, end: string) => {
      const clock = new ManualClock(new Date(start));
      const controller = new AbortController();
      const fired: [string, string, FireOutcome][] = [];
      const logs: string[] = [];
      const pending = new Set<Promise<unknown>>();
      const track = <T>(p: Promise<T>) => {
        pending.add(p);
        p.finally(() => pending.delete(p)).catch(() => {});
        return p;
      };
      const done = runScheduler([entry], {
        clock,
        signal: controller.signal,
        log: (l) => logs.push(l),
        onFire: (_p, at, outcome) =>
          fired.push([wallClock(at, CAIRO), new Date(at).toISOString(), outcome]),
        firedEarlier: (pipeline, since) => history.scheduledFires(pipeline, since),
        fire: (pipeline, at, signal, jobsRead) =>
          track(runScheduled(manifest, pipeline, {
            at,
            jobsRead,
            history,
            logDir: `${dir}/logs`,
            env,
            signal,
            entry,
            print: () => {},
          })),
      });
      // The runs take real time: each one ends before the fake clock moves on.
      for (let t = Date.parse(start); t < Date.parse(end); t += 5 * 60_000) {
        await clock.advanceTo(t);
        while (pending.size > 0) await Promise.allSettled([...pending]);
      }
      await clock.advanceTo(new Date(end));
      controller.abort();
      await done;
      return { fired, logs };
    };
    const first = await session("2026-10-29T22:50:00+03:00", "2026-10-29T23:30:00+03:00");
    assertEquals(first.fired, [
      ["2026-10-29 23:00", "2026-10-29T20:00:00.000Z", "started"],
      ["2026-10-29 23:20", "2026-10-29T20:20:00.000Z", "started"],
    ]);
    const second = await session("2026-10-29T23:10:00+02:00", "2026-10-30T00:30:00+02:00");
    assertEquals(second.fired, [
      ["2026-10-29 23:20", "2026-10-29T21:20:00.000Z", "duplicate"],
      ["2026-10-29 23:40", "2026-10-29T21:40:00.000Z", "started"],
      ["2026-10-30 00:00", "2026-10-29T22:00:00.000Z", "started"],
      ["2026-10-30 00:20", "2026-10-29T22:20:00.000Z", "started"],
    ]);
    assert(
      second.logs.includes(
        "scheduler: p 2026-10-29 23:20 Africa/Cairo already fired (DST repeat; by an earlier " +
          "scheduler, as the run history says)",
      ),
    );
    // An ordinary restart: the same wall-clock times of another day fire as usual.
    const third = await session("2026-10-30T23:10:00+02:00", "2026-10-30T23:30:00+02:00");
    assertEquals(third.fired, [["2026-10-30 23:20", "2026-10-30T21:20:00.000Z", "started"]]);
    // Each run records its fire's intended time.
    assertEquals(
      history.listRuns(10).reverse().map((r) => [r.trigger, r.status, r.scheduled_for]),
      [
        "2026-10-29T20:00:00.000Z",
        "2026-10-29T20:20:00.000Z",
        "2026-10-29T21:40:00.000Z",
        "2026-10-29T22:00:00.000Z",
        "2026-10-29T22:20:00.000Z",
        "2026-10-30T21:20:00.000Z",
      ].map((t) => ["schedule", "ok", t]),
    );
  } finally {
    history.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a history file from before scheduled_for gets the column, and its old runs are no earlier fires", () => {
  const dir = Deno.makeTempDirSync({ prefix: "runner_sched_migrate_" });
  const path = `${dir}/runs.sqlite`;
  try {
    // The runs table as schema version 2 made it, with a scheduled run recorded then.
    const db = new DatabaseSync(path);
    db.exec(
      `CREATE TABLE runs (id TEXT PRIMARY KEY, target TEXT NOT NULL, trigger TEXT NOT NULL,
         status TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, duration_ms INTEGER,
         runner_pid INTEGER NOT NULL, runner_host TEXT NOT NULL, message TEXT, runner_start TEXT);
       INSERT INTO runs VALUES ('old', 'p', 'schedule', 'ok', '2026-10-29T20:20:00.000Z', NULL,
         NULL, 1, 'h', NULL, NULL);
       PRAGMA user_version = 2;`,
    );
    db.close();
    const history = new History(path);
    try {
      const at = Date.parse("2026-10-29T21:20:00Z");
      history.startRun({
        id: "new",
        target: "p",
        trigger: "schedule",
        jobs: [],
        at,
        scheduledFor: at,
      });
      history.startRun({
        id: "manual",
        target: "p",
        trigger: "manual",
        jobs: [],
        at,
        scheduledFor: at,
      });
      assertEquals(history.getRun("old")!.run.scheduled_for, null);
      assertEquals(history.scheduledFires("p", 0), [at]);
      assertEquals(history.scheduledFires("p", at + 1), []);
    } finally {
      history.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("schedules with several times a day fire each time the spring gap skips once, at 01:00", async () => {
  // 2026-04-24 00:00 -> 01:00 in Cairo. croner alone lost 00:00 of "0 0,12" and all of "0,30 0"
  // that day; "0 0" was right.
  const entry = (pipeline: string, pattern: string): ScheduleEntry => ({
    pipeline,
    pattern,
    timezone: CAIRO,
    overlap: "skip",
  });
  const entries = [
    entry("midnight", "0 0 * * *"),
    entry("twice", "0 0,12 * * *"),
    entry("half_hours", "0,30 0 * * *"),
  ];
  const { fired, logs } = await simulate(entries, "2026-04-23T12:00:00Z", "2026-04-25T00:00:00Z");
  const fires = (pipeline: string) =>
    fired.filter((f) => f.pipeline === pipeline).map((f) => [f.wall, f.at, f.outcome]);
  const gapFire = ["2026-04-24 01:00", "2026-04-23T22:00:00.000Z", "started"];
  assertEquals(fires("midnight"), [
    gapFire,
    ["2026-04-25 00:00", "2026-04-24T21:00:00.000Z", "started"],
  ]);
  assertEquals(fires("twice"), [
    gapFire,
    ["2026-04-24 12:00", "2026-04-24T09:00:00.000Z", "started"],
    ["2026-04-25 00:00", "2026-04-24T21:00:00.000Z", "started"],
  ]);
  assertEquals(fires("half_hours"), [
    gapFire,
    ["2026-04-25 00:00", "2026-04-24T21:00:00.000Z", "started"],
    ["2026-04-25 00:30", "2026-04-24T21:30:00.000Z", "started"],
  ]);
  // The two skipped times of half_hours are one fire, and the log says so.
  assertEquals(logs.filter((l) => l.includes("do not exist") || l.includes("does not exist")), [
    "scheduler: midnight: 2026-04-24 00:00 does not exist in Africa/Cairo (clocks go forward): " +
    "one fire for it, at 2026-04-24 01:00 Africa/Cairo",
    "scheduler: twice: 2026-04-24 00:00 does not exist in Africa/Cairo (clocks go forward): " +
    "one fire for it, at 2026-04-24 01:00 Africa/Cairo",
    "scheduler: half_hours: 2 times, 2026-04-24 00:00 to 00:30, do not exist in Africa/Cairo " +
    "(clocks go forward): one fire for them, at 2026-04-24 01:00 Africa/Cairo",
  ]);
  assertEquals(
    upcoming(entries[2], Date.parse("2026-04-23T12:00:00Z"), 3).map((t) => wallClock(t, CAIRO)),
    ["2026-04-24 01:00", "2026-04-25 00:00", "2026-04-25 00:30"],
  );
});

Deno.test("a time of the gap that the schedule also has after it is one fire, and later times still fire", async () => {
  const entries: ScheduleEntry[] = [
    { pipeline: "halfhourly", pattern: "*/30 * * * *", timezone: CAIRO, overlap: "skip" },
    { pipeline: "early", pattern: "30 0-2 * * *", timezone: CAIRO, overlap: "skip" },
  ];
  const { fired } = await simulate(
    entries,
    "2026-04-23T23:15:00+02:00",
    "2026-04-24T02:45:00+03:00",
  );
  assertEquals(started(fired, "halfhourly"), [
    "2026-04-23 23:30",
    "2026-04-24 01:00",
    "2026-04-24 01:30",
    "2026-04-24 02:00",
    "2026-04-24 02:30",
  ]);
  assertEquals(started(fired, "early"), [
    "2026-04-24 01:00",
    "2026-04-24 01:30",
    "2026-04-24 02:30",
  ]);
  assertEquals(fired.every((f) => f.outcome === "started"), true);
});

Deno.test("schedules with several times a day fire each time once across the autumn repeat", async () => {
  // 2026-10-29 24:00 -> 23:00 in Cairo: 23:00-23:59 that night happens twice.
  const entry = (pipeline: string, pattern: string): ScheduleEntry => ({
    pipeline,
    pattern,
    timezone: CAIRO,
    overlap: "skip",
  });
  const { fired } = await simulate(
    [
      entry("late", "0,30 23 * * *"),
      entry("twice", "0 0,12 * * *"),
      entry("half_hours", "0,30 0 * * *"),
    ],
    "2026-10-28T12:00:00Z",
    "2026-10-30T21:59:00Z",
  );
  assertEquals(fired.filter((f) => f.pipeline === "late").map((f) => [f.wall, f.at, f.outcome]), [
    ["2026-10-28 23:00", "2026-10-28T20:00:00.000Z", "started"],
    ["2026-10-28 23:30", "2026-10-28T20:30:00.000Z", "started"],
    ["2026-10-29 23:00", "2026-10-29T20:00:00.000Z", "started"],
    ["2026-10-29 23:30", "2026-10-29T20:30:00.000Z", "started"],
    ["2026-10-29 23:00", "2026-10-29T21:00:00.000Z", "duplicate"],
    ["2026-10-29 23:30", "2026-10-29T21:30:00.000Z", "duplicate"],
    ["2026-10-30 23:00", "2026-10-30T21:00:00.000Z", "started"],
    ["2026-10-30 23:30", "2026-10-30T21:30:00.000Z", "started"],
  ]);
  assertEquals(started(fired, "twice"), [
    "2026-10-29 00:00",
    "2026-10-29 12:00",
    "2026-10-30 00:00",
    "2026-10-30 12:00",
  ]);
  assertEquals(started(fired, "half_hours"), [
    "2026-10-29 00:00",
    "2026-10-29 00:30",
    "2026-10-30 00:00",
    "2026-10-30 00:30",
  ]);
  assertEquals(
    fired.filter((f) => f.pipeline !== "late").every((f) => f.outcome === "started"),
    true,
  );
});

Deno.test("upcoming fire times follow the same rules as the scheduler", () => {
  const e: ScheduleEntry = {
    pipeline: "p",
    pattern: "*/30 * * * *",
    timezone: CAIRO,
    overlap: "skip",
  };
  assertEquals(
    upcoming(e, Date.parse("2026-10-29T19:45:00Z"), 5).map((t) => wallClock(t, CAIRO)),
    [
      "2026-10-29 23:00",
      "2026-10-29 23:30",
      "2026-10-30 00:00",
      "2026-10-30 00:30",
      "2026-10-30 01:00",
    ],
  );
});

Deno.test("overlap skip drops fires while the previous run is still running", async () => {
  const e: ScheduleEntry = {
    pipeline: "p",
    pattern: "*/10 * * * *",
    timezone: CAIRO,
    overlap: "skip",
  };
  const { fired, runs } = await simulate([e], "2026-05-01T09:59:00Z", "2026-05-01T10:55:00Z", {
    runMs: 23 * 60_000,
  });
  assertEquals(fired.map((f) => [f.at.slice(11, 16), f.outcome]), [
    ["10:00", "started"],
    ["10:10", "skipped"],
    ["10:20", "skipped"],
    ["10:30", "started"],
    ["10:40", "skipped"],
    ["10:50", "skipped"],
  ]);
  assertEquals(runs.map((r) => r.startedAt.slice(11, 16)), ["10:00", "10:30"]);
});

Deno.test("overlap queue starts one waiting fire as soon as the previous run ends", async () => {
  const e: ScheduleEntry = {
    pipeline: "p",
    pattern: "*/10 * * * *",
    timezone: CAIRO,
    overlap: "queue",
  };
  const { fired, runs, logs } = await simulate(
    [e],
    "2026-05-01T09:59:00Z",
    "2026-05-01T10:55:00Z",
    { runMs: 23 * 60_000 },
  );
  assertEquals(fired.map((f) => [f.at.slice(11, 16), f.outcome]), [
    ["10:00", "started"],
    ["10:10", "queued"],
    ["10:20", "skipped"],
    ["10:30", "queued"],
    ["10:40", "skipped"],
    ["10:50", "queued"],
  ]);
  assertEquals(runs.map((r) => r.startedAt.slice(11, 16)), ["10:00", "10:23", "10:46"]);
  // A queued fire says when it starts (or that the stop dropped it).
  assertEquals(logs.filter((l) => l.includes("queued")), [
    "scheduler: p (2026-05-01 13:10 Africa/Cairo) queued: the previous run is still running",
    "scheduler: firing p (2026-05-01 13:10 Africa/Cairo, queued)",
    "scheduler: p (2026-05-01 13:30 Africa/Cairo) queued: the previous run is still running",
    "scheduler: firing p (2026-05-01 13:30 Africa/Cairo, queued)",
    "scheduler: p (2026-05-01 13:50 Africa/Cairo) queued: the previous run is still running",
    "scheduler: p (2026-05-01 13:50 Africa/Cairo) queued fire dropped: stopping",
  ]);
});

/** Another process (a manual `deno task run` of p) runs p from 10:05 to 10:25 UTC. */
const manualRun = (now: number) =>
  now >= Date.parse("2026-05-01T10:05:00Z") && now < Date.parse("2026-05-01T10:25:00Z")
    ? { id: "20260501-100500-abcd", target: "p" }
    : undefined;

Deno.test("a fire while another process runs the pipeline is skipped and names that run", async () => {
  const e: ScheduleEntry = {
    pipeline: "p",
    pattern: "*/10 * * * *",
    timezone: CAIRO,
    overlap: "skip",
  };
  const { fired, runs, logs } = await simulate(
    [e],
    "2026-05-01T09:59:00Z",
    "2026-05-01T10:35:00Z",
    {
      runMs: 2 * 60_000,
      elsewhere: manualRun,
    },
  );
  assertEquals(fired.map((f) => [f.at.slice(11, 16), f.outcome]), [
    ["10:00", "started"],
    ["10:10", "skipped"],
    ["10:20", "skipped"],
    ["10:30", "started"],
  ]);
  assertEquals(runs.map((r) => r.startedAt.slice(11, 16)), ["10:00", "10:30"]);
  assertEquals(logs, [
    "scheduler: firing p (2026-05-01 13:00 Africa/Cairo)",
    "scheduler: p (2026-05-01 13:10 Africa/Cairo) skipped: run 20260501-100500-abcd of the " +
    "pipeline is still running in another process",
    "scheduler: p (2026-05-01 13:20 Africa/Cairo) skipped: run 20260501-100500-abcd of the " +
    "pipeline is still running in another process",
    "scheduler: firing p (2026-05-01 13:30 Africa/Cairo)",
  ]);
});

Deno.test("overlap queue does not wait for another process's run: the fire, or the queued one, is skipped", async () => {
  const e: ScheduleEntry = {
    pipeline: "p",
    pattern: "*/10 * * * *",
    timezone: CAIRO,
    overlap: "queue",
  };
  // p's own 10:00 run lasts until 10:12: the 10:10 fire is queued, and at 10:12 the manual run
  // is still running, so the queued fire is dropped instead of started beside it.
  const { fired, runs, logs } = await simulate(
    [e],
    "2026-05-01T09:59:00Z",
    "2026-05-01T10:35:00Z",
    {
      runMs: 12 * 60_000,
      elsewhere: manualRun,
    },
  );
  assertEquals(fired.map((f) => [f.at.slice(11, 16), f.outcome]), [
    ["10:00", "started"],
    ["10:10", "queued"],
    ["10:20", "skipped"],
    ["10:30", "started"],
  ]);
  assertEquals(runs.map((r) => r.startedAt.slice(11, 16)), ["10:00", "10:30"]);
  const busy = "run 20260501-100500-abcd of the pipeline is still running in another process " +
    "(a queued fire waits only for this scheduler's own runs)";
  assertEquals(logs, [
    "scheduler: firing p (2026-05-01 13:00 Africa/Cairo)",
    "scheduler: p (2026-05-01 13:10 Africa/Cairo) queued: the previous run is still running",
    `scheduler: p (2026-05-01 13:10 Africa/Cairo) queued fire dropped: ${busy}`,
    `scheduler: p (2026-05-01 13:20 Africa/Cairo) skipped: ${busy}`,
    "scheduler: firing p (2026-05-01 13:30 Africa/Cairo)",
  ]);
});

Deno.test("pipelines sharing a job never run side by side: the later fire is skipped or queued", async () => {
  // full_pipeline and transformations both run the models (as in jobs.yaml).
  const full: ScheduleEntry = {
    pipeline: "full",
    pattern: "0 1 * * *",
    timezone: CAIRO,
    overlap: "skip",
    jobs: ["load", "models_run", "models_test"],
  };
  const tr: ScheduleEntry = {
    pipeline: "tr",
    pattern: "0 2,3 * * *",
    timezone: CAIRO,
    overlap: "skip",
    jobs: ["models_run", "models_test"],
  };
  const other: ScheduleEntry = { ...tr, pipeline: "other", jobs: ["cleanup"] };
  // full runs 01:00-02:30: tr's 02:00 fire is skipped, its 03:00 one runs; other never waits.
  const skip = await simulate(
    [full, tr, other],
    "2026-05-01T00:59:00+03:00",
    "2026-05-01T03:59:00+03:00",
    { runMsOf: { full: 90 * 60_000 }, runMs: 10 * 60_000 },
  );
  assertEquals(skip.fired.map((f) => [f.pipeline, f.wall.slice(11), f.outcome]), [
    ["full", "01:00", "started"],
    ["tr", "02:00", "skipped"],
    ["other", "02:00", "started"],
    ["tr", "03:00", "started"],
    ["other", "03:00", "started"],
  ]);
  assert(skip.logs.includes(
    "scheduler: tr (2026-05-01 02:00 Africa/Cairo) skipped: full is running, which shares jobs " +
      "with it (models_run, models_test)",
  ));
  // With overlap queue, tr's 02:00 fire starts when full ends at 02:30.
  const queue = await simulate(
    [full, { ...tr, overlap: "queue" }],
    "2026-05-01T00:59:00+03:00",
    "2026-05-01T02:59:00+03:00",
    { runMsOf: { full: 90 * 60_000 }, runMs: 10 * 60_000 },
  );
  assertEquals(queue.runs.map((r) => [r.pipeline, r.startedAt]), [
    ["full", "2026-04-30T22:00:00.000Z"],
    ["tr", "2026-04-30T23:30:00.000Z"],
  ]);
  assert(queue.logs.includes("scheduler: firing tr (2026-05-01 02:00 Africa/Cairo, queued)"));
  // A manual run of a shared job in another process is in the way too, and is named.
  const manual = await simulate(
    [tr],
    "2026-05-01T01:59:00+03:00",
    "2026-05-01T02:01:00+03:00",
    {
      elsewhere: (_now, _pipeline, jobs) =>
        jobs.includes("models_run")
          ? { id: "20260501-225500-beef", target: "models_run" }
          : undefined,
    },
  );
  assertEquals(manual.logs, [
    "scheduler: tr (2026-05-01 02:00 Africa/Cairo) skipped: run 20260501-225500-beef of " +
    "models_run, which shares jobs with it, is still running in another process",
  ]);
});

/**
 * The scheduler with fires that do what runScheduled does with the history: read every pipeline's
 * jobs (as `jobsAt` gives them at that moment, i.e. jobs.yaml then), then start the run in a real
 * History with refuseOverlap. Each run lasts `runMsOf[pipeline]`. `manual` is a run the scheduler
 * does not see (runningElsewhere is not asked), as one started by hand just after it looked.
 */
async function simulateWithHistory(
  entries: ScheduleEntry[],
  start: string,
  end: string,
  opts: {
    jobsAt: (now: number) => Record<string, string[]>;
    runMsOf: Record<string, number>;
    manual?: { id: string; target: string; jobs: string[] };
  },
) {
  const dir = Deno.makeTempDirSync({ prefix: "runner_sched_refused_" });
  const history = new History(`${dir}/runs.sqlite`);
  const clock = new ManualClock(new Date(start));
  const controller = new AbortController();
  const fired: [string, string, FireOutcome][] = [];
  const logs: string[] = [];
  const runs: [string, string, string[]][] = [];
  try {
    if (opts.manual) history.startRun({ ...opts.manual, trigger: "manual", at: clock.now() });
    const done = runScheduler(entries, {
      clock,
      signal: controller.signal,
      log: (l) => logs.push(l),
      onFire: (pipeline, at, outcome) =>
        fired.push([pipeline, new Date(at).toISOString().slice(11, 16), outcome]),
      fire: async (pipeline, _at, signal, jobsRead) => {
        const manifest = opts.jobsAt(clock.now());
        jobsRead(new Map(Object.entries(manifest)));
        const id = `${pipeline}-${new Date(clock.now()).toISOString().slice(11, 19)}`;
        const jobs = manifest[pipeline];
        history.startRun({
          id,
          target: pipeline,
          trigger: "schedule",
          jobs,
          at: clock.now(),
          refuseOverlap: true,
        });
        runs.push([pipeline, id.slice(-8), jobs]);
        await clock.sleepUntil(clock.now() + opts.runMsOf[pipeline], signal);
        history.endRun(id, "ok", clock.now());
      },
    });
    await clock.advanceTo(new Date(end));
    controller.abort();
    await done;
  } finally {
    history.close();
    Deno.removeSync(dir, { recursive: true });
  }
  return { fired, logs, runs };
}

Deno.test("a fire the history refuses, as jobs.yaml now gives it a job of a running run, takes the overlap policy; later fires see the new jobs", async () => {
  // pb (job y) runs 10:00-10:02:30; at 10:00:30 jobs.yaml gives pa job y too. Its 10:01 fire was
  // decided on the jobs read at 10:00 (x only): the history refuses the run, so it is skipped (or
  // queued), never a second run of y. The 10:01 read tells the scheduler, which skips 10:02 itself.
  const pa: ScheduleEntry = {
    pipeline: "pa",
    pattern: "* * * * *",
    timezone: "UTC",
    overlap: "skip",
    jobs: ["x"],
  };
  const pb: ScheduleEntry = {
    pipeline: "pb",
    pattern: "*/5 * * * *",
    timezone: "UTC",
    overlap: "skip",
    jobs: ["y"],
  };
  const opts = {
    jobsAt: (now: number) => ({
      pa: now < Date.parse("2026-05-01T10:00:30Z") ? ["x"] : ["x", "y"],
      pb: ["y"],
    }),
    runMsOf: { pa: 20_000, pb: 150_000 },
  };
  const refusal = `run pb-10:00:00 of pb is still running (runner pid ${Deno.pid}) and runs ` +
    "jobs of this one (y)";
  const skip = await simulateWithHistory(
    [pa, pb],
    "2026-05-01T09:59:30Z",
    "2026-05-01T10:04:30Z",
    opts,
  );
  assertEquals(skip.fired.filter((f) => f[0] === "pa"), [
    ["pa", "10:00", "started"],
    ["pa", "10:01", "started"],
    ["pa", "10:01", "skipped"],
    ["pa", "10:02", "skipped"],
    ["pa", "10:03", "started"],
    ["pa", "10:04", "started"],
  ]);
  assertEquals(skip.runs, [
    ["pa", "10:00:00", ["x"]],
    ["pb", "10:00:00", ["y"]],
    ["pa", "10:03:00", ["x", "y"]],
    ["pa", "10:04:00", ["x", "y"]],
  ]);
  assertEquals(skip.logs.filter((l) => l.includes("skipped")), [
    `scheduler: pa (2026-05-01 10:01 UTC) skipped: ${refusal}`,
    "scheduler: pa (2026-05-01 10:02 UTC) skipped: pb is running, which shares jobs with it (y)",
  ]);

  // overlap queue: the refused fire waits for pb's run and starts when it ends (10:02:30).
  const queue = await simulateWithHistory(
    [{ ...pa, overlap: "queue" }, pb],
    "2026-05-01T09:59:30Z",
    "2026-05-01T10:04:30Z",
    opts,
  );
  assertEquals(queue.fired.filter((f) => f[0] === "pa"), [
    ["pa", "10:00", "started"],
    ["pa", "10:01", "started"],
    ["pa", "10:01", "queued"],
    ["pa", "10:02", "skipped"],
    ["pa", "10:03", "started"],
    ["pa", "10:04", "started"],
  ]);
  assertEquals(queue.runs, [
    ["pa", "10:00:00", ["x"]],
    ["pb", "10:00:00", ["y"]],
    ["pa", "10:02:30", ["x", "y"]],
    ["pa", "10:03:00", ["x", "y"]],
    ["pa", "10:04:00", ["x", "y"]],
  ]);
  assertEquals(queue.logs.filter((l) => l.startsWith("scheduler: pa (2026-05-01 10:0")), [
    `scheduler: pa (2026-05-01 10:01 UTC) queued: ${refusal}`,
    "scheduler: pa (2026-05-01 10:02 UTC) skipped: pb is running, which shares jobs with it (y)",
  ]);
  assert(queue.logs.includes("scheduler: firing pa (2026-05-01 10:01 UTC, queued)"));

  // Behind a run the scheduler does not see (here a manual run of y), a queued fire is skipped:
  // no run of the scheduler's will say when that one ends; the next fire looks again.
  const manual = await simulateWithHistory(
    [{ ...pa, overlap: "queue" }],
    "2026-05-01T10:00:30Z",
    "2026-05-01T10:02:30Z",
    { ...opts, manual: { id: "20260501-100000-man1", target: "y", jobs: ["y"] } },
  );
  assertEquals(manual.fired, [
    ["pa", "10:01", "started"],
    ["pa", "10:01", "skipped"],
    ["pa", "10:02", "started"],
    ["pa", "10:02", "skipped"],
  ]);
  assertEquals(manual.runs, []);
  assertEquals(manual.logs.filter((l) => l.includes("skipped")), [
    "scheduler: pa (2026-05-01 10:01 UTC) skipped: run 20260501-100000-man1 of y is still " +
    `running (runner pid ${Deno.pid}) and runs jobs of this one (y) (a queued fire waits only ` +
    "for this scheduler's own runs)",
    "scheduler: pa (2026-05-01 10:02 UTC) skipped: run 20260501-100000-man1 of y is still " +
    `running (runner pid ${Deno.pid}) and runs jobs of this one (y) (a queued fire waits only ` +
    "for this scheduler's own runs)",
  ]);
});

Deno.test("runs elsewhere come from the history: a running run whose runner holds its lock counts; dead runners' runs are marked abandoned at each look", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "runner_sched_elsewhere_" });
  const logDir = `${dir}/logs`;
  const history = new History(`${logDir}/runs.sqlite`);
  let runner: Deno.ChildProcess | undefined;
  try {
    // Runs as `deno task run` records them: the row, the run's folder and its lock file.
    const record = (id: string, target: string, jobs: string[] = []) => {
      history.startRun({ id, target, trigger: "manual", jobs, at: Date.now() });
      Deno.mkdirSync(`${logDir}/runs/${id}`, { recursive: true });
      lockRun(logDir, id).close();
    };
    record("20260501-100500-aaaa", "p", ["j"]);
    record("20260501-100600-bbbb", "q"); // its runner was killed: nothing holds its lock
    // p's runner: another process holding p's lock while it runs.
    runner = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.openSync(${JSON.stringify(runLockPath(logDir, "20260501-100500-aaaa"))}, ` +
        `{ write: true }).lockSync(true); console.log("locked"); setInterval(() => {}, 1000);`,
      ],
      env: { ...denoCacheEnv(), DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
    }).spawn();
    const reader = runner.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assertEquals((await reader.read()).value, "locked\n");
    const lines: string[] = [];
    const print = (l: string) => lines.push(l);
    // The pid is the one recorded with the run (this test recorded it).
    assertEquals(runningElsewhere(history, "p", print), {
      id: "20260501-100500-aaaa",
      target: "p",
      pid: Deno.pid,
    });
    // A pipeline that shares a job with p (its run holds job "j") meets the same run.
    assertEquals(runningElsewhere(history, "other", print, ["x", "j"]), {
      id: "20260501-100500-aaaa",
      target: "p",
      pid: Deno.pid,
    });
    assertEquals(runningElsewhere(history, "other", print, ["x"]), undefined);
    assertEquals(lines, ["marked 1 run(s) of dead runners as abandoned: 20260501-100600-bbbb"]);
    assertEquals(runningElsewhere(history, "q", print), undefined);
    assertEquals(history.getRun("20260501-100600-bbbb")!.run.status, "abandoned");

    runner.kill("SIGKILL"); // p's runner dies without recording the run's end
    await runner.status;
    await reader.cancel(); // through the pipe, its source: the child's stdout
    assertEquals(runningElsewhere(history, "p", print), undefined);
    assertEquals(history.getRun("20260501-100500-aaaa")!.run.status, "abandoned");
    assertEquals(lines.slice(1), [
      "marked 1 run(s) of dead runners as abandoned: 20260501-100500-aaaa",
    ]);
  } finally {
    try {
      runner?.kill("SIGKILL");
      await runner?.status;
    } catch { /* already ended */ }
    history.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

/**
 * The scheduler wired to a real History as `deno task schedule` wires it (runningElsewhere,
 * firedEarlier and skipped from and to the history), from `start` to `end` in fake time. Each
 * fire records a run as runScheduled does (trigger schedule, its intended time; id
 * `<date>-<time>-f1re`, told to the scheduler) lasting `runMs`. `steps` run at their times (e.g.
 * a manual run starting or ending).
 */
async function recordedSession(
  history: History,
  entry: ScheduleEntry,
  start: string,
  end: string,
  opts: { runMs: number; steps?: [string, () => void][] },
) {
  const clock = new ManualClock(new Date(start));
  const controller = new AbortController();
  const fired: [string, string, FireOutcome][] = [];
  const logs: string[] = [];
  const done = runScheduler([entry], {
    clock,
    signal: controller.signal,
    log: (l) => logs.push(l),
    onFire: (_p, at, outcome) =>
      fired.push([wallClock(at, entry.timezone), new Date(at).toISOString(), outcome]),
    runningElsewhere: (pipeline, jobs) => runningElsewhere(history, pipeline, () => {}, jobs),
    firedEarlier: (pipeline, since) => history.scheduledFires(pipeline, since),
    skipped: (pipeline, at, why, decidedAt) =>
      void recordSkipped(history, pipeline, at, why, decidedAt),
    fire: async (pipeline, at, signal, _jobsRead, runId) => {
      const now = clock.now();
      const id = new Date(now).toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15) +
        "-f1re";
      runId(id);
      history.startRun({
        id,
        target: pipeline,
        trigger: "schedule",
        jobs: [],
        at: now,
        refuseOverlap: true,
        scheduledFor: at,
      });
      await clock.sleepUntil(now + opts.runMs, signal);
      history.endRun(id, signal.aborted ? "cancelled" : "ok", clock.now());
    },
  });
  for (const [at, step] of opts.steps ?? []) {
    await clock.advanceTo(new Date(at));
    step();
  }
  await clock.advanceTo(new Date(end));
  controller.abort();
  await done;
  return { fired, logs };
}

/** Steps for recordedSession: a manual run `id` of pipeline p (this process's) from `from` to `to`. */
const manualRunSteps = (
  history: History,
  id: string,
  from: string,
  to: string,
): [string, () => void][] => [
  [
    from,
    () => history.startRun({ id, target: "p", trigger: "manual", jobs: [], at: Date.parse(from) }),
  ],
  [to, () => history.endRun(id, "ok", Date.parse(to))],
];

/** `fn` with a History in a fresh temporary folder, closed and removed afterwards. */
async function withTempHistory(prefix: string, fn: (history: History) => Promise<void>) {
  const dir = Deno.makeTempDirSync({ prefix });
  const history = new History(`${dir}/runs.sqlite`);
  try {
    await fn(history);
  } finally {
    history.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Pipeline p on `pattern` in Cairo with the `overlap` policy. */
const everyP = (pattern: string, overlap: "skip" | "queue"): ScheduleEntry => ({
  pipeline: "p",
  pattern,
  timezone: CAIRO,
  overlap,
});

/** The skipped runs of the history, oldest first, without their (random) ids. */
const skippedRows = (history: History) =>
  history.listRuns(100).reverse().filter((r) => r.status === "skipped").map((r) => ({
    target: r.target,
    trigger: r.trigger,
    started_at: r.started_at,
    ended_at: r.ended_at,
    duration_ms: r.duration_ms,
    scheduled_for: r.scheduled_for,
    runner_pid: r.runner_pid,
    message: r.message,
  }));

Deno.test("a fire skipped for an overlap is recorded in the history as a skipped run, naming the run in its way", async () => {
  await withTempHistory("runner_sched_skip_rec_", async (history) => {
    const e = everyP("*/10 * * * *", "skip");
    const { fired, logs } = await recordedSession(
      history,
      e,
      "2026-05-01T09:59:00Z",
      "2026-05-01T10:25:00Z",
      { runMs: 23 * 60_000 },
    );
    assertEquals(fired.map((f) => f[2]), ["started", "skipped", "skipped"]);
    const why = `skipped: the previous run (run 20260501-100000-f1re, runner pid ${Deno.pid}) ` +
      "is still running";
    assertEquals(logs.filter((l) => l.includes("skipped")), [
      `scheduler: p (2026-05-01 13:10 Africa/Cairo) ${why}`,
      `scheduler: p (2026-05-01 13:20 Africa/Cairo) ${why}`,
    ]);
    const row = (t: string) => ({
      target: "p",
      trigger: "schedule",
      started_at: t,
      ended_at: t,
      duration_ms: 0,
      scheduled_for: t,
      runner_pid: Deno.pid,
      message: why,
    });
    assertEquals(skippedRows(history), [
      row("2026-05-01T10:10:00.000Z"),
      row("2026-05-01T10:20:00.000Z"),
    ]);
    // One of them in full: no jobs, no attempts; its id is one like any run's.
    const id = history.listRuns(100).find((r) => r.status === "skipped")!.id;
    match(id, /^20260501-102000-[0-9a-f]{4}$/);
    assertEquals(
      [history.getRun(id)!.jobs, history.getRun(id)!.attempts, history.runningRuns("p")],
      [[], [], []],
    );
    // They are fires made, for a restarted scheduler's DST guard.
    assertEquals(
      history.scheduledFires("p", 0).map((t) => new Date(t).toISOString().slice(11, 16)),
      ["10:00", "10:10", "10:20"],
    );
  });
});

Deno.test("a queued fire that is dropped (another process's run in its way, or the scheduler stopping) is recorded as a skipped run", async () => {
  await withTempHistory("runner_sched_drop_rec_", async (history) => {
    const e = everyP("*/10 * * * *", "queue");
    // p's own runs last 16 minutes; a manual run of p (this process's pid) runs 10:05-10:25 UTC.
    // 10:10 is queued and dropped at 10:16 (the manual run), 10:20 skipped, 10:30 runs, 10:40 is
    // queued behind it and dropped when the scheduler stops at 10:45.
    const manual = "20260501-100500-man1";
    const { fired } = await recordedSession(
      history,
      e,
      "2026-05-01T09:59:00Z",
      "2026-05-01T10:45:00Z",
      {
        runMs: 16 * 60_000,
        steps: manualRunSteps(history, manual, "2026-05-01T10:05:00Z", "2026-05-01T10:25:00Z"),
      },
    );
    assertEquals(fired.map((f) => [f[1].slice(11, 16), f[2]]), [
      ["10:00", "started"],
      ["10:10", "queued"],
      ["10:20", "skipped"],
      ["10:30", "started"],
      ["10:40", "queued"],
    ]);
    const busy = `run ${manual} of the pipeline is still running in another process (runner ` +
      `pid ${Deno.pid}) (a queued fire waits only for this scheduler's own runs)`;
    const row = (decided: string, fire: string, message: string) => ({
      target: "p",
      trigger: "schedule",
      started_at: `2026-05-01T${decided}:00.000Z`,
      ended_at: `2026-05-01T${decided}:00.000Z`,
      duration_ms: 0,
      scheduled_for: `2026-05-01T${fire}:00.000Z`,
      runner_pid: Deno.pid,
      message,
    });
    assertEquals(skippedRows(history), [
      row("10:16", "10:10", `queued fire dropped: ${busy}`),
      row("10:20", "10:20", `skipped: ${busy}`),
      row("10:45", "10:40", "queued fire dropped: stopping"),
    ]);
  });
});

Deno.test("a scheduler restarted inside the autumn repeat does not fire a time whose first occurrence the previous one skipped", async () => {
  // The first scheduler (EEST) fires 23:00; a manual run of p from 23:05 to 23:25 makes it skip
  // 23:20. A second one starts at 23:10 of the repeat (EET): the second 23:20 is not fired (it
  // was, once, as a skipped fire); 23:40 and 00:00 fire.
  await withTempHistory("runner_sched_restart_skip_", async (history) => {
    const e = everyP("*/20 * * * *", "skip");
    const manual = "20261029-200500-man1";
    const first = await recordedSession(
      history,
      e,
      "2026-10-29T22:50:00+03:00",
      "2026-10-29T23:30:00+03:00",
      {
        runMs: 60_000,
        steps: manualRunSteps(
          history,
          manual,
          "2026-10-29T23:05:00+03:00",
          "2026-10-29T23:25:00+03:00",
        ),
      },
    );
    assertEquals(first.fired, [
      ["2026-10-29 23:00", "2026-10-29T20:00:00.000Z", "started"],
      ["2026-10-29 23:20", "2026-10-29T20:20:00.000Z", "skipped"],
    ]);
    const second = await recordedSession(
      history,
      e,
      "2026-10-29T23:10:00+02:00",
      "2026-10-30T00:10:00+02:00",
      { runMs: 60_000 },
    );
    assertEquals(second.fired, [
      ["2026-10-29 23:20", "2026-10-29T21:20:00.000Z", "duplicate"],
      ["2026-10-29 23:40", "2026-10-29T21:40:00.000Z", "started"],
      ["2026-10-30 00:00", "2026-10-29T22:00:00.000Z", "started"],
    ]);
    assert(
      second.logs.includes(
        "scheduler: p 2026-10-29 23:20 Africa/Cairo already fired (DST repeat; by an earlier " +
          "scheduler, as the run history says)",
      ),
    );
    assertEquals(
      history.listRuns(10).reverse().map((r) => [r.trigger, r.status, r.scheduled_for]),
      [
        ["schedule", "ok", "2026-10-29T20:00:00.000Z"],
        ["manual", "ok", null],
        ["schedule", "skipped", "2026-10-29T20:20:00.000Z"],
        ["schedule", "ok", "2026-10-29T21:40:00.000Z"],
        ["schedule", "ok", "2026-10-29T22:00:00.000Z"],
      ],
    );
  });
});

Deno.test("after a forward clock jump the overdue fire runs once and the missed ones are counted, not replayed", async () => {
  const e: ScheduleEntry = {
    pipeline: "p",
    pattern: "*/10 * * * *",
    timezone: CAIRO,
    overlap: "skip",
  };
  // The machine sleeps from 10:05 to 11:03 (UTC): 10:10 is overdue, 10:20 to 11:00 were missed.
  const { fired, runs, logs } = await simulate(
    [e],
    "2026-05-01T09:59:00Z",
    "2026-05-01T11:25:00Z",
    {
      runMs: 2 * 60_000,
      jump: { at: "2026-05-01T10:05:00Z", to: "2026-05-01T11:03:00Z" },
    },
  );
  assertEquals(fired.map((f) => [f.at.slice(11, 16), f.outcome]), [
    ["10:00", "started"],
    ["10:10", "started"],
    ["11:10", "started"],
    ["11:20", "started"],
  ]);
  assertEquals(runs.map((r) => r.startedAt.slice(11, 16)), ["10:00", "11:03", "11:10", "11:20"]);
  assertEquals(logs, [
    "scheduler: firing p (2026-05-01 13:00 Africa/Cairo)",
    "scheduler: p missed 5 fire time(s) since 2026-05-01 13:20 Africa/Cairo (the clock jumped " +
    "forward, or the machine was suspended, until 2026-05-01 14:03 Africa/Cairo): not replayed",
    "scheduler: firing p (2026-05-01 13:10 Africa/Cairo)",
    "scheduler: firing p (2026-05-01 14:10 Africa/Cairo)",
    "scheduler: firing p (2026-05-01 14:20 Africa/Cairo)",
  ]);
});

Deno.test("a run that crashes is logged and the schedule goes on", async () => {
  const e: ScheduleEntry = {
    pipeline: "p",
    pattern: "0 * * * *",
    timezone: CAIRO,
    overlap: "skip",
  };
  const { runs, logs } = await simulate([e], "2026-05-01T09:30:00Z", "2026-05-01T12:30:00Z", {
    failFirst: true,
  });
  assertEquals(runs.map((r) => r.startedAt.slice(11, 16)), ["10:00", "11:00", "12:00"]);
  assert(logs.includes("scheduler: run of p failed to start or crashed: warehouse unreachable"));
});

Deno.test("a log line that cannot be written does not stop the schedule", async () => {
  // E.g. the scheduler's stdout on a full disk: the first "firing" line ended every schedule.
  const clock = new ManualClock(new Date("2026-05-01T09:30:00Z"));
  const controller = new AbortController();
  const runs: string[] = [];
  const done = runScheduler([{
    pipeline: "p",
    pattern: "0 * * * *",
    timezone: CAIRO,
    overlap: "skip",
  }], {
    clock,
    signal: controller.signal,
    log: () => {
      throw new Error("No space left on device (os error 28)");
    },
    fire: (_pipeline, at) => {
      runs.push(new Date(at).toISOString().slice(11, 16));
      return Promise.reject(new Error("and the run crashed too"));
    },
  });
  await clock.advanceTo(new Date("2026-05-01T12:30:00Z"));
  controller.abort();
  await done;
  assertEquals(runs, ["10:00", "11:00", "12:00"]);
});

Deno.test("stopping the scheduler waits for the running run and fires nothing more", async () => {
  const clock = new ManualClock(new Date("2026-05-01T09:59:00Z"));
  const controller = new AbortController();
  const events: string[] = [];
  const done = runScheduler(
    [{ pipeline: "p", pattern: "0 * * * *", timezone: CAIRO, overlap: "skip" }],
    {
      clock,
      signal: controller.signal,
      log: () => {},
      fire: async (_p, _at, signal) => {
        events.push("run started");
        await new Promise<void>((r) => signal.addEventListener("abort", () => r()));
        await new Promise((r) => setTimeout(r, 50)); // the run's jobs stopping
        events.push("run ended");
      },
    },
  ).then(() => events.push("scheduler resolved"));
  await clock.advanceTo(new Date("2026-05-01T10:30:00Z"));
  controller.abort();
  await done;
  await clock.advanceTo(new Date("2026-05-01T13:30:00Z"));
  assertEquals(events, ["run started", "run ended", "scheduler resolved"]);
});

/** `deno task schedule [args]` as a process, with the given log directory. */
function scheduleCommand(logDir: string, args: string[] = []): Deno.Command {
  const env = { ...denoCacheEnv(), DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", EGX_LOG_DIR: logDir };
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/runner/cli_schedule.ts", ...args],
    cwd: REPO,
    clearEnv: true,
    env,
    stdout: "piped",
    stderr: "piped",
  });
}

/** A started scheduler, once it has scheduled both of jobs.yaml's pipelines; `stop` SIGTERMs it. */
async function startScheduler(logDir: string) {
  const child = scheduleCommand(logDir).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while ((out.match(/scheduling /g) ?? []).length < 2) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const stop = async () => {
    child.kill("SIGTERM");
    const status = await child.status;
    for (let r = await reader.read(); !r.done; r = await reader.read()) out += r.value;
    await new Response(child.stderr).text();
    return { code: status.code, out };
  };
  return { child, out, stop };
}

Deno.test("deno task schedule --dry-run prints the next fire times, and SIGTERM stops it cleanly", async () => {
  const logDir = Deno.makeTempDirSync({ prefix: "runner_sched_" });
  const dry = await scheduleCommand(logDir, ["--dry-run", "--count", "2"]).output();
  const lines = new TextDecoder().decode(dry.stdout).trimEnd().split("\n");
  assertEquals(dry.code, 0);
  assertEquals(lines[0], 'full_pipeline: "0 1 * * *" in Africa/Cairo, overlap skip');
  match(lines[1], /^ {2}\d{4}-\d\d-\d\d 01:00 Africa\/Cairo {2}\(\d{4}-.*Z\)$/);
  assertEquals(lines[3], 'transformations: "0 2,14 * * *" in Africa/Cairo, overlap skip');
  match(lines[4], /^ {2}\d{4}-\d\d-\d\d (02|14):00 Africa\/Cairo/);
  assertEquals(lines.length, 6);

  const { code, out } = await (await startScheduler(logDir)).stop();
  assertEquals(code, 0, out);
  match(out, /scheduling full_pipeline "0 1 \* \* \*" Africa\/Cairo, next \d{4}-\d\d-\d\d 01:00/);
  match(out, /SIGTERM: stopping/);
  match(out, /scheduler stopped\n$/);
  Deno.removeSync(logDir, { recursive: true });
});

Deno.test("a second scheduler on the same log directory refuses to start and names the first one's pid", async () => {
  const logDir = Deno.makeTempDirSync({ prefix: "runner_sched_lock_" });
  const children: Deno.ChildProcess[] = [];
  const start = async () => {
    const s = await startScheduler(logDir);
    children.push(s.child);
    return s;
  };
  try {
    const first = await start();
    assertEquals((first.out.match(/scheduling /g) ?? []).length, 2, first.out);
    const child2 = scheduleCommand(logDir).spawn();
    children.push(child2);
    const timer = setTimeout(() => child2.kill("SIGKILL"), 20_000); // a second one that started
    const second = await child2.output();
    clearTimeout(timer);
    const err = new TextDecoder().decode(second.stderr);
    assertEquals(second.code, 2, err);
    assertEquals(new TextDecoder().decode(second.stdout), "");
    assertEquals(
      err,
      `schedule: another scheduler is running on this log directory (pid ${first.child.pid}, lock ` +
        `${logDir}/scheduler.lock): not starting a second one (it would run every pipeline twice)\n`,
    );
    assertEquals((await first.stop()).code, 0);
    // The lock goes with its holder: the next scheduler starts.
    const third = await start();
    assertEquals((third.out.match(/scheduling /g) ?? []).length, 2, third.out);
    assertEquals(Deno.readTextFileSync(`${logDir}/scheduler.lock`), `${third.child.pid}\n`);
    assertEquals((await third.stop()).code, 0);
  } finally {
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch { /* already exited */ }
      await c.status;
    }
    Deno.removeSync(logDir, { recursive: true });
  }
});

/** A webhook on an ephemeral port that keeps every JSON body POSTed to it. */
function webhookReceiver() {
  const posts: Record<string, unknown>[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    posts.push(await req.json());
    return new Response("ok");
  });
  return { posts, server };
}

Deno.test("a fire that finds jobs.yaml invalid, without its pipeline, or with settings its jobs refuse is a failed run, recorded and alerted", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "runner_sched_invalid_" });
  const { posts, server } = webhookReceiver();
  const history = new History(`${dir}/logs/runs.sqlite`);
  try {
    const manifest = `${dir}/jobs.yaml`;
    Deno.writeTextFileSync(
      manifest,
      'pipelines:\n  p:\n    schedule: "0 1 * * *"\n    jobs: [j]\n    bogus: 1\n' +
        "jobs:\n  j:\n    script: missing.ts\n",
    );
    const lines: string[] = [];
    const opts = {
      history,
      logDir: `${dir}/logs`,
      env: {},
      signal: new AbortController().signal,
      alerts: { webhookUrl: `http://127.0.0.1:${server.addr.port}/hook`, emailFrom: "egx@test" },
      print: (l: string) => lines.push(l),
    };
    const r = await runScheduled(manifest, "p", opts);
    const why = `not started: ${manifest} is invalid now (2 problem(s), first: ${manifest}:5:5 ` +
      'unknown key "bogus" in pipeline p (known: description, jobs, schedule, timezone, overlap, ' +
      "concurrency))";
    assertEquals([r.status, r.jobs, r.alerts.map((a) => a.ok)], ["failed", [], [true]]);
    assertEquals(lines, [
      `${manifest}:5:5 unknown key "bogus" in pipeline p (known: description, jobs, schedule, ` +
      "timezone, overlap, concurrency)",
      `${manifest}:8:13 job j: script "missing.ts" does not exist (looked for ${dir}/missing.ts)`,
      `run ${r.runId} p: failed, ${why}`,
      "alert webhook: sent (webhook answered HTTP 200)",
    ]);
    const { run } = history.getRun(r.runId)!;
    assertEquals([run.target, run.trigger, run.status], ["p", "schedule", "failed"]);
    assertEquals(run.message, `${why}; alert webhook sent: webhook answered HTTP 200`);
    assertEquals(posts.length, 1);
    assertEquals([posts[0].run_id, posts[0].target, posts[0].status], [r.runId, "p", "failed"]);
    assertEquals(
      posts[0].text,
      `egx-pipeline: run ${r.runId} of p on ${history.host} failed after ${
        formatDuration(r.durationMs)
      }; ${why}`,
    );

    // A valid edit that removed the pipeline.
    Deno.writeTextFileSync(`${dir}/j.ts`, "");
    Deno.writeTextFileSync(
      manifest,
      "pipelines:\n  q:\n    jobs: [j]\njobs:\n  j:\n    script: j.ts\n",
    );
    const r2 = await runScheduled(manifest, "p", { ...opts, alerts: undefined });
    assertEquals([r2.status, r2.alerts], ["failed", []]);
    assertEquals(
      history.getRun(r2.runId)!.run.message,
      `not started: ${manifest} has no pipeline "p" now (pipelines: q)`,
    );

    // ... and one that also added a job with the pipeline's id: a fire runs only a pipeline.
    Deno.writeTextFileSync(
      manifest,
      "pipelines:\n  q:\n    jobs: [j]\njobs:\n  j:\n    script: j.ts\n  p:\n    script: j.ts\n",
    );
    const r3 = await runScheduled(manifest, "p", { ...opts, alerts: undefined });
    assertEquals([r3.status, r3.jobs], ["failed", []]);
    const third = history.getRun(r3.runId)!;
    assertEquals([third.run.message, third.jobs, third.attempts], [
      `not started: ${manifest} has no pipeline "p" now (pipelines: q)`,
      [],
      [],
    ]);

    // ... and one whose jobs would refuse their settings: nothing starts either.
    Deno.writeTextFileSync(
      manifest,
      "pipelines:\n  p:\n    jobs: [j, k]\njobs:\n  j:\n    script: j.ts\n" +
        "    env: {EGX_STREAM_SOURCE: carrier-pigeon}\n" +
        "  k:\n    script: j.ts\n    permissions: {env: [EGX_RETENTION_DAYS]}\n",
    );
    const r4 = await runScheduled(manifest, "p", {
      ...opts,
      env: { EGX_RETENTION_DAYS: "abc" },
      alerts: undefined,
    });
    const fourth = history.getRun(r4.runId)!;
    assertEquals([r4.status, fourth.run.message, fourth.jobs, fourth.attempts], [
      "failed",
      "not started: settings that jobs of the run would refuse: EGX_STREAM_SOURCE must be " +
      "replay or tradingview, got carrier-pigeon (job j); EGX_RETENTION_DAYS must be an integer " +
      'between 1 and 36500, got "abc" (job k)',
      [],
      [],
    ]);
  } finally {
    history.close();
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a fire that finds its pipeline's schedule changed says the scheduler keeps the one it read", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "runner_sched_changed_" });
  const history = new History(`${dir}/logs/runs.sqlite`);
  try {
    const manifest = `${dir}/jobs.yaml`;
    Deno.writeTextFileSync(`${dir}/j.ts`, "");
    Deno.writeTextFileSync(
      manifest,
      'pipelines:\n  p:\n    schedule: "0 3 * * *"\n    timezone: UTC\n    jobs: [j]\n' +
        "jobs:\n  j:\n    script: j.ts\n",
    );
    const env = denoCacheEnv();
    const fire = async (entry: ScheduleEntry) => {
      const lines: string[] = [];
      const r = await runScheduled(manifest, "p", {
        history,
        logDir: `${dir}/logs`,
        env,
        signal: new AbortController().signal,
        entry,
        print: (l: string) => lines.push(l),
      });
      return { status: r.status, notes: lines.filter((l) => l.startsWith("note: ")) };
    };
    const read = { pipeline: "p", pattern: "0 1 * * *", timezone: "Africa/Cairo", overlap: "skip" };
    assertEquals(await fire(read as ScheduleEntry), {
      status: "ok",
      notes: [
        `note: ${manifest} now gives p "0 3 * * *" in UTC, overlap skip; this scheduler keeps ` +
        '"0 1 * * *" in Africa/Cairo, overlap skip until it is restarted',
      ],
    });
    const same = { ...read, pattern: "0 3 * * *", timezone: "UTC" };
    assertEquals(await fire(same as ScheduleEntry), { status: "ok", notes: [] });
  } finally {
    history.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a fire beside a live run sharing its jobs starts nothing, records nothing and rejects with the RunOverlapError; it tells the jobs it read", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "runner_sched_overlap_" });
  const history = new History(`${dir}/logs/runs.sqlite`);
  try {
    const manifest = `${dir}/jobs.yaml`;
    Deno.writeTextFileSync(`${dir}/j.ts`, "");
    Deno.writeTextFileSync(
      manifest,
      "pipelines:\n  pa:\n    jobs: [x, y]\n  pb:\n    jobs: [y]\n" +
        "jobs:\n  x:\n    script: j.ts\n  y:\n    script: j.ts\n",
    );
    // pb's run, live in this process (a scheduled run beside which pa fires).
    history.startRun({
      id: "20260501-100000-bbbb",
      target: "pb",
      trigger: "schedule",
      jobs: ["y"],
      at: Date.now(),
    });
    const lines: string[] = [];
    let read: [string, readonly string[]][] = [];
    const outcome = await runScheduled(manifest, "pa", {
      history,
      logDir: `${dir}/logs`,
      env: {},
      signal: new AbortController().signal,
      print: (l) => lines.push(l),
      jobsRead: (jobs) => read = [...jobs],
    }).then(() => "resolved", (e: Error) => `${e.name}: ${e.message}`);
    assertEquals(
      outcome,
      `RunOverlapError: run 20260501-100000-bbbb of pb is still running (runner pid ${Deno.pid}) ` +
        "and runs jobs of this one (y)",
    );
    assertEquals(read, [["pa", ["x", "y"]], ["pb", ["y"]]]);
    assertEquals(lines, []);
    assertEquals(history.listRuns().map((r) => [r.id, r.status]), [[
      "20260501-100000-bbbb",
      "running",
    ]]);
    assertEquals([...Deno.readDirSync(`${dir}/logs/runs`)], []);
  } finally {
    history.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("output that cannot be written costs a failed run neither its records nor its alert", async () => {
  // E.g. stdout redirected to a file on a full disk: the first line that cannot be printed made
  // the run skip its summary and its failure alert, when the alert was the one word to get out.
  const dir = Deno.makeTempDirSync({ prefix: "runner_sched_noprint_" });
  const { posts, server } = webhookReceiver();
  const history = new History(`${dir}/logs/runs.sqlite`);
  try {
    const manifest = `${dir}/jobs.yaml`;
    Deno.writeTextFileSync(`${dir}/fail.ts`, "Deno.exit(3);\n");
    Deno.writeTextFileSync(
      manifest,
      "pipelines:\n  p:\n    jobs: [j]\njobs:\n  j:\n    script: fail.ts\n",
    );
    let printed = 0;
    const opts = {
      history,
      logDir: `${dir}/logs`,
      env: denoCacheEnv(),
      signal: new AbortController().signal,
      alerts: { webhookUrl: `http://127.0.0.1:${server.addr.port}/hook`, emailFrom: "egx@test" },
      print: () => {
        if (++printed > 1) throw new Error("No space left on device (os error 28)");
      },
    };
    const outcome = (p: Promise<unknown>) => p.then(() => "resolved", (e: Error) => e.message);
    assertEquals(
      await outcome(runScheduled(manifest, "p", opts)),
      "No space left on device (os error 28)",
    );
    // ... and a fire that cannot start (the manifest became invalid).
    Deno.writeTextFileSync(manifest, "pipelines:\n  p:\n    jobs: [j]\njobs: {j: {}}\n");
    printed = 0;
    assertEquals(
      await outcome(runScheduled(manifest, "p", opts)),
      "No space left on device (os error 28)",
    );
    const runs = history.listRuns().reverse();
    assertEquals(
      runs.map((r) => [r.status, r.message?.replace(/^not started: .*; alert/, "… alert")]),
      [
        ["failed", "1 failed; alert webhook sent: webhook answered HTTP 200"],
        ["failed", "… alert webhook sent: webhook answered HTTP 200"],
      ],
    );
    assertEquals(posts.map((p) => [p.run_id, p.status]), runs.map((r) => [r.id, "failed"]));
  } finally {
    history.close();
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a fire that cannot start for another reason is a failed run too; when even that cannot be recorded, it says so", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "runner_sched_nostart_" });
  const { posts, server } = webhookReceiver();
  const history = new History(`${dir}/logs/runs.sqlite`);
  try {
    const manifest = `${dir}/jobs.yaml`;
    Deno.writeTextFileSync(`${dir}/j.ts`, "");
    Deno.writeTextFileSync(
      manifest,
      "pipelines:\n  p:\n    jobs: [j]\njobs:\n  j:\n    script: j.ts\n",
    );
    Deno.writeTextFileSync(`${dir}/logs/runs`, ""); // a file where the runs' log folders go
    const lines: string[] = [];
    const opts = {
      history,
      logDir: `${dir}/logs`,
      env: {},
      signal: new AbortController().signal,
      alerts: { webhookUrl: `http://127.0.0.1:${server.addr.port}/hook`, emailFrom: "egx@test" },
      print: (l: string) => lines.push(l),
    };
    const r = await runScheduled(manifest, "p", opts);
    const why = `not started: NotADirectory: Not a directory (os error 20): mkdir ` +
      `'${dir}/logs/runs/${r.runId}'`;
    assertEquals([r.status, r.jobs, r.alerts.map((a) => a.ok)], ["failed", [], [true]]);
    assertEquals(lines, [
      `run ${r.runId} p: failed, ${why}`,
      "alert webhook: sent (webhook answered HTTP 200)",
    ]);
    const { run, jobs } = history.getRun(r.runId)!;
    assertEquals([run.target, run.trigger, run.status, jobs], ["p", "schedule", "failed", []]);
    assertEquals(run.message, `${why}; alert webhook sent: webhook answered HTTP 200`);
    assertEquals(posts.map((p) => [p.run_id, p.status]), [[r.runId, "failed"]]);
    assertEquals(history.listRuns().length, 1);

    // A run that started and then failed (here its status printer) is not recorded a second time.
    const crashed = await runScheduled(manifest, "p", {
      ...opts,
      logDir: `${dir}/logs2`,
      alerts: undefined,
      env: denoCacheEnv(),
      print: () => {
        throw new Error("printer on fire");
      },
    }).then(() => "resolved", (e: Error) => e.message);
    assertEquals(crashed, "printer on fire");
    assertEquals(history.listRuns().map((x) => [x.target, x.status]), [["p", "ok"], [
      "p",
      "failed",
    ]]);

    // The history itself cannot be written: the fire rejects with both reasons (the scheduler
    // logs that and goes on, see "a run that crashes is logged").
    history.close();
    const failed = await runScheduled(manifest, "p", { ...opts, alerts: undefined }).then(
      () => "resolved",
      (e: Error) => e.message,
    );
    const notStarted =
      /^p not started \(NotADirectory: Not a directory \(os error 20\): mkdir '(.*)\/logs\/runs\/\d{8}-\d{6}-[0-9a-f]{4}'\), and recording that in the history failed too: Error: database is not open$/
        .exec(failed);
    assertEquals(notStarted?.[1], dir, failed);
  } finally {
    try {
      history.close();
    } catch { /* closed above */ }
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
});

/**
 * Pipeline health for /api/v1/pipeline/health and the pipeline page: the runner's recent runs
 * and the last run of each job (from its history file, via lib/runner/history.ts), data
 * freshness per dataset (from the warehouse), the stream consumer's position and lag, and its
 * dead letters (the dead-letter topic's records from Kafka, the consumer's counters from its
 * status file).
 */
import { redact } from "../config/config.ts";
import { History, historyPath, type JobRow, type RunRow } from "../runner/history.ts";
import {
  addDays,
  cairoDate,
  cairoWallToInstant,
  isInSession,
  minutesSinceOpen,
  sessionOn,
  tradingDayOnOrBefore,
} from "../market/calendar.ts";
import { readStatus, type StatusDoc } from "../stream/status.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import type { HealthSources } from "./endpoint.ts";
import { API_SQL as SQL } from "./sql.ts";

export interface RunSummary {
  id: string;
  target: string;
  trigger: string;
  status: string;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  message: string | null;
}

export interface JobSummary {
  job: string;
  status: string;
  runId: string;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  attempts: number;
  message: string | null;
}

export interface Freshness {
  dataset: string;
  /** A Cairo trade date (YYYY-MM-DD) or a UTC instant (ISO), or null when there is none. */
  latest: string | null;
  /**
   * Hours from `latest` to the as-of instant for market data, to the real clock for the last
   * load (a wall-clock event); never negative (null when unknown).
   */
  ageHours: number | null;
  stale: boolean;
  /** What "fresh" means for this dataset. */
  expectation: string;
}

export interface StreamPartition {
  group: string;
  topic: string;
  partition: number;
  /** The next offset the consumer will write (everything before it is in the warehouse). */
  nextOffset: number;
  updatedAt: string;
  /** Messages on the topic not yet in the warehouse, when the broker was asked; else null. */
  lag: number | null;
}

/** The stream consumer's dead letters as its status file tells them. */
export interface DeadLetterCounts {
  /** When the consumer started: its counters count from there. */
  startedAt: string;
  /** When it last rewrote its status file (every 10 s while it runs). */
  updatedAt: string;
  /** Seconds from updatedAt to the server's clock (never negative). */
  ageSeconds: number;
  /** Dead letters by reason; `deadLettered` is all of them (the three others' sum). */
  counters: { deadLettered: number; invalid: number; unknownTicker: number; keyMismatch: number };
  /** The last record it dead-lettered: when, why, and its partition and offset in the quotes topic. */
  last: { at: string; reason: string; partition: number; offset: number } | null;
}

export interface DeadLetters {
  topic: string;
  /** Records in the dead-letter topic now (all partitions), or null when Kafka could not be asked. */
  count: number | null;
  /** Why `count` is null. */
  note: string | null;
  consumer: DeadLetterCounts | null;
  /** Why `consumer` is null. */
  consumerNote: string | null;
}

export interface PipelineHealth {
  asOf: string;
  freshness: Freshness[];
  stream: { partitions: StreamPartition[]; note: string | null };
  deadLetters: DeadLetters;
  jobs: JobSummary[];
  runs: RunSummary[];
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Rows written before a secret was set or known are masked on the way out too. */
const masked = (m: string | null) => m === null ? null : redact(m);

/** Runs (newest first) and the latest record of each job, from the runner's history. */
export function runnerHistory(
  logDir: string,
  opts: { runs?: number } = {},
): { runs: RunSummary[]; jobs: JobSummary[] } {
  const path = historyPath(logDir);
  if (!exists(path)) return { runs: [], jobs: [] };
  const h = new History(path);
  try {
    const runs: RunRow[] = h.listRuns(opts.runs ?? 20);
    // From the whole history, not only the runs listed: twenty runs of `cleanup` must not hide
    // the pipeline's jobs.
    const jobs = h.latestJobs().map((j: JobRow): JobSummary => ({
      job: j.job,
      status: j.status,
      runId: j.run_id,
      startedAt: j.started_at,
      endedAt: j.ended_at,
      durationMs: j.duration_ms,
      attempts: j.attempts,
      message: masked(j.message),
    }));
    return {
      runs: runs.map((r) => ({
        id: r.id,
        target: r.target,
        trigger: r.trigger,
        status: r.status,
        startedAt: r.started_at,
        endedAt: r.ended_at,
        durationMs: r.duration_ms,
        message: masked(r.message),
      })),
      jobs: jobs.sort((a, b) => a.job.localeCompare(b.job)),
    };
  } finally {
    h.close();
  }
}

/**
 * Hours from `from` (a trade date, taken at its session's close in Cairo: 14:30, 13:30 in
 * Ramadan, at UTC+2 or +3 by the season; or an instant) to `to`, to 0.1 h. Data newer than `to`
 * (market data past a pinned as-of, a clock behind another machine's) is 0 h old, not a negative
 * age.
 */
const hours = (from: string, to: Date) => {
  const at = from.length === 10
    ? cairoWallToInstant(from, sessionOn(from)?.close ?? REGULAR_CLOSE).getTime()
    : Date.parse(from);
  return Math.max(0, Math.round(((to.getTime() - at) / 3_600_000) * 10) / 10);
};

/** EGX_STREAM_MAX_STALENESS_MINUTES's default (lib/config/config.ts), when none is given. */
const DEFAULT_STREAM_STALENESS_MINUTES = 15;

/** The regular session's close, for a date the calendar has no session on. */
const REGULAR_CLOSE = "14:30";

interface FreshnessRow {
  [k: string]: string | null;
  DAILY_LATEST: string | null;
  BARS_LATEST: string | null;
  STREAM_LATEST: string | null;
  LOAD_LATEST: string | null;
}

/**
 * Freshness of each dataset against the market calendar at `asOf`: daily data is fresh when it
 * reaches the last trading day before asOf's Cairo date; streamed bars are fresh when, during a
 * session, the newest is at most `maxStalenessMinutes` old (EGX_STREAM_MAX_STALENESS_MINUTES,
 * default 15, the limit health_check applies too, so the two agree). The last load
 * happened on the wall clock, so it is aged against `opts.now` (default: the real clock), not
 * against an as-of pinned to the sample's end.
 */
export async function freshness(
  wh: Warehouse,
  asOf: Date,
  opts: { now?: Date; maxStalenessMinutes?: number; openGraceMinutes?: number } = {},
): Promise<Freshness[]> {
  const now = opts.now ?? new Date();
  const limit = opts.maxStalenessMinutes ?? DEFAULT_STREAM_STALENESS_MINUTES;
  // The session's first minutes, before its first polls land (streamOpenGraceMinutes).
  const grace = opts.openGraceMinutes ?? limit;
  const [ops] = await wh.query<FreshnessRow>(SQL.get("freshness_operational"), [], {
    label: "serve: freshness",
  });
  const relations = new Set(
    (await wh.query<{ NAME: string }>(SQL.get("gold_relations"), [], { label: "serve: relations" }))
      .map((r) => r.NAME.toLowerCase()),
  );
  const gold = relations.has("gold_fct_stock_daily_prices")
    ? (await wh.query<{ LATEST: string | null }>(SQL.get("freshness_gold"), []))[0].LATEST
    : null;
  const expected = tradingDayOnOrBefore(addDays(cairoDate(asOf), -1));
  const daily = (dataset: string, latest: string | null): Freshness => ({
    dataset,
    latest,
    ageHours: latest ? hours(latest, asOf) : null,
    stale: latest === null || latest < expected,
    expectation: `trade date ${expected} (the last trading day before today) or later`,
  });
  const streamAge = ops.STREAM_LATEST ? hours(ops.STREAM_LATEST, asOf) : null;
  // Judged on the exact age: ageHours is rounded to 6 minutes.
  const streamMs = ops.STREAM_LATEST ? asOf.getTime() - Date.parse(ops.STREAM_LATEST) : null;
  return [
    daily("daily prices (operational)", ops.DAILY_LATEST),
    daily("daily prices (gold)", gold),
    {
      dataset: "intraday bars",
      latest: ops.BARS_LATEST,
      ageHours: ops.BARS_LATEST ? hours(ops.BARS_LATEST, asOf) : null,
      stale: ops.BARS_LATEST === null,
      expectation: "present",
    },
    {
      dataset: "streamed quotes",
      latest: ops.STREAM_LATEST,
      ageHours: streamAge,
      stale: isInSession(asOf) &&
        (streamMs === null || (streamMs > limit * 60_000 && minutesSinceOpen(asOf) > grace)),
      expectation: `during a session: at most ${limit} minutes old`,
    },
    {
      dataset: "last landing file loaded",
      latest: ops.LOAD_LATEST,
      ageHours: ops.LOAD_LATEST ? hours(ops.LOAD_LATEST, now) : null,
      stale: ops.LOAD_LATEST === null,
      expectation: "at least one file loaded",
    },
  ];
}

interface OffsetRow {
  [k: string]: string | number | null;
  CONSUMER_GROUP: string;
  TOPIC: string;
  PARTITION_ID: number;
  NEXT_OFFSET: number;
  UPDATED_AT: string;
}

/**
 * The consumer's positions as written to the warehouse (with the rows, so exactly what the
 * warehouse holds), and the lag behind the topic's log end when `sources.logEnds` can ask the
 * broker.
 */
export async function streamPosition(
  wh: Warehouse,
  sources: HealthSources,
): Promise<PipelineHealth["stream"]> {
  const rows = await wh.query<OffsetRow>(SQL.get("stream_offsets"), [], {
    label: "serve: stream offsets",
  });
  if (rows.length === 0) {
    return { partitions: [], note: "the stream consumer has not written anything yet" };
  }
  const ends = new Map<string, Map<number, number>>();
  let note: string | null = null;
  if (!sources.logEnds) {
    note = "no Kafka broker configured (KAFKA_BROKERS): lag unknown";
  } else {
    for (const topic of new Set(rows.map((r) => r.TOPIC))) {
      try {
        ends.set(topic, await sources.logEnds(topic));
      } catch (e) {
        note = `Kafka not reachable for the lag: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
  }
  return {
    partitions: rows.map((r) => {
      const end = ends.get(r.TOPIC)?.get(Number(r.PARTITION_ID));
      return {
        group: r.CONSUMER_GROUP,
        topic: r.TOPIC,
        partition: Number(r.PARTITION_ID),
        nextOffset: Number(r.NEXT_OFFSET),
        updatedAt: r.UPDATED_AT,
        lag: end === undefined ? null : Math.max(0, end - Number(r.NEXT_OFFSET)),
      };
    }),
    note,
  };
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** The dead-letter part of the consumer's status document, or why there is none. */
function consumerDeadLetters(doc: StatusDoc, now: Date): DeadLetterCounts | string {
  const c = doc.counters as Record<string, unknown> | undefined;
  const { deadLettered, unknownTicker, keyMismatch } = c ?? {};
  if (
    !isCount(deadLettered) || !isCount(unknownTicker) || !isCount(keyMismatch) ||
    typeof doc.startedAt !== "string" || Number.isNaN(Date.parse(doc.updatedAt))
  ) return "has no dead-letter counters";
  const last = doc.lastDeadLetter as Record<string, unknown> | undefined;
  return {
    startedAt: doc.startedAt,
    updatedAt: doc.updatedAt,
    ageSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(doc.updatedAt)) / 1000)),
    counters: {
      deadLettered,
      invalid: Math.max(0, deadLettered - unknownTicker - keyMismatch),
      unknownTicker,
      keyMismatch,
    },
    last: typeof last?.reason === "string" && typeof last.at === "string" &&
        isCount(last.partition) && isCount(last.offset)
      ? { at: last.at, reason: redact(last.reason), partition: last.partition, offset: last.offset }
      : null,
  };
}

/**
 * The dead letters: the records `topic` holds now (from Kafka, when `sources.recordCounts` can
 * ask it) and the consumer's counters and last dead letter (from its status file in
 * `statusDir`, when this process can read it), each with the reason when unknown.
 */
export async function deadLetters(
  sources: HealthSources,
  opts: { topic: string; statusDir: string; now: Date },
): Promise<DeadLetters> {
  const out: DeadLetters = {
    topic: opts.topic,
    count: null,
    note: null,
    consumer: null,
    consumerNote: null,
  };
  const why = (e: unknown) => e instanceof Error ? e.message : String(e);
  if (!sources.recordCounts) {
    out.note = "no Kafka broker configured (KAFKA_BROKERS)";
  } else {
    try {
      out.count = [...(await sources.recordCounts(opts.topic)).values()].reduce((a, b) => a + b, 0);
    } catch (e) {
      out.note = `the dead-letter topic could not be read: ${why(e)}`;
    }
  }
  const file = `consumer.json in ${opts.statusDir} (EGX_STREAM_STATUS_DIR)`;
  try {
    const doc = await readStatus(opts.statusDir, "consumer");
    if (doc === undefined) {
      out.consumerNote = `no status file ${file}: the consumer has not run where this server ` +
        "can see it";
    } else {
      const found = consumerDeadLetters(doc, opts.now);
      if (typeof found === "string") out.consumerNote = `the status file ${file} ${found}`;
      else out.consumer = found;
    }
  } catch (e) {
    out.consumerNote = `the status file ${file} could not be read: ${why(e)}`;
  }
  return out;
}

/** Everything the pipeline page shows (`now`: the real clock unless given). */
export async function pipelineHealth(
  wh: Warehouse,
  opts: {
    logDir: string;
    asOf: Date;
    now?: Date;
    /** Streamed quotes' staleness limit in a session (config.stream.maxStalenessMinutes). */
    maxStalenessMinutes?: number;
    /** How long into a session an older stream is not stale yet (streamOpenGraceMinutes). */
    openGraceMinutes?: number;
    sources: HealthSources;
    /** The dead-letter topic and the stream's status folder. */
    deadLetters: { topic: string; statusDir: string };
  },
): Promise<PipelineHealth> {
  const now = opts.now ?? new Date();
  const history = runnerHistory(opts.logDir);
  const fresh = await freshness(wh, opts.asOf, {
    now,
    maxStalenessMinutes: opts.maxStalenessMinutes,
    openGraceMinutes: opts.openGraceMinutes,
  });
  // Two Kafka calls: at the same time, so an unreachable broker is waited for once.
  const [stream, dead] = await Promise.all([
    streamPosition(wh, opts.sources),
    deadLetters(opts.sources, { ...opts.deadLetters, now }),
  ]);
  return {
    asOf: opts.asOf.toISOString(),
    freshness: fresh,
    stream,
    deadLetters: dead,
    ...history,
  };
}

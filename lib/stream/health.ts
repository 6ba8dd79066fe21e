/**
 * Streaming health: liveness of the producer and consumer (their status files), consumer lag
 * per partition (Kafka), the last message time, and data freshness (the newest streamed rows in
 * the warehouse). Problems make the check fail only during trading hours (EGX session at
 * `config.asOf`, Africa/Cairo): outside them the report is informational.
 */
import { type Config, streamOpenGraceMinutes } from "../config/config.ts";
import {
  cairoDate,
  cairoParts,
  calendarGap,
  isInSession,
  minutesSinceOpen,
} from "../market/calendar.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import { KafkaClient, type PartitionLag } from "./kafka.ts";
import { devBrokerAddress } from "./local_broker.ts";
import { STREAM_DATA_SOURCE } from "./sink.ts";
import { SQL } from "./sql.ts";
import { readStatus, type StatusDoc, type StatusName } from "./status.ts";

export interface ProcessHealth {
  alive: boolean;
  /** Why it is not alive (never started, stale status, finished). */
  reason?: string;
  status?: StatusDoc;
}

export interface HealthReport {
  /** Real time of the check. */
  checkedAt: string;
  /** The market instant the check is about (config.asOf). */
  asOf: string;
  tradingHours: boolean;
  brokers: string[];
  producer: ProcessHealth;
  consumer: ProcessHealth;
  lag: PartitionLag[];
  totalLag: number;
  /** Kafka timestamp of the last record the consumer wrote. */
  lastMessageAt?: string;
  /** Newest UPDATED_AT / BAR_START of streamed rows in the warehouse. */
  lastWriteAt?: string;
  latestBarStart?: string;
  /** Minutes since lastWriteAt (real time). */
  minutesSinceWrite?: number;
  problems: string[];
  /** Set when the calendar does not know this date's closures (see calendarGap). */
  calendarNote?: string;
  /** False only when there are problems during trading hours. */
  healthy: boolean;
}

export interface HealthOptions {
  /** Real "now" (default Date.now()). */
  now?: number;
  warehouse: Warehouse;
  /** A status older than this means the process is gone (default 60 s; they write every 10 s). */
  aliveWithinMs?: number;
  /** Brokers to check (default: KAFKA_BROKERS, else the local broker if it runs). */
  brokers?: string[];
}

function processHealth(
  name: StatusName,
  doc: StatusDoc | undefined,
  now: number,
  within: number,
): ProcessHealth {
  if (!doc) return { alive: false, reason: `${name} has never run (no status file)` };
  const age = now - Date.parse(doc.updatedAt);
  if (doc.finished === true) {
    return { alive: false, reason: `${name} finished at ${doc.updatedAt}`, status: doc };
  }
  if (age > within) {
    return {
      alive: false,
      reason: `${name} (pid ${doc.pid}) silent for ${Math.round(age / 1000)} s`,
      status: doc,
    };
  }
  return { alive: true, status: doc };
}

export async function checkStreamHealth(
  config: Config,
  opts: HealthOptions,
): Promise<HealthReport> {
  const now = opts.now ?? Date.now();
  const within = opts.aliveWithinMs ?? 60_000;
  const asOf = config.asOf;
  const problems: string[] = [];
  const stream = config.stream;
  const [p, c] = await Promise.all([
    readStatus(stream.statusDir, "producer"),
    readStatus(stream.statusDir, "consumer"),
  ]);
  const producer = processHealth("producer", p, now, within);
  const consumer = processHealth("consumer", c, now, within);
  if (!producer.alive) problems.push(`producer not running: ${producer.reason}`);
  if (!consumer.alive) problems.push(`consumer not running: ${consumer.reason}`);

  let brokers = opts.brokers ?? config.kafka.brokers;
  if (brokers.length === 0) brokers = await devBrokerAddress(config.kafka.localDir);
  let lag: PartitionLag[] = [];
  if (brokers.length === 0) {
    problems.push("Kafka: KAFKA_BROKERS is not set and the local broker was never started");
  } else {
    try {
      const client = new KafkaClient(brokers, {
        clientId: `${config.kafka.clientId}-health`,
        retries: 1,
      });
      lag = await client.lag(config.kafka.groupId, config.kafka.quotesTopic);
      if (lag.length === 0) problems.push(`Kafka: topic ${config.kafka.quotesTopic} not found`);
    } catch (e) {
      problems.push(`Kafka unreachable at ${brokers.join(",")}: ${(e as Error).message}`);
    }
  }
  const totalLag = lag.reduce((n, l) => n + l.lag, 0);
  if (totalLag > stream.maxLag) {
    problems.push(`consumer lag ${totalLag} records exceeds ${stream.maxLag}`);
  }

  let lastWriteAt: string | undefined;
  let latestBarStart: string | undefined;
  let freshnessRead = false;
  try {
    const rows = await opts.warehouse.query<
      { LAST_WRITE: string | null; LATEST_BAR: string | null }
    >(
      SQL.get("health_intraday_freshness"),
      [STREAM_DATA_SOURCE],
      { label: "health_check freshness" },
    );
    const daily = await opts.warehouse.query<{ LAST_WRITE: string | null }>(
      SQL.get("health_daily_freshness"),
      [STREAM_DATA_SOURCE],
      { label: "health_check freshness" },
    );
    const writes = [rows[0]?.LAST_WRITE, daily[0]?.LAST_WRITE].filter((v): v is string => !!v);
    lastWriteAt = writes.sort().at(-1);
    latestBarStart = rows[0]?.LATEST_BAR ?? undefined;
    freshnessRead = true;
  } catch (e) {
    problems.push(`warehouse unreachable: ${(e as Error).message}`);
  }
  const minutesSinceWrite = lastWriteAt === undefined
    ? undefined
    : Math.floor((now - Date.parse(lastWriteAt)) / 60_000);
  // A session's first minutes: the last write is the previous session's until the first polls
  // land, which is not stale before the session is as old as the grace (streamOpenGraceMinutes).
  const openFor = minutesSinceOpen(asOf);
  // An unreachable warehouse is its own problem: whether it holds streamed rows is unknown.
  if (lastWriteAt === undefined) {
    if (freshnessRead) problems.push("no streamed rows in the warehouse yet");
  } else if (
    minutesSinceWrite! > stream.maxStalenessMinutes && openFor > streamOpenGraceMinutes(stream)
  ) {
    problems.push(
      `data is stale: last streamed write ${minutesSinceWrite} min ago ` +
        `(limit ${stream.maxStalenessMinutes})`,
    );
  }

  const tradingHours = isInSession(asOf);
  const lastMessageAt = typeof c?.lastMessageAt === "string" ? c.lastMessageAt : undefined;
  return {
    checkedAt: new Date(now).toISOString(),
    asOf: asOf.toISOString(),
    tradingHours,
    brokers,
    producer,
    consumer,
    lag,
    totalLag,
    lastMessageAt,
    lastWriteAt,
    latestBarStart,
    minutesSinceWrite,
    problems,
    calendarNote: calendarGap(cairoDate(asOf)),
    healthy: !tradingHours || problems.length === 0,
  };
}

/** The consumer's last dead letter, as a line under it (none when it has sent none). */
function lastDeadLetter(h: ProcessHealth): string[] {
  const d = h.status?.lastDeadLetter as
    | { reason?: unknown; partition?: unknown; offset?: unknown; at?: unknown }
    | undefined;
  if (typeof d?.reason !== "string") return [];
  return [
    `    last dead letter: ${d.reason} (partition ${d.partition}, offset ${d.offset}, at ${d.at})`,
  ];
}

/** The report as a few readable lines. */
export function formatHealth(r: HealthReport): string {
  const cairo = cairoParts(Date.parse(r.asOf));
  const hm = `${String(cairo.hour).padStart(2, "0")}:${String(cairo.minute).padStart(2, "0")}`;
  const counters = (h: ProcessHealth) => {
    const c = h.status?.counters as Record<string, number> | undefined;
    return c ? " " + Object.entries(c).map(([k, v]) => `${k}=${v}`).join(" ") : "";
  };
  const lines = [
    `streaming health at ${r.asOf} (${cairo.date} ${hm} Cairo, ` +
    `${r.tradingHours ? "trading hours" : "market closed"})`,
    `  producer: ${r.producer.alive ? "alive" : "DOWN"}` +
    `${r.producer.reason ? ` (${r.producer.reason})` : ""}${counters(r.producer)}`,
    `  consumer: ${r.consumer.alive ? "alive" : "DOWN"}` +
    `${r.consumer.reason ? ` (${r.consumer.reason})` : ""}${counters(r.consumer)}`,
    ...lastDeadLetter(r.consumer),
    `  kafka ${r.brokers.join(",") || "(none)"}: lag ${r.lag.length > 0 ? r.totalLag : "unknown"}` +
    (r.lag.length > 0
      ? ` [${r.lag.map((l) => `p${l.partition}=${l.lag} (${l.committed}/${l.end})`).join(", ")}]`
      : ""),
    `  last message: ${r.lastMessageAt ?? "none"}; last warehouse write: ${
      r.lastWriteAt ?? "none"
    }${r.minutesSinceWrite === undefined ? "" : ` (${r.minutesSinceWrite} min ago)`}` +
    `; latest bar: ${r.latestBarStart ?? "none"}`,
  ];
  if (r.problems.length > 0) {
    lines.push(
      `  ${r.healthy ? "notes (not failing outside trading hours)" : "UNHEALTHY"}:`,
      ...r.problems.map((p) => `    - ${p}`),
    );
  } else lines.push("  healthy");
  if (r.calendarNote) lines.push(`  calendar: ${r.calendarNote}`);
  return lines.join("\n");
}

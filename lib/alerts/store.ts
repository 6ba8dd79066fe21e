/**
 * The alert record in the warehouse (OPERATIONAL.TBL_ALERT_EVENT). Recording is the
 * once-per-day guard: a candidate is inserted only when no row has its key (rule, subject,
 * Cairo date, direction), inside one transaction, so the pipeline job and the stream side can
 * evaluate the same data without firing twice.
 */
import type { Warehouse } from "../warehouse/warehouse.ts";
import type { AlertCandidate } from "./evaluate.ts";
import type { AlertEvent } from "./deliver.ts";
import { ALERT_SQL as SQL } from "./sql.ts";

type Key = Pick<AlertEvent, "ruleId" | "subject" | "date" | "direction">;
const keyParams = (a: Key) => [a.ruleId, a.subject, a.date, a.direction];

/** Insert the candidates not recorded yet; returns those inserted (the alerts that fire now). */
export function recordAlerts(
  wh: Warehouse,
  candidates: readonly AlertCandidate[],
  opts: { source: string; now?: Date; signal?: AbortSignal },
): Promise<AlertEvent[]> {
  if (candidates.length === 0) return Promise.resolve([]);
  const now = opts.now ?? new Date();
  return wh.transaction(async (s) => {
    const fired: AlertEvent[] = [];
    for (const c of candidates) {
      const n = await s.execute(SQL.get("insert_event"), [
        ...keyParams(c),
        c.kind,
        c.observed,
        c.threshold,
        c.message,
        opts.source,
        now,
        ...keyParams(c),
      ]);
      if (n > 0) fired.push({ ...c, source: opts.source, triggeredAt: now.toISOString() });
    }
    return fired;
  }, { signal: opts.signal, label: "alerts: record" });
}

interface EventRow {
  [k: string]: string | number | null;
  RULE_ID: string;
  SUBJECT: string;
  ALERT_DATE: string;
  DIRECTION: string;
  KIND: string;
  OBSERVED: number;
  THRESHOLD: number;
  MESSAGE: string;
  SOURCE: string;
  TRIGGERED_AT: string;
}

/** Alerts recorded but not delivered yet (new ones and earlier delivery failures). */
export async function undeliveredAlerts(
  wh: Warehouse,
  opts: { signal?: AbortSignal } = {},
): Promise<AlertEvent[]> {
  const rows = await wh.query<EventRow>(SQL.get("undelivered"), [], {
    signal: opts.signal,
    label: "alerts: undelivered",
  });
  return rows.map((r) => ({
    ruleId: r.RULE_ID,
    subject: r.SUBJECT,
    date: r.ALERT_DATE,
    direction: r.DIRECTION as AlertEvent["direction"],
    kind: r.KIND as AlertEvent["kind"],
    observed: r.OBSERVED,
    threshold: r.THRESHOLD,
    message: r.MESSAGE,
    source: r.SOURCE,
    triggeredAt: r.TRIGGERED_AT,
  }));
}

/** Record delivery outcomes: `error` undefined = delivered at `now`. */
export function recordDeliveries(
  wh: Warehouse,
  outcomes: readonly { alert: Key; error?: string }[],
  opts: { now?: Date; signal?: AbortSignal } = {},
): Promise<void> {
  if (outcomes.length === 0) return Promise.resolve();
  const now = opts.now ?? new Date();
  return wh.transaction(async (s) => {
    for (const o of outcomes) {
      if (o.error === undefined) {
        await s.execute(SQL.get("mark_delivered"), [now, ...keyParams(o.alert)]);
      } else {
        await s.execute(SQL.get("mark_failed"), [o.error, ...keyParams(o.alert)]);
      }
    }
  }, { signal: opts.signal, label: "alerts: deliveries" });
}

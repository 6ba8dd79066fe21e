/**
 * The alert record in the warehouse (OPERATIONAL.TBL_ALERT_EVENT). Recording is the
 * once-per-day guard: a candidate is inserted only when no row has its key (rule, subject,
 * Cairo date, direction), inside one transaction, so the pipeline job and the stream side can
 * evaluate the same data without firing twice.
 *
 * Delivery is claimed the same way: an evaluation marks the undelivered alerts with its own token
 * in one write transaction (writers are serialised: DuckDB's file lock, Snowflake's table lock)
 * and sends only those, so two evaluations at once never send the same alert twice. A claim
 * older than the lease (its evaluator died mid-delivery) may be taken over, so an alert is lost
 * to nobody; delivering clears the claim, a failure releases it for the next evaluation.
 */
import type { Warehouse } from "../warehouse/warehouse.ts";
import type { AlertCandidate } from "./evaluate.ts";
import type { AlertEvent } from "./deliver.ts";
import { ALERT_SQL as SQL } from "./sql.ts";

type Key = Pick<AlertEvent, "ruleId" | "subject" | "date" | "direction">;
const keyParams = (a: Key) => [a.ruleId, a.subject, a.date, a.direction];
const keyOf = (a: Key) => keyParams(a).join("\0");

interface KeyRow {
  [k: string]: string;
  RULE_ID: string;
  SUBJECT: string;
  ALERT_DATE: string;
  DIRECTION: string;
}

/**
 * Insert the candidates not recorded yet; returns those inserted (the alerts that fire now).
 * Those already recorded are found with a read first, so an evaluation that finds nothing new
 * writes nothing; the insert itself still skips a key recorded meanwhile.
 */
export async function recordAlerts(
  wh: Warehouse,
  candidates: readonly AlertCandidate[],
  opts: { source: string; now?: Date; signal?: AbortSignal },
): Promise<AlertEvent[]> {
  if (candidates.length === 0) return [];
  const dates = candidates.map((c) => c.date).sort();
  const recorded = await wh.query<KeyRow>(SQL.get("recorded_keys"), [dates[0], dates.at(-1)!], {
    signal: opts.signal,
    label: "alerts: recorded",
  });
  const seen = new Set(
    recorded.map((r) => [r.RULE_ID, r.SUBJECT, r.ALERT_DATE, r.DIRECTION].join("\0")),
  );
  const fresh = candidates.filter((c) => !seen.has(keyOf(c)));
  if (fresh.length === 0) return [];
  const now = opts.now ?? new Date();
  return await wh.transaction(async (s) => {
    const fired: AlertEvent[] = [];
    for (const c of fresh) {
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

/**
 * Longest a claim holds (default of `claimUndelivered`). An evaluation starts no POST (10 s
 * timeout each) that could end after it: the alerts left go to the next evaluation.
 */
export const CLAIM_LEASE_MS = 15 * 60_000;

/**
 * Claim for `token` the alerts not delivered yet (new ones, earlier failures, expired claims)
 * and return them: this evaluation alone delivers them. `heldElsewhere` counts those another
 * evaluation holds under a live claim (it sends them, or the first evaluation after its lease).
 * With nothing to claim (the usual case for the stream side, which evaluates after every
 * commit) it only reads.
 */
export async function claimUndelivered(
  wh: Warehouse,
  opts: { token: string; now?: Date; leaseMs?: number; signal?: AbortSignal },
): Promise<{ alerts: AlertEvent[]; heldElsewhere: number }> {
  const now = opts.now ?? new Date();
  const expired = new Date(now.getTime() - (opts.leaseMs ?? CLAIM_LEASE_MS));
  const [{ N, HELD }] = await wh.query<{ N: number; HELD: number }>(
    SQL.get("claimable"),
    [expired, expired],
    { signal: opts.signal, label: "alerts: claimable" },
  );
  const heldElsewhere = Number(HELD);
  if (Number(N) === 0) return { alerts: [], heldElsewhere };
  const alerts = await wh.transaction(async (s) => {
    await s.execute(SQL.get("claim_undelivered"), [opts.token, now, expired]);
    const rows = await s.query<EventRow>(SQL.get("claimed"), [opts.token]);
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
  }, { signal: opts.signal, label: "alerts: claim" });
  return { alerts, heldElsewhere };
}

/** How many recorded alerts are not delivered (claimed or not). */
export async function countUndelivered(
  wh: Warehouse,
  opts: { signal?: AbortSignal } = {},
): Promise<number> {
  const [{ N }] = await wh.query<{ N: number }>(SQL.get("undelivered"), [], {
    signal: opts.signal,
    label: "alerts: undelivered",
  });
  return Number(N);
}

/**
 * Record delivery outcomes (`error` undefined = delivered at `now`) and release `token`'s
 * claims: a failed alert goes to the next evaluation. `printed`: delivered on stdout by an
 * evaluation that claimed nothing, recorded only for alerts no webhook evaluation holds.
 */
export function recordDeliveries(
  wh: Warehouse,
  outcomes: readonly { alert: Key; error?: string }[],
  opts: { token: string; now?: Date; signal?: AbortSignal; printed?: boolean },
): Promise<void> {
  if (outcomes.length === 0) return Promise.resolve();
  const now = opts.now ?? new Date();
  const delivered = SQL.get(opts.printed ? "mark_printed" : "mark_delivered");
  return wh.transaction(async (s) => {
    for (const o of outcomes) {
      if (o.error === undefined) {
        await s.execute(delivered, [now, ...keyParams(o.alert)]);
      } else {
        await s.execute(SQL.get("mark_failed"), [o.error, ...keyParams(o.alert), opts.token]);
      }
    }
  }, { signal: opts.signal, label: "alerts: deliveries" });
}

/**
 * The alert delivery claims (lib/alerts/store.ts) on a migrated warehouse of either kind: a claim
 * holds against others until its lease ends, is then taken over, and delivering or failing
 * clears it; a late report from an evaluator whose claim was taken over changes nothing.
 */
import assert from "node:assert/strict";
import type { AlertCandidate } from "../../lib/alerts/evaluate.ts";
import { claimUndelivered, recordAlerts, recordDeliveries } from "../../lib/alerts/store.ts";
import type { Warehouse } from "../../lib/warehouse/warehouse.ts";

const candidate = (subject: string): AlertCandidate => ({
  ruleId: "move",
  kind: "price_move",
  subject,
  date: "2025-11-13",
  direction: "up",
  observed: 6.38,
  threshold: 4,
  message: `${subject} up +6.38%`,
});

export async function checkAlertClaims(wh: Warehouse): Promise<void> {
  const t0 = new Date("2025-11-13T12:00:00Z");
  const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
  const fired = await recordAlerts(wh, [candidate("COMI"), candidate("ETEL")], {
    source: "pipeline",
    now: t0,
  });
  assert.equal(fired.length, 2);
  const subjects = (xs: { subject: string }[]) => xs.map((x) => x.subject);

  const claim = async (token: string, now: Date) => {
    const c = await claimUndelivered(wh, { token, now });
    return { subjects: subjects(c.alerts), held: c.heldElsewhere, alerts: c.alerts };
  };
  // An evaluator claims both, then dies without reporting.
  const dead = await claim("dead", t0);
  assert.deepEqual([dead.subjects, dead.held], [["COMI", "ETEL"], 0]);
  // Within the lease (15 minutes) nobody else gets them (and is told they are held); after it,
  // the next evaluator does.
  const b = await claim("b", at(14));
  assert.deepEqual([b.subjects, b.held], [[], 2]);
  const c = await claim("c", at(16));
  assert.deepEqual([c.subjects, c.held], [["COMI", "ETEL"], 0]);
  const taken = c.alerts;
  assert.equal(taken[0].message, "COMI up +6.38%");

  // COMI delivered, ETEL failed: both claims cleared, ETEL keeps its error for a retry.
  await recordDeliveries(wh, [
    { alert: taken[0] },
    { alert: taken[1], error: "webhook answered 503" },
  ], { token: "c", now: at(17) });
  // The dead evaluator's late report does not touch a claim it lost.
  await recordDeliveries(wh, [{ alert: taken[1], error: "late" }], { token: "dead", now: at(18) });
  const rows = await wh.query<
    { SUBJECT: string; DELIVERED_AT: string | null; DELIVERY_ERROR: string | null; C: string }
  >(
    "SELECT SUBJECT, DELIVERED_AT, DELIVERY_ERROR, coalesce(CLAIMED_BY, '-') AS C " +
      "FROM OPERATIONAL.TBL_ALERT_EVENT ORDER BY SUBJECT",
  );
  assert.deepEqual(rows, [
    { SUBJECT: "COMI", DELIVERED_AT: at(17).toISOString(), DELIVERY_ERROR: null, C: "-" },
    { SUBJECT: "ETEL", DELIVERED_AT: null, DELIVERY_ERROR: "webhook answered 503", C: "-" },
  ]);
  // The failed one goes to the next evaluation at once; the delivered one never again.
  const d = await claim("d", at(19));
  assert.deepEqual([d.subjects, d.held], [["ETEL"], 0]);
}

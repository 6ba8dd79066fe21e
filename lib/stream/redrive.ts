/**
 * `deno task stream redrive`: send dead-lettered quotes back to the quotes topic, e.g. those of a
 * company that was not yet in OPERATIONAL.TBL_COMPANY when they arrived, once a batch load has
 * listed it. The consumer checks them again like any record: one still refused is dead-lettered
 * again, with its reason.
 *
 * It reads the whole dead-letter topic (what its retention keeps) and, of the records whose
 * reason contains `reason` (all without it), sends each quote that now passes validation, keyed
 * by its ticker (as the producer keys it: a record dead-lettered for its key goes back under its
 * ticker), with its own headers and `egx-redriven-from` = `<topic>/<partition>/<offset>` of the
 * dead letter. It leaves out, and counts:
 *  - `truncated`: a truncated copy (of a record too large for the dead-letter topic);
 *  - `invalid`: a record that still fails validation (bad JSON, a wrong field...);
 *  - `replaced`: an earlier dead letter of the same bar (ticker, bar start, interval; for a daily
 *    quote its Cairo trade date): only the last one is sent;
 *  - `superseded`: a quote whose bar the warehouse wrote after it was dead-lettered: a later
 *    poll's value (or this redrive's, run before), which the older value must not overwrite. For
 *    a daily quote (a scanner's snapshot) only a later snapshot counts: a daily bar aggregated
 *    from intraday bars never replaces a snapshot.
 * So running it twice sends nothing twice once the consumer has written the first run's records.
 */
import { cairoDate } from "../market/calendar.ts";
import { INTERVAL_MINUTES, type Quote } from "../market/sources/source.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import type { InMessage, KafkaClient, OutMessage } from "./kafka.ts";
import { decodeQuote, DLQ_HEADERS } from "./message.ts";
import { SQL } from "./sql.ts";

/** Header naming the dead letter a redriven record was sent from. */
export const REDRIVEN_FROM = "egx-redriven-from";

export interface RedriveOptions {
  deadLetterTopic: string;
  quotesTopic: string;
  /** Only dead letters whose reason contains this text (case-sensitive). */
  reason?: string;
  /** Count and report, send nothing. */
  dryRun?: boolean;
}

export interface RedriveReport {
  /** Dead letters read (the whole topic). */
  read: number;
  /** Of those, with a reason that does not contain `reason`. */
  otherReason: number;
  truncated: number;
  invalid: number;
  replaced: number;
  superseded: number;
  /** Sent to the quotes topic (with dryRun: would be). */
  sent: number;
  /** Reasons of the records sent, with how many each. */
  reasons: Record<string, number>;
}

type DeadLetter = InMessage & { partition: number };

function barKey(q: Quote): string {
  return q.interval === "1d"
    ? `${q.ticker}|${cairoDate(Date.parse(q.barStart))}|1d`
    : `${q.ticker}|${q.barStart}|${INTERVAL_MINUTES[q.interval]}`;
}

/** When the warehouse last wrote each streamed bar of the quotes' span, epoch ms by barKey. */
async function lastWrites(wh: Warehouse, quotes: readonly Quote[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (quotes.length === 0) return out;
  const starts = quotes.map((q) => q.barStart).sort();
  const dates = quotes.map((q) => cairoDate(Date.parse(q.barStart))).sort();
  const toMs = (v: unknown) => v instanceof Date ? v.getTime() : Date.parse(String(v));
  const intraday = await wh.query<
    { TICKER: string; BAR_START: string; INTERVAL_MINUTES: number; UPDATED_AT: string }
  >(
    SQL.get("redrive_intraday_written"),
    [new Date(starts[0]), new Date(starts[starts.length - 1])],
    { label: "stream redrive" },
  );
  for (const r of intraday) {
    const start = new Date(toMs(r.BAR_START)).toISOString();
    out.set(`${r.TICKER}|${start}|${Number(r.INTERVAL_MINUTES)}`, toMs(r.UPDATED_AT));
  }
  const daily = await wh.query<{ TICKER: string; TRADE_DATE: string; UPDATED_AT: string }>(
    SQL.get("redrive_daily_written"),
    [dates[0], dates[dates.length - 1]],
    { label: "stream redrive" },
  );
  for (const r of daily) {
    const date = r.TRADE_DATE as unknown;
    const d = date instanceof Date ? date.toISOString().slice(0, 10) : String(date).slice(0, 10);
    out.set(`${r.TICKER}|${d}|1d`, toMs(r.UPDATED_AT));
  }
  return out;
}

/** Send the dead letters that pass now back to the quotes topic (see the module comment). */
export async function redriveDeadLetters(
  client: KafkaClient,
  warehouse: Warehouse,
  opts: RedriveOptions,
): Promise<RedriveReport> {
  const dead: DeadLetter[] = await client.readAll(opts.deadLetterTopic, { timeoutMs: 120_000 });
  const report: RedriveReport = {
    read: dead.length,
    otherReason: 0,
    truncated: 0,
    invalid: 0,
    replaced: 0,
    superseded: 0,
    sent: 0,
    reasons: {},
  };
  const now = Date.now();
  /** The last dead letter per bar, in the order of the topic. */
  const last = new Map<string, { m: DeadLetter; quote: Quote; reason: string }>();
  for (const m of dead) {
    const reason = m.headers[DLQ_HEADERS.reason] ?? "";
    if (opts.reason !== undefined && !reason.includes(opts.reason)) {
      report.otherReason++;
      continue;
    }
    if (m.headers[DLQ_HEADERS.truncated] !== undefined) {
      report.truncated++;
      continue;
    }
    const d = decodeQuote(m.value, now);
    if (!d.ok) {
      report.invalid++;
      continue;
    }
    const key = barKey(d.quote);
    if (last.has(key)) report.replaced++;
    last.delete(key); // re-inserted: the map keeps the topic's order of the last ones
    last.set(key, { m, quote: d.quote, reason });
  }
  const written = await lastWrites(warehouse, [...last.values()].map((x) => x.quote));
  const out: OutMessage[] = [];
  for (const [key, { m, quote, reason }] of last) {
    if ((written.get(key) ?? -Infinity) >= m.timestamp) {
      report.superseded++;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.headers)) if (!k.startsWith("egx-")) headers[k] = v;
    headers[REDRIVEN_FROM] = `${opts.deadLetterTopic}/${m.partition}/${m.offset}`;
    out.push({ key: quote.ticker, value: m.value ?? "", headers });
    report.reasons[reason] = (report.reasons[reason] ?? 0) + 1;
  }
  report.sent = out.length;
  if (!opts.dryRun && out.length > 0) {
    const producer = client.producer();
    await producer.connect();
    try {
      for (let i = 0; i < out.length; i += 500) {
        await producer.send(opts.quotesTopic, out.slice(i, i + 500));
      }
    } finally {
      await producer.disconnect();
    }
  }
  return report;
}

/** The report as a few lines. */
export function formatRedrive(r: RedriveReport, opts: RedriveOptions): string {
  const verb = opts.dryRun ? "would send" : "sent";
  const lines = [
    `${opts.deadLetterTopic}: ${r.read} dead letter(s) read; ${verb} ${r.sent} to ` +
    `${opts.quotesTopic}`,
    ...Object.entries(r.reasons).map(([reason, n]) => `  ${n} x ${reason}`),
  ];
  const left: [number, string][] = [
    [r.otherReason, `another reason than ${JSON.stringify(opts.reason ?? "")}`],
    [r.truncated, "truncated copies"],
    [r.invalid, "still invalid"],
    [r.replaced, "replaced by a later dead letter of the same bar"],
    [r.superseded, "superseded: the warehouse wrote the bar after the dead letter"],
  ];
  for (const [n, what] of left) if (n > 0) lines.push(`  left out: ${n} ${what}`);
  return lines.join("\n");
}

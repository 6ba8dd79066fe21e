/**
 * `deno task stream redrive`: write dead-lettered quotes of a ticker that was not yet a listed
 * company (OPERATIONAL.TBL_COMPANY) when the consumer read them, now that a batch load has listed
 * it, straight into the warehouse, INSERT-ONLY: a bar is written only when the warehouse has no
 * row for its natural key (the sink's keys, see sink.ts). Nothing is sent to Kafka.
 *
 * It reads the dead-letter topic from its start to its end as at the start (a throwaway group
 * that commits nothing: the consumer's group is not touched) and counts each dead letter once,
 * under the first of these that applies:
 *  - `truncated`: a truncated copy (of a record too large for the dead-letter topic);
 *  - `invalid`: fails the consumer's validation now, or was dead-lettered as invalid (only
 *    unknown tickers are redriven: e.g. a quote fetched in the future then is not);
 *  - `keyedWrongly`: its Kafka key is not its ticker (or it has none);
 *  - `otherTopic`: it came from another topic than the quotes topic (or says from none);
 *  - `unlisted`: its ticker is still not in TBL_COMPANY;
 *  - `superseded`: a dead letter of the same bar at a higher offset of the quotes topic exists;
 *  - `existing`: the warehouse has a row for its bar (a daily snapshot: a snapshot for its day);
 *  - else it is written: `intraday` (then the daily bar of its trade date is recomputed from the
 *    stored intraday bars, as the sink does) or `daily` (a scanner's snapshot: inserted, or
 *    replacing the day's bar aggregated from intraday bars, which never replaces a snapshot).
 *
 * Why it cannot write an older value of a bar over a newer one: a record keyed by its ticker
 * lands in its ticker's partition, in the producer's order (while the quotes topic keeps its
 * partition count, which Kafka maps keys by), and the consumer reads a partition in offset order,
 * so of two records of one bar the one at the higher offset is the newer. If the warehouse has a
 * row for the bar, it is kept (insert-only), whatever wrote it. If it has none (for a daily
 * snapshot: no snapshot of its day), every record of the bar the consumer has read so far was
 * dead-lettered, and the dead letter with the highest offset is the newest value consumed;
 * records not consumed yet are at higher offsets, hence newer, and the consumer will overwrite
 * the inserted row with them, which is right. Key-mismatched records carry no such order and are
 * left out. Reading the company list, the check for existing rows and the writes happen in one
 * transaction (and the MERGEs insert only, even when another process wrote the bar meanwhile),
 * so a second run inserts nothing. What it cannot do is replace an older row: a bar written
 * before a later dead letter of it (by the consumer while the company table was empty, or by an
 * earlier redrive run before the consumer's company list was refreshed) keeps its older value and
 * is counted as `existing`.
 */
import type { Quote } from "../market/sources/source.ts";
import { type Warehouse, WarehouseBusyError } from "../warehouse/warehouse.ts";
import { unknownTickerReason } from "./companies.ts";
import type { InMessage, KafkaClient } from "./kafka.ts";
import { decodeQuote, DLQ_HEADERS, keyProblem } from "./message.ts";
import { tickerCode } from "../market/ticker.ts";
import {
  barKey,
  createStage,
  mergeDailyAggregate,
  type SinkRow,
  stageBeforeBegin,
  stageQuotes,
} from "./sink.ts";
import { SQL } from "./sql.ts";

export interface RedriveOptions {
  deadLetterTopic: string;
  /** The topic the consumer reads: only its dead letters are redriven. */
  quotesTopic: string;
  /** Count everything, write nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** The clock validation runs on, epoch ms (default Date.now). */
  now?: number;
  /** Longest wait for the dead-letter topic's records, ms (default 120 s). */
  readTimeoutMs?: number;
}

export interface RedriveCounts {
  /** Dead letters read. */
  read: number;
  /** Intraday bars inserted (with dryRun: that would be). */
  intraday: number;
  /** Daily snapshots written (with dryRun: that would be). */
  daily: number;
  existing: number;
  unlisted: number;
  keyedWrongly: number;
  invalid: number;
  truncated: number;
  otherTopic: number;
  superseded: number;
}

/** A dead letter to redrive, at `offset` of its source partition. */
interface Candidate {
  quote: Quote;
  offset: number;
  row: SinkRow;
}

/** Sort the dead letters into the counts and the candidates to write (see the module comment). */
function sortOut(
  dead: readonly InMessage[],
  opts: RedriveOptions,
  listed: ReadonlySet<string>,
  counts: RedriveCounts,
): Candidate[] {
  const now = opts.now ?? Date.now();
  const byBar = new Map<string, Candidate>();
  for (const m of dead) {
    const h = m.headers;
    if (h[DLQ_HEADERS.truncated] !== undefined) {
      counts.truncated++;
      continue;
    }
    const d = decodeQuote(m.value, now);
    if (!d.ok) {
      counts.invalid++;
      continue;
    }
    const q = d.quote;
    if (keyProblem(m.key, q.ticker) !== undefined) {
      counts.keyedWrongly++;
      continue;
    }
    if (h[DLQ_HEADERS.reason] !== unknownTickerReason(q.ticker)) {
      counts.invalid++;
      continue;
    }
    const partition = Number(h[DLQ_HEADERS.partition] ?? NaN);
    const offset = Number(h[DLQ_HEADERS.offset] ?? NaN);
    if (
      h[DLQ_HEADERS.topic] !== opts.quotesTopic || !Number.isSafeInteger(partition) ||
      !Number.isSafeInteger(offset)
    ) {
      counts.otherTopic++;
      continue;
    }
    if (!listed.has(q.ticker)) {
      counts.unlisted++;
      continue;
    }
    const ref = `redrive:kafka:${opts.quotesTopic}/${partition}/${offset}`;
    const key = barKey(q);
    const before = byBar.get(key);
    counts.superseded += before === undefined ? 0 : 1;
    // The higher offset is the newer value (a repeated dead letter of one record: either).
    if (before === undefined || before.offset < offset) {
      byBar.set(key, { quote: q, offset, row: { quote: q, ref } });
    }
  }
  return [...byBar.values()];
}

/** Redrive the dead letters (see the module comment); resolves with the counts. */
export async function redriveDeadLetters(
  client: KafkaClient,
  warehouse: Warehouse,
  opts: RedriveOptions,
): Promise<RedriveCounts> {
  const dead = await client.readAll(opts.deadLetterTopic, {
    timeoutMs: opts.readTimeoutMs ?? 120_000,
  });
  opts.signal?.throwIfAborted();
  const counts: RedriveCounts = {
    read: dead.length,
    intraday: 0,
    daily: 0,
    existing: 0,
    unlisted: 0,
    keyedWrongly: 0,
    invalid: 0,
    truncated: 0,
    otherTopic: 0,
    superseded: 0,
  };
  // Snowflake: the staging table is created before BEGIN (DDL commits there; sink.ts).
  const created = stageBeforeBegin(warehouse.kind);
  await warehouse.transaction(async (s) => {
    const tickers = await s.query<{ TICKER: string }>(SQL.get("company_tickers"));
    const known = new Set(tickers.flatMap((r) => tickerCode(r.TICKER) ?? []));
    const candidates = sortOut(dead, opts, known, counts);
    if (candidates.length === 0) return;
    const now = new Date();
    await stageQuotes(s, candidates.map((c) => c.row), now, { created });
    const existing = new Set<string>();
    for (const name of ["redrive_existing_intraday", "redrive_existing_snapshot"]) {
      for (const r of await s.query<{ SOURCE_FILE: string }>(SQL.get(name))) {
        existing.add(r.SOURCE_FILE);
      }
    }
    const fresh = candidates.filter((c) => !existing.has(c.row.ref));
    counts.existing = existing.size;
    for (const c of fresh) counts[c.quote.interval === "1d" ? "daily" : "intraday"]++;
    if (opts.dryRun || fresh.length === 0) return;
    // Staged again with the bars to write only: the daily aggregate is recomputed for their
    // dates alone.
    const staged = await stageQuotes(s, fresh.map((c) => c.row), now, { created });
    if (staged.intraday > 0) {
      await s.execute(SQL.get("redrive_insert_intraday"));
      await mergeDailyAggregate(s, staged);
    }
    if (staged.daily > 0) await s.execute(SQL.get("redrive_merge_snapshot"));
  }, {
    label: "stream redrive",
    signal: opts.signal,
    ...(created ? { prepare: createStage } : {}),
  }).catch((e) => {
    throw e instanceof WarehouseBusyError && warehouse.kind === "duckdb" ? lockedError(e) : e;
  });
  return counts;
}

/** A DuckDB file another process kept locked for too long, with what to do about it. */
export function lockedError(e: WarehouseBusyError): Error {
  return new Error(
    `${e.message}. DuckDB lets one process write its file at a time: stop 'deno task stream' ` +
      "(and any pipeline run) and run redrive again (on Snowflake both run side by side)",
    { cause: e },
  );
}

/** The counts as one line. */
export function formatRedrive(c: RedriveCounts, opts: { dryRun?: boolean } = {}): string {
  return `redrive${opts.dryRun ? " (dry run, nothing written)" : ""}: ${c.read} dead ` +
    `letter(s) read; ${opts.dryRun ? "would insert" : "inserted"} ${c.intraday} intraday ` +
    `bar(s) (their days' daily bars recomputed), ${c.daily} daily snapshot(s); left out: ` +
    `${c.existing} already in the warehouse, ${c.unlisted} still unlisted, ${c.keyedWrongly} ` +
    `keyed wrongly, ${c.invalid} invalid, ${c.truncated} truncated, ${c.otherTopic} from ` +
    `another topic, ${c.superseded} superseded by a later dead letter of the same bar`;
}

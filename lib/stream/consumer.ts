/**
 * The consumer: reads the quotes topic in batches and writes at most `batchSize` records per
 * warehouse transaction, with an exactly-once effect:
 *
 *  1. the rows and the partition's next offset are written in ONE warehouse transaction;
 *  2. only after that commit is the offset committed to Kafka;
 *  3. on every (re)assignment the consumer seeks to the warehouse's stored offsets, and skips
 *     any record below them (Kafka's committed offset can only lag the warehouse's); a partition
 *     the warehouse has no offset for is read from its start, whatever Kafka committed.
 * A crash between 1 and 2 re-delivers records the warehouse already has: they are skipped.
 * With each offset the warehouse keeps the Kafka timestamp and key of the record before it; on
 * assignment that record is read again, and another one there (or none) means the topic was
 * deleted and created since: the partition is read from its start (upserts duplicate nothing).
 * The offset is updated only from the value this consumer read or wrote last, so a consumer that
 * lost its partition while its transaction waited cannot move it back under the new owner.
 *
 * Invalid records (bad JSON, wrong schema, failed validation), records keyed otherwise than by
 * their ticker (or not at all) and records of a ticker that is not a listed company
 * (OPERATIONAL.TBL_COMPANY, see companies.ts) go to the dead-letter topic with the reason in a
 * header, are counted, and their offsets advance like any other: they never stop the consumer.
 * A busy or unavailable warehouse pauses consumption (the batch is retried with backoff while
 * heartbeats keep the group membership); nothing is committed until written.
 * On shutdown the batch in flight is abandoned between two transactions, what was written is
 * committed, and the consumer leaves the group.
 */
import {
  type BatchControl,
  type InBatch,
  type InMessage,
  isRebalance,
  isTooLarge,
  isTransientKafkaError,
  isUnreachable,
  type KafkaConsumer,
  type KafkaProducer,
  type RawOutMessage,
} from "./kafka.ts";
import { type Logger, silentLogger } from "./log.ts";
import { CompanyList, unknownTickerReason } from "./companies.ts";
import { decodeQuote, DLQ_HEADERS, keyProblem } from "./message.ts";
import { tickerCode } from "../market/ticker.ts";
import {
  OffsetMovedError,
  type RecordMark,
  type SinkRow,
  type StoredOffset,
  storedOffsets,
  writeQuotesIn,
} from "./sink.ts";
import { SQL } from "./sql.ts";
import { sleep } from "../market/sources/source.ts";
import { type Warehouse, WarehouseBusyError } from "../warehouse/warehouse.ts";

export interface ConsumerCounters {
  /** Records read from Kafka (including skipped and invalid ones). */
  consumed: number;
  /** Valid records written to the warehouse. */
  written: number;
  /** Records below the warehouse's stored offset (already written before a restart). */
  skipped: number;
  /** Records sent to the dead-letter topic (all reasons, the two below included). */
  deadLettered: number;
  /** Of those: valid quotes of a ticker that is not in OPERATIONAL.TBL_COMPANY. */
  unknownTicker: number;
  /** Of those: valid quotes whose Kafka key is not their ticker (or that have no key). */
  keyMismatch: number;
  /** Warehouse transactions committed. */
  transactions: number;
  /** Failed warehouse attempts (each retried). */
  warehouseRetries: number;
  /** Kafka offset commits that failed after the warehouse commit (harmless, logged). */
  commitErrors: number;
}

export interface ConsumerStatus {
  pid: number;
  group: string;
  topic: string;
  startedAt: string;
  updatedAt: string;
  /** Kafka timestamp of the last record written. */
  lastMessageAt?: string;
  lastWriteAt?: string;
  partitions: number[];
  counters: ConsumerCounters;
  /** The last record sent to the dead-letter topic: why, and where it came from. */
  lastDeadLetter?: { reason: string; partition: number; offset: number; at: string };
  /** Companies in the list tickers are checked against (0: empty table, nothing checked). */
  companies?: number;
  /** Set when it stopped cleanly (SIGINT/SIGTERM): health_check then reports it down at once. */
  finished: boolean;
}

/** Reported after each warehouse commit (for latency measurements and tests). */
export interface CommitInfo {
  partition: number;
  nextOffset: number;
  /** Kafka timestamps (producer create time) of the records written, epoch ms. */
  timestamps: number[];
  committedAt: number;
}

export interface ConsumerOptions {
  topic: string;
  deadLetterTopic: string;
  group: string;
  /** Most records per warehouse transaction (config.kafka.batchSize, default 100). */
  batchSize: number;
  /**
   * Partitions worked on at once (default 3): their transactions still run one at a time on
   * DuckDB, but one partition's fetch and decoding overlap another's write.
   */
  concurrency?: number;
  logger?: Logger;
  /** Stop: finish or abandon the transaction in flight, commit, leave the group. */
  signal?: AbortSignal;
  onCommit?: (info: CommitInfo) => void;
  onStatus?: (s: ConsumerStatus) => void;
  /** Warehouse retry backoff: first delay and cap, ms. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Attempts for a warehouse error that is not "busy" before the consumer crashes. */
  maxQueryAttempts?: number;
  /**
   * Least time between two reads of the company list (OPERATIONAL.TBL_COMPANY), which a record of
   * an unlisted ticker triggers, ms (default COMPANY_REFRESH_MS); any record triggers one once the
   * list is MAX_AGE_REFRESHES intervals old (companies.ts), so removed companies are refused.
   */
  companyRefreshMs?: number;
  /** The clock companyRefreshMs is measured on, epoch ms (default Date.now; tests fake it). */
  clock?: () => number;
}

/** Default least time between two reads of the company list, ms. */
export const COMPANY_REFRESH_MS = 30_000;

/**
 * Fetch size per partition for a batch size: room for several full transactions per fetch
 * (a record is ~330 bytes), so catch-up transactions are full rather than cut at fetch edges.
 */
export function fetchBytesFor(batchSize: number): number {
  return Math.max(1_048_576, batchSize * 2_048);
}

/** Bytes of a value kept in the truncated dead-letter copy of a record too large to send. */
export const DLQ_TRUNCATE = 1_024;

/** The first `max` bytes of UTF-8 `bytes` or fewer, never ending inside a character. */
export function utf8Prefix(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  // A continuation byte (10xxxxxx) at the cut belongs to the character before it; a character
  // has at most three (more are not UTF-8: then the cut stays within three bytes of max).
  while (end > max - 3 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** The first `max` UTF-16 units of `s` or fewer, never half of a surrogate pair. */
export function textPrefix(s: string, max: number): string {
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

class Abandoned extends Error {
  override name = "Abandoned";
}

/** Where a partition stands (loaded from the warehouse on assignment, then as written). */
interface Position {
  /** The warehouse's row: NEXT_OFFSET as read or written last (null: no row), and its mark. */
  stored: StoredOffset | null;
  /** The next record to write: the stored offset, or 0 once the partition is read again. */
  from: number;
  /** Whether the stored mark was found at its offset (or need not be looked for). */
  checked: boolean;
  /** Whether the consumer was sent back to the marked record to check it. */
  sought: boolean;
  /** When it was read or written (loadStored's count): a slower, earlier read never replaces it. */
  seq: number;
}

function sameRecord(m: InMessage, mark: RecordMark): boolean {
  return m.timestamp === mark.timestamp && m.key === mark.key;
}

/** Run until `signal` aborts. Resolves with the counters after leaving the group. */
export async function runConsumer(
  consumer: KafkaConsumer,
  dlq: KafkaProducer,
  warehouse: Warehouse,
  opts: ConsumerOptions,
): Promise<ConsumerCounters> {
  const log = opts.logger ?? silentLogger;
  const c: ConsumerCounters = {
    consumed: 0,
    written: 0,
    skipped: 0,
    deadLettered: 0,
    unknownTicker: 0,
    keyMismatch: 0,
    transactions: 0,
    warehouseRetries: 0,
    commitErrors: 0,
  };
  const status: ConsumerStatus = {
    pid: Deno.pid,
    group: opts.group,
    topic: opts.topic,
    startedAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    partitions: [],
    counters: c,
    finished: false,
  };
  const report = () => {
    status.updatedAt = new Date().toISOString();
    opts.onStatus?.(status);
  };
  const stopping = () => opts.signal?.aborted ?? false;
  const positions = new Map<number, Position>();
  /** The partitions assigned now (none while the group rebalances). */
  const assigned = new Set<number>();
  /** Partitions sent back to their start because the warehouse had no offset for them. */
  const rewound = new Set<number>();
  /**
   * A partition the warehouse holds no offset of this group for (a new or replaced warehouse
   * file) is read from its start, not from Kafka's committed offset: what lies before that would
   * never reach this warehouse (upserts by natural key duplicate nothing). A start that retention
   * removed is reset to the earliest record kept. Records handed out before the seek are stale
   * and left unwritten.
   */
  const rewind = (partition: number) => {
    if (rewound.has(partition)) return;
    rewound.add(partition);
    log.info("consumer.no_warehouse_offset", {
      partition,
      reason: "the warehouse holds no offset of this group for the partition: reading it from " +
        "its start",
    });
    consumer.seek(opts.topic, partition, 0);
  };
  let dlqConnected = false;
  const companies = new CompanyList(
    async () =>
      (await warehouse.query<{ TICKER: string }>(SQL.get("company_tickers"), [], {
        signal: opts.signal,
        label: "stream company list",
      })).flatMap((r) => tickerCode(r.TICKER) ?? []),
    { refreshMs: opts.companyRefreshMs ?? COMPANY_REFRESH_MS, clock: opts.clock, logger: log },
  );

  let reads = 0;
  /**
   * Read the partitions' stored offsets into their positions; returns them all and the partitions
   * it set. A partition whose position was read or written since this read began keeps it: the
   * assignment's read can end after the partition's first batch read its own and went on (a topic
   * found recreated, records written), and must not send it back.
   */
  const loadStored = async (partitions: number[]) => {
    const seq = ++reads;
    const all = await storedOffsets(warehouse, opts.group, opts.topic);
    const set = new Set<number>();
    for (const p of partitions) {
      if ((positions.get(p)?.seq ?? 0) > seq) continue;
      const o = all.get(p) ?? null;
      positions.set(p, {
        stored: o,
        from: o?.nextOffset ?? 0,
        checked: o?.last === undefined,
        sought: false,
        seq,
      });
      set.add(p);
    }
    return { all, set };
  };

  /**
   * Retry a warehouse write until it succeeds, the consumer stops, the partition is taken from
   * it (a rebalance: the next owner writes it), or a real error repeats. A stored offset another
   * consumer moved is no error to retry.
   */
  const withRetry = async <T>(
    ctl: BatchControl,
    partition: number,
    what: string,
    fn: () => Promise<T>,
  ) => {
    let delay = opts.retryInitialMs ?? 250;
    let rebalancing = false;
    const heartbeat = () => ctl.heartbeat().catch((e) => rebalancing ||= isRebalance(e));
    const lost = () => stopping() || !ctl.isRunning() || rebalancing || !assigned.has(partition);
    for (let attempt = 1;; attempt++) {
      const beat = setInterval(heartbeat, 3_000);
      try {
        return await fn();
      } catch (e) {
        if (e instanceof OffsetMovedError) throw e;
        const busy = e instanceof WarehouseBusyError;
        c.warehouseRetries++;
        log.warn("consumer.warehouse_retry", { what, attempt, busy, error: e, retryInMs: delay });
        report(); // the status shows a consumer waiting for its warehouse
        if (!busy && attempt >= (opts.maxQueryAttempts ?? 5)) throw e;
        if (lost()) throw new Abandoned(what);
        await heartbeat();
        await sleep(delay, opts.signal).catch(() => {});
        if (lost()) throw new Abandoned(what);
        delay = Math.min(delay * 2, opts.retryMaxMs ?? 10_000);
      } finally {
        clearInterval(beat);
      }
    }
  };

  /**
   * Send a chunk's invalid records to the dead-letter topic, each a byte-for-byte copy of the
   * record as read (key, value and headers) plus the reason and source headers; resolves with
   * those that could not be sent at all. A send the broker refuses as too large is halved, down
   * to single records (retrying it as it is would stall the partition for good); a single record
   * still too large is replaced by a truncated copy: its value's first DLQ_TRUNCATE bytes (its
   * key's first 256; either cut back to a whole UTF-8 character), the reason and source headers, and `egx-dlq-truncated` = the original
   * value's size in bytes (its original headers are left out). If even that copy is refused as
   * too large, the record is logged as `consumer.dead_letter_dropped` and skipped. Other errors are retried as they are.
   */
  const sendDeadLetters = async (
    batch: InBatch,
    bad: { m: InMessage; reason: string }[],
    ctl: BatchControl,
  ): Promise<Set<InMessage>> => {
    const sourceHeaders = (m: InMessage, reason: string) => ({
      [DLQ_HEADERS.reason]: reason,
      [DLQ_HEADERS.topic]: batch.topic,
      [DLQ_HEADERS.partition]: String(batch.partition),
      [DLQ_HEADERS.offset]: String(m.offset),
    });
    let pending = bad.map(({ m, reason }) => ({
      m,
      reason,
      truncated: false,
      record: {
        key: m.raw.key,
        value: m.raw.value,
        headers: { ...m.raw.headers, ...sourceHeaders(m, reason) },
      } as RawOutMessage,
    }));
    let size = pending.length;
    const dropped = new Set<InMessage>();
    let delay = 200;
    while (pending.length > 0) {
      const part = pending.slice(0, size);
      try {
        if (!dlqConnected) {
          await dlq.connect();
          dlqConnected = true;
        }
        await dlq.send(opts.deadLetterTopic, part.map((p) => p.record));
        pending = pending.slice(part.length);
        delay = 200;
      } catch (e) {
        if (isTooLarge(e)) {
          const first = part[0];
          if (part.length > 1) {
            size = Math.ceil(part.length / 2);
            log.warn("consumer.dead_letter_split", { error: e, now: size });
          } else if (!first.truncated) {
            const { key, value } = first.m.raw;
            const bytes = String(value?.length ?? 0);
            first.truncated = true;
            first.record = {
              key: key ? utf8Prefix(key, 256) : null,
              value: value ? utf8Prefix(value, DLQ_TRUNCATE) : null,
              headers: {
                ...sourceHeaders(first.m, textPrefix(first.reason, DLQ_TRUNCATE)),
                [DLQ_HEADERS.truncated]: bytes,
              },
            };
            log.warn("consumer.dead_letter_truncated", {
              partition: batch.partition,
              offset: first.m.offset,
              bytes,
              error: e,
            });
          } else {
            dropped.add(first.m);
            pending = pending.slice(1);
            log.error("consumer.dead_letter_dropped", {
              partition: batch.partition,
              offset: first.m.offset,
              error: e,
            });
          }
          continue;
        }
        log.warn("consumer.dead_letter_retry", { error: e, retryInMs: delay });
        if (stopping() || !ctl.isRunning()) throw new Abandoned("dead-letter send");
        await sleep(delay, opts.signal).catch(() => {});
        delay = Math.min(delay * 2, 5_000);
      }
    }
    return dropped;
  };

  const handleChunk = async (batch: InBatch, chunk: InMessage[], ctl: BatchControl) => {
    const rows: SinkRow[] = [];
    const timestamps: number[] = [];
    const bad: { m: InMessage; reason: string; kind?: "unknownTicker" | "keyMismatch" }[] = [];
    const now = Date.now();
    const decoded = chunk.map((m) => ({
      m,
      d: m.notUtf8 === undefined
        ? decodeQuote(m.value, now)
        : { ok: false as const, reason: m.notUtf8 },
    }));
    const tickers = decoded.flatMap(({ d }) => d.ok ? [d.quote.ticker] : []);
    if (companies.wants(tickers)) {
      await withRetry(ctl, batch.partition, "read the company list", () => companies.refresh());
      status.companies = companies.size;
    }
    for (const { m, d } of decoded) {
      if (!d.ok) {
        bad.push({ m, reason: d.reason });
        continue;
      }
      const keyReason = keyProblem(m.key, d.quote.ticker);
      if (keyReason !== undefined) bad.push({ m, reason: keyReason, kind: "keyMismatch" });
      else if (!companies.accepts(d.quote.ticker)) {
        bad.push({ m, reason: unknownTickerReason(d.quote.ticker), kind: "unknownTicker" });
      } else {
        rows.push({ quote: d.quote, ref: `kafka:${batch.topic}/${batch.partition}/${m.offset}` });
        timestamps.push(m.timestamp);
      }
    }
    // Those sent: a record dropped (not even a truncated copy could be sent) was logged as such.
    let sent = bad;
    if (bad.length > 0) {
      const dropped = await sendDeadLetters(batch, bad, ctl);
      sent = bad.filter(({ m }) => !dropped.has(m));
      for (const { m, reason } of sent) {
        log.warn("consumer.dead_lettered", {
          partition: batch.partition,
          offset: m.offset,
          reason,
        });
      }
    }
    const last = chunk[chunk.length - 1];
    const nextOffset = last.offset + 1;
    const mark: RecordMark = { timestamp: last.timestamp, key: last.key };
    const records = `${batch.topic}/${batch.partition} offsets ${chunk[0].offset}-${last.offset}`;
    const pos = positions.get(batch.partition)!;
    const expected = pos.stored?.nextOffset ?? null;
    await withRetry(
      ctl,
      batch.partition,
      `write ${chunk.length} records (${records})`,
      () =>
        writeQuotesIn(warehouse, rows, {
          offsets: [{
            group: opts.group,
            topic: batch.topic,
            partition: batch.partition,
            nextOffset,
            last: mark,
            expected,
          }],
        }, { label: `stream consumer ${batch.topic}/${batch.partition}`, signal: opts.signal }),
    ).catch((e) => {
      if (e instanceof Abandoned) throw e;
      if (e instanceof OffsetMovedError) {
        // Rolled back: the partition is another consumer's now (or was), and what it stored is
        // read again before this consumer writes the partition next.
        positions.delete(batch.partition);
        log.warn("consumer.offset_moved", { partition: batch.partition, expected, error: e });
        throw new Abandoned(e.message);
      }
      // The crash would otherwise name only the fetched batch's first offset: name the records
      // of the failed transaction (the offending one is among them). The error itself is kept,
      // as kafkajs decides by its type whether to restart the consumer.
      if (e instanceof Error) e.message = `writing records ${records} failed: ${e.message}`;
      throw e;
    });
    // Written: from here on the records are never applied again.
    // (On a new object: a reassignment may have read the row again while this one was written.)
    positions.set(batch.partition, {
      stored: { nextOffset, last: mark },
      from: nextOffset,
      checked: true,
      sought: false,
      seq: ++reads,
    });
    c.transactions++;
    c.written += rows.length;
    c.deadLettered += sent.length;
    for (const { kind } of sent) if (kind !== undefined) c[kind]++;
    const lastBad = sent.at(-1);
    if (lastBad !== undefined) {
      status.lastDeadLetter = {
        reason: lastBad.reason,
        partition: batch.partition,
        offset: lastBad.m.offset,
        at: new Date().toISOString(),
      };
    }
    const committedAt = Date.now();
    status.lastWriteAt = new Date(committedAt).toISOString();
    if (rows.length > 0) status.lastMessageAt = new Date(last.timestamp).toISOString();
    ctl.resolveOffset(last.offset);
    opts.onCommit?.({
      partition: batch.partition,
      nextOffset,
      timestamps,
      committedAt,
    });
    report();
    return nextOffset;
  };

  // Batches being handled: at shutdown they finish (or abandon between two transactions) and
  // commit what they wrote before the consumer leaves the group.
  const active = new Set<Promise<void>>();
  const handler = (batch: InBatch, ctl: BatchControl): Promise<void> => {
    if (stopping()) return Promise.resolve(); // handed out after the stop: not ours any more
    const p = handleBatch(batch, ctl);
    active.add(p);
    const forget = () => active.delete(p);
    p.then(forget, forget);
    return p;
  };

  /**
   * Whether the topic is the one the warehouse stored the partition's offset for: the record
   * before that offset must be the one stored with it. Resolves "same", "recreated" (another
   * record there, or none: retention cannot have removed it unless everything after it was read
   * from its start anyway), "unknown" (the batch ends before it: records skipped as written) or
   * "wait" (the consumer is sent back to that record, or about to be: nothing is written).
   */
  const checkMark = (batch: InBatch, pos: Position, ctl: BatchControl) => {
    const { nextOffset, last } = pos.stored!;
    const at = batch.messages.find((m) => m.offset === nextOffset - 1);
    if (at !== undefined) return sameRecord(at, last!) ? "same" : "recreated";
    if (batch.messages[batch.messages.length - 1].offset < nextOffset - 1) return "unknown";
    if (ctl.isStale()) return "wait";
    if (pos.sought) return "recreated";
    pos.sought = true;
    consumer.seek(opts.topic, batch.partition, nextOffset - 1);
    return "wait";
  };

  const handleBatch = async (batch: InBatch, ctl: BatchControl) => {
    const partition = batch.partition;
    if (!positions.has(partition)) {
      await withRetry(ctl, partition, "read stored offsets", () => loadStored([partition]));
    }
    const pos = positions.get(partition)!;
    if (pos.stored === null && !rewound.has(partition)) {
      // Handed out before onAssigned sent the partition back to its start (below): not written.
      rewind(partition);
      return;
    }
    if (pos.from > batch.highWatermark) {
      // Every offset the warehouse stored was below the partition's high watermark when it was
      // read, and that never goes down: an offset past it belongs to an earlier topic of this
      // name (deleted and created again, or the broker's data folder replaced). Skipping up to it
      // would drop the new topic's records as "written"; its records are upserted by natural key,
      // so reading it from its start duplicates nothing.
      log.warn("consumer.offset_beyond_topic", {
        partition,
        stored: pos.from,
        highWatermark: batch.highWatermark,
        reason: "the topic was recreated since the warehouse stored its offset: reading it " +
          "from the start",
      });
      Object.assign(pos, { from: 0, checked: true });
    }
    if (!pos.checked) {
      const found = checkMark(batch, pos, ctl);
      if (found === "wait") return;
      if (found === "same") pos.checked = true;
      if (found === "recreated") {
        // A topic as long as the earlier one or longer: its end does not tell (see above).
        log.warn("consumer.topic_recreated", {
          partition,
          stored: pos.from,
          reason: `the record before offset ${pos.from} is not the one written last: the topic ` +
            "was recreated since the warehouse stored its offset, reading it from the start",
        });
        Object.assign(pos, { from: 0, checked: true });
        consumer.seek(opts.topic, partition, 0);
        return;
      }
    }
    const from = pos.from;
    c.consumed += batch.messages.length;
    const fresh = batch.messages.filter((m) => m.offset >= from);
    const skipped = batch.messages.length - fresh.length;
    if (skipped > 0) {
      c.skipped += skipped;
      log.info("consumer.skipped_written", { partition, skipped, from });
      if (fresh.length === 0) {
        ctl.resolveOffset(batch.messages[batch.messages.length - 1].offset);
        await ctl.commit(from).catch(() => {});
        report();
        return;
      }
    }
    // Kafka's commit follows the warehouse's, once per fetched batch (and for the part written
    // when the rest is abandoned): correctness rests on the offsets stored with the rows.
    let written: number | undefined;
    const commitWritten = async () => {
      if (written === undefined) return;
      try {
        await ctl.commit(written);
      } catch (e) {
        // The warehouse holds the offset; the next owner of the partition starts from there.
        c.commitErrors++;
        log.warn("consumer.kafka_commit_failed", { partition, next: written, error: e });
      }
    };
    try {
      for (let i = 0; i < fresh.length; i += opts.batchSize) {
        if (stopping() || !ctl.isRunning() || ctl.isStale()) break; // abandon the rest
        written = await handleChunk(batch, fresh.slice(i, i + opts.batchSize), ctl);
        await ctl.heartbeat().catch(() => {});
      }
    } catch (e) {
      if (!(e instanceof Abandoned)) throw e;
      log.info("consumer.batch_abandoned", { partition, reason: e.message });
    } finally {
      await commitWritten();
    }
  };

  await consumer.connect();
  let crashed: Error | undefined;
  const crashedPromise = new Promise<void>((resolve) => {
    consumer.run({
      topic: opts.topic,
      concurrency: opts.concurrency ?? 3,
      onAssigned: async (partitions) => {
        status.partitions = partitions;
        assigned.clear();
        for (const p of partitions) assigned.add(p);
        const { all, set } = await loadStored(partitions);
        for (const p of partitions) {
          if (!set.has(p)) continue; // its first batch read it meanwhile (handleBatch)
          const o = all.get(p);
          // A stored mark is checked with the partition's first batch (checkMark).
          if (o !== undefined) consumer.seek(opts.topic, p, o.nextOffset);
          else rewind(p);
        }
        log.info("consumer.resumed_from_warehouse", {
          partitions: Object.fromEntries(
            partitions.map((p) => [p, all.get(p)?.nextOffset ?? "start"]),
          ),
        });
        report();
      },
      onCrash: (error, restarting) => {
        // A new broker's first join often meets its group coordinator still loading: kafkajs
        // restarts the consumer and it goes on, which is no error to alarm anyone with. Nor is
        // a broker that does not answer, told once per outage as kafka.unreachable.
        if (restarting && isUnreachable(error)) log.debug("consumer.restarting", { error });
        else if (restarting && isTransientKafkaError(error)) {
          log.warn("consumer.restarting", { error });
        } else log.error("consumer.crashed", { error, restarting });
        if (!restarting) {
          crashed = error;
          resolve();
        }
      },
    }, handler).catch((e) => {
      crashed = e;
      resolve();
    });
  });
  report();
  log.info("consumer.started", { topic: opts.topic, group: opts.group, batchSize: opts.batchSize });

  await new Promise<void>((resolve) => {
    if (opts.signal?.aborted) return resolve();
    opts.signal?.addEventListener("abort", () => resolve(), { once: true });
    crashedPromise.then(() => resolve());
  });
  log.info("consumer.stopping", { ...c });
  await Promise.allSettled([...active]);
  await consumer.disconnect().catch((e) => log.warn("consumer.disconnect_failed", { error: e }));
  if (dlqConnected) await dlq.disconnect().catch(() => {});
  status.finished = !crashed;
  report();
  if (crashed) throw crashed;
  return c;
}

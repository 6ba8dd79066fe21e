/**
 * The producer: polls a market source and publishes each poll's quotes to the quotes topic
 * (idempotent producer, key = ticker, one send per poll). Quotes are validated before
 * publishing; invalid ones and per-symbol source failures are counted as `failed` and logged.
 *
 * Polling and sending are decoupled by a bounded buffer: when the broker is down the producer
 * keeps polling, retries sending with backoff, and holds at most `maxBuffered` messages; beyond
 * that a live source's OLDEST messages are dropped, counted and logged (never silently), while
 * a replay (not live) waits for room instead (backpressure: it loses nothing). However the
 * producer ends (the source ends or throws, or the signal aborts), what is still undelivered is
 * counted and logged as dropped and the sender is disconnected; a source's error is then rethrown.
 */
import type { MarketSource } from "../market/sources/source.ts";
import { sleep } from "../market/sources/source.ts";
import { isTooLarge, type OutMessage } from "./kafka.ts";
import { type Logger, silentLogger } from "./log.ts";
import { encodeQuote } from "./message.ts";
import { cairoDate, calendarGap } from "../market/calendar.ts";

/** What the producer needs from Kafka (KafkaProducer, or anything that behaves the same). */
export interface QuoteSender {
  connect(): Promise<void>;
  send(topic: string, messages: readonly OutMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface ProducerCounters {
  polls: number;
  /** Quotes the source returned. */
  polled: number;
  /** Messages acknowledged by Kafka. */
  published: number;
  /** Symbols that failed at the source plus quotes that failed validation. */
  failed: number;
  /** Messages dropped because the buffer was full (or undelivered at shutdown). */
  dropped: number;
  /** Failed send attempts (each retried). */
  sendErrors: number;
  /** Messages waiting to be sent right now. */
  buffered: number;
}

export interface ProducerStatus {
  pid: number;
  source: string;
  startedAt: string;
  updatedAt: string;
  lastPollAt?: string;
  lastPublishAt?: string;
  counters: ProducerCounters;
  finished: boolean;
}

export interface ProducerOptions {
  topic: string;
  /** Most messages held while Kafka is unreachable (default 50,000). */
  maxBuffered?: number;
  /** Most messages per send (default 1,000: well under the broker's 1 MB request batch). */
  maxSendBatch?: number;
  /** Send retry backoff: first delay and cap, ms. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** At shutdown, how long to keep trying to deliver what is buffered, ms (default 10 s). */
  drainTimeoutMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
  /**
   * Called with the status at start, after every poll and every send (e.g. to write a status
   * file).
   */
  onStatus?: (s: ProducerStatus) => void;
}

/** Run until the source ends (then deliver everything buffered) or `signal` aborts. */
export async function runProducer(
  source: MarketSource,
  sender: QuoteSender,
  opts: ProducerOptions,
): Promise<ProducerCounters> {
  const log = opts.logger ?? silentLogger;
  const maxBuffered = opts.maxBuffered ?? 50_000;
  const maxSendBatch = opts.maxSendBatch ?? 1_000;
  const c: ProducerCounters = {
    polls: 0,
    polled: 0,
    published: 0,
    failed: 0,
    dropped: 0,
    sendErrors: 0,
    buffered: 0,
  };
  const status: ProducerStatus = {
    pid: Deno.pid,
    source: source.name,
    startedAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    counters: c,
    finished: false,
  };
  const report = () => {
    c.buffered = queue.length + inflight.length;
    status.updatedAt = new Date().toISOString();
    opts.onStatus?.(status);
  };
  let queue: OutMessage[] = [];
  let inflight: OutMessage[] = [];
  let wake: (() => void) | undefined;
  let roomFreed: (() => void) | undefined;
  let sourceDone = false;
  let connected = false;

  const enqueue = (messages: OutMessage[]) => {
    queue.push(...messages);
    // A replay never drops here: it waited for room (see below), and at shutdown whatever is
    // left is counted once, as undelivered.
    const excess = source.live ? queue.length + inflight.length - maxBuffered : 0;
    if (excess > 0) {
      const gone = queue.slice(0, excess);
      queue = queue.slice(excess);
      c.dropped += gone.length;
      log.error("producer.dropped", {
        count: gone.length,
        reason: `buffer full (${maxBuffered} messages) while Kafka is unreachable`,
        tickers: [...new Set(gone.map((m) => m.key))],
        totalDropped: c.dropped,
      });
    }
    wake?.();
  };

  // The sender: takes up to maxSendBatch messages at a time, retries with backoff until sent.
  const sendLoop = async (stop: AbortSignal) => {
    let delay = opts.retryInitialMs ?? 200;
    while (true) {
      if (inflight.length === 0) {
        if (queue.length === 0) {
          if (sourceDone || stop.aborted) return;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        inflight = queue.slice(0, maxSendBatch);
        queue = queue.slice(inflight.length);
      }
      try {
        if (!connected) {
          await sender.connect();
          connected = true;
          log.info("producer.connected");
        }
        await sender.send(opts.topic, inflight);
        c.published += inflight.length;
        status.lastPublishAt = new Date().toISOString();
        inflight = [];
        roomFreed?.();
        delay = opts.retryInitialMs ?? 200;
        report();
      } catch (e) {
        c.sendErrors++;
        if (isTooLarge(e)) {
          // Not retriable as it is: halve the batch (the rest goes back to the queue's front);
          // a single message too large for the broker is a failure, reported and skipped.
          if (inflight.length > 1) {
            const half = Math.ceil(inflight.length / 2);
            queue = [...inflight.slice(half), ...queue];
            inflight = inflight.slice(0, half);
            log.warn("producer.batch_split", { error: e, now: inflight.length });
          } else {
            c.failed++;
            log.error("producer.message_too_large", {
              key: inflight[0]?.key,
              bytes: inflight[0]?.value.length,
              error: e,
            });
            inflight = [];
            roomFreed?.();
          }
          continue;
        }
        log.warn("producer.send_failed", {
          error: e,
          pending: inflight.length + queue.length,
          retryInMs: delay,
        });
        report();
        if (stop.aborted) return;
        await sleep(delay, stop).catch(() => {});
        delay = Math.min(delay * 2, opts.retryMaxMs ?? 5_000);
      }
    }
  };

  const wakeWaiters = () => roomFreed?.();
  opts.signal?.addEventListener("abort", wakeWaiters, { once: true });
  // Stops the sender at shutdown after the drain timeout.
  const drainStop = new AbortController();
  const sender$ = sendLoop(drainStop.signal);
  // Reported at once, not only after the first poll: a live source outside the session polls
  // nothing for hours (days over a weekend), and without a status file health_check took the
  // running producer for one that never ran. The status writer's heartbeat starts from here.
  report();
  let calendarWarned: string | undefined;
  // The source's error (not one of an abort): rethrown once the tail below has run, so what was
  // left undelivered is counted and logged and the sender disconnected on every exit.
  let failed: { error: unknown } | undefined;
  try {
    for await (const poll of source.polls(opts.signal)) {
      c.polls++;
      c.polled += poll.quotes.length;
      const out: OutMessage[] = [];
      const now = Date.now();
      for (const q of poll.quotes) {
        const m = encodeQuote(q, now);
        if ("error" in m) {
          c.failed++;
          log.warn("producer.invalid_quote", {
            ticker: q.ticker,
            barStart: q.barStart,
            reason: m.error,
          });
        } else out.push(m);
      }
      for (const f of poll.failures) {
        c.failed++;
        log.warn("producer.symbol_failed", { ticker: f.ticker, reason: f.reason, pollAt: poll.at });
      }
      status.lastPollAt = poll.at;
      // A live poll on a date whose holidays the calendar does not know: said once a day.
      const gap = source.live ? calendarGap(cairoDate(Date.parse(poll.at))) : undefined;
      if (gap !== undefined && gap !== calendarWarned) {
        log.warn("producer.calendar_unknown", { reason: gap });
        calendarWarned = gap;
      }
      if (!source.live) {
        // Backpressure: a replay waits until the buffer has room for this poll.
        while (
          !opts.signal?.aborted && queue.length + inflight.length > 0 &&
          queue.length + inflight.length + out.length > maxBuffered
        ) {
          await new Promise<void>((r) => (roomFreed = r));
          roomFreed = undefined;
        }
      }
      if (out.length > 0) enqueue(out);
      log.debug("producer.polled", {
        at: poll.at,
        quotes: poll.quotes.length,
        failures: poll.failures.length,
      });
      report();
    }
  } catch (e) {
    // After an abort the source's error is the abort's: stop as on the signal, draining.
    if (!opts.signal?.aborted) failed = { error: e };
  } finally {
    sourceDone = true;
    // A failed source does not wait for the buffer's delivery: the sender stops at its next
    // failed send (it sends on while sends succeed, until the buffer is empty).
    if (failed) drainStop.abort();
    wake?.();
  }
  // Deliver what is buffered: until done when the source ended, for a bounded time once the
  // signal aborts (now or later).
  let timer: ReturnType<typeof setTimeout> | undefined;
  const startDrainTimer = () => {
    timer = setTimeout(() => {
      drainStop.abort();
      wake?.();
    }, opts.drainTimeoutMs ?? 10_000);
  };
  if (opts.signal?.aborted) startDrainTimer();
  else opts.signal?.addEventListener("abort", startDrainTimer, { once: true });
  await sender$;
  clearTimeout(timer);
  opts.signal?.removeEventListener("abort", startDrainTimer);
  opts.signal?.removeEventListener("abort", wakeWaiters);
  const undelivered = queue.length + inflight.length;
  if (undelivered > 0) {
    c.dropped += undelivered;
    log.error("producer.dropped", {
      count: undelivered,
      reason: "undelivered at shutdown (Kafka unreachable)",
      totalDropped: c.dropped,
    });
    queue = [];
    inflight = [];
  }
  if (connected) await sender.disconnect().catch(() => {});
  status.finished = !failed;
  report();
  if (failed) throw failed.error;
  log.info("producer.stopped", { ...c });
  return c;
}

/**
 * Progress of a long load: on a terminal one line rewritten in place (files, rows, rows/s, ETA);
 * otherwise (logs, CI) a plain line every `intervalMs` and at the end.
 *
 * Lines move while a group of files loads, not only when it finishes: `group()` takes the
 * load's GroupProgress (DuckDB's polled progress of reading the files) and a timer keeps the
 * line going through the validation and upsert that follow, which report no progress of their
 * own. Rows read so far are DuckDB's estimate while it reads (shown as `~N rows`), exact once read.
 * The ETA is by bytes: a group counts as READ_SHARE done when its files are read, and after that
 * it is assumed to go on at the pace its read set, up to MAX_GROUP_SHARE until it finishes.
 */
import type { GroupProgress } from "./load.ts";

/**
 * The share of a group's load time spent reading its files, measured (a fresh warehouse, the
 * files of bench/ingest_bench.ts): 0.37-0.40 for a 1,000,000-row canonical daily CSV, 0.25-0.27
 * for the bundled bars_1m.
 */
const READ_SHARE = 1 / 3;
/** A group that takes longer than its read predicts stays at this share until it finishes. */
const MAX_GROUP_SHARE = 0.95;
/** The share of all bytes done before finished files alone give an ETA. */
const MIN_PACED_SHARE = 0.01;

export interface ProgressOptions {
  /** Rewrite one line in place (default: stderr is a terminal). */
  tty?: boolean;
  /**
   * How often to print when not on a terminal (default 10 s). 0: a line for every finished
   * group, none while a group loads.
   */
  intervalMs?: number;
  /** How often the line is redrawn on a terminal while a group loads (default 500 ms). */
  redrawMs?: number;
  /** How often the load polls DuckDB's progress (LoadOptions.progressIntervalMs, default 500 ms). */
  pollMs?: number;
  /** Where lines go (default: stderr). */
  write?: (text: string) => void;
  /** Clock (ms), for tests. */
  now?: () => number;
}

interface Group extends GroupProgress {
  startedAt: number;
  readAt: number | null;
}

export class Progress {
  readonly #totalFiles: number;
  readonly #totalBytes: number;
  readonly #tty: boolean;
  readonly #interval: number;
  readonly #redraw: number;
  readonly #write: (t: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  #files = 0;
  #bytes = 0;
  #rows = 0;
  #group: Group | null = null;
  #lastPrint: number;
  /** What the last line printed off a terminal showed (files, rows, the group). */
  #printed = "";
  #timer: ReturnType<typeof setInterval> | null = null;
  #finished = false;

  constructor(
    readonly label: string,
    totalFiles: number,
    totalBytes: number,
    opts: ProgressOptions = {},
  ) {
    this.#totalFiles = totalFiles;
    this.#totalBytes = totalBytes;
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
    this.#interval = opts.intervalMs ?? 10_000;
    this.#redraw = opts.redrawMs ?? 500;
    const enc = new TextEncoder();
    this.#write = opts.write ?? ((t) => Deno.stderr.writeSync(enc.encode(t)));
    this.#now = opts.now ?? (() => performance.now());
    this.#start = this.#now();
    // Off a terminal the first line is due an interval after the start: a load shorter than
    // that prints only its final line.
    this.#lastPrint = this.#start;
  }

  /** How much of the running group is done, for the ETA (0 - MAX_GROUP_SHARE). */
  #groupShare(g: Group, now: number): number {
    if (g.readAt === null) return READ_SHARE * g.read;
    const readMs = g.readAt - g.startedAt;
    if (readMs <= 0) return READ_SHARE;
    return Math.min(
      Math.max(READ_SHARE * (now - g.startedAt) / readMs, READ_SHARE),
      MAX_GROUP_SHARE,
    );
  }

  /** The current state as one line. */
  line(): string {
    return this.#line(this.#now());
  }

  #line(now: number): string {
    const secs = Math.max((now - this.#start) / 1000, 1e-3);
    const g = this.#group;
    const rows = this.#rows + (g?.rows ?? 0);
    const bytes = this.#bytes + (g ? g.bytes * this.#groupShare(g, now) : 0);
    const rate = rows / secs;
    const left = bytes > 0 && this.#totalBytes > bytes
      ? (secs * (this.#totalBytes - bytes)) / bytes
      : 0;
    // Small files done first say little of the pace (their fixed cost weighs most): no ETA
    // until a hundredth of the bytes is done or a group is being read.
    const paced = bytes >= this.#totalBytes * MIN_PACED_SHARE || (g !== null && g.read > 0);
    const eta = this.#files >= this.#totalFiles
      ? "done"
      : bytes > 0 && paced
      ? `ETA ${Math.ceil(left)} s`
      : "ETA ?";
    const estimated = g !== null && !g.readDone && g.rows > 0 ? "~" : "";
    return `${this.label}: ${this.#files}/${this.#totalFiles} files, ` +
      `${estimated}${rows.toLocaleString("en-US")} rows, ` +
      `${Math.round(rate).toLocaleString("en-US")} rows/s, ${eta}`;
  }

  #print(): void {
    const now = this.#now();
    if (this.#tty) {
      this.#write(`\r${this.#line(now)}\x1b[K`);
    } else if (now - this.#lastPrint >= this.#interval) {
      this.#lastPrint = now;
      this.#printed = this.#state();
      this.#write(`${this.#line(now)}\n`);
    }
  }

  #state(): string {
    const g = this.#group === null ? "" : JSON.stringify(this.#group);
    return `${this.#files} ${this.#rows} ${g}`;
  }

  /**
   * A group of files is loading (LoadOptions.onProgress). On a terminal the line is redrawn
   * now; otherwise the timer prints it when a line is due.
   */
  group(p: GroupProgress): void {
    if (this.#finished) return;
    const now = this.#now();
    const g = this.#group;
    const started = g === null || g.group !== p.group ? now : g.startedAt;
    const readAt = p.readDone ? (g?.group === p.group && g.readAt !== null ? g.readAt : now) : null;
    this.#group = { ...p, startedAt: started, readAt };
    if (this.#tty) this.#print();
    this.#startTimer();
  }

  #startTimer(): void {
    if (this.#timer !== null) return;
    const every = this.#tty ? this.#redraw : Math.min(this.#interval, 2000) / 2;
    if (every <= 0) return;
    const timer = setInterval(() => this.#print(), every);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Files finished (with their bytes and rows): the running group, if any, is over. */
  advance(files: number, bytes: number, rows: number): void {
    this.#files += files;
    this.#bytes += bytes;
    this.#rows += rows;
    this.#group = null;
    this.#print();
  }

  /** Print the final line (and stop the timer). */
  finish(): void {
    this.#finished = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#group = null;
    if (this.#tty) this.#write(`\r${this.line()}\x1b[K\n`);
    // Not the same files and rows again (the last file's line was due just before).
    else if (this.#state() !== this.#printed) this.#write(`${this.line()}\n`);
  }
}

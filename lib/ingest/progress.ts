/**
 * Progress of a long load: on a terminal one line rewritten in place (files, rows, rows/s, ETA);
 * otherwise (logs, CI) a plain line every `intervalMs` and at the end.
 */
export interface ProgressOptions {
  /** Rewrite one line in place (default: stderr is a terminal). */
  tty?: boolean;
  /** How often to print when not on a terminal (default 10 s). */
  intervalMs?: number;
  /** Where lines go (default: stderr). */
  write?: (text: string) => void;
  /** Clock (ms), for tests. */
  now?: () => number;
}

export class Progress {
  readonly #totalFiles: number;
  readonly #totalBytes: number;
  readonly #tty: boolean;
  readonly #interval: number;
  readonly #write: (t: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  #files = 0;
  #bytes = 0;
  #rows = 0;
  #lastPrint = -Infinity;

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
    const enc = new TextEncoder();
    this.#write = opts.write ?? ((t) => Deno.stderr.writeSync(enc.encode(t)));
    this.#now = opts.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** The current state as one line. */
  line(): string {
    const secs = Math.max((this.#now() - this.#start) / 1000, 1e-3);
    const rate = this.#rows / secs;
    const left = this.#bytes > 0 && this.#totalBytes > this.#bytes
      ? (secs * (this.#totalBytes - this.#bytes)) / this.#bytes
      : 0;
    const eta = this.#files >= this.#totalFiles
      ? "done"
      : this.#bytes > 0
      ? `ETA ${Math.ceil(left)} s`
      : "ETA ?";
    return `${this.label}: ${this.#files}/${this.#totalFiles} files, ` +
      `${this.#rows.toLocaleString("en-US")} rows, ` +
      `${Math.round(rate).toLocaleString("en-US")} rows/s, ${eta}`;
  }

  /** Files finished (with their bytes and rows). */
  advance(files: number, bytes: number, rows: number): void {
    this.#files += files;
    this.#bytes += bytes;
    this.#rows += rows;
    const now = this.#now();
    if (this.#tty) {
      this.#write(`\r${this.line()}\x1b[K`);
    } else if (now - this.#lastPrint >= this.#interval) {
      this.#lastPrint = now;
      this.#write(`${this.line()}\n`);
    }
  }

  /** Print the final line. */
  finish(): void {
    this.#write(this.#tty ? `\r${this.line()}\x1b[K\n` : `${this.line()}\n`);
  }
}

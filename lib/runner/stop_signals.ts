/**
 * SIGINT/SIGTERM/SIGHUP for the runner's commands (`run`, `schedule`): the first signal starts a
 * clean stop, a later one is acknowledged (running jobs still get their kill_grace, then SIGKILL).
 * SIGHUP (a closed terminal or ssh session) used to end the runner outright: its run stayed
 * `running` until the next look marked it abandoned, and a job that does not watch its runner ran
 * on past its timeout. A SIGHUP ignored when the process started (`nohup`) stays ignored (it
 * ended the runner too).
 * `deno task` passes a terminal's Ctrl-C on, so one press can arrive twice at once: a signal within
 * a second of the first is the same request and says nothing.
 */

/** Signals this close to the first one are part of the same stop request. */
const SAME_REQUEST_MS = 1000;

/** hangupIgnored() at the first onStopSignals: later, Deno's own catch has cleared the bit. */
let hupIgnoredAtStart: boolean | undefined;

export interface StopSignals {
  /** The first signal received, if any. */
  readonly received: Deno.Signal | undefined;
  /** Stop listening. */
  remove(): void;
}

export function onStopSignals(handlers: {
  first: (sig: Deno.Signal) => void;
  again: (sig: Deno.Signal) => void;
}): StopSignals {
  let received: Deno.Signal | undefined;
  let receivedAt = 0;
  const listen = (sig: Deno.Signal) => () => {
    if (received === undefined) {
      received = sig;
      receivedAt = Date.now();
      handlers.first(sig);
    } else if (Date.now() - receivedAt >= SAME_REQUEST_MS) {
      handlers.again(sig);
    }
  };
  hupIgnoredAtStart ??= hangupIgnored();
  const listeners: [Deno.Signal, () => void][] = [
    ["SIGINT", listen("SIGINT")],
    ["SIGTERM", listen("SIGTERM")],
    // Once any signal is listened to, Deno catches SIGHUP too, even one ignored at the start, and
    // ends the process on it when nothing listens: under nohup it must be listened to, and
    // ignored.
    ["SIGHUP", hupIgnoredAtStart ? () => {} : listen("SIGHUP")],
  ];
  for (const [s, l] of listeners) Deno.addSignalListener(s, l);
  return {
    get received() {
      return received;
    },
    remove() {
      for (const [s, l] of listeners) Deno.removeSignalListener(s, l);
    },
  };
}

/**
 * Whether SIGHUP was ignored when this process started (`nohup`: Linux /proc/self/status SigIgn,
 * bit 0). When that cannot be read (no /proc), false: SIGHUP stops the runner cleanly, where it
 * used to end it outright. Read before any signal listener (Deno's catch clears the bit).
 */
export function hangupIgnored(status?: string): boolean {
  try {
    const text = status ?? Deno.readTextFileSync("/proc/self/status");
    const m = /^SigIgn:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
    return m !== null && (BigInt(`0x${m[1]}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

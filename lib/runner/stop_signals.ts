/**
 * SIGINT/SIGTERM for the runner's commands (`run`, `schedule`): the first signal starts a clean
 * stop, a later one is acknowledged (running jobs still get their kill_grace, then SIGKILL).
 * `deno task` passes a terminal's Ctrl-C on, so one press can arrive twice at once: a signal within
 * a second of the first is the same request and says nothing.
 */

/** Signals this close to the first one are part of the same stop request. */
const SAME_REQUEST_MS = 1000;

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
  const listeners = (["SIGINT", "SIGTERM"] as const).map((s) => [s, listen(s)] as const);
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

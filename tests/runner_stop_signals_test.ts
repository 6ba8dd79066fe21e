import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { hangupIgnored, onStopSignals } from "../lib/runner/stop_signals.ts";

/** Send a real signal to this process and wait until `seen` has grown (or 2 s passed). */
async function send(sig: Deno.Signal, seen: string[], expectGrowth: boolean) {
  const before = seen.length;
  Deno.kill(Deno.pid, sig);
  const until = Date.now() + (expectGrowth ? 2000 : 200);
  while (Date.now() < until && seen.length === before) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("the first stop signal starts the stop; one within a second is the same request; a later one is acknowledged", async () => {
  const seen: string[] = [];
  const signals = onStopSignals({
    first: (sig) => seen.push(`first ${sig}`),
    again: (sig) => seen.push(`again ${sig}`),
  });
  try {
    assertEquals(signals.received, undefined);
    await send("SIGTERM", seen, true);
    assertEquals([seen, signals.received], [["first SIGTERM"], "SIGTERM"]);
    // (SIGTERM only: `deno test` itself stops on a SIGINT; the run CLI's test sends SIGINTs.)
    await send("SIGTERM", seen, false); // e.g. a terminal's Ctrl-C passed on by `deno task`
    assertEquals(seen, ["first SIGTERM"]);
    await new Promise((r) => setTimeout(r, 1000));
    await send("SIGTERM", seen, true);
    assertEquals([seen, signals.received], [["first SIGTERM", "again SIGTERM"], "SIGTERM"]);
  } finally {
    signals.remove();
  }
});

Deno.test("SIGHUP stops the runner unless it was ignored at the start (nohup)", () => {
  const status = (ign: string) => `Name:\tdeno\nSigBlk:\t0000000000000000\nSigIgn:\t${ign}\n`;
  assertEquals(hangupIgnored(status("0000000000001000")), false); // SIGPIPE only, as Deno sets it
  assertEquals(hangupIgnored(status("0000000000001001")), true); // nohup
  assertEquals(hangupIgnored("Name:\tdeno\n"), false); // cannot tell: a clean stop
});

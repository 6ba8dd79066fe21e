/**
 * A test job whose behaviour is chosen by flags (used by tests/runner*_test.ts only).
 *
 *   deno run --allow-write=<dir> tests/testdata/runner/jobs/behave.ts [--pad bytes] [--say text]
 *     [--say-env text]
 *     [--sleep ms] [--exit N] [--nothing reason] [--fail-first N] [--record file]
 *     [--pidfile file] [--ignore-term] [--wait-for file]
 *
 * `--pad n` prints n bytes of lines of dots first (a long log), before what `--say` prints.
 * `--say-env text` writes text with each `{NAME}` replaced by that variable's value straight to
 * stdout, past the console's masking (as a native library would).
 * `--wait-for file` waits until the file exists (a test lets the job end by creating it; reading
 * it needs --allow-read too).
 */
import { parseArgs } from "node:util";
import { jobContext, nothingToDo, runJob } from "../../../../lib/runner/job.ts";

const HELP = "behave.ts: a configurable test job (see the header comment)";

if (import.meta.main) {
  await runJob({ name: "behave", help: HELP }, async (args, signal) => {
    const { values } = parseArgs({
      args,
      options: {
        pad: { type: "string" },
        say: { type: "string", multiple: true },
        "say-env": { type: "string" },
        sleep: { type: "string" },
        exit: { type: "string" },
        nothing: { type: "string" },
        "fail-first": { type: "string" },
        record: { type: "string" },
        pidfile: { type: "string" },
        "ignore-term": { type: "boolean" },
        "wait-for": { type: "string" },
      },
    });
    const ctx = jobContext();
    const started = Date.now();
    // Ends with a newline, so that a test polling the file can tell it is whole.
    if (values.pidfile) Deno.writeTextFileSync(values.pidfile, `${Deno.pid}\n`);
    if (values.pad) {
      const n = Number(values.pad);
      const last = n % 100 ? `${".".repeat(n % 100 - 1)}\n` : "";
      const bytes = new TextEncoder().encode(
        `${".".repeat(99)}\n`.repeat(Math.floor(n / 100)) + last,
      );
      for (let i = 0; i < bytes.length;) i += Deno.stdout.writeSync(bytes.subarray(i));
    }
    for (const s of values.say ?? []) console.log(s);
    if (values["say-env"]) {
      const text = values["say-env"].replace(/\{(\w+)\}/g, (_, n) => Deno.env.get(n) ?? "");
      const bytes = new TextEncoder().encode(`${text}\n`);
      for (let i = 0; i < bytes.length;) i += Deno.stdout.writeSync(bytes.subarray(i));
    }
    if (values["ignore-term"]) {
      Deno.addSignalListener("SIGTERM", () => console.log("ignoring SIGTERM"));
    }
    if (values.sleep) {
      const ms = Number(values.sleep);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, ms);
        if (!values["ignore-term"]) {
          signal.addEventListener("abort", () => {
            clearTimeout(t);
            reject(signal.reason);
          });
        }
      });
    }
    const gate = values["wait-for"];
    while (gate !== undefined && !exists(gate)) {
      signal.throwIfAborted();
      await new Promise((r) => setTimeout(r, 20));
    }
    if (values.record) {
      const line = `${ctx.job} ${ctx.attempt} ${started} ${Date.now()} ${ctx.runId}\n`;
      Deno.writeTextFileSync(values.record, line, { append: true });
    }
    if (values["fail-first"] && (ctx.attempt ?? 1) <= Number(values["fail-first"])) {
      throw new Error(`failing attempt ${ctx.attempt} on purpose`);
    }
    if (values.nothing) nothingToDo(values.nothing);
    if (values.exit) return Number(values.exit);
  });
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

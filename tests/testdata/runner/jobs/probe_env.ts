/**
 * A test job that reports what it can see: the variables and files named on the command line.
 * Prints `NAME=value`, `NAME denied` or `NAME unset`; `file PATH: N bytes` or `file PATH denied`;
 * for `--import SPECIFIER` (a remote module or npm package) `import SPECIFIER: loaded` or the
 * first line of its error.
 * With `--pidfile F --hold MS` it writes its pid and stays alive MS ms, so a test can inspect
 * its whole process environment from outside (/proc/PID/environ).
 *
 *   deno run --allow-env=VISIBLE --allow-read=secret.txt --allow-write=pid \
 *     tests/testdata/runner/jobs/probe_env.ts --env VISIBLE --env SECRET --file secret.txt
 */
import { parseArgs } from "node:util";
import { runJob } from "../../../../lib/runner/job.ts";

if (import.meta.main) {
  await runJob(
    { name: "probe_env", help: "probe_env.ts: see the header comment" },
    async (args) => {
      const { values } = parseArgs({
        args,
        options: {
          env: { type: "string", multiple: true },
          file: { type: "string", multiple: true },
          import: { type: "string", multiple: true },
          pidfile: { type: "string" },
          hold: { type: "string" },
        },
      });
      for (const name of values.env ?? []) {
        try {
          const v = Deno.env.get(name);
          console.log(v === undefined ? `${name} unset` : `${name}=${v}`);
        } catch (e) {
          console.log(`${name} denied (${(e as Error).name})`);
        }
      }
      for (const path of values.file ?? []) {
        try {
          console.log(`file ${path}: ${Deno.readFileSync(path).length} bytes`);
        } catch (e) {
          console.log(`file ${path} denied (${(e as Error).name})`);
        }
      }
      for (const specifier of values.import ?? []) {
        try {
          await import(specifier);
          console.log(`import ${specifier}: loaded`);
        } catch (e) {
          console.log(`import ${specifier}: ${(e as Error).message.split("\n")[0]}`);
        }
      }
      if (values.pidfile) Deno.writeTextFileSync(values.pidfile, String(Deno.pid));
      if (values.hold) await new Promise((r) => setTimeout(r, Number(values.hold)));
    },
  );
}

/**
 * A test job that reports what it can see: the variables and files named on the command line.
 * Prints `NAME=value`, `NAME denied` or `NAME unset`; `file PATH: N bytes` or `file PATH denied`;
 * and whether its whole process environment (/proc/self/environ, when readable) holds SECRET.
 *
 *   deno run --allow-env=VISIBLE --allow-read=/proc/self/environ \
 *     tests/testdata/runner/jobs/probe_env.ts --env VISIBLE --env SECRET --file secret.txt
 */
import { parseArgs } from "node:util";
import { runJob } from "../../../../lib/runner/job.ts";

if (import.meta.main) {
  await runJob({ name: "probe_env", help: "probe_env.ts: see the header comment" }, (args) => {
    const { values } = parseArgs({
      args,
      options: {
        env: { type: "string", multiple: true },
        file: { type: "string", multiple: true },
        environ: { type: "boolean" },
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
    if (values.environ) {
      const names = new TextDecoder().decode(Deno.readFileSync("/proc/self/environ"))
        .split("\0").filter(Boolean).map((kv) => kv.split("=")[0]).sort();
      console.log(`environ: ${names.join(",")}`);
    }
  });
}

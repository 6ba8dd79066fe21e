/**
 * models_test: run the data tests declared beside the models (the dbt test of the original
 * pipeline). Stores failing rows in DWH_AUDIT.<test> and every result in DWH_AUDIT.TEST_RESULTS,
 * target/test_results.json (this run) and target/test_status.json (the latest of every test); a
 * run without --select/--name forgets removed tests. Fails (exit 1) when an error-severity test
 * fails, reports warnings.
 *
 *   deno run --allow-read=models,target,data,node_modules --allow-write=target,data --allow-ffi \
 *     '--allow-env=EGX_WAREHOUSE,EGX_AS_OF,EGX_LANDING,SNOWFLAKE_*,LOG_TOKENS,LOG_STREAM,TMPDIR,TMP,TEMP' \
 *     --allow-net=127.0.0.1 --allow-sys=uid,homedir,osRelease,cpus,networkInterfaces,hostname \
 *     jobs/models_test.ts
 *
 * (--allow-ffi is for the DuckDB binding; it lets native code bypass the other permissions.)
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config/config.ts";
import { loadProject } from "../lib/models/project.ts";
import { runTests } from "../lib/models/test_run.ts";
import { runJob } from "../lib/runner/job.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";

const HELP = `Usage: jobs/models_test.ts [--select SELECTOR]... [--name TEST]... [--quiet]

Runs the data tests (generic tests from the models' YAML and singular tests in models/tests/)
against the warehouse (EGX_WAREHOUSE). Freshness tests use the EGX calendar and "now" = EGX_AS_OF
(or the bundled sample's end on the sample).

  --select, -s SEL   only the tests of the selected models (same syntax as models_run)
  --name TEST        only this test (repeatable)
  --quiet            print only tests that did not pass`;

if (import.meta.main) {
  await runJob({ name: "models_test", help: HELP }, async (args, signal) => {
    const { values } = parseArgs({
      args,
      options: {
        select: { type: "string", short: "s", multiple: true },
        name: { type: "string", multiple: true },
        quiet: { type: "boolean" },
      },
    });
    const project = await loadProject(".");
    const config = loadConfig();
    const wh = await openWarehouse(config.warehouse, { signal, mustExist: true });
    try {
      const r = await runTests(wh, project, {
        asOf: config.asOf,
        select: values.select,
        names: values.name,
        signal,
        log: (l) => {
          if (!values.quiet || !l.startsWith("PASS")) console.log(l);
        },
      });
      const c = r.counts;
      console.log(
        `models_test: ${r.results.length} test(s): ${c.pass} pass, ${c.warn} warn, ${c.fail} fail, ` +
          `${c.error} error in ${(r.durationMs / 1000).toFixed(2)} s ` +
          `(as of ${config.asOf.toISOString()})`,
      );
      return r.ok ? 0 : 1;
    } finally {
      await wh.close();
    }
  });
}

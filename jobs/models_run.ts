/**
 * models_run: build the silver/gold models (the dbt run of the original pipeline), in DAG order,
 * one transaction per model. A failing model is reported with its file, the warehouse's message
 * and the compiled SQL path; its downstream models are skipped; exit 1.
 *
 *   deno run --allow-read=models,target,data,node_modules --allow-write=target,data --allow-ffi \
 *     '--allow-env=EGX_WAREHOUSE,EGX_AS_OF,EGX_LANDING,SNOWFLAKE_*,LOG_TOKENS,LOG_STREAM,TMPDIR,TMP,TEMP' \
 *     --allow-net=127.0.0.1 --allow-sys=uid,homedir,osRelease,cpus,networkInterfaces,hostname \
 *     jobs/models_run.ts --select staging
 *
 * (--allow-ffi is for the DuckDB binding; it lets native code bypass the other permissions.)
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config/config.ts";
import { loadProject } from "../lib/models/project.ts";
import { runModels } from "../lib/models/run.ts";
import { runJob } from "../lib/runner/job.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";

const HELP = `Usage: jobs/models_run.ts [--select SELECTOR]... [--full-refresh]

Builds the models under models/ into the warehouse (EGX_WAREHOUSE), compiled from Snowflake SQL
for the target warehouse; compiled SQL goes to target/compiled/, results to
target/run_results.json.

  --select, -s SEL   staging | marts | <model> | +<model> (with ancestors) | <model>+ (with
                     descendants) | tag:<tag>; repeat or comma-separate for a union.
                     Default: every model.
  --full-refresh     rebuild incremental models from scratch
  --list             print the selected models in run order and exit (builds nothing)
  --check            check the project (files, refs, cycles, tests) and compile every model
                     and test for DuckDB; exit 2 on problems (no warehouse needed)

"Now" for the models (as_of) is EGX_AS_OF, or the bundled sample's end on the sample.`;

if (import.meta.main) {
  await runJob({ name: "models_run", help: HELP }, async (args, signal) => {
    const { values } = parseArgs({
      args,
      options: {
        select: { type: "string", short: "s", multiple: true },
        "full-refresh": { type: "boolean" },
        list: { type: "boolean" },
        check: { type: "boolean" },
      },
    });
    if (values.check) {
      const { checkModels } = await import("../lib/models/validate.ts");
      const { ProjectError } = await import("../lib/models/errors.ts");
      try {
        console.log(await checkModels(".", loadConfig().asOf));
        return 0;
      } catch (e) {
        if (!(e instanceof ProjectError)) throw e;
        for (const f of e.findings) console.error(f.message);
        console.error(`${e.findings.length} problem(s) in models/`);
        return 2;
      }
    }
    const project = await loadProject(".");
    if (values.list) {
      const { buildGraph } = await import("../lib/models/dag.ts");
      const { selectModels } = await import("../lib/models/select.ts");
      for (const n of selectModels(project, buildGraph(project), { select: values.select ?? [] })) {
        const m = project.models.get(n)!;
        console.log(`${n}  (${m.materialized}, ${m.relation}, ${m.file})`);
      }
      return 0;
    }
    const config = loadConfig();
    const wh = await openWarehouse(config.warehouse, { signal });
    try {
      const r = await runModels(wh, project, {
        select: values.select,
        fullRefresh: values["full-refresh"],
        asOf: config.asOf,
        signal,
        log: (l) => console.log(l),
      });
      const n = (s: string) => r.results.filter((x) => x.status === s).length;
      console.log(
        `models_run: ${r.results.length} model(s): ${n("success")} ok, ${n("error")} failed, ` +
          `${n("skipped")} skipped in ${(r.durationMs / 1000).toFixed(2)} s ` +
          `(as of ${config.asOf.toISOString()})`,
      );
      for (const x of r.results.filter((x) => x.status === "error")) {
        console.error(`models_run: ${x.name} failed: ${x.message}`);
      }
      return r.ok ? 0 : 1;
    } finally {
      await wh.close();
    }
  });
}

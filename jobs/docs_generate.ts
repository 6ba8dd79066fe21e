/**
 * docs_generate: write the models' documentation site to target/docs/ (index, one page per
 * model and source, tests with their last results, compiled SQL, lineage graph) and
 * target/docs/manifest.json. With --serve, serve it on loopback afterwards (`deno task docs`).
 *
 *   deno run --allow-read=models,target,data,node_modules --allow-write=target,data --allow-ffi \
 *     '--allow-env=EGX_WAREHOUSE,EGX_AS_OF,EGX_LANDING,SNOWFLAKE_*,LOG_TOKENS,LOG_STREAM,TMPDIR,TMP,TEMP' \
 *     --allow-net=127.0.0.1 --allow-sys=uid,homedir,osRelease,cpus,networkInterfaces,hostname \
 *     jobs/docs_generate.ts
 *
 * (--allow-ffi is for the DuckDB binding; it lets native code bypass the other permissions.
 * --serve also needs --allow-net=127.0.0.1.)
 */
import { parseArgs } from "node:util";
import { loadConfig, parseInteger } from "../lib/config/config.ts";
import { generateDocs } from "../lib/models/docs.ts";
import { serveDocs } from "../lib/models/docs_server.ts";
import { loadProject } from "../lib/models/project.ts";
import { jobContext, nothingToDo, runJob } from "../lib/runner/job.ts";
import { openWarehouse, WarehouseMissingError } from "../lib/warehouse/warehouse.ts";

const HELP = `Usage: jobs/docs_generate.ts [--serve [--port N] [--no-generate]]

Generates target/docs/ (open target/docs/index.html) from models/, the warehouse's column types
(EGX_WAREHOUSE) and the last results in target/run_results.json, target/test_results.json and
target/test_status.json.

  --serve          serve target/docs on http://127.0.0.1:PORT/ until Ctrl-C
  --port N         port for --serve (default 8090; 0 = any free port)
  --no-generate    with --serve: serve the existing site without regenerating it

Without a warehouse file (a pipeline not run yet) there is nothing to document: it says so and
exits 78 ("nothing to do").`;

if (import.meta.main) {
  await runJob({ name: "docs_generate", help: HELP }, async (args, signal) => {
    const { values } = parseArgs({
      args,
      options: {
        serve: { type: "boolean" },
        port: { type: "string", default: "8090" },
        "no-generate": { type: "boolean" },
      },
    });
    const port = parseInteger("--port", values.port, 0, 65535);
    if (!values["no-generate"]) {
      const project = await loadProject(".");
      const config = loadConfig();
      const wh = await openWarehouse(config.warehouse, { signal, mustExist: true }).catch((e) => {
        if (!(e instanceof WarehouseMissingError)) throw e;
        // Nothing to document yet. In a pipeline whose first job failed before creating the file
        // (all_done runs this job anyway) that failure is the one to read: telling the user to
        // run the pipeline they just ran would mislead. By hand, say how the file comes about.
        nothingToDo(
          `no warehouse yet to document: DuckDB warehouse file ${e.path} (EGX_WAREHOUSE, ` +
            "default data/egx.duckdb) does not exist" +
            (jobContext().runId === undefined
              ? '; run "deno task run full_pipeline" to create it, or fix EGX_WAREHOUSE'
              : ""),
        );
      });
      try {
        const r = await generateDocs(wh, project, { asOf: config.asOf, signal });
        const nodes = Object.values(r.manifest.nodes);
        console.log(
          `docs_generate: ${r.pages} page(s) in ${r.dir}/ (${
            nodes.filter((n) => n.kind === "model").length
          } models, ${nodes.filter((n) => n.kind === "source").length} sources, ${
            Object.keys(r.manifest.tests).length
          } tests)`,
        );
      } finally {
        await wh.close();
      }
    }
    if (values.serve) {
      const server = await serveDocs("target/docs", { port, signal });
      console.log(`docs: serving target/docs on ${server.url} (Ctrl-C to stop)`);
      await server.finished;
    }
  });
}

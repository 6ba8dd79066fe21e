/**
 * `deno task serve [--host H] [--port N]`: the dashboard and REST API in one process.
 *
 *   deno run --allow-net --allow-read --allow-write --allow-env --allow-ffi --allow-sys \
 *     lib/web/cli_serve.ts [--host 127.0.0.1] [--port 8080]
 *
 * --allow-ffi is the DuckDB binding (native code is not bound by Deno's other permissions);
 * --allow-write covers the run-history file (SQLite WAL) and the warehouse's first migration.
 * Configuration: EGX_API_HOST / EGX_API_PORT / EGX_API_TOKEN, EGX_WAREHOUSE, EGX_LOG_DIR.
 */
import { parseArgs } from "node:util";
import { envVar, loadConfig, loadDotEnv, parseInteger, registerSecrets } from "../config/config.ts";
import { runJob } from "../runner/job.ts";
import { historyPath } from "../runner/history.ts";
import { openWarehouse } from "../warehouse/warehouse.ts";
import { apiEndpoints } from "./api_routes.ts";
import { dataVersionFor } from "./data_version.ts";
import { kafkaLogEnds, kafkaRecordCounts } from "./stream_lag.ts";
import { checkExposure, createApp, startServer } from "./server.ts";

const HELP = `Usage: deno task serve [--host H] [--port N]

Serves the dashboard (market overview, ticker detail, sectors, indices, pipeline health, docs)
and the read-only REST API under /api/v1 (OpenAPI: /api/v1/openapi.json).

Options:
  --host H     address to bind (default EGX_API_HOST or 127.0.0.1); any address other than
               loopback requires EGX_API_TOKEN (clients send "Authorization: Bearer <token>")
  --port N     port (default EGX_API_PORT or 8080; 0 = any free port)
  -h, --help   this help

The server reads the warehouse (EGX_WAREHOUSE, default data/egx.duckdb) only while answering
a query, so the stream consumer and model runs can write it at the same time. A DuckDB file that
does not exist is refused (exit 2; run deno task run full_pipeline first): none is created.`;

/** Open the warehouse and serve until `signal` aborts. */
export async function serve(args: string[], signal: AbortSignal): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { host: { type: "string" }, port: { type: "string" } },
  });
  loadDotEnv();
  registerSecrets(); // errors it logs may quote any of them
  // --port replaces EGX_API_PORT (a bad value there is then not an error).
  const port = values.port === undefined
    ? undefined
    : String(parseInteger("--port", values.port, 0, 65535));
  const config = loadConfig((name) =>
    name === "EGX_API_PORT" && port !== undefined ? port : envVar(name)
  );
  const api = { ...config.api };
  if (values.host !== undefined) api.host = values.host;
  // Before opening anything: refuse an exposed server without a token.
  checkExposure(api, { hostFrom: values.host !== undefined ? "--host" : undefined });
  const warehouse = await openWarehouse(config.warehouse, {
    signal,
    lockTimeoutMs: 15_000,
    mustExist: true, // a mistyped EGX_WAREHOUSE must not serve a new, empty warehouse
  });
  try {
    const app = createApp({
      deps: {
        warehouse,
        config,
        health: { logEnds: kafkaLogEnds(config), recordCounts: kafkaRecordCounts(config) },
        version: dataVersionFor(config.warehouse, historyPath(config.logDir)),
        asOf: () => loadConfig().asOf, // a fresh config: the clock unless as-of is pinned
      },
      endpoints: apiEndpoints(),
    });
    const server = await startServer(app, api, {
      signal,
      onListen: (url) => console.log(`serve: dashboard ${url}/  API ${url}/api/v1/openapi.json`),
    });
    await server.finished;
  } finally {
    await warehouse.close();
  }
}

if (import.meta.main) {
  await runJob({ name: "serve", help: HELP }, async (args, signal) => {
    await serve(args, signal);
    console.log("serve: stopped");
  });
}

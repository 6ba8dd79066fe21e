/**
 * A real `deno task serve` server for tests: the app from lib/web on an ephemeral loopback port,
 * over a DuckDB warehouse file and a log directory the test owns (never data/egx.duckdb).
 *
 *   const srv = await startTestServer({ warehouse: path, logDir: dir });
 *   try { await srv.get("/api/v1/ping") } finally { await srv.stop(); }
 */
import { loadConfig } from "../../lib/config/config.ts";
import { historyPath } from "../../lib/runner/history.ts";
import { openWarehouse, type Warehouse } from "../../lib/warehouse/warehouse.ts";
import { apiEndpoints } from "../../lib/web/api_routes.ts";
import { dataVersionFor } from "../../lib/web/data_version.ts";
import type { Endpoint, HealthSources } from "../../lib/web/endpoint.ts";
import { createApp, startServer } from "../../lib/web/server.ts";

export interface TestServer {
  url: string;
  warehouse: Warehouse;
  /** GET a path; returns status, parsed JSON (or text) and headers. */
  // deno-lint-ignore no-explicit-any
  get(path: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }>;
  /** Errors the server logged (500s). */
  errors: string[];
  /** Move the server's as-of instant (EGX_AS_OF), as the clock moves. */
  setAsOf(iso: string): void;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  warehouse: string;
  logDir: string;
  token?: string;
  asOf?: string;
  /** EGX_LANDING (default: the bundled sample, whose as-of is pinned to its end). */
  landing?: string;
  health?: HealthSources;
  docsDir?: string;
  /** Endpoints served besides the real ones (to test how the server handles their failures). */
  extraEndpoints?: Endpoint[];
  /** Open the warehouse as `deno task serve` does: a missing file is refused, never created. */
  mustExist?: boolean;
  /** How long the DuckDB file stays open after a query (default 25 ms; 0: closed at once). */
  lingerMs?: number;
  /**
   * The stream's status folder (EGX_STREAM_STATUS_DIR; default `<logDir>/stream`, so a stream
   * run in this checkout never shows up in a test).
   */
  statusDir?: string;
  /** The dead-letter topic (EGX_TOPIC_DEAD_LETTER). */
  deadLetterTopic?: string;
  /** The server's real clock (default: the real one). */
  now?: string;
  /** How long a query waits for a file another process holds (default 15 s, as serve). */
  lockTimeoutMs?: number;
  /** More configuration variables (e.g. EGX_STREAM_MAX_STALENESS_MINUTES). */
  env?: Record<string, string>;
}

export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const env: Record<string, string> = {
    EGX_WAREHOUSE: opts.warehouse,
    EGX_LOG_DIR: opts.logDir,
    EGX_API_HOST: "127.0.0.1",
    EGX_API_PORT: "0",
    ...(opts.token ? { EGX_API_TOKEN: opts.token } : {}),
    ...(opts.asOf ? { EGX_AS_OF: opts.asOf } : {}),
    ...(opts.landing ? { EGX_LANDING: opts.landing } : {}),
    EGX_STREAM_STATUS_DIR: opts.statusDir ?? `${opts.logDir}/stream`,
    ...(opts.deadLetterTopic ? { EGX_TOPIC_DEAD_LETTER: opts.deadLetterTopic } : {}),
    ...opts.env,
  };
  const config = loadConfig((k) => env[k]);
  const warehouse = await openWarehouse(config.warehouse, {
    lockTimeoutMs: opts.lockTimeoutMs ?? 15_000,
    mustExist: opts.mustExist,
    lingerMs: opts.lingerMs,
  });
  const errors: string[] = [];
  const app = createApp({
    deps: {
      warehouse,
      config,
      health: opts.health ?? {},
      version: dataVersionFor(config.warehouse, historyPath(config.logDir)),
      asOf: () => loadConfig((k) => env[k]).asOf,
      now: opts.now === undefined ? undefined : () => new Date(opts.now!),
    },
    endpoints: [...apiEndpoints(), ...opts.extraEndpoints ?? []],
    docsDir: opts.docsDir,
    logError: (l) => errors.push(l),
  });
  const ac = new AbortController();
  const server = await startServer(app, config.api, { signal: ac.signal });
  return {
    url: server.url,
    warehouse,
    errors,
    setAsOf: (iso) => env.EGX_AS_OF = iso,
    async get(path, init) {
      const res = await fetch(`${server.url}${path}`, init);
      const text = await res.text();
      let body: unknown = text;
      if ((res.headers.get("content-type") ?? "").includes("json")) body = JSON.parse(text);
      return { status: res.status, body, headers: res.headers };
    },
    async stop() {
      ac.abort();
      await server.finished;
      await warehouse.close();
    },
  };
}

/**
 * The HTTP server behind `deno task serve`: the REST API under /api/v1 and the dashboard pages,
 * one Hono app on Deno.serve. Read-only. Bound to 127.0.0.1 by default; bound to any other
 * address it refuses to start without a bearer token (EGX_API_TOKEN), and whenever a token is
 * configured every /api request must carry it.
 *
 * The server never holds the warehouse open: each query opens it for that query only (the
 * stream consumer and model runs write the same DuckDB file). Results are cached per request
 * and data version (see data_version.ts), so repeated reads cost a stat, not a query. When the
 * file stays locked by another process, the last answer is served under its own (older) version
 * with X-Data-Stale: true (see result_cache.ts).
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { type Config, ConfigError, redact } from "../config/config.ts";
import {
  WarehouseBusyError,
  WarehouseMissingError,
  WarehouseQueryError,
} from "../warehouse/warehouse.ts";
import type { ApiDeps, Endpoint } from "./endpoint.ts";
import { ResultCache } from "./result_cache.ts";
import { BadRequestError, malformedEscape, NotFoundError, Query } from "./validate.ts";
import { openApiDocument } from "./openapi.ts";
import { registerPages } from "./pages.ts";

export interface AppOptions {
  deps: ApiDeps;
  endpoints: readonly Endpoint[];
  /** The models' docs site served under /docs/ (default target/docs, see jobs/docs_generate.ts). */
  docsDir?: string;
  /** Where errors that are not the client's fault are reported (default: console.error). */
  logError?: (line: string) => void;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "[::1]"]);

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Refuse a configuration that would expose the API without a token, or with a token no client
 * could send. `hostFrom`: where the host came from, as the message names it ("--host" for the
 * command-line flag; default EGX_API_HOST).
 */
export function checkExposure(api: Config["api"], opts: { hostFrom?: "--host" } = {}): void {
  // The header is compared after trimming, and a browser's fetch refuses a header beyond
  // Latin-1 (curl's UTF-8 bytes arrive as other characters): such a token locks everyone out.
  if (api.token && !/^[\x21-\x7e]+$/.test(api.token)) {
    throw new ConfigError(
      "EGX_API_TOKEN must be printable ASCII without spaces: clients send it in a header " +
        '("Authorization: Bearer <token>"), which could not carry this one',
    );
  }
  if (!isLoopback(api.host) && !api.token) {
    const given = opts.hostFrom === "--host" ? `--host ${api.host}` : `EGX_API_HOST=${api.host}`;
    throw new ConfigError(
      `${given} is reachable from other machines: set EGX_API_TOKEN ` +
        `(clients then send "Authorization: Bearer <token>") or bind to 127.0.0.1`,
    );
  }
}

function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function jsonError(c: Context, status: 400 | 401 | 404 | 405 | 500 | 503, message: string) {
  return c.json({ error: { status, message } }, status);
}

/** Canonical cache key: endpoint id, path parameters and the sorted query string. */
function cacheKey(ep: Endpoint, params: Record<string, string>, url: URL): string {
  const q = [...url.searchParams.entries()].sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([ep.id, params, q]);
}

/** Build the app (no socket): used by `startServer` and directly by tests via `app.fetch`. */
export function createApp(opts: AppOptions): Hono {
  const { deps, endpoints } = opts;
  const version = deps.version;
  const logError = opts.logError ?? ((l: string) => console.error(l));
  const cache = new ResultCache<{ body: string; dataVersion: string }>();
  const token = deps.config.api.token;
  const app = new Hono();

  app.onError((err, c) => {
    // Hono also calls this outside the middleware below (a handler that returned no response),
    // so its answers are marked uncacheable here too.
    c.header("Cache-Control", "no-store");
    const api = new URL(c.req.url).pathname.startsWith("/api/");
    if (err instanceof BadRequestError) return jsonError(c, 400, err.message);
    if (err instanceof NotFoundError) return jsonError(c, 404, err.message);
    if (err instanceof WarehouseBusyError) {
      c.header("Retry-After", "2");
      return jsonError(c, 503, "the warehouse is busy, try again in a moment");
    }
    if (err instanceof WarehouseMissingError) {
      // Removed while the server runs (e.g. to rebuild it): not recreated empty, see duckdb_file.
      return jsonError(
        c,
        503,
        "the warehouse file does not exist: run the pipeline (deno task run full_pipeline) " +
          "and reload",
      );
    }
    if (err instanceof WarehouseQueryError && modelsMissing(err.message)) {
      return jsonError(
        c,
        503,
        "the gold models have not been built yet: run the pipeline " +
          "(deno task run full_pipeline) and reload",
      );
    }
    logError(redact(`serve: ${c.req.method} ${new URL(c.req.url).pathname}: ${errText(err)}`));
    if (api && err instanceof ConfigError && / is not a DuckDB database/.test(err.message)) {
      // The file was replaced (a copy in progress, a wrong file): say so, without its path.
      return jsonError(
        c,
        503,
        "the warehouse file is not a DuckDB database (still being copied, or EGX_WAREHOUSE " +
          "names another file): see the server log",
      );
    }
    return api ? jsonError(c, 500, "internal error (see the server log)") : c.text("error", 500);
  });

  // No error may be cached, by a proxy or the browser: a 503 while the warehouse is rebuilt or
  // a 404 for a ticker not loaded yet would outlive its cause. Every error of every route
  // (pages, assets and Hono's own not-found too) passes here.
  app.use("*", async (c, next) => {
    try {
      await next();
    } catch (e) {
      // Hono hands only Errors to onError: anything else thrown would reach Deno's bare 500,
      // neither logged here nor marked uncacheable.
      throw e instanceof Error ? e : new Error(`non-Error thrown: ${String(e)}`);
    }
    if (c.res.status >= 400) c.header("Cache-Control", "no-store");
  });

  app.use("*", async (c, next) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      c.header("Allow", "GET, HEAD");
      return jsonError(c, 405, `${c.req.method} is not allowed: this API is read-only`);
    }
    await next();
  });

  // A malformed %-escape is the client's mistake on every route: Hono would hand the raw text
  // to the handler (a ticker "%E0%A4%A"), and the ticker page's script could not decode it.
  // In the query string URLSearchParams would read it as U+FFFD or a literal "%" and search
  // for that.
  app.use("*", async (c, next) => {
    const url = new URL(c.req.url);
    const message = malformedEscape(url);
    if (message !== undefined) {
      return url.pathname.startsWith("/api/") ? jsonError(c, 400, message) : c.text(message, 400);
    }
    await next();
  });

  if (token) {
    app.use("/api/*", async (c, next) => {
      const h = c.req.header("Authorization") ?? "";
      const m = /^Bearer\s+(.+)$/i.exec(h);
      if (!m || !timingSafeEqual(m[1].trim(), token)) {
        c.header("WWW-Authenticate", 'Bearer realm="egx-pipeline"');
        return jsonError(c, 401, "missing or wrong bearer token (Authorization: Bearer <token>)");
      }
      await next();
    });
  }

  app.get("/api/v1/openapi.json", (c) => {
    new Query(new URL(c.req.url), []); // 400 for any parameter, as on every endpoint
    // It changes only with the code, but then at once: a client may keep it and asks again
    // each time (without a header a browser or proxy may reuse it for a while after an upgrade).
    c.header("Cache-Control", "no-cache");
    return c.json(openApiDocument(endpoints));
  });

  for (const ep of endpoints) {
    app.get(ep.path, async (c) => {
      const url = new URL(c.req.url);
      const params = c.req.param() as Record<string, string>;
      const allowed = ep.params.filter((p) => p.in === "query").map((p) => p.name);
      const query = new Query(url, allowed);
      const run = async () => JSON.stringify(await ep.handle({ url, params, query, deps }));
      let body: string;
      if (ep.cached) {
        const v = await version.current();
        let key = ep.maxAgeMs ? `${v}|${Math.floor(Date.now() / ep.maxAgeMs)}` : v;
        if (ep.varies) key += `|${ep.varies(deps)}`;
        // A busy warehouse (a long write in another process) is answered with the last answer
        // computed, under the data version it was computed at and marked stale: a client that
        // takes X-Data-Version as "what this shows" asks again rather than keep it as current.
        const answer = await cache.get(
          cacheKey(ep, params, url),
          key,
          async () => ({ body: await run(), dataVersion: v }),
          { staleOnError: (e) => e instanceof WarehouseBusyError },
        );
        body = answer.value.body;
        c.header("X-Data-Version", answer.value.dataVersion);
        if (answer.stale) c.header("X-Data-Stale", "true");
      } else {
        body = await run();
      }
      c.header("Cache-Control", "no-store");
      return c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" });
    });
  }

  app.all("/api/*", (c) => {
    return jsonError(
      c,
      404,
      `no endpoint ${new URL(c.req.url).pathname}; see /api/v1/openapi.json for the list`,
    );
  });

  registerPages(app, { docsDir: opts.docsDir ?? "target/docs" });
  return app;
}

/** A query failed because a DWH_GOLD relation does not exist (models never run). */
function modelsMissing(message: string): boolean {
  return /does not exist/i.test(message) && /(DWH_GOLD|gold_|vw_)/i.test(message);
}

function errText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (cause: ${err.cause.message})` : "";
  return `${err.name}: ${err.message}${cause}`;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** Resolves when the server has stopped (signal aborted). */
  finished: Promise<void>;
}

/** Listen on `config.api` (port 0 = any free port) until `signal` aborts. */
export async function startServer(
  app: Hono,
  api: Config["api"],
  opts: { signal?: AbortSignal; onListen?: (url: string) => void } = {},
): Promise<RunningServer> {
  checkExposure(api);
  const host = api.host.includes(":") && !api.host.startsWith("[") ? `[${api.host}]` : api.host;
  const ready = Promise.withResolvers<{ port: number }>();
  let server: Deno.HttpServer;
  // HEAD is answered as GET and Deno drops the body: Hono would answer HEAD with a null body,
  // which Deno sends as "Content-Length: 0" instead of the GET answer's length. The GET is made
  // from the URL and headers: `new Request(req, ...)` copies `req.signal`, and Deno's first read
  // of a served request's signal prints a warning (its "legacy behavior") on the server's stderr.
  try {
    server = Deno.serve({
      hostname: api.host,
      port: api.port,
      signal: opts.signal,
      onListen: ({ port }) => ready.resolve({ port }),
    }, (req) =>
      app.fetch(
        req.method === "HEAD" ? new Request(req.url, { method: "GET", headers: req.headers }) : req,
      ));
  } catch (e) {
    throw listenError(e, `${host}:${api.port}`);
  }
  const { port } = await ready.promise;
  const url = `http://${host}:${port}`;
  opts.onListen?.(url);
  return { url, port, finished: server.finished };
}

/** A failure to listen, naming the address (Deno's own message names neither host nor port). */
function listenError(e: unknown, where: string): unknown {
  if (e instanceof Deno.errors.AddrInUse) {
    return new Deno.errors.AddrInUse(`cannot listen on ${where}: address already in use`);
  }
  if (e instanceof Deno.errors.AddrNotAvailable) {
    return new Deno.errors.AddrNotAvailable(
      `cannot listen on ${where}: not an address of this machine`,
    );
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new Deno.errors.PermissionDenied(
      `cannot listen on ${where}: permission denied (ports below 1024 need privileges)`,
    );
  }
  if (e instanceof Error && !(e instanceof Deno.errors.NotCapable)) {
    // No cause: its message is in ours, and the error line would print it twice.
    return new Error(`cannot listen on ${where}: ${e.message}`);
  }
  return e;
}

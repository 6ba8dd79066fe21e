/**
 * A small static file server for the docs site (`deno task docs`), bound to loopback.
 * Only files under the docs folder are served; anything else is a 404.
 */
import { extname, join, normalize } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
};

/** Resolve a URL path to a file under `dir`, or undefined when it would leave `dir`. */
export function docsFile(dir: string, urlPath: string): string | undefined {
  let p: string;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (p.includes("\0")) return undefined;
  const rel = normalize(p.endsWith("/") ? p + "index.html" : p).replace(/^\/+/, "");
  if (rel.startsWith("..") || rel.includes("/../")) return undefined;
  return join(dir, rel);
}

export interface DocsServer {
  url: string;
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

export async function serveDocs(
  dir: string,
  opts: { hostname?: string; port?: number; signal?: AbortSignal } = {},
): Promise<DocsServer> {
  let listening!: (url: string) => void;
  const url = new Promise<string>((r) => listening = r);
  const server = Deno.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 0,
    signal: opts.signal,
    onListen: ({ hostname, port }) => listening(`http://${hostname}:${port}/`),
  }, async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405 });
    }
    const file = docsFile(dir, new URL(req.url).pathname);
    if (!file) return new Response("not found\n", { status: 404 });
    try {
      const body = await Deno.readFile(file);
      const type = TYPES[extname(file)] ?? "application/octet-stream";
      return new Response(req.method === "HEAD" ? null : body, {
        headers: { "content-type": type, "cache-control": "no-cache" },
      });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.IsADirectory) {
        return new Response("not found\n", { status: 404 });
      }
      throw e;
    }
  });
  return { url: await url, finished: server.finished, shutdown: () => server.shutdown() };
}

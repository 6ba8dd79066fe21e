/**
 * `deno task bench web`: the REST API under concurrent load on loopback. The server runs as
 * `deno task serve` does (its own process, lib/web/cli_serve.ts) over a warehouse built from the
 * bundled sample by the real batch loader and models; this process is the load generator: N clients (default 50),
 * each sending its next request as soon as the previous answer arrives (closed loop, so the load
 * is bounded), for D seconds (default 10) per endpoint:
 *
 *   trivial   GET /api/v1/ping (no warehouse)
 *   snapshot  GET /api/v1/market/snapshot
 *   history   GET /api/v1/prices/EXPA/daily?from=<1 year before the last day>&to=<last day>
 *
 * then the snapshot again while a writer commits a streamed bar every second (each commit
 * changes the data version, so the cache is refilled under load). Prints p50/p95/p99 latency
 * and throughput per endpoint and the ratios the issue asks for: data p95 / trivial p95 <= 5.
 *
 *   deno run --allow-all bench/web_bench.ts [--clients 50] [--seconds 10]
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config/config.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";
import { buildMarketWarehouse } from "../tests/support/market_warehouse.ts";

interface Phase {
  name: string;
  path: string;
  latencies: number[];
  errors: number;
  seconds: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function startServer(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      "--allow-sys",
      "lib/web/cli_serve.ts",
      "--port",
      "0",
    ],
    env: { EGX_WAREHOUSE: `${dir}/egx.duckdb`, EGX_LOG_DIR: `${dir}/logs` },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited before listening: ${seen}`);
    seen += value;
    const m = /serve: dashboard (http:\/\/\S+?)\/ /.exec(seen);
    if (m) {
      // Keep draining stdout so the server never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })();
      return {
        url: m[1],
        stop: async () => {
          child.kill("SIGTERM");
          await child.status;
        },
      };
    }
  }
}

async function load(url: string, path: string, clients: number, seconds: number): Promise<Phase> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const client = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const res = await fetch(url + path);
        await res.arrayBuffer();
        if (res.ok) latencies.push(performance.now() - t0);
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, client));
  return { name: "", path, latencies, errors, seconds: (performance.now() - t0) / 1000 };
}

function row(p: Phase): string {
  const s = [...p.latencies].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(2).padStart(8);
  return `${p.name.padEnd(22)} ${String(s.length).padStart(8)} ${
    (s.length / p.seconds).toFixed(0).padStart(8)
  } ${f(pct(s, 50))} ${f(pct(s, 95))} ${f(pct(s, 99))} ${String(p.errors).padStart(6)}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      clients: { type: "string", default: "50" },
      seconds: { type: "string", default: "10" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("Usage: deno run --allow-all bench/web_bench.ts [--clients 50] [--seconds 10]");
    return 0;
  }
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  const dir = await Deno.makeTempDir({ prefix: "egx-web-bench-" });
  try {
    const t0 = performance.now();
    await buildMarketWarehouse(`${dir}/egx.duckdb`);
    console.log(
      `warehouse built by the models in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const server = await startServer(dir);
    try {
      const company = await (await fetch(`${server.url}/api/v1/companies/EXPA`)).json();
      const to = company.data.lastDate as string;
      const from = `${Number(to.slice(0, 4)) - 1}${to.slice(4)}`;
      const history = `/api/v1/prices/EXPA/daily?from=${from}&to=${to}`;
      const rows = (await (await fetch(server.url + history)).json()).data.length;
      console.log(
        `load: ${clients} clients, ${seconds} s per endpoint, closed loop, ${server.url}\n` +
          `history = EXPA ${from}..${to} (${rows} daily rows)\n`,
      );
      const phases: Phase[] = [];
      for (
        const [name, path] of [
          ["trivial (ping)", "/api/v1/ping"],
          ["snapshot", "/api/v1/market/snapshot"],
          ["history (1 year)", history],
        ]
      ) {
        await load(server.url, path, clients, 1); // warm up connections and caches
        phases.push({ ...(await load(server.url, path, clients, seconds)), name });
      }

      // The snapshot again while a writer commits a streamed bar every second.
      const config = loadConfig((k) =>
        ({ EGX_WAREHOUSE: `${dir}/egx.duckdb` } as Record<string, string>)[k]
      );
      const wh = await openWarehouse(config.warehouse);
      let writes = 0;
      const stopWriter = new AbortController();
      const writer = (async () => {
        while (!stopWriter.signal.aborted) {
          writes++;
          await wh.transaction(async (s) => {
            // The stream's upsert of today's bar (delete + insert by the natural key).
            await s.execute(
              "DELETE FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'COMI' AND " +
                "TRADE_DATE = '2025-12-09' AND DATA_SOURCE = 'STREAMING_API'",
            );
            await s.execute(
              "INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, " +
                "HIGH, LOW, CLOSE, VOLUME) VALUES ('COMI', '2025-12-09', 'STREAMING_API', 117, " +
                "119, 116, ?, ?)",
              [117 + (writes % 20) / 10, 1000 * writes],
            );
          });
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();
      const during = await load(server.url, "/api/v1/market/snapshot", clients, seconds);
      stopWriter.abort();
      await writer;
      await wh.close();
      phases.push({ ...during, name: `snapshot + ${writes} writes` });

      console.log(
        `${"endpoint".padEnd(22)} ${"requests".padStart(8)} ${"req/s".padStart(8)} ${
          "p50 ms".padStart(8)
        } ${"p95 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"errors".padStart(6)}`,
      );
      for (const p of phases) console.log(row(p));
      const p95 = (p: Phase) => pct([...p.latencies].sort((a, b) => a - b), 95);
      const base = p95(phases[0]);
      console.log("");
      let ok = true;
      for (const p of phases.slice(1)) {
        const ratio = p95(p) / base;
        const pass = ratio <= 5;
        if (p.name === "snapshot" || p.name.startsWith("history")) ok &&= pass;
        console.log(
          `p95 ratio ${p.name} / trivial: ${ratio.toFixed(2)}x ` +
            `(limit 5x${p.name.includes("writes") ? ", informational" : ""}) ${
              pass ? "PASS" : "FAIL"
            }`,
        );
      }
      const failed = phases.reduce((n, p) => n + p.errors, 0);
      if (failed > 0) console.log(`${failed} request(s) failed`);
      return ok && failed === 0 ? 0 : 1;
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main());

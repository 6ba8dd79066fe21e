/**
 * A local server speaking TradingView's two protocols, with responses of the documented shapes
 * (../shared/notes/market_sources.md), so the tradingview clients are tested without network:
 *
 *  - POST /egypt/scan: the scanner (`{"totalCount": N, "data": [{"s": "EGX:COMI", "d": [...]}]}`);
 *    the first `failScans` requests answer 503.
 *  - GET /socket.io/websocket: the chart websocket. Greets with a session frame, sends heartbeats
 *    `~h~n` and closes the connection when one is not echoed in time; answers resolve_symbol with
 *    symbol_resolved or symbol_error, create_series with the bars split over several
 *    timescale_update frames packed into ONE websocket message (with a heartbeat between them),
 *    then series_completed. It can drop the connection (or send critical_error) on chosen symbols.
 *
 * Listens on an ephemeral port on 127.0.0.1.
 */
import { decodeFrames, encodeFrame } from "../../lib/market/sources/tradingview_ws.ts";
import type { HistoryBar } from "../../lib/market/sources/tradingview_ws.ts";
import type { ScanRow } from "../../lib/market/sources/tradingview.ts";

export interface TvServerOptions {
  /** History per ticker (oldest first). Tickers not here get symbol_error. */
  history?: Map<string, HistoryBar[]>;
  /** Scanner rows (the full market); a request naming tickers gets only those. */
  scan?: ScanRow[];
  /** The first N scanner requests answer HTTP 503. */
  failScans?: number;
  heartbeatMs?: number;
  /** Close a connection whose heartbeat is not echoed within this time. */
  heartbeatTimeoutMs?: number;
  /** timescale_update frames per series (all in one websocket message). */
  framesPerSeries?: number;
  /** Drop the connection without a word when these tickers' series are requested (once each). */
  dropOn?: string[];
  /** Answer with critical_error on these tickers' series (once each). */
  criticalOn?: string[];
  /** Always drop the connection on these tickers' series. */
  alwaysDropOn?: string[];
  /** Origin header the websocket requires. */
  origin?: string;
}

export interface TvServerStats {
  scanRequests: number;
  scanBodies: unknown[];
  connections: number;
  rejectedOrigins: number;
  heartbeatsSent: number;
  heartbeatsEchoed: number;
  /** create_series requests per ticker. */
  seriesRequests: Map<string, number>;
  /** Connections closed for a missing heartbeat echo. */
  heartbeatTimeouts: number;
  authTokens: string[];
}

export interface TvServer {
  scannerUrl: string;
  wsUrl: string;
  stats: TvServerStats;
  close(): Promise<void>;
}

const call = (m: string, p: unknown[]) => encodeFrame(JSON.stringify({ m, p }));

export function startTradingViewServer(opts: TvServerOptions = {}): TvServer {
  const history = opts.history ?? new Map();
  const stats: TvServerStats = {
    scanRequests: 0,
    scanBodies: [],
    connections: 0,
    rejectedOrigins: 0,
    heartbeatsSent: 0,
    heartbeatsEchoed: 0,
    seriesRequests: new Map(),
    heartbeatTimeouts: 0,
    authTokens: [],
  };
  const dropOnce = new Set(opts.dropOn ?? []);
  const criticalOnce = new Set(opts.criticalOn ?? []);
  const sockets = new Set<WebSocket>();
  const timers = new Set<ReturnType<typeof setInterval>>();

  const onSocket = (ws: WebSocket) => {
    stats.connections++;
    sockets.add(ws);
    const symbols = new Map<string, string>(); // `${cs}/${sid}` -> ticker
    let beat = 0;
    let lastEcho = Date.now();
    const hbTimer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - lastEcho > (opts.heartbeatTimeoutMs ?? 2000)) {
        stats.heartbeatTimeouts++;
        ws.close(1000, "heartbeat timeout");
        return;
      }
      ws.send(encodeFrame(`~h~${++beat}`));
      stats.heartbeatsSent++;
    }, opts.heartbeatMs ?? 200);
    timers.add(hbTimer);
    ws.onopen = () => {
      ws.send(encodeFrame(JSON.stringify({ session_id: "test<0>", timestamp: 1, release: "t" })));
      ws.send(encodeFrame(`~h~${++beat}`));
      stats.heartbeatsSent++;
    };
    ws.onclose = () => {
      clearInterval(hbTimer);
      timers.delete(hbTimer);
      sockets.delete(ws);
    };
    ws.onmessage = (e) => {
      for (const payload of decodeFrames(String(e.data))) {
        if (payload.startsWith("~h~")) {
          stats.heartbeatsEchoed++;
          lastEcho = Date.now();
          continue;
        }
        const { m, p } = JSON.parse(payload) as { m: string; p: unknown[] };
        if (m === "set_auth_token") stats.authTokens.push(String(p[0]));
        else if (m === "resolve_symbol") {
          const [cs, sid, spec] = p as [string, string, string];
          const symbol = JSON.parse(spec.replace(/^=/, "")).symbol as string;
          const ticker = symbol.replace(/^EGX:/, "");
          if (!symbol.startsWith("EGX:") || !history.has(ticker)) {
            ws.send(call("symbol_error", [cs, sid, "invalid symbol"]));
          } else {
            symbols.set(`${cs}/${sid}`, ticker);
            ws.send(call("symbol_resolved", [cs, sid, { name: ticker, exchange: "EGX" }]));
          }
        } else if (m === "create_series") {
          const [cs, series, , sid, , n] = p as [string, string, string, string, string, number];
          const ticker = symbols.get(`${cs}/${sid}`);
          if (!ticker) continue; // symbol_error was sent already
          stats.seriesRequests.set(ticker, (stats.seriesRequests.get(ticker) ?? 0) + 1);
          if (dropOnce.delete(ticker) || opts.alwaysDropOn?.includes(ticker)) {
            ws.close(); // an abrupt disconnect in the middle of a request
            return;
          }
          if (criticalOnce.delete(ticker)) {
            ws.send(call("critical_error", [cs, "invalid_parameters", "create_series"]));
            continue;
          }
          const bars = history.get(ticker)!.slice(-n);
          const frames = Math.max(1, opts.framesPerSeries ?? 3);
          const size = Math.ceil(bars.length / frames) || 1;
          const chunks: HistoryBar[][] = [];
          for (let i = 0; i < bars.length; i += size) chunks.push(bars.slice(i, i + size));
          if (chunks.length === 0) chunks.push([]);
          let message = "";
          let index = 0;
          chunks.forEach((chunk, f) => {
            const s = chunk.map((b) => ({
              i: index++,
              v: [b.time, b.open, b.high, b.low, b.close, b.volume],
            }));
            message += call("timescale_update", [cs, { [series]: { s, ns: {}, t: "s1" } }]);
            if (f === 0) message += encodeFrame(`~h~${++beat}`); // a heartbeat among data frames
          });
          stats.heartbeatsSent++;
          ws.send(message);
          ws.send(call("series_completed", [cs, series, "streaming", "s1_1"]));
        }
        // chart_create_session, chart_delete_session: nothing to answer.
      }
    };
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/egypt/scan" && req.method === "POST") {
        stats.scanRequests++;
        const body = await req.json();
        stats.scanBodies.push(body);
        if (stats.scanRequests <= (opts.failScans ?? 0)) {
          return new Response("upstream busy", { status: 503 });
        }
        const wanted = body?.symbols?.tickers as string[] | undefined;
        const rows = (opts.scan ?? []).filter((r) => !wanted || wanted.includes(r.s));
        return Response.json({ totalCount: rows.length, data: rows });
      }
      if (url.pathname === "/socket.io/websocket") {
        const origin = req.headers.get("origin");
        if (opts.origin && origin !== opts.origin) {
          stats.rejectedOrigins++;
          return new Response("forbidden origin", { status: 403 });
        }
        const { socket, response } = Deno.upgradeWebSocket(req);
        onSocket(socket);
        return response;
      }
      return new Response("not found", { status: 404 });
    },
  );
  const base = `127.0.0.1:${server.addr.port}`;
  return {
    scannerUrl: `http://${base}/egypt/scan`,
    wsUrl: `ws://${base}/socket.io/websocket`,
    stats,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.close();
      await server.shutdown();
    },
  };
}

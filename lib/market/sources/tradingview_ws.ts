/**
 * TradingView's chart websocket, for history and backfill (any interval, anonymous history is
 * capped at about 5000 bars). Protocol facts: ../shared/notes/market_sources.md.
 *
 *  - Frames are `~m~<len>~m~<payload>`; one websocket message may carry several frames.
 *  - A heartbeat payload `~h~<n>` must be echoed back or the server closes the connection.
 *  - Per symbol: chart_create_session, resolve_symbol, create_series; the bars arrive in
 *    `timescale_update` (and `du`) as `{i, v: [epoch_s, open, high, low, close, volume]}`, then
 *    `series_completed`; `symbol_error` / `series_error` fail that symbol only.
 *
 * One connection is reused for all symbols, requests are paced, a dropped connection or a
 * `critical_error`/`protocol_error` is retried with backoff on a new connection, and each
 * symbol's failure is isolated and reported.
 */
import { sleep } from "./source.ts";

export const TRADINGVIEW_WS_URL = "wss://data.tradingview.com/socket.io/websocket";
const TRADINGVIEW_ORIGIN = "https://data.tradingview.com";

/** Encode one payload as a frame. */
export function encodeFrame(payload: string): string {
  return `~m~${payload.length}~m~${payload}`;
}

/** Split a websocket message into its frame payloads. Throws on a malformed frame. */
export function decodeFrames(data: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < data.length) {
    const m = /^~m~(\d+)~m~/.exec(data.slice(i, i + 24));
    if (!m) throw new SyntaxError(`bad frame at ${i}: ${JSON.stringify(data.slice(i, i + 24))}`);
    const len = Number(m[1]);
    const start = i + m[0].length;
    if (start + len > data.length) throw new SyntaxError(`truncated frame at ${i}`);
    out.push(data.slice(start, start + len));
    i = start + len;
  }
  return out;
}

/** Encode a method call `{"m": method, "p": params}` as a frame. */
function encodeCall(method: string, params: unknown[]): string {
  return encodeFrame(JSON.stringify({ m: method, p: params }));
}

/** TradingView interval codes. */
export type TvInterval =
  | "1"
  | "3"
  | "5"
  | "15"
  | "30"
  | "45"
  | "1H"
  | "2H"
  | "3H"
  | "4H"
  | "1D"
  | "1W"
  | "1M";

export interface HistoryBar {
  /** Bar start, epoch seconds UTC. */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface HistoryResult {
  ticker: string;
  bars: HistoryBar[];
  /** Set when this symbol failed (its bars are then empty). */
  error?: string;
}

export interface HistoryOptions {
  url?: string;
  interval: TvInterval;
  /** How many bars to ask for per symbol. */
  bars: number;
  /** Wait between two symbols, ms (default 500). */
  pacingMs?: number;
  /** Give up on one symbol after this long, ms (default 20 s). */
  symbolTimeoutMs?: number;
  /** Attempts per symbol when the connection fails (default 3). */
  attempts?: number;
  /** First reconnect backoff, ms (doubles each time; default 1000). */
  backoffMs?: number;
  signal?: AbortSignal;
  /** Exchange prefix (default EGX). */
  exchange?: string;
}

class ConnectionLost extends Error {
  override name = "ConnectionLost";
}

type Call = { m: string; p: unknown[] };

/** One open websocket with frame decoding, heartbeat echo and a queue of incoming calls. */
class TvConnection {
  readonly #ws: WebSocket;
  readonly #waiters: ((c: Call | ConnectionLost) => void)[] = [];
  readonly #queue: (Call | ConnectionLost)[] = [];
  closed = false;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => this.#onMessage(String(e.data));
    ws.onclose = () => this.#lost(new ConnectionLost("connection closed by the server"));
    ws.onerror = () => this.#lost(new ConnectionLost("websocket error"));
  }

  static open(url: string, timeoutMs: number): Promise<TvConnection> {
    return new Promise((resolve, reject) => {
      // Deno's WebSocket accepts extra handshake headers; the server checks Origin.
      const ws = new WebSocket(url, { headers: { Origin: TRADINGVIEW_ORIGIN } } as never);
      const timer = setTimeout(() => {
        ws.close();
        reject(new ConnectionLost(`could not connect to ${url} in ${timeoutMs} ms`));
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new TvConnection(ws));
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new ConnectionLost(`could not connect to ${url}`));
      };
    });
  }

  #push(item: Call | ConnectionLost) {
    const w = this.#waiters.shift();
    if (w) w(item);
    else this.#queue.push(item);
  }

  #lost(err: ConnectionLost) {
    if (this.closed) return;
    this.closed = true;
    this.#push(err);
  }

  #onMessage(data: string) {
    let payloads: string[];
    try {
      payloads = decodeFrames(data);
    } catch (e) {
      this.#lost(new ConnectionLost(`protocol: ${(e as Error).message}`));
      this.close();
      return;
    }
    for (const p of payloads) {
      if (p.startsWith("~h~")) {
        if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(encodeFrame(p));
        continue;
      }
      let msg: unknown;
      try {
        msg = JSON.parse(p);
      } catch {
        continue; // not a call (e.g. a plain text notice): ignore
      }
      const c = msg as Partial<Call>;
      if (typeof c.m === "string" && Array.isArray(c.p)) this.#push({ m: c.m, p: c.p });
      // Objects without "m" (the session greeting) carry nothing we need.
    }
  }

  send(method: string, params: unknown[]) {
    if (this.closed || this.#ws.readyState !== WebSocket.OPEN) {
      throw new ConnectionLost("connection is closed");
    }
    this.#ws.send(encodeCall(method, params));
  }

  /** The next incoming call, a ConnectionLost, or undefined at the deadline. */
  next(deadline: number, signal?: AbortSignal): Promise<Call | ConnectionLost | undefined> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed) return Promise.resolve(new ConnectionLost("connection is closed"));
    return new Promise((resolve, reject) => {
      const done = (v: Call | ConnectionLost | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(v);
      };
      const waiter = (c: Call | ConnectionLost) => done(c);
      const timer = setTimeout(() => done(undefined), Math.max(0, deadline - Date.now()));
      const onAbort = () => {
        clearTimeout(timer);
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  close() {
    this.closed = true;
    try {
      this.#ws.close();
    } catch { /* already closed */ }
  }
}

function sessionId(prefix: string): string {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return prefix + [...bytes].map((b) => letters[b % 26]).join("");
}

function barsOf(update: unknown, series: string): HistoryBar[] {
  const s = (update as Record<string, { s?: { v?: unknown[] }[] }>)?.[series]?.s;
  if (!Array.isArray(s)) return [];
  const out: HistoryBar[] = [];
  for (const item of s) {
    const v = item?.v;
    if (!Array.isArray(v) || v.length < 5) continue;
    const [time, open, high, low, close, volume] = v as number[];
    out.push({ time, open, high, low, close, volume: volume ?? 0 });
  }
  return out;
}

/** Ask for one symbol's series on an open connection. Throws ConnectionLost to retry. */
async function seriesOf(
  conn: TvConnection,
  symbol: string,
  opts: HistoryOptions,
): Promise<{ bars: HistoryBar[]; error?: string }> {
  const cs = sessionId("cs_");
  const bars = new Map<number, HistoryBar>();
  const deadline = Date.now() + (opts.symbolTimeoutMs ?? 20_000);
  conn.send("chart_create_session", [cs, ""]);
  conn.send("resolve_symbol", [
    cs,
    "symbol_1",
    "=" + JSON.stringify({ symbol, adjustment: "splits", session: "regular" }),
  ]);
  conn.send("create_series", [cs, "s1", "s1", "symbol_1", opts.interval, opts.bars]);
  try {
    while (true) {
      const c = await conn.next(deadline, opts.signal);
      if (c === undefined) return { bars: [], error: `no series_completed in time` };
      if (c instanceof ConnectionLost) throw c;
      if (c.m === "critical_error" || c.m === "protocol_error") {
        throw new ConnectionLost(`${c.m}: ${JSON.stringify(c.p)}`);
      }
      if (c.p[0] !== cs) continue; // another (earlier) session's leftovers
      if (c.m === "timescale_update" || c.m === "du") {
        for (const b of barsOf(c.p[1], "s1")) bars.set(b.time, b);
      } else if (c.m === "series_completed") {
        return { bars: [...bars.values()].sort((a, b) => a.time - b.time) };
      } else if (c.m === "symbol_error" || c.m === "series_error") {
        return { bars: [], error: `${c.m}: ${JSON.stringify(c.p.slice(1))}` };
      }
    }
  } finally {
    if (!conn.closed) {
      try {
        conn.send("chart_delete_session", [cs]);
      } catch { /* connection went away */ }
    }
  }
}

/**
 * Fetch history for each ticker over one reused connection. Never throws for a symbol's
 * failure: each result carries its bars or its error. Throws only when aborted.
 */
export async function fetchHistory(
  tickers: readonly string[],
  opts: HistoryOptions,
): Promise<HistoryResult[]> {
  const url = opts.url ?? TRADINGVIEW_WS_URL;
  const attempts = opts.attempts ?? 3;
  const results: HistoryResult[] = [];
  let conn: TvConnection | undefined;
  const connect = async () => {
    const c = await TvConnection.open(url, 10_000);
    c.send("set_auth_token", ["unauthorized_user_token"]);
    return c;
  };
  try {
    for (const [n, ticker] of tickers.entries()) {
      if (n > 0) await sleep(opts.pacingMs ?? 500, opts.signal);
      const symbol = `${opts.exchange ?? "EGX"}:${ticker}`;
      let result: HistoryResult | undefined;
      for (let attempt = 1; attempt <= attempts && !result; attempt++) {
        opts.signal?.throwIfAborted();
        try {
          if (!conn || conn.closed) conn = await connect();
          const r = await seriesOf(conn, symbol, opts);
          result = { ticker, ...r };
        } catch (e) {
          if (!(e instanceof ConnectionLost)) throw e;
          conn?.close();
          conn = undefined;
          if (attempt === attempts) {
            result = { ticker, bars: [], error: `${e.message} (after ${attempts} attempts)` };
          } else {
            await sleep((opts.backoffMs ?? 1000) * 2 ** (attempt - 1), opts.signal);
          }
        }
      }
      results.push(result!);
    }
  } finally {
    conn?.close();
  }
  return results;
}

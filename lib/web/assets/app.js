// Shared dashboard code: API access (with the optional bearer token), Cairo-time formatting,
// small DOM helpers, live refresh, and the hooks browser tests read (globalThis.egx).

const CAIRO = "Africa/Cairo";
const TOKEN_KEY = "egx.apiToken";

// A token can be handed over once as #token=... in the URL; it is kept in localStorage.
(() => {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    let token = m[1];
    try {
      token = decodeURIComponent(token);
    } catch {
      // Not %-encoded (a token with a "%" pasted as is): keep it as typed, rather than stop
      // every page script here.
    }
    localStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
})();

/** State the browser tests inspect: rendered chart series and the data behind them. */
export const egx =
  (globalThis.egx = globalThis.egx ?? { charts: {}, data: {}, renders: 0, errors: [] });

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Answers marked X-Data-Stale (the warehouse was busy: an earlier answer), counted for live(). */
let staleAnswers = 0;

/** GET an API path (e.g. "/api/v1/market/snapshot"); resolves to the parsed body. */
export async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  }
  const headers = {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { headers });
  const body = await res.json().catch(() => ({}));
  if (res.headers.get("X-Data-Stale") === "true") staleAnswers++;
  if (!res.ok) throw new ApiError(res.status, body?.error?.message ?? `HTTP ${res.status}`);
  return body;
}

/** Every page of a paginated endpoint. */
export async function apiAll(path, params = {}) {
  const out = [];
  let offset = 0;
  for (;;) {
    const body = await api(path, { ...params, limit: 1000, offset });
    out.push(...body.data);
    if (!body.page?.next) return out;
    offset += body.data.length;
  }
}

const cairoDateTime = new Intl.DateTimeFormat("en-GB", {
  timeZone: CAIRO,
  year: "numeric",
  month: "short",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});
const cairoTime = new Intl.DateTimeFormat("en-GB", {
  timeZone: CAIRO,
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const cairoHm = new Intl.DateTimeFormat("en-GB", {
  timeZone: CAIRO,
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});

/** "08 Dec 2025, 14:29 Cairo" for an ISO instant (or Date / epoch ms). */
export function fmtCairo(instant) {
  if (instant === null || instant === undefined) return "—";
  return `${cairoDateTime.format(new Date(instant))} Cairo`;
}
/** "14:29:05" Cairo wall-clock time. */
export function fmtCairoTime(instant) {
  return cairoTime.format(new Date(instant));
}
/** "14:29" Cairo, for chart axes (epoch seconds in). */
export function fmtCairoHm(epochSeconds) {
  return cairoHm.format(new Date(epochSeconds * 1000));
}

export function fmtNum(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  return Number(x).toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}
export function fmtInt(x) {
  if (x === null || x === undefined) return "—";
  return Math.round(Number(x)).toLocaleString("en-US");
}
export function fmtPct(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  return `${x > 0 ? "+" : ""}${Number(x).toFixed(2)}%`;
}
export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
/** CSS class for a signed change. */
export function signClass(x) {
  return x > 0 ? "up" : x < 0 ? "down" : "flat";
}
/** A change in %, coloured by its sign. */
export function pctCell(x) {
  return h("span", { class: signClass(x) }, fmtPct(x));
}
/** The date `days` calendar days before `date` (both YYYY-MM-DD). */
export function daysBefore(date, days) {
  return new Date(Date.parse(`${date}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);
}

/** Create an element: h("td", {class: "num"}, "12.3"). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/**
 * Fill a table: columns = [{label, value: row => text|Node, class?}]. Rows get data-key when
 * `key` is given (tests find rows by ticker).
 */
export function fillTable(table, columns, rows, key) {
  table.replaceChildren(
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.class }, c.label)))),
    h(
      "tbody",
      {},
      rows.length === 0
        ? h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, "no data"))
        : rows.map((r) =>
          h(
            "tr",
            { "data-key": key ? key(r) : undefined },
            columns.map((c) => h("td", { class: c.class }, c.value(r))),
          )
        ),
    ),
  );
}

export function tickerLink(t) {
  return h("a", { href: `/ticker/${encodeURIComponent(t)}` }, t);
}

export function showError(where, err) {
  egx.errors.push(String(err?.message ?? err));
  const box = document.getElementById("error");
  if (box) {
    box.hidden = false;
    box.textContent = `${where}: ${err?.message ?? err}`;
  }
}
export function clearError() {
  const box = document.getElementById("error");
  if (box) box.hidden = true;
}

/** Chart colours and options shared by every chart. */
export const chartTheme = {
  layout: { background: { color: "#ffffff" }, textColor: "#1f2933", fontSize: 12 },
  grid: { vertLines: { color: "#eef1f4" }, horzLines: { color: "#eef1f4" } },
  rightPriceScale: { borderColor: "#d5dbe1" },
  timeScale: { borderColor: "#d5dbe1" },
  autoSize: true,
};
export const COLORS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2"];

/**
 * Run `render` now and again whenever the warehouse's data version changes (the stream or a
 * model run wrote new data), or at every poll with `everyPoll` (pages whose data also follows
 * the clock or Kafka). Polls /api/v1/version every `?poll=` ms (default 5000). A version counts
 * as shown only once `render` has succeeded with no stale answer (a busy warehouse answers with
 * its earlier data): until then every poll renders again. `render` is given the version.
 */
export function live(render, { everyPoll = false } = {}) {
  const status = document.getElementById("live");
  const poll = Number(new URLSearchParams(location.search).get("poll")) || 5000;
  let version = null;
  let busy = false;
  const tick = async (first) => {
    if (busy) return;
    busy = true;
    try {
      const v = (await api("/api/v1/version")).data;
      let stale = false;
      if (first || everyPoll || v.dataVersion !== version) {
        const staleBefore = staleAnswers;
        await render(v.dataVersion);
        stale = staleAnswers !== staleBefore;
        if (!stale) version = v.dataVersion;
        clearError();
        egx.renders++;
        egx.dataVersion = version;
        document.documentElement.dataset.renders = String(egx.renders);
        document.documentElement.dataset.ready = "1";
      }
      if (status) {
        status.className = "live ok";
        status.textContent = `Live · checked ${fmtCairoTime(v.serverTime)} Cairo` +
          (stale ? " · warehouse busy: showing earlier data" : "");
        status.title = `data version ${v.dataVersion}`;
      }
    } catch (e) {
      // Render again at the next poll even if the version is back to the one shown (the
      // warehouse file moved away and back, the server restarted): that clears the error.
      version = null;
      if (status) {
        status.className = "live err";
        // An error answer came from the server: only a server not reached is offline.
        status.textContent = e instanceof ApiError ? "Update failed" : "Offline";
      }
      showError("update failed", e);
      document.documentElement.dataset.ready = "1";
    } finally {
      busy = false;
    }
  };
  tick(true);
  setInterval(() => tick(false), poll);
}

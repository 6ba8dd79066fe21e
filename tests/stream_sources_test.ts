/**
 * Market sources (replay, tradingview scanner + websocket), the poll schedule and the message
 * schema. The tradingview clients run against tests/support/tradingview_server.ts.
 */
import assert from "node:assert/strict";
import { cairoParts, calendarGap, CLOSURES_KNOWN_THROUGH } from "../lib/market/calendar.ts";
import { formatHealth, type HealthReport } from "../lib/stream/health.ts";
import { readBars } from "../lib/market/sources/bars_csv.ts";
import { nextPollAt, pollInstantsOn, pollTimes } from "../lib/market/sources/poll_schedule.ts";
import { ReplaySource } from "../lib/market/sources/replay.ts";
import type { Clock, PollResult, Quote } from "../lib/market/sources/source.ts";
import {
  scanEgx,
  ScannerError,
  scanToQuotes,
  TradingViewSource,
} from "../lib/market/sources/tradingview.ts";
import { decodeFrames, encodeFrame, fetchHistory } from "../lib/market/sources/tradingview_ws.ts";
import type { HistoryBar } from "../lib/market/sources/tradingview_ws.ts";
import { checkQuote, decodeQuote, encodeQuote } from "../lib/stream/message.ts";
import { invalidTickerReason, TICKER_RULE } from "../lib/market/ticker.ts";
import { startTradingViewServer } from "./support/tradingview_server.ts";
import { TICKER_CASES } from "./support/ticker_cases.ts";

const BARS = new URL("./testdata/stream/bars_1m", import.meta.url).pathname;

/** A clock that advances only when slept on, recording each sleep. */
function fakeClock(start: string): Clock & { sleeps: number[] } {
  let t = Date.parse(start);
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: (ms: number) => {
      sleeps.push(ms);
      t += ms;
      return Promise.resolve();
    },
  };
}

async function collect(polls: AsyncIterable<PollResult>): Promise<PollResult[]> {
  const out: PollResult[] = [];
  for await (const p of polls) out.push(p);
  return out;
}

const iso = (s: string) => new Date(s).toISOString();

// ---------------------------------------------------------------- replay

Deno.test("replay emits every bundled bar exactly once, in the first 5-minute poll after it completed", async () => {
  const bars = await readBars(BARS);
  assert.equal(bars.length, 629 + 462 + 429);
  const polls = await collect(new ReplaySource({ dir: BARS }).polls());
  const quotes = polls.flatMap((p) => p.quotes);
  assert.equal(quotes.length, bars.length);
  const keys = new Set(quotes.map((q) => `${q.ticker}/${q.barStart}`));
  assert.equal(keys.size, bars.length);
  let prev = "";
  for (const p of polls) {
    for (const q of p.quotes) {
      const end = Date.parse(q.barStart) + 60_000;
      assert.ok(end <= Date.parse(p.at), `${q.ticker} ${q.barStart} emitted before it completed`);
      if (prev && cairoParts(Date.parse(prev)).date === cairoParts(Date.parse(p.at)).date) {
        assert.ok(end > Date.parse(prev), `${q.ticker} ${q.barStart} should have come earlier`);
      }
      assert.equal(q.fetchedAt, p.at);
    }
    prev = p.at;
  }
  // 10:00-14:30 Cairo is 54 polls a day (10:05 ... 14:30), on each of the three trade dates.
  assert.equal(polls.length, 3 * 54);
  // Summer time (UTC+3) on 2025-10-30, winter time (UTC+2) from 2025-10-31: both 10:05 Cairo.
  assert.equal(polls[0].at, "2025-10-29T07:05:00.000Z");
  assert.equal(polls[54].at, "2025-10-30T07:05:00.000Z");
  assert.equal(polls[108].at, "2025-11-02T08:05:00.000Z");
  assert.equal(polls[107].at, "2025-10-30T11:30:00.000Z");
});

Deno.test("replay quotes carry the file's values, UTC bar starts and the 1m interval", async () => {
  const polls = await collect(
    new ReplaySource({ dir: BARS, tickers: ["COMI"], start: "2025-11-02" }).polls(),
  );
  const first = polls[0].quotes[0];
  assert.deepEqual(first, {
    ticker: "COMI",
    barStart: "2025-11-02T08:00:00.000Z",
    interval: "1m",
    open: 105.0,
    high: 105.49,
    low: 105.0,
    close: 105.49,
    volume: 1636,
    source: "replay",
    fetchedAt: "2025-11-02T08:05:00.000Z",
  });
  const last = polls.at(-1)!;
  assert.equal(last.at, "2025-11-02T12:30:00.000Z");
  assert.deepEqual(last.quotes.at(-1), {
    ticker: "COMI",
    barStart: "2025-11-02T12:29:00.000Z",
    interval: "1m",
    open: 104.0,
    high: 104.0,
    low: 104.0,
    close: 104.0,
    volume: 2000,
    source: "replay",
    fetchedAt: "2025-11-02T12:30:00.000Z",
  });
});

Deno.test("replay start and end select Cairo trade dates", async () => {
  const r = new ReplaySource({ dir: BARS, start: "2025-10-30", end: "2025-10-30" });
  const days = await r.days();
  assert.deepEqual([...days.keys()], ["2025-10-30"]);
  const quotes = (await collect(r.polls())).flatMap((p) => p.quotes);
  assert.ok(quotes.every((q) => q.barStart.startsWith("2025-10-30T")));
  assert.equal(quotes.length, days.get("2025-10-30")!.length);
  assert.equal(r.stats.outsideSession, 0);
});

Deno.test("replay at speed 300 waits one second of real time per 5-minute poll and skips closed hours", async () => {
  const clock = fakeClock("2030-01-01T00:00:00Z");
  const polls = await collect(new ReplaySource({ dir: BARS, speed: 300, clock }).polls());
  assert.equal(polls.length, 162);
  // 53 waits per day (none before a day's first poll, none across the night).
  assert.equal(clock.sleeps.length, 3 * 53);
  assert.ok(clock.sleeps.every((ms) => ms === 1000));
});

Deno.test("replay of a bar outside the session still emits it, in an extra poll, and counts it", async () => {
  const r = new ReplaySource({
    bars: [
      {
        ticker: "COMI",
        t: Date.parse("2025-11-02T08:00:00Z"),
        open: 1,
        high: 1,
        low: 1,
        close: 1,
        volume: 1,
      },
      // 14:45 Cairo: after the 14:30 close.
      {
        ticker: "COMI",
        t: Date.parse("2025-11-02T12:45:00Z"),
        open: 2,
        high: 2,
        low: 2,
        close: 2,
        volume: 2,
      },
    ],
  });
  const polls = await collect(r.polls());
  assert.equal(polls.length, 55);
  assert.equal(polls.at(-1)!.at, "2025-11-02T12:46:00.000Z");
  assert.deepEqual(polls.at(-1)!.quotes.map((q) => q.close), [2]);
  assert.equal(r.stats.outsideSession, 1);
  assert.equal(r.stats.bars, 2);
});

// ---------------------------------------------------------------- poll schedule

Deno.test("polls follow the EGX session: every 5 minutes from 10:05 to 14:30 Cairo", () => {
  const polls = pollInstantsOn("2025-11-02", 5);
  assert.equal(polls.length, 54);
  assert.equal(new Date(polls[0]).toISOString(), "2025-11-02T08:05:00.000Z");
  assert.equal(new Date(polls[53]).toISOString(), "2025-11-02T12:30:00.000Z");
});

Deno.test("no polls on Friday, Saturday or an announced closure; Ramadan closes at 13:30", () => {
  assert.deepEqual(pollInstantsOn("2025-10-31", 5), []); // Friday
  assert.deepEqual(pollInstantsOn("2025-11-01", 5), []); // Saturday
  assert.deepEqual(pollInstantsOn("2025-04-20", 5), []); // Coptic Easter closure
  const ramadan = pollInstantsOn("2025-03-10", 5);
  assert.equal(new Date(ramadan.at(-1)!).toISOString(), "2025-03-10T11:30:00.000Z");
  assert.equal(ramadan.length, 42);
});

Deno.test("after Thursday's close the next poll is Sunday 10:05 Cairo", () => {
  const thursdayAfterClose = Date.parse("2025-11-06T12:31:00Z"); // 14:31 Cairo
  assert.equal(
    new Date(nextPollAt(thursdayAfterClose, 5)).toISOString(),
    "2025-11-09T08:05:00.000Z",
  );
  const during = Date.parse("2025-11-09T08:07:30Z");
  assert.equal(new Date(nextPollAt(during, 5)).toISOString(), "2025-11-09T08:10:00.000Z");
});

Deno.test("pollTimes sleeps on the clock until each poll instant", async () => {
  const clock = fakeClock("2025-11-06T12:20:00Z"); // Thursday 14:20 Cairo
  const controller = new AbortController();
  const seen: string[] = [];
  for await (const at of pollTimes(clock, { pollMinutes: 5, signal: controller.signal })) {
    seen.push(new Date(at).toISOString());
    if (seen.length === 4) controller.abort();
  }
  assert.deepEqual(seen, [
    "2025-11-06T12:25:00.000Z",
    "2025-11-06T12:30:00.000Z",
    "2025-11-09T08:05:00.000Z",
    "2025-11-09T08:10:00.000Z",
  ]);
  assert.equal(clock.now(), Date.parse("2025-11-09T08:10:00Z"));
});

Deno.test("a delayed source polls on until the close plus its delay: the day's last minutes are streamed", () => {
  const cairo = (ts: number[]) =>
    ts.map((t) => {
      const p = cairoParts(t);
      return `${String(p.hour).padStart(2, "0")}:${String(p.minute).padStart(2, "0")}`;
    });
  // The scanner's 15-minute delayed tier: its 14:30 poll shows the session as of 14:15.
  const delayed = pollInstantsOn("2025-11-02", 5, 15);
  // Nor does it start before the session is 15 minutes old: at 10:05 it would show 09:50.
  assert.equal(delayed.length, 54);
  assert.deepEqual(cairo(delayed.slice(0, 2)), ["10:20", "10:25"]);
  assert.deepEqual(cairo(delayed.slice(-6)), [
    "14:20",
    "14:25",
    "14:30",
    "14:35",
    "14:40",
    "14:45",
  ]);
  // Not delayed (the replay): the close is the last poll.
  assert.deepEqual(cairo(pollInstantsOn("2025-11-02", 5, 0).slice(-2)), ["14:25", "14:30"]);
  assert.deepEqual(pollInstantsOn("2025-11-02", 5), pollInstantsOn("2025-11-02", 5, 0));
  // A shorter session (Ramadan, 13:30) is followed the same way; a delay off the poll grid ends
  // on the close + the delay exactly; a closed day has none.
  assert.deepEqual(cairo(pollInstantsOn("2025-03-10", 5, 15).slice(-4)), [
    "13:30",
    "13:35",
    "13:40",
    "13:45",
  ]);
  assert.deepEqual(cairo(pollInstantsOn("2025-11-02", 5, 12).slice(-4)), [
    "14:30",
    "14:35",
    "14:40",
    "14:42",
  ]);
  assert.deepEqual(cairo(pollInstantsOn("2025-11-02", 30, 15).slice(-3)), [
    "14:00",
    "14:30",
    "14:45",
  ]);
  assert.deepEqual(pollInstantsOn("2025-10-31", 5, 15), []); // Friday
  // The first poll is the first on the grid after the open + the delay.
  assert.equal(cairo(pollInstantsOn("2025-11-02", 5, 12))[0], "10:15");
  assert.equal(cairo(pollInstantsOn("2025-11-02", 30, 15))[0], "10:30");
  assert.equal(cairo(pollInstantsOn("2025-03-10", 5, 15))[0], "10:20");
  // After the close, the next poll is one of the delay's, then the next session's first.
  assert.equal(
    new Date(nextPollAt(Date.parse("2025-11-06T12:31:00Z"), 5, 15)).toISOString(),
    "2025-11-06T12:35:00.000Z",
  );
  assert.equal(
    new Date(nextPollAt(Date.parse("2025-11-06T12:45:00Z"), 5, 15)).toISOString(),
    "2025-11-09T08:20:00.000Z",
  );
});

Deno.test("the tradingview source polls until the close plus its delay (15 minutes, or as configured), on the clock", async () => {
  const schedule = async (opts: { delayMinutes?: number }) => {
    const clock = fakeClock("2025-11-06T12:22:00Z"); // Thursday 14:22 Cairo
    const controller = new AbortController();
    const source = new TradingViewSource({
      clock,
      ...opts,
      fetch: () => Promise.resolve(Response.json({ data: scanRows })),
    });
    const seen: string[] = [];
    for await (const p of source.polls(controller.signal)) {
      seen.push(p.at);
      if (seen.length === 7) controller.abort();
    }
    return { seen, delayMinutes: source.delayMinutes };
  };
  assert.deepEqual(await schedule({}), {
    delayMinutes: 15,
    seen: [
      iso("2025-11-06T12:25:00Z"), // 14:25 Cairo
      iso("2025-11-06T12:30:00Z"), // 14:30: the close
      iso("2025-11-06T12:35:00Z"),
      iso("2025-11-06T12:40:00Z"),
      iso("2025-11-06T12:45:00Z"), // 14:45: the close + 15 minutes, the day's final state
      iso("2025-11-09T08:20:00Z"), // Sunday 10:20: the session as of 10:05
      iso("2025-11-09T08:25:00Z"),
    ],
  });
  assert.deepEqual(await schedule({ delayMinutes: 0 }), {
    delayMinutes: 0,
    seen: [
      iso("2025-11-06T12:25:00Z"),
      iso("2025-11-06T12:30:00Z"),
      iso("2025-11-09T08:05:00Z"),
      iso("2025-11-09T08:10:00Z"),
      iso("2025-11-09T08:15:00Z"),
      iso("2025-11-09T08:20:00Z"),
      iso("2025-11-09T08:25:00Z"),
    ],
  });
});

// ---------------------------------------------------------------- message schema

const good: Quote = {
  ticker: "COMI",
  barStart: "2025-11-02T08:00:00.000Z",
  interval: "1m",
  open: 105,
  high: 105.49,
  low: 105,
  close: 105.49,
  volume: 1636,
  source: "replay",
  fetchedAt: "2025-11-02T08:05:00.000Z",
};

Deno.test("a valid quote encodes with schema and version, keyed by ticker, and decodes back", () => {
  const m = encodeQuote(good);
  assert.ok(!("error" in m));
  assert.equal(m.key, "COMI");
  assert.deepEqual(JSON.parse(m.value), { schema: "egx.quote", version: 1, ...good });
  assert.deepEqual(decodeQuote(m.value), { ok: true, quote: good });
});

Deno.test("a quote's ticker follows the one ticker rule: the same tickers as batch loads and the API, as their code", () => {
  const body = { schema: "egx.quote", version: 1, ...good };
  assert.deepEqual(
    TICKER_CASES.map(([raw]) => {
      const r = checkQuote({ ...body, ticker: raw });
      return [raw, r.ok ? r.quote.ticker : r.reason];
    }),
    TICKER_CASES.map(([raw, code]) => [raw, code ?? invalidTickerReason(raw)]),
  );
  // A producer publishes the code, and keys the record by it.
  const m = encodeQuote({ ...good, ticker: " actf.ca" });
  assert.ok(!("error" in m));
  assert.deepEqual([m.key, JSON.parse(m.value).ticker], ["ACTF", "ACTF"]);
  assert.deepEqual(encodeQuote({ ...good, ticker: "A-B" }), {
    error: invalidTickerReason("A-B"),
  });
});

Deno.test("invalid messages are rejected with a reason that names the problem", () => {
  const body = { schema: "egx.quote", version: 1, ...good };
  const cases: [unknown, RegExp][] = [
    [{ ...body, schema: "egx.trade" }, /wrong schema "egx.trade"/],
    [{ ...body, version: 2 }, /unsupported egx.quote version 2/],
    [{ ...body, ticker: "CO-MI" }, /^invalid ticker "CO-MI": not an EGX code/],
    [{ ...body, ticker: 7 }, /^invalid ticker 7: not an EGX code/],
    [{ ...body, interval: "2m" }, /unknown interval "2m"/],
    // Names an object has through its prototype are no interval either.
    [{ ...body, interval: "toString" }, /unknown interval "toString"/],
    [{ ...body, interval: "__proto__" }, /unknown interval "__proto__"/],
    [{ ...body, interval: "constructor" }, /unknown interval "constructor"/],
    [{ ...body, barStart: "2025-11-02 08:00:00" }, /barStart must be a UTC ISO instant/],
    [{ ...body, barStart: "2025-11-02T08:00:30Z" }, /whole minute/],
    [{ ...body, interval: "5m", barStart: "2025-11-02T08:01:00Z" }, /not aligned to 5m/],
    [{ ...body, fetchedAt: "2025-11-02T07:00:00Z" }, /fetchedAt is before barStart/],
    // Years whose Cairo date is not a 4-digit year broke the warehouse write (see message.ts).
    [{ ...body, barStart: "0202-12-10T08:02:00.000Z" }, /barStart year 0202 is outside 1900-2999/],
    [
      { ...body, barStart: "9999-12-31T22:00:00Z", fetchedAt: "9999-12-31T22:05:00Z" },
      /barStart year 9999 is outside 1900-2999/,
    ],
    [{ ...body, fetchedAt: "3000-01-01T00:00:00Z" }, /fetchedAt year 3000 is outside/],
    [{ ...body, low: 106 }, /high 105.49 is below low 106/],
    [{ ...body, open: 104 }, /open 104 outside \[low, high\]/],
    [{ ...body, close: 106, high: 105.6 }, /close 106 outside \[low, high\]/],
    [{ ...body, close: 0 }, /close must be a positive number/],
    [{ ...body, high: 1e5 }, /high 100000 is 10\^5 or more/],
    [{ ...body, open: 1e308, high: 1e308 }, /open 1e\+308 is 10\^5 or more/],
    [{ ...body, volume: -1 }, /volume must be a non-negative integer/],
    [{ ...body, volume: 1.5 }, /volume must be a non-negative integer/],
    [{ ...body, volume: 1e15 }, /volume 1000000000000000 is 10\^15 or more/],
    [{ ...body, source: "" }, /source must be a non-empty string/],
    [{ ...body, extra: 1 }, /unknown field\(s\): extra/],
    [[1, 2], /not a JSON object/],
  ];
  for (const [value, reason] of cases) {
    const r = checkQuote(value);
    assert.equal(r.ok, false, JSON.stringify(value));
    if (!r.ok) assert.match(r.reason, reason);
  }
  // A number past a double's range parses as Infinity: the reason says so, not "null".
  const huge = (field: string, value: string) =>
    decodeQuote(
      JSON.stringify({ ...body, [field]: 0 }).replace(`"${field}":0`, `"${field}":${value}`),
    );
  assert.deepEqual(huge("open", "1e999"), {
    ok: false,
    reason: "open must be a positive number, got Infinity",
  });
  assert.deepEqual(huge("low", "-1e999"), {
    ok: false,
    reason: "low must be a positive number, got -Infinity",
  });
  assert.deepEqual(huge("volume", "1e999"), {
    ok: false,
    reason: "volume must be a non-negative integer, got Infinity",
  });
  const bad = decodeQuote("{not json");
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.reason, /^bad JSON/);
  assert.deepEqual(decodeQuote(null), { ok: false, reason: "empty message (null value)" });
  assert.deepEqual(encodeQuote({ ...good, high: 1 }), { error: "high 1 is below low 105" });
  assert.equal(checkQuote({ ...body, volume: 1e15 - 1 }).ok, true);
  assert.equal(checkQuote({ ...body, high: 99_999.99 }).ok, true);
  // A reason quotes the record: it is cut, not logged or sent a megabyte long.
  assert.deepEqual(checkQuote({ ...body, ticker: "X".repeat(1_000_000) }), {
    ok: false,
    reason: `invalid ticker "${"X".repeat(59)}...: not ${TICKER_RULE}`,
  });
  const keys = Array.from({ length: 100_000 }, (_, i) => `k${i}`);
  const extra = checkQuote({ ...body, ...Object.fromEntries(keys.map((k) => [k, 1])) });
  const fields = `unknown field(s): ${keys.join(", ")}`;
  assert.deepEqual(extra, {
    ok: false,
    reason: `${fields.slice(0, 300)}... (${fields.length} characters)`,
  });
  // The range's edges are valid.
  for (const barStart of ["1900-01-01T00:00:00.000Z", "2999-12-31T23:59:00.000Z"]) {
    assert.equal(checkQuote({ ...body, barStart, fetchedAt: barStart }).ok, true, barStart);
  }
  // Against a clock, a quote fetched more than an hour ahead of it is from no real source.
  const now = Date.parse("2025-11-02T09:00:00Z");
  assert.equal(checkQuote({ ...body, fetchedAt: "2025-11-02T10:00:00Z" }, now).ok, true);
  assert.deepEqual(checkQuote({ ...body, fetchedAt: "2025-11-02T10:00:00.001Z" }, now), {
    ok: false,
    reason: "fetchedAt 2025-11-02T10:00:00.001Z is in the future (more than an hour after " +
      "2025-11-02T09:00:00.000Z)",
  });
  const future = {
    ...good,
    barStart: "2999-12-31T08:00:00.000Z",
    fetchedAt: "2999-12-31T08:05:00.000Z",
  };
  assert.equal(decodeQuote(JSON.stringify({ ...body, ...future }), now).ok, false);
  assert.deepEqual(encodeQuote(future, now), {
    error: "fetchedAt 2999-12-31T08:05:00.000Z is in the future (more than an hour after " +
      "2025-11-02T09:00:00.000Z)",
  });
});

// ---------------------------------------------------------------- tradingview

Deno.test("websocket frames: several frames per message, heartbeats, and errors on garbage", () => {
  const msg = encodeFrame('{"m":"a","p":[]}') + encodeFrame("~h~7") + encodeFrame("é");
  assert.deepEqual(decodeFrames(msg), ['{"m":"a","p":[]}', "~h~7", "é"]);
  assert.equal(encodeFrame("~h~7"), "~m~4~m~~h~7");
  assert.throws(() => decodeFrames("~m~10~m~short"), /truncated frame/);
  assert.throws(() => decodeFrames("garbage"), /bad frame/);
});

function history(
  ticker: string,
  n: number,
  from = Date.parse("2025-11-02T08:00:00Z"),
): HistoryBar[] {
  return Array.from({ length: n }, (_, i) => ({
    time: from / 1000 + 60 * i,
    open: 100 + i,
    high: 101 + i,
    low: 99 + i,
    close: 100.5 + i,
    volume: 1000 + i + ticker.length,
  }));
}

Deno.test("tradingview history: bars across frames, heartbeats echoed, requests paced, a symbol error isolated", async () => {
  const server = startTradingViewServer({
    history: new Map([["COMI", history("COMI", 50)], ["ETEL", history("ETEL", 7)]]),
    framesPerSeries: 4,
    heartbeatMs: 50,
    // Generous: the server shares this test's event loop, which a loaded machine can pause.
    heartbeatTimeoutMs: 5_000,
    origin: "https://data.tradingview.com",
  });
  try {
    const t0 = Date.now();
    const results = await fetchHistory(["COMI", "NOPE", "ETEL"], {
      url: server.wsUrl,
      interval: "1",
      bars: 30,
      pacingMs: 300,
    });
    assert.ok(Date.now() - t0 >= 600, "requests are paced: 300 ms between two symbols");
    assert.deepEqual(results.map((r) => [r.ticker, r.bars.length, r.error]), [
      ["COMI", 30, undefined],
      ["NOPE", 0, 'symbol_error: ["symbol_1","invalid symbol"]'],
      ["ETEL", 7, undefined],
    ]);
    assert.deepEqual(results[0].bars[0], history("COMI", 50)[20]);
    assert.deepEqual(results[0].bars[29], history("COMI", 50)[49]);
    assert.equal(server.stats.connections, 1, "one connection reused for every symbol");
    assert.equal(server.stats.heartbeatTimeouts, 0);
    assert.ok(server.stats.heartbeatsEchoed >= 3, `echoed ${server.stats.heartbeatsEchoed}`);
    assert.deepEqual(server.stats.authTokens, ["unauthorized_user_token"]);
    assert.equal(server.stats.rejectedOrigins, 0);
  } finally {
    await server.close();
  }
});

Deno.test("tradingview history survives disconnects and critical errors by reconnecting with backoff", async () => {
  const server = startTradingViewServer({
    history: new Map([
      ["COMI", history("COMI", 5)],
      ["ETEL", history("ETEL", 5)],
      ["SWDY", history("SWDY", 5)],
      ["HRHO", history("HRHO", 5)],
    ]),
    dropOn: ["ETEL"],
    criticalOn: ["SWDY"],
    alwaysDropOn: ["HRHO"],
  });
  try {
    const t0 = Date.now();
    const results = await fetchHistory(["COMI", "ETEL", "SWDY", "HRHO"], {
      url: server.wsUrl,
      interval: "1",
      bars: 5,
      pacingMs: 10,
      attempts: 3,
      backoffMs: 50,
    });
    assert.deepEqual(results.map((r) => [r.ticker, r.bars.length]), [
      ["COMI", 5],
      ["ETEL", 5],
      ["SWDY", 5],
      ["HRHO", 0],
    ]);
    assert.match(results[3].error!, /after 3 attempts/);
    assert.equal(server.stats.seriesRequests.get("ETEL"), 2);
    assert.equal(server.stats.seriesRequests.get("SWDY"), 2);
    assert.equal(server.stats.seriesRequests.get("HRHO"), 3);
    // COMI, ETEL retry, SWDY retry, HRHO x2 retries => 1 + 1 + 1 + 2 new connections.
    assert.equal(server.stats.connections, 5);
    // Backoff: 50 ms (ETEL), 50 (SWDY), 50 + 100 (HRHO) at least.
    assert.ok(Date.now() - t0 >= 250);
  } finally {
    await server.close();
  }
});

Deno.test("a client that never echoes heartbeats is disconnected by the server", async () => {
  const server = startTradingViewServer({ heartbeatMs: 30, heartbeatTimeoutMs: 150 });
  try {
    const ws = new WebSocket(server.wsUrl);
    const closed = new Promise<string>((r) => (ws.onclose = (e) => r(e.reason)));
    assert.equal(await closed, "heartbeat timeout");
    assert.equal(server.stats.heartbeatTimeouts, 1);
  } finally {
    await server.close();
  }
});

const scanRows = [
  { s: "EGX:COMI", d: ["COMI", 105, 106.5, 104.2, 106, 1234567] },
  { s: "EGX:ETEL", d: ["ETEL", 70.1, 71, 69.8, 70.5, 889100.4] },
  { s: "EGX:NEWC", d: ["NEWC", null, null, null, null, 0] },
  { s: "EGX:BADV", d: ["BADV", 1, 2, 1, "x", 5] },
];

Deno.test("the scanner is retried on 503 and its rows become daily bars of the Cairo session", async () => {
  const server = startTradingViewServer({ scan: scanRows, failScans: 2 });
  try {
    const rows = await scanEgx({ url: server.scannerUrl, attempts: 3, backoffMs: 10 });
    assert.equal(server.stats.scanRequests, 3);
    assert.deepEqual(server.stats.scanBodies[0], {
      columns: ["name", "open", "high", "low", "close", "volume"],
      range: [0, 1000],
      options: { active_symbols_only: true },
    });
    const at = Date.parse("2025-11-02T09:00:00Z");
    const { quotes, failures } = scanToQuotes(rows, { date: "2025-11-02", fetchedAt: at });
    assert.deepEqual(quotes[0], {
      ticker: "COMI",
      barStart: "2025-11-02T08:00:00.000Z", // 10:00 Cairo (UTC+2)
      interval: "1d",
      open: 105,
      high: 106.5,
      low: 104.2,
      close: 106,
      volume: 1234567,
      source: "tradingview",
      fetchedAt: "2025-11-02T09:00:00.000Z",
    });
    assert.equal(quotes[1].volume, 889100);
    assert.deepEqual(failures, [
      { ticker: "NEWC", reason: "no session data yet (null prices)" },
      { ticker: "BADV", reason: 'non-numeric values ["BADV",1,2,1,"x",5]' },
    ]);
  } finally {
    await server.close();
  }
});

Deno.test("the scanner gives up after its attempts with an error that says so", async () => {
  const server = startTradingViewServer({ scan: scanRows, failScans: 10 });
  try {
    await assert.rejects(
      scanEgx({ url: server.scannerUrl, attempts: 2, backoffMs: 5, tickers: ["COMI"] }),
      (e: Error) => e instanceof ScannerError && /after 2 attempts/.test(e.message),
    );
    assert.deepEqual(server.stats.scanBodies[0], {
      symbols: { tickers: ["EGX:COMI"] },
      columns: ["name", "open", "high", "low", "close", "volume"],
    });
  } finally {
    await server.close();
  }
});

Deno.test("the tradingview source backfills over the websocket, then polls the scanner on the EGX calendar", async () => {
  const server = startTradingViewServer({
    scan: scanRows,
    failScans: 0,
    history: new Map([["COMI", history("COMI", 3)]]),
  });
  const clock = fakeClock("2025-11-06T12:22:00Z"); // Thursday 14:22 Cairo
  const controller = new AbortController();
  try {
    const source = new TradingViewSource({
      scannerUrl: server.scannerUrl,
      wsUrl: server.wsUrl,
      clock,
      backoffMs: 5,
      backfill: { tickers: ["COMI", "NOPE"], interval: "1", bars: 3, pacingMs: 5 },
    });
    const polls: PollResult[] = [];
    for await (const p of source.polls(controller.signal)) {
      polls.push(p);
      if (polls.length === 7) controller.abort();
    }
    assert.deepEqual(polls.map((p) => p.at), [
      iso("2025-11-06T12:22:00Z"), // backfill, at start
      iso("2025-11-06T12:25:00Z"),
      iso("2025-11-06T12:30:00Z"), // Thursday's close: the scanner shows 14:15
      iso("2025-11-06T12:35:00Z"),
      iso("2025-11-06T12:40:00Z"),
      iso("2025-11-06T12:45:00Z"), // the close + the scanner's 15-minute delay
      iso("2025-11-09T08:20:00Z"), // Sunday 10:20 Cairo (the session as of 10:05): none between
    ]);
    // The polls after the close update Thursday's bar, not a bar of their own.
    assert.deepEqual(polls[5].quotes.map((q) => [q.ticker, q.interval, q.barStart]), [
      ["COMI", "1d", "2025-11-06T08:00:00.000Z"],
      ["ETEL", "1d", "2025-11-06T08:00:00.000Z"],
    ]);
    assert.deepEqual(polls[0].quotes.map((q) => [q.ticker, q.interval, q.barStart, q.close]), [
      ["COMI", "1m", "2025-11-02T08:00:00.000Z", 100.5],
      ["COMI", "1m", "2025-11-02T08:01:00.000Z", 101.5],
      ["COMI", "1m", "2025-11-02T08:02:00.000Z", 102.5],
    ]);
    assert.deepEqual(polls[0].failures.map((f) => f.ticker), ["NOPE"]);
    assert.deepEqual(polls[6].quotes.map((q) => [q.ticker, q.barStart]), [
      ["COMI", "2025-11-09T08:00:00.000Z"],
      ["ETEL", "2025-11-09T08:00:00.000Z"],
    ]);
    assert.equal(polls[6].failures.length, 2);
    assert.equal(server.stats.scanRequests, 6);
  } finally {
    await server.close();
  }
});

Deno.test("a backfill cut inside a session leaves that day out: its bars would make a wrong daily bar", async () => {
  const minutes = (start: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      time: Date.parse(start) / 1000 + 60 * i,
      open: 100,
      high: 101,
      low: 99,
      close: 100.5,
      volume: 10 + i,
    }));
  // 2025-11-02 and -03: sessions 10:00-14:30 Cairo = 08:00-12:30Z.
  const server = startTradingViewServer({
    history: new Map([
      // Cut: the 6 newest bars start at 14:27 Cairo on the 2nd (three bars of that session).
      ["COMI", [...minutes("2025-11-02T12:25:00Z", 5), ...minutes("2025-11-03T08:00:00Z", 3)]],
      // Shorter than asked: the whole history (a listing day) is kept.
      ["ETEL", minutes("2025-11-02T12:26:00Z", 4)],
      // Cut exactly at a session's open: that session is whole.
      ["HRHO", [...minutes("2025-11-02T12:29:00Z", 1), ...minutes("2025-11-03T08:00:00Z", 6)]],
    ]),
  });
  try {
    const source = new TradingViewSource({
      wsUrl: server.wsUrl,
      clock: fakeClock("2025-11-03T08:10:00Z"),
      backfill: { tickers: ["COMI", "ETEL", "HRHO"], interval: "1", bars: 6, pacingMs: 5 },
    });
    const poll = await source.backfill();
    assert.deepEqual(poll.failures, []);
    const starts = (ticker: string) =>
      poll.quotes.filter((q) => q.ticker === ticker).map((q) => q.barStart);
    assert.deepEqual(starts("COMI"), [
      "2025-11-03T08:00:00.000Z",
      "2025-11-03T08:01:00.000Z",
      "2025-11-03T08:02:00.000Z",
    ]);
    assert.deepEqual(starts("ETEL"), [
      "2025-11-02T12:26:00.000Z",
      "2025-11-02T12:27:00.000Z",
      "2025-11-02T12:28:00.000Z",
      "2025-11-02T12:29:00.000Z",
    ]);
    assert.deepEqual(
      starts("HRHO"),
      [0, 1, 2, 3, 4, 5].map((i) => iso(`2025-11-03T08:0${i}:00Z`)),
    );
  } finally {
    await server.close();
  }
});

Deno.test("a failed scanner poll is reported as a failure of the whole poll, not an exception", async () => {
  const server = startTradingViewServer({ scan: scanRows, failScans: 100 });
  try {
    const source = new TradingViewSource({
      scannerUrl: server.scannerUrl,
      attempts: 2,
      backoffMs: 1,
    });
    const p = await source.pollAt(Date.parse("2025-11-02T09:00:00Z"));
    assert.deepEqual(p.quotes, []);
    assert.equal(p.failures.length, 1);
    assert.equal(p.failures[0].ticker, "*");
    assert.match(p.failures[0].reason, /scanner failed after 2 attempts/);
  } finally {
    await server.close();
  }
});

Deno.test("a scanner that keeps failing says why: the last error ends the poll's failure reason", async () => {
  const at = Date.parse("2026-11-26T09:00:00Z");
  let calls = 0;
  const failing = new TradingViewSource({
    fetch: () => {
      calls++;
      return Promise.resolve(new Response("upstream maintenance", { status: 503 }));
    },
    backoffMs: 1,
  });
  const p = await failing.pollAt(at);
  assert.equal(calls, 3);
  assert.deepEqual(p, {
    at: "2026-11-26T09:00:00.000Z",
    quotes: [],
    failures: [{
      ticker: "*",
      reason: "scanner failed after 3 attempts: scanner HTTP 503: upstream maintenance",
    }],
  });
  // A network error names its kind and words, the URL's query (a token) masked.
  const down = new TradingViewSource({
    scannerUrl: "https://scanner.example/egypt/scan?token=s3cr3t-tok",
    fetch: (input) =>
      Promise.reject(
        new TypeError(`error sending request for url (${input}): connection refused`),
      ),
    attempts: 2,
    backoffMs: 1,
  });
  assert.deepEqual((await down.pollAt(at)).failures, [{
    ticker: "*",
    reason: "scanner failed after 2 attempts: TypeError: error sending request for url " +
      "(https://scanner.example/egypt/scan?***): connection refused",
  }]);
  // A malformed URL, with the real fetch: the query is masked there too.
  const bad = new TradingViewSource({ scannerUrl: "not a url?token=s3cr3t-tok", backoffMs: 1 });
  assert.deepEqual((await bad.pollAt(at)).failures, [{
    ticker: "*",
    reason: "scanner failed after 3 attempts: TypeError: Invalid URL: 'not a url?***'",
  }]);
});

Deno.test("a scanner body that is not JSON is quoted in the error, cut to its first 160 characters", async () => {
  const html = "<html><body>" + "Service temporarily unavailable. ".repeat(10) + "</body></html>";
  const source = new TradingViewSource({
    fetch: () => Promise.resolve(new Response(html, { status: 200 })),
    backoffMs: 1,
  });
  const p = await source.pollAt(Date.parse("2026-11-26T09:00:00Z"));
  assert.deepEqual(p.failures, [{
    ticker: "*",
    reason: `scanner sent bad JSON: ${JSON.stringify(html.slice(0, 160))}... (356 characters)`,
  }]);
  assert.equal(html.length, 356);
  await assert.rejects(
    scanEgx({ fetch: () => Promise.resolve(new Response('{"data": [1,')) }),
    (e: Error) => {
      assert.ok(e instanceof ScannerError);
      assert.equal(e.message, 'scanner sent bad JSON: "{\\"data\\": [1,"');
      assert.ok(e.cause instanceof SyntaxError);
      return true;
    },
  );
});

Deno.test("compose.yaml pins the same Kafka version as the local broker", async () => {
  const { parse } = await import("yaml");
  const { KAFKA_VERSION } = await import("../lib/stream/local_broker.ts");
  const compose = parse(
    await Deno.readTextFile(new URL("../compose.yaml", import.meta.url)),
  ) as { services: Record<string, { image: string }> };
  assert.equal(compose.services.kafka.image, `apache/kafka:${KAFKA_VERSION}`);
  assert.equal(KAFKA_VERSION, "3.9.1");
});

Deno.test("configuration picks the source: tradingview endpoints and backfill, or the replay", async () => {
  const { loadConfig } = await import("../lib/config/config.ts");
  const { marketSource } = await import("../lib/stream/setup.ts");
  // The 2 newest of 4 bars start at the session's open (10:00 Cairo): a whole session is kept.
  const bars = history("COMI", 4, Date.parse("2025-11-02T07:58:00Z"));
  const server = startTradingViewServer({ history: new Map([["COMI", bars]]) });
  try {
    const env: Record<string, string> = {
      EGX_STREAM_SOURCE: "tradingview",
      TRADINGVIEW_SCANNER_URL: server.scannerUrl,
      TRADINGVIEW_WS_URL: server.wsUrl,
      EGX_TV_BACKFILL_TICKERS: "COMI, NOPE",
      EGX_TV_BACKFILL_BARS: "2",
    };
    const source = marketSource(loadConfig((k) => env[k]).stream);
    assert.equal(source.name, "tradingview");
    assert.equal(source.live, true);
    // The scanner's delayed tier: polled until 15 minutes after the close, unless configured.
    assert.equal((source as TradingViewSource).delayMinutes, 15);
    const realtime = marketSource(
      loadConfig((k) => ({ ...env, EGX_TV_DELAY_MINUTES: "0" })[k]).stream,
    );
    assert.equal((realtime as TradingViewSource).delayMinutes, 0);
    assert.throws(
      () => loadConfig((k) => ({ ...env, EGX_TV_DELAY_MINUTES: "-5" })[k]).stream,
      {
        name: "ConfigError",
        message: 'EGX_TV_DELAY_MINUTES must be an integer between 0 and 120, got "-5"',
      },
    );
    for await (const first of source.polls()) {
      assert.deepEqual(first.quotes.map((q) => q.close), [102.5, 103.5]);
      assert.deepEqual(first.failures.map((f) => f.ticker), ["NOPE"]);
      break;
    }
    const replay = marketSource(
      loadConfig((k) =>
        ({ EGX_REPLAY_DIR: BARS, EGX_REPLAY_SPEED: "max" } as Record<string, string>)[k]
      )
        .stream,
    );
    assert.equal(replay.name, "replay");
    assert.equal(replay.live, false);
    assert.throws(
      () =>
        loadConfig((k) => ({ EGX_STREAM_SOURCE: "bloomberg" } as Record<string, string>)[k]).stream,
      /EGX_STREAM_SOURCE must be replay or tradingview, got bloomberg/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("a replay folder that is missing, not a folder or without bar files is a configuration error", async () => {
  const { ConfigError, loadConfig } = await import("../lib/config/config.ts");
  const { marketSource } = await import("../lib/stream/setup.ts");
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${tmp}/empty`);
    await Deno.mkdir(`${tmp}/other`);
    await Deno.writeTextFile(`${tmp}/other/readme.txt`, "no bars here");
    await Deno.writeTextFile(`${tmp}/other/comi.csv`, "datetime,open,high,low,close,volume\n");
    await Deno.writeTextFile(`${tmp}/a-file`, "");
    const sourceFor = (dir: string) =>
      marketSource(
        loadConfig((k) => ({ EGX_REPLAY_DIR: dir } as Record<string, string>)[k]).stream,
      );
    const cases: [string, string][] = [
      [
        `${tmp}/missing`,
        `EGX_REPLAY_DIR "${tmp}/missing" does not exist: it must be a folder of one-minute bar files`,
      ],
      [
        `${tmp}/a-file`,
        `EGX_REPLAY_DIR "${tmp}/a-file" is not a folder: it must be a folder of one-minute bar files`,
      ],
      ...[`${tmp}/empty`, `${tmp}/other`].map((dir): [string, string] => [
        dir,
        `EGX_REPLAY_DIR "${dir}" holds no bar files: it must hold <TICKER>.csv files ` +
        "(datetime,open,high,low,close,volume), as data/sample/bars_1m does",
      ]),
    ];
    for (const [dir, message] of cases) {
      assert.throws(() => sourceFor(dir), (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.message, message);
        return true;
      });
    }
    assert.equal(sourceFor(BARS).name, "replay");
    // The producer exits 2 (configuration) before it starts anything: the supervisor gives up on
    // exit 2 instead of restarting a producer that fails at its first poll forever.
    const { taskFlags } = await import("./support/processes.ts");
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...taskFlags("stream", "lib/stream/cli.ts"),
        new URL("../lib/stream/cli.ts", import.meta.url).pathname,
        "producer",
      ],
      env: { EGX_REPLAY_DIR: `${tmp}/missing`, KAFKA_BROKERS: "127.0.0.1:1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.equal(
      new TextDecoder().decode(out.stderr).trim().replace(/:\d+\)$/, ":N)"),
      `stream: ConfigError: EGX_REPLAY_DIR "${tmp}/missing" does not exist: ` +
        "it must be a folder of one-minute bar files (at lib/stream/setup.ts:N)",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a date past the calendar's known closures is flagged: polling and health say so", () => {
  assert.equal(CLOSURES_KNOWN_THROUGH, "2025-12-31");
  assert.equal(calendarGap("2025-10-09"), undefined);
  assert.equal(calendarGap("2025-12-31"), undefined);
  const note = "EGX closures are known only through 2025-12-31 (lib/market/egx_calendar.json): " +
    "a holiday on 2026-01-07 would count as a trading day; add the year's announced closures";
  assert.equal(calendarGap("2026-01-07"), note);
  // Coptic Christmas 2026 is not in the data yet: polled as a trading day, and the check says why.
  assert.equal(pollInstantsOn("2026-01-07", 5).length, 54);
  const report: HealthReport = {
    checkedAt: "2026-01-07T10:00:00.000Z",
    asOf: "2026-01-07T10:00:00.000Z",
    tradingHours: true,
    brokers: [],
    producer: { alive: true },
    consumer: { alive: true },
    lag: [],
    totalLag: 0,
    problems: [],
    calendarNote: note,
    healthy: true,
  };
  assert.equal(formatHealth(report).split("\n").at(-1), `  calendar: ${note}`);
});

/**
 * The technical indicators of gold_fct_stock_daily_prices, checked against values computed here
 * independently (plain recursions, as TradingView's ta.* functions define them) for a real
 * ticker (COMI, from the real one-minute bars) and for a long synthetic series that crosses the
 * model's 100-bar EMA blocks 25 times.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { addDays, isTradingDay } from "../lib/market/calendar.ts";
import { buildModels, FIXTURES, fixtureWarehouse } from "./models_fixture.ts";

interface Bar {
  date: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

type Series = (number | null)[];

function sma(x: number[], n: number): Series {
  return x.map((_, i) => {
    if (i < n - 1) return null;
    let s = 0;
    for (let j = i - n + 1; j <= i; j++) s += x[j];
    return s / n;
  });
}

function stdevPop(x: number[], n: number): Series {
  const m = sma(x, n);
  return x.map((_, i) => {
    if (m[i] === null) return null;
    let s = 0;
    for (let j = i - n + 1; j <= i; j++) s += (x[j] - m[i]!) ** 2;
    return Math.sqrt(s / n);
  });
}

/** EMA over the non-null tail of `x`: seeded with the SMA of its first n values. */
function ema(x: Series, n: number, alpha = 2 / (n + 1)): Series {
  const out: Series = x.map(() => null);
  const start = x.findIndex((v) => v !== null);
  if (start < 0) return out;
  let prev: number | null = null;
  for (let i = start + n - 1; i < x.length; i++) {
    if (prev === null) {
      let s = 0;
      for (let j = i - n + 1; j <= i; j++) s += x[j]!;
      prev = s / n;
    } else prev = alpha * x[i]! + (1 - alpha) * prev;
    out[i] = prev;
  }
  return out;
}

function rsiWilder(close: number[], n = 14): Series {
  const gains: Series = close.map((c, i) => (i === 0 ? null : Math.max(c - close[i - 1], 0)));
  const losses: Series = close.map((c, i) => (i === 0 ? null : Math.max(close[i - 1] - c, 0)));
  const g = ema(gains, n, 1 / n);
  const l = ema(losses, n, 1 / n);
  return close.map((_, i) => {
    if (g[i] === null) return null;
    if (l[i] === 0) return 100;
    if (g[i] === 0) return 0;
    return 100 - 100 / (1 + g[i]! / l[i]!);
  });
}

interface Expected {
  MA_7: Series;
  MA_30: Series;
  VOLUME_AVG_30: Series;
  BB_MIDDLE: Series;
  BB_UPPER: Series;
  BB_LOWER: Series;
  EMA_12: Series;
  EMA_26: Series;
  MACD_LINE: Series;
  MACD_SIGNAL: Series;
  RSI_14: Series;
  DAILY_RETURN_PCT: Series;
}

function expected(bars: Bar[]): Expected {
  const close = bars.map((b) => b.close);
  const mid = sma(close, 20);
  const sd = stdevPop(close, 20);
  const e12 = ema(close, 12);
  const e26 = ema(close, 26);
  const macd = close.map((_, i) => (e26[i] === null ? null : e12[i]! - e26[i]!));
  return {
    MA_7: sma(close, 7),
    MA_30: sma(close, 30),
    VOLUME_AVG_30: sma(bars.map((b) => b.volume), 30),
    BB_MIDDLE: mid,
    BB_UPPER: mid.map((m, i) => (m === null ? null : m + 2 * sd[i]!)),
    BB_LOWER: mid.map((m, i) => (m === null ? null : m - 2 * sd[i]!)),
    EMA_12: e12,
    EMA_26: e26,
    MACD_LINE: macd,
    MACD_SIGNAL: ema(macd, 9),
    RSI_14: rsiWilder(close),
    DAILY_RETURN_PCT: close.map((c, i) => (i === 0 ? null : (c / close[i - 1] - 1) * 100)),
  };
}

function assertClose(
  got: unknown,
  want: number | null,
  what: string,
  scale = 1,
): void {
  if (want === null) {
    assertEquals(got, null, `${what}: expected NULL, got ${got}`);
    return;
  }
  assert(typeof got === "number", `${what}: expected ${want}, got ${got}`);
  const tol = 1e-9 * Math.max(1, Math.abs(want), scale);
  assert(Math.abs(got - want) <= tol, `${what}: expected ${want}, got ${got} (diff ${got - want})`);
}

async function readBars(ticker: string): Promise<Bar[]> {
  const lines = (await Deno.readTextFile(FIXTURES + "daily_bars.csv")).trim().split("\n").slice(1);
  return lines.map((l) => l.split(",")).filter((f) => f[0] === ticker).map((f) => ({
    date: f[1],
    open: Number(f[2]),
    high: Number(f[3]),
    low: Number(f[4]),
    close: Number(f[5]),
    volume: Number(f[6]),
  })).sort((a, b) => a.date.localeCompare(b.date));
}

function compare(
  rows: Record<string, unknown>[],
  bars: Bar[],
  ticker: string,
): number {
  assertEquals(rows.length, bars.length);
  const e = expected(bars);
  let checked = 0;
  for (let i = 0; i < bars.length; i++) {
    assertEquals(rows[i].TRADE_DATE, bars[i].date);
    for (const [k, series] of Object.entries(e)) {
      // MACD values are small differences of large EMAs: compare at the scale of the price.
      const scale = k.startsWith("MACD") ? bars[i].close : 1;
      assertClose(rows[i][k], (series as Series)[i], `${ticker} ${bars[i].date} ${k}`, scale);
      checked++;
    }
  }
  return checked;
}

Deno.test("indicators of a real ticker (COMI) equal independently computed RSI(14), MACD 12/26/9, Bollinger 20/2 and MA 7/30", async () => {
  const fx = await fixtureWarehouse();
  try {
    await buildModels(fx, { select: ["+gold_fct_stock_daily_prices"] });
    const bars = await readBars("COMI");
    assertEquals(bars.length, 99);
    const rows = await fx.wh.query(
      "SELECT * FROM DWH_GOLD.gold_fct_stock_daily_prices WHERE TICKER = 'COMI' ORDER BY TRADE_DATE",
    );
    const checked = compare(rows, bars, "COMI");
    assertEquals(checked, 99 * 12);
    // Spot values on the last bar (2025-12-08), to 1e-9: independent of the code above too.
    const last = rows.at(-1)!;
    assertEquals(last.TRADE_DATE, "2025-12-08");
    assertEquals(last.CLOSE, 117.6);
    const last7 = bars.slice(-7).map((b) => b.close);
    assertClose(last.MA_7, last7.reduce((a, b) => a + b, 0) / 7, "MA_7");
    // Signals follow from the values.
    assertEquals(last.TREND_SIGNAL, "BULLISH"); // close 117.6 > MA_7 112.98 > MA_30 108.67
    assertEquals(last.RSI_SIGNAL, (last.RSI_14 as number) >= 70 ? "OVERBOUGHT" : "NEUTRAL");
  } finally {
    await fx.close();
  }
});

Deno.test("indicators stay exact over a 2,600-bar series that crosses the model's EMA blocks", async () => {
  const fx = await fixtureWarehouse({ load: false });
  try {
    // A deterministic random walk on trading days from 2015 (a made-up ticker).
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const bars: Bar[] = [];
    let d = "2015-01-04";
    let price = 50;
    while (bars.length < 2600) {
      if (isTradingDay(d)) {
        const open = price;
        price = Math.max(1, price * (1 + (rand() - 0.5) * 0.06));
        const hi = Math.max(open, price) * (1 + rand() * 0.01);
        const lo = Math.min(open, price) * (1 - rand() * 0.01);
        bars.push({
          date: d,
          open,
          high: hi,
          low: lo,
          close: price,
          volume: Math.floor(rand() * 1e6),
        });
      }
      d = addDays(d, 1);
    }
    await fx.wh.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('SYNT', 'Synthetic')",
      );
      await s.insertRows(
        "OPERATIONAL.TBL_STOCK_PRICE",
        ["TICKER", "TRADE_DATE", "DATA_SOURCE", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"],
        bars.map((b) => ["SYNT", b.date, "BATCH_CSV", b.open, b.high, b.low, b.close, b.volume]),
      );
    });
    await buildModels(fx, { select: ["+gold_fct_stock_daily_prices"] });
    const rows = await fx.wh.query(
      "SELECT * FROM DWH_GOLD.gold_fct_stock_daily_prices WHERE TICKER = 'SYNT' ORDER BY TRADE_DATE",
    );
    assertEquals(compare(rows, bars, "SYNT"), 2600 * 12);
    assertEquals(rows[2599].SERIES_INDEX, 2599);
  } finally {
    await fx.close();
  }
});

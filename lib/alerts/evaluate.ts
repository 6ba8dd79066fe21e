/**
 * Alert conditions, evaluated on daily series (pure functions: no I/O, exact and testable).
 * A series is one subject's daily bars, oldest first; the last bar of a day may be a partial
 * day built from intraday data while the market is open.
 */
import type { Rule } from "./rules.ts";

export interface DailyBar {
  /** Cairo trade date YYYY-MM-DD. */
  date: string;
  close: number;
  /** Shares traded; null when not known (an Investing.com export's "-"). */
  volume: number | null;
}

export type AlertDirection = "up" | "down" | "above" | "below";

export interface AlertCandidate {
  ruleId: string;
  kind: Rule["kind"];
  /** Ticker or index code. */
  subject: string;
  /** The Cairo trade date the condition holds on. */
  date: string;
  direction: AlertDirection;
  /** The measured value: change %, volume multiple, or close. */
  observed: number;
  /** The value it was compared with: threshold %, multiple, or the moving average. */
  threshold: number;
  message: string;
}

export interface SeriesSet {
  /** Daily bars per ticker, oldest first. */
  stocks: ReadonlyMap<string, readonly DailyBar[]>;
  /** Daily levels per index code (close = level, volume unused), oldest first. */
  indices: ReadonlyMap<string, readonly DailyBar[]>;
}

const pct = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(2)}%`;
const price = (x: number) => x.toFixed(2);
const int = (x: number) => Math.round(x).toLocaleString("en-US");

/** Round away floating-point noise (84 / 80 - 1 is 0.050000000000000044) before comparing. */
const clean = (x: number) => Math.round(x * 1e9) / 1e9;

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * Every rule on every subject it watches, at `dates` (default: each series' latest date).
 * Results are ordered by rule (file order), then subject, then date.
 */
export function evaluateRules(
  rules: readonly Rule[],
  series: SeriesSet,
  opts: { dates?: readonly string[] } = {},
): AlertCandidate[] {
  const out: AlertCandidate[] = [];
  for (const rule of rules) {
    const pool = rule.kind === "index_move" ? series.indices : series.stocks;
    const subjects = rule.subjects === "all" ? [...pool.keys()].sort() : rule.subjects;
    for (const subject of subjects) {
      const bars = pool.get(subject);
      if (!bars || bars.length === 0) continue;
      const dates = opts.dates ?? [bars[bars.length - 1].date];
      for (const date of dates) {
        const i = bars.findIndex((b) => b.date === date);
        if (i < 0) continue;
        const c = evaluateAt(rule, subject, bars, i);
        if (c) out.push(c);
      }
    }
  }
  return out;
}

/** One rule on one subject's bar `i`, or undefined when the condition does not hold. */
export function evaluateAt(
  rule: Rule,
  subject: string,
  bars: readonly DailyBar[],
  i: number,
): AlertCandidate | undefined {
  const bar = bars[i];
  const prev = i > 0 ? bars[i - 1] : undefined;
  const base = { ruleId: rule.id, kind: rule.kind, subject, date: bar.date };
  switch (rule.kind) {
    case "price_move":
    case "index_move": {
      if (!prev || !(prev.close > 0)) return undefined;
      const change = clean((bar.close / prev.close - 1) * 100);
      const dir = change >= rule.thresholdPct ? "up" : change <= -rule.thresholdPct ? "down" : null;
      if (!dir || (rule.direction !== "both" && rule.direction !== dir)) return undefined;
      return {
        ...base,
        direction: dir,
        observed: change,
        threshold: rule.thresholdPct,
        message: `${subject} ${dir} ${pct(change)} on ${bar.date} (${price(bar.close)} vs ` +
          `previous close ${price(prev.close)} on ${prev.date}); rule ${rule.id}: ` +
          `move beyond ${rule.thresholdPct}%`,
      };
    }
    case "volume_spike": {
      // A day whose volume is not known is no spike; the average is of the known volumes of
      // the look-back (none known: no average, no alert).
      if (i < rule.lookbackDays || bar.volume === null) return undefined;
      const known = bars.slice(i - rule.lookbackDays, i).flatMap((b) =>
        b.volume === null ? [] : [b.volume]
      );
      if (known.length === 0) return undefined;
      const avg = mean(known);
      if (!(avg > 0)) return undefined;
      const multiple = clean(bar.volume / avg);
      if (multiple < rule.multiple) return undefined;
      return {
        ...base,
        direction: "up",
        observed: multiple,
        threshold: rule.multiple,
        message: `${subject} volume ${int(bar.volume)} on ${bar.date} is ${multiple.toFixed(2)}x ` +
          `its ${rule.lookbackDays}-day average ${int(avg)}` +
          (known.length < rule.lookbackDays ? ` (of the ${known.length} days with a volume)` : "") +
          `; rule ${rule.id}: above ${rule.multiple}x`,
      };
    }
    case "ma_cross": {
      if (i < rule.window || !prev) return undefined;
      const closes = bars.slice(i - rule.window, i + 1).map((b) => b.close);
      const smaPrev = mean(closes.slice(0, rule.window));
      const sma = mean(closes.slice(1));
      const dir = prev.close <= smaPrev && bar.close > sma
        ? "above"
        : prev.close >= smaPrev && bar.close < sma
        ? "below"
        : null;
      if (!dir || (rule.direction !== "both" && rule.direction !== dir)) return undefined;
      return {
        ...base,
        direction: dir,
        observed: bar.close,
        threshold: sma,
        message: `${subject} crossed ${dir} its ${rule.window}-day average on ${bar.date} ` +
          `(close ${price(bar.close)}, average ${price(sma)}; previous close ` +
          `${price(prev.close)}, average ${price(smaPrev)}); rule ${rule.id}`,
      };
    }
  }
}

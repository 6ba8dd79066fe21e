/**
 * The values of the silver and gold models on the fixtures, against figures worked out here from
 * the fixture files: by hand for the financial ratios and the screener snapshots, by an
 * independent TypeScript computation (lib/market/calendar.ts and plain loops) for the calendar
 * dimension, the company dimension and the index levels.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { addDays, cairoDate, closureOn, isTradingDay, weekdayOf } from "../lib/market/calendar.ts";
import { runTests } from "../lib/models/test_run.ts";
import { AS_OF, buildModels, FIXTURES, fixtureWarehouse } from "./models_fixture.ts";

/** Rows of a fixture CSV (no quoted fields in the columns read here) as string records. */
async function csv(file: string): Promise<Record<string, string>[]> {
  const [head, ...lines] = (await Deno.readTextFile(FIXTURES + file)).trim().split("\n");
  const cols = head.split(",");
  return lines.map((l) => {
    const f = l.split(",");
    return Object.fromEntries(cols.map((c, i) => [c, f[i] ?? ""]));
  });
}

/**
 * EXPA is the only EGX70 EWI member with prices on that index's first date (2025-01-02), and its
 * bars start earlier, so it has a return that day. The fixture's close happens to be unchanged;
 * this moves it, so that the base date's return is not zero by chance.
 */
const MOVED = { ticker: "EXPA", date: "2025-01-02", close: 13.2 };

interface Bar {
  date: string;
  close: number;
  prevClose: number | null;
}

async function barsByTicker(): Promise<Map<string, Bar[]>> {
  const out = new Map<string, Bar[]>();
  const rows = (await csv("daily_bars.csv")).sort((a, b) =>
    a.ticker.localeCompare(b.ticker) || a.trade_date.localeCompare(b.trade_date)
  );
  for (const r of rows) {
    const list = out.get(r.ticker) ?? [];
    const moved = r.ticker === MOVED.ticker && r.trade_date === MOVED.date;
    list.push({
      date: r.trade_date,
      close: moved ? MOVED.close : Number(r.close),
      prevClose: list.at(-1)?.close ?? null,
    });
    out.set(r.ticker, list);
  }
  return out;
}

interface Member {
  index: string;
  ticker: string;
  from: string;
  to: string | null;
  weight: number | null;
}

/**
 * The listed memberships (and `extra` ones) plus EGX100 EWI = EGX30 + EGX70 EWI (the fixture
 * lists no EGX100).
 */
async function memberships(extra: Member[] = []): Promise<Member[]> {
  const listed: Member[] = (await csv("index_membership.csv")).map((r) => ({
    index: r.index_code,
    ticker: r.ticker,
    from: r.effective_from,
    to: r.effective_to || null,
    weight: r.weight === "" ? null : Number(r.weight),
  }));
  listed.push(...extra);
  assert(!listed.some((m) => m.index === "EGX100_EWI"));
  const derived = new Map<string, Member>();
  for (const m of listed) {
    const key = `${m.ticker} ${m.from}`;
    if (!derived.has(key)) derived.set(key, { ...m, index: "EGX100_EWI", weight: null });
  }
  return [...listed, ...derived.values()];
}

/** Overlapping periods of a stock in an index cut short: each ends where the next one starts. */
function withoutOverlaps(members: Member[]): Member[] {
  return members.map((m) => {
    const next = members
      .filter((o) => o.index === m.index && o.ticker === m.ticker && o.from > m.from)
      .map((o) => o.from).sort()[0];
    return next !== undefined && (m.to === null || m.to > next) ? { ...m, to: next } : m;
  });
}

const effective = (m: Member, d: string) => m.from <= d && (m.to === null || d < m.to);

interface IndexDay {
  INDEX_CODE: string;
  TRADE_DATE: string;
  INDEX_LEVEL: number;
  DAILY_RETURN_PCT: number;
  BASE_VALUE: number;
  BASE_DATE: string;
  CONSTITUENTS: number;
  CONSTITUENTS_TRADED: number;
  CONSTITUENTS_WITH_RETURN: number;
  WEIGHT_METHOD: string;
}

/** Index levels as the model's header defines them, computed day by day. */
function indexLevels(bars: Map<string, Bar[]>, members: Member[]): IndexDay[] {
  const out: IndexDay[] = [];
  const barOn = new Map<string, Bar>();
  for (const [t, list] of bars) for (const b of list) barOn.set(`${t} ${b.date}`, b);
  for (const code of ["EGX100_EWI", "EGX30", "EGX70_EWI"]) {
    const equal = code.endsWith("_EWI"); // TBL_INDEX: EGX30 is CAP_WEIGHTED, the EWIs EQUAL
    const ms = members.filter((m) => m.index === code);
    const days = [
      ...new Set(
        ms.flatMap((m) => (bars.get(m.ticker) ?? []).filter((b) => effective(m, b.date)))
          .map((b) => b.date),
      ),
    ].sort();
    let level = 1000; // the migrations' seed: BASE_VALUE 1000 for all three
    for (const [i, d] of days.entries()) {
      const traded = ms.filter((m) => effective(m, d) && barOn.has(`${m.ticker} ${d}`));
      const listed = traded.filter((m) => m.weight !== null).map((m) => m.weight!);
      const fill = listed.length ? listed.reduce((a, b) => a + b, 0) / listed.length : 1;
      let sumW = 0, sumWR = 0, withReturn = 0;
      for (const m of traded) {
        const b = barOn.get(`${m.ticker} ${d}`)!;
        if (b.prevClose === null || b.prevClose <= 0) continue;
        const w = equal ? 1 : m.weight ?? fill;
        sumW += w;
        sumWR += w * (b.close / b.prevClose - 1);
        withReturn++;
      }
      const ret = i === 0 || sumW === 0 ? 0 : sumWR / sumW;
      level *= 1 + ret;
      out.push({
        INDEX_CODE: code,
        TRADE_DATE: d,
        INDEX_LEVEL: level,
        DAILY_RETURN_PCT: ret * 100,
        BASE_VALUE: 1000,
        BASE_DATE: days[0],
        CONSTITUENTS: ms.filter((m) => effective(m, d)).length,
        CONSTITUENTS_TRADED: traded.length,
        CONSTITUENTS_WITH_RETURN: withReturn,
        WEIGHT_METHOD: equal
          ? "EQUAL"
          : listed.length === traded.length
          ? "LISTED_WEIGHTS"
          : listed.length === 0
          ? "EQUAL_FALLBACK"
          : "LISTED_WEIGHTS_WITH_AVERAGE_FILL",
      });
    }
  }
  return out;
}

function near(got: unknown, want: number, what: string, rel = 1e-9): void {
  assert(typeof got === "number", `${what}: expected ${want}, got ${got}`);
  assert(
    Math.abs(got - want) <= rel * Math.max(1, Math.abs(want)),
    `${what}: expected ${want}, got ${got}`,
  );
}

Deno.test("the silver and gold models hold the values worked out from the fixture files", async (t) => {
  const fx = await fixtureWarehouse();
  try {
    await fx.wh.transaction((s) =>
      s.execute(
        "UPDATE OPERATIONAL.TBL_STOCK_PRICE SET CLOSE = ? WHERE TICKER = ? AND TRADE_DATE = ?",
        [MOVED.close, MOVED.ticker, MOVED.date],
      )
    );
    await buildModels(fx);
    const bars = await barsByTicker();
    const members = await memberships();
    const asOfDate = cairoDate(AS_OF);

    await t.step(
      "stg_financials: margins, ratios, TTM sums over four consecutive quarters and YoY growth",
      async () => {
        const rows = await fx.wh.query(
          `SELECT TICKER, FISCAL_YEAR AS Y, FISCAL_QUARTER AS Q, EPS, GROSS_MARGIN, OPERATING_MARGIN,
           NET_MARGIN, RETURN_ON_EQUITY, RETURN_ON_ASSETS, DEBT_TO_EQUITY, EQUITY_RATIO,
           BOOK_VALUE_PER_SHARE, CASH_CONVERSION, REVENUE_TTM, NET_INCOME_TTM, EPS_TTM,
           REVENUE_GROWTH_YOY, NET_INCOME_GROWTH_YOY
         FROM DWH_SILVER.stg_financials ORDER BY TICKER, FISCAL_YEAR, FISCAL_QUARTER`,
        );
        const row = (
          ticker: string,
          y: number,
          q: number,
          [eps, gm, om, nm, roe, roa, de, er, bvps, cc]: (number | null)[],
          [revTtm, niTtm, epsTtm, revYoy, niYoy]: (number | null)[] = [
            null,
            null,
            null,
            null,
            null,
          ],
        ) => ({
          TICKER: ticker,
          Y: y,
          Q: q,
          EPS: eps,
          GROSS_MARGIN: gm,
          OPERATING_MARGIN: om,
          NET_MARGIN: nm,
          RETURN_ON_EQUITY: roe,
          RETURN_ON_ASSETS: roa,
          DEBT_TO_EQUITY: de,
          EQUITY_RATIO: er,
          BOOK_VALUE_PER_SHARE: bvps,
          CASH_CONVERSION: cc,
          REVENUE_TTM: revTtm,
          NET_INCOME_TTM: niTtm,
          EPS_TTM: epsTtm,
          REVENUE_GROWTH_YOY: revYoy,
          NET_INCOME_GROWTH_YOY: niYoy,
        });
        assertEquals(rows, [
          // Negative equity: no ROE, no debt/equity; a negative equity ratio and book value.
          row("ORAS", 2025, 1, [-1, 0.25, 0.125, -50 / 800, null, -0.01, null, -0.04, -4, -0.8]),
          // No reported EPS: net income / shares.
          row("TMGH", 2024, 1, [2, 0.4, 0.25, 0.2, 0.05, 0.02, 1.5, 0.4, 40, 1.5]),
          // The reported EPS (2.5) wins over 240 / 100.
          row("TMGH", 2024, 2, [
            2.5,
            450 / 1200,
            0.25,
            0.2,
            240 / 4200,
            240 / 10500,
            1.5,
            0.4,
            42,
            100 / 240,
          ]),
          row("TMGH", 2024, 3, [
            2.1,
            420 / 1100,
            260 / 1100,
            210 / 1100,
            210 / 4400,
            210 / 10800,
            6400 / 4400,
            4400 / 10800,
            44,
            250 / 210,
          ]),
          // Four consecutive quarters: TTM sums; no quarter a year earlier: no growth.
          row(
            "TMGH",
            2024,
            4,
            [2.6, 0.4, 330 / 1300, 0.2, 260 / 4500, 260 / 11000, 6500 / 4500, 4500 / 11000, 45, 0],
            [4600, 910, 9.1, null, null],
          ),
          row(
            "TMGH",
            2025,
            1,
            [3, 0.4, 0.26, 0.2, 300 / 4700, 300 / 11500, 6800 / 4700, 4700 / 11500, 47, 1.5],
            [5100, 1010, 10.1, 0.5, 0.5],
          ),
          // Zero revenue: no margins. 2025 Q2 is missing: no TTM. Q3 2024 is the YoY base.
          row(
            "TMGH",
            2025,
            3,
            [-0.4, null, null, null, -40 / 4600, -40 / 11600, 7000 / 4600, 4600 / 11600, 46, 0.25],
            [null, null, null, -1, -40 / 210 - 1],
          ),
        ]);
      },
    );

    await t.step(
      "stg_market_stats: the 52-week range position and the earnings yield",
      async () => {
        const rows = await fx.wh.query(
          `SELECT TICKER, SNAPSHOT_DATE, RANGE_52W_POSITION, EARNINGS_YIELD
         FROM DWH_SILVER.stg_market_stats ORDER BY TICKER, SNAPSHOT_DATE`,
        );
        assertEquals(rows, [
          {
            TICKER: "COMI",
            SNAPSHOT_DATE: "2025-12-07",
            RANGE_52W_POSITION: 0.75,
            EARNINGS_YIELD: 1 / 8.5,
          },
          {
            TICKER: "COMI",
            SNAPSHOT_DATE: "2025-12-08",
            RANGE_52W_POSITION: 0.8,
            EARNINGS_YIELD: 1 / 8.7,
          },
          // An empty 52-week range and a negative P/E give no figure.
          {
            TICKER: "ETEL",
            SNAPSHOT_DATE: "2025-12-08",
            RANGE_52W_POSITION: null,
            EARNINGS_YIELD: null,
          },
        ]);
      },
    );

    await t.step(
      "stg_index_membership: EGX100 EWI derived from EGX30 + EGX70 EWI, current on the as-of date",
      async () => {
        const rows = await fx.wh.query(
          `SELECT INDEX_CODE, TICKER, EFFECTIVE_FROM, WEIGHT, MEMBERSHIP_SOURCE, WEIGHTING, IS_CURRENT
         FROM DWH_SILVER.stg_index_membership ORDER BY INDEX_CODE, TICKER, EFFECTIVE_FROM`,
        );
        const want = members.map((m) => ({
          INDEX_CODE: m.index,
          TICKER: m.ticker,
          EFFECTIVE_FROM: m.from,
          WEIGHT: m.weight,
          MEMBERSHIP_SOURCE: m.index === "EGX100_EWI" ? "DERIVED" : "LISTED",
          WEIGHTING: m.index === "EGX30" ? "CAP_WEIGHTED" : "EQUAL_WEIGHTED",
          IS_CURRENT: effective(m, asOfDate),
        })).sort((a, b) =>
          a.INDEX_CODE.localeCompare(b.INDEX_CODE) || a.TICKER.localeCompare(b.TICKER) ||
          a.EFFECTIVE_FROM.localeCompare(b.EFFECTIVE_FROM)
        );
        assertEquals(rows.length, 28); // 10 EGX30 + 4 EGX70 EWI listed, 14 EGX100 EWI derived
        assertEquals(rows, want);
      },
    );

    await t.step(
      "gold_dim_date: the EGX calendar (weekends, announced closures), Cairo weeks, previous and next trading days",
      async () => {
        const rows = await fx.wh.query(
          `SELECT DATE_KEY, DATE_DAY, DAY_OF_WEEK_ISO, IS_WEEKEND, IS_CLOSURE, IS_TRADING_DAY,
           CAIRO_WEEK_START, TRADING_DAY_NUMBER, PREVIOUS_TRADING_DAY, NEXT_TRADING_DAY
         FROM DWH_GOLD.gold_dim_date ORDER BY DATE_DAY`,
        );
        const want = [];
        let number = 0;
        let previous: string | null = null;
        for (let d = "2020-01-01"; d <= "2026-12-31"; d = addDays(d, 1)) {
          const trading = isTradingDay(d);
          if (trading) number++;
          want.push({
            DATE_KEY: Number(d.replaceAll("-", "")),
            DATE_DAY: d,
            DAY_OF_WEEK_ISO: weekdayOf(d) || 7,
            IS_WEEKEND: weekdayOf(d) === 5 || weekdayOf(d) === 6,
            IS_CLOSURE: closureOn(d) !== undefined,
            IS_TRADING_DAY: trading,
            CAIRO_WEEK_START: addDays(d, -weekdayOf(d)),
            TRADING_DAY_NUMBER: trading ? number : null,
            PREVIOUS_TRADING_DAY: previous,
            NEXT_TRADING_DAY: null as string | null,
          });
          if (trading) previous = d;
        }
        let next: string | null = null;
        for (const w of want.toReversed()) {
          w.NEXT_TRADING_DAY = next;
          if (w.IS_TRADING_DAY) next = w.DATE_DAY;
        }
        assertEquals(rows.length, 2557);
        assertEquals(rows, want);
        // Spot checks that need no code: Coptic Easter and Sham El-Nessim 2025 closed the market.
        const easter = rows.find((r) => r.DATE_DAY === "2025-04-22")!;
        assertEquals(easter.PREVIOUS_TRADING_DAY, "2025-04-17");
        assertEquals(rows.find((r) => r.DATE_DAY === "2025-12-08")!.CAIRO_WEEK_START, "2025-12-07");
      },
    );

    await t.step(
      "gold_dim_company: current index memberships, price coverage and the latest screener snapshot",
      async () => {
        const rows = await fx.wh.query(
          `SELECT TICKER, IN_EGX30, IN_EGX70_EWI, IN_EGX100_EWI, INDEX_CODES, FIRST_TRADE_DATE,
           LAST_TRADE_DATE, TRADING_DAYS, HAS_PRICES, LATEST_CLOSE, STATS_SNAPSHOT_DATE, MARKET_CAP
         FROM DWH_GOLD.gold_dim_company ORDER BY TICKER`,
        );
        // The list's ACTF.CA is ACTF (stg_companies drops the Cairo suffix).
        const tickers = (await csv("companies.csv")).map((r) => r.ticker.replace(/\.CA$/, ""))
          .sort();
        const want = tickers.map((ticker) => {
          const b = bars.get(ticker) ?? [];
          const codes = members.filter((m) => m.ticker === ticker && effective(m, asOfDate))
            .map((m) => m.index).sort();
          return {
            TICKER: ticker,
            IN_EGX30: codes.includes("EGX30"),
            IN_EGX70_EWI: codes.includes("EGX70_EWI"),
            IN_EGX100_EWI: codes.includes("EGX100_EWI"),
            INDEX_CODES: codes.length ? codes.join(",") : null,
            FIRST_TRADE_DATE: b[0]?.date ?? null,
            LAST_TRADE_DATE: b.at(-1)?.date ?? null,
            TRADING_DAYS: b.length,
            HAS_PRICES: b.length > 0,
            LATEST_CLOSE: b.at(-1)?.close ?? null,
            // market_stats.csv: COMI's newest snapshot is 2025-12-08, ETEL has one.
            STATS_SNAPSHOT_DATE: ticker === "COMI" || ticker === "ETEL" ? "2025-12-08" : null,
            MARKET_CAP: ticker === "COMI" ? 336e9 : ticker === "ETEL" ? 100e9 : null,
          };
        });
        assertEquals(rows.length, 223);
        assertEquals(rows, want);
        // EMFD moved from EGX30 to EGX70 EWI on 2025-10-01.
        const emfd = rows.find((r) => r.TICKER === "EMFD")!;
        assertEquals([emfd.IN_EGX30, emfd.IN_EGX70_EWI, emfd.INDEX_CODES], [
          false,
          true,
          "EGX100_EWI,EGX70_EWI",
        ]);
      },
    );

    await t.step(
      "gold_fct_index_performance: equal and listed weights, a missing weight filled, levels chained from the base value on the base date",
      async () => {
        const rows = await fx.wh.query(
          `SELECT INDEX_CODE, TRADE_DATE, INDEX_LEVEL, DAILY_RETURN_PCT, BASE_VALUE, BASE_DATE,
           CONSTITUENTS, CONSTITUENTS_TRADED, CONSTITUENTS_WITH_RETURN, WEIGHT_METHOD
         FROM DWH_GOLD.gold_fct_index_performance ORDER BY INDEX_CODE, TRADE_DATE`,
        );
        const want = indexLevels(bars, members);
        assertEquals(rows.length, want.length);
        for (const [i, w] of want.entries()) {
          const r = rows[i];
          const what = `${w.INDEX_CODE} ${w.TRADE_DATE}`;
          near(r.INDEX_LEVEL, w.INDEX_LEVEL, `${what} INDEX_LEVEL`);
          near(r.DAILY_RETURN_PCT, w.DAILY_RETURN_PCT, `${what} DAILY_RETURN_PCT`);
          assertEquals(
            { ...r, INDEX_LEVEL: 0, DAILY_RETURN_PCT: 0 },
            { ...w, INDEX_LEVEL: 0, DAILY_RETURN_PCT: 0 },
            what,
          );
        }
        // On its base date an index is exactly its base value, though EXPA moved that day.
        const base = rows.filter((r) => r.TRADE_DATE === r.BASE_DATE);
        assertEquals(base.map((r) => [r.INDEX_CODE, r.TRADE_DATE, r.INDEX_LEVEL]), [
          ["EGX100_EWI", "2025-01-02", 1000],
          ["EGX30", "2025-05-25", 1000],
          ["EGX70_EWI", "2025-01-02", 1000],
        ]);
        const [expa] = await fx.wh.query(
          "SELECT DAILY_RETURN_PCT AS R FROM DWH_GOLD.gold_fct_stock_daily_prices WHERE TICKER = 'EXPA' AND TRADE_DATE = '2025-01-02'",
        );
        assert((expa.R as number) > 0.7, `EXPA's return on 2025-01-02: ${expa.R}`);
        // Every method occurs, and EFIH's missing weight never makes a level NULL.
        assertEquals([...new Set(rows.map((r) => r.WEIGHT_METHOD))].sort(), [
          "EQUAL",
          "LISTED_WEIGHTS",
          "LISTED_WEIGHTS_WITH_AVERAGE_FILL",
        ]);
      },
    );
  } finally {
    await fx.close();
  }
});

Deno.test("a stock whose membership periods in an index overlap counts once a day, with the weight of the period that started last", async () => {
  const fx = await fixtureWarehouse();
  try {
    // A newer EGX30 list gives COMI another weight from 2025-10-01 but leaves its first period
    // open; EGX100 EWI, derived from EGX30, gets the two overlapping periods too.
    const overlap: Member = {
      index: "EGX30",
      ticker: "COMI",
      from: "2025-10-01",
      to: null,
      weight: 0.3,
    };
    await fx.wh.transaction(async (s) => {
      await s.execute(
        "UPDATE OPERATIONAL.TBL_STOCK_PRICE SET CLOSE = ? WHERE TICKER = ? AND TRADE_DATE = ?",
        [MOVED.close, MOVED.ticker, MOVED.date],
      );
      await s.execute(
        `INSERT INTO OPERATIONAL.TBL_INDEX_MEMBERSHIP (INDEX_CODE, TICKER, EFFECTIVE_FROM, WEIGHT,
         SOURCE_FILE) VALUES (?, ?, ?, ?, 'overlap.csv')`,
        [overlap.index, overlap.ticker, overlap.from, overlap.weight],
      );
    });
    const { project } = await buildModels(fx);
    const rows = await fx.wh.query(
      `SELECT INDEX_CODE, TRADE_DATE, INDEX_LEVEL, DAILY_RETURN_PCT, BASE_VALUE, BASE_DATE,
       CONSTITUENTS, CONSTITUENTS_TRADED, CONSTITUENTS_WITH_RETURN, WEIGHT_METHOD
       FROM DWH_GOLD.gold_fct_index_performance ORDER BY INDEX_CODE, TRADE_DATE`,
    );
    const want = indexLevels(await barsByTicker(), withoutOverlaps(await memberships([overlap])));
    assertEquals(rows.length, want.length);
    for (const [i, w] of want.entries()) {
      const r = rows[i];
      const what = `${w.INDEX_CODE} ${w.TRADE_DATE}`;
      near(r.INDEX_LEVEL, w.INDEX_LEVEL, `${what} INDEX_LEVEL`);
      near(r.DAILY_RETURN_PCT, w.DAILY_RETURN_PCT, `${what} DAILY_RETURN_PCT`);
      assertEquals(
        { ...r, INDEX_LEVEL: 0, DAILY_RETURN_PCT: 0 },
        { ...w, INDEX_LEVEL: 0, DAILY_RETURN_PCT: 0 },
        what,
      );
    }
    const last = rows.filter((r) => r.TRADE_DATE === "2025-12-08");
    assertEquals(last.map((r) => [r.INDEX_CODE, r.CONSTITUENTS]), [
      ["EGX100_EWI", 13],
      ["EGX30", 9],
      ["EGX70_EWI", 4],
    ]);
    // The staging test reports both overlaps (a warning: the levels above stay well defined).
    const name = "assert_index_membership_periods_do_not_overlap";
    const t = await runTests(fx.wh, project, {
      asOf: AS_OF,
      targetDir: fx.targetDir,
      names: [name],
    });
    assertEquals(t.results.map((x) => [x.status, x.failures]), [["warn", 2]]);
    assert(t.ok);
    assertEquals(
      await fx.wh.query(
        `SELECT INDEX_CODE, TICKER, EFFECTIVE_FROM, OVERLAPPING_FROM FROM DWH_AUDIT.${name}
         ORDER BY 1`,
      ),
      [
        {
          INDEX_CODE: "EGX100_EWI",
          TICKER: "COMI",
          EFFECTIVE_FROM: "2025-01-01",
          OVERLAPPING_FROM: "2025-10-01",
        },
        {
          INDEX_CODE: "EGX30",
          TICKER: "COMI",
          EFFECTIVE_FROM: "2025-01-01",
          OVERLAPPING_FROM: "2025-10-01",
        },
      ],
    );
  } finally {
    await fx.close();
  }
});

Deno.test("a company listed with the Cairo suffix .CA is its EGX code, one row whichever spelling came last", async () => {
  const fx = await fixtureWarehouse();
  try {
    // The fixture list has ACTF.CA ("Act Financial"); a later write spells it ACTF, and another
    // company comes in lower case with spaces around.
    await fx.wh.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME, UPDATED_AT) VALUES " +
          "('ACTF', 'Act Financial Holding', TIMESTAMP '2099-01-01 00:00:00'), " +
          "(' newx.ca ', 'New X', TIMESTAMP '2099-01-01 00:00:00')",
      );
    });
    const { project } = await buildModels(fx);
    assertEquals(
      await fx.wh.query(
        `SELECT TICKER, COMPANY_NAME FROM DWH_GOLD.gold_dim_company
         WHERE TICKER LIKE 'ACTF%' OR TICKER LIKE 'NEWX%' ORDER BY TICKER`,
      ),
      [
        { TICKER: "ACTF", COMPANY_NAME: "Act Financial Holding" },
        { TICKER: "NEWX", COMPANY_NAME: "New X" },
      ],
    );
    const t = await runTests(fx.wh, project, {
      asOf: AS_OF,
      targetDir: fx.targetDir,
      select: ["stg_companies"],
    });
    assertEquals(t.results.filter((r) => r.status !== "pass").map((r) => r.name), []);
  } finally {
    await fx.close();
  }
});

Deno.test("sector spellings that differ only in case or punctuation are one sector, under its most common name", async () => {
  const fx = await fixtureWarehouse();
  try {
    // Real Estate in the fixture list: TMGH, EMFD (both with prices), PHDC and MASR; two of them
    // spelled otherwise, and HELI (no sector there) added as "Real Estate".
    await fx.wh.transaction(async (s) => {
      await s.execute("UPDATE OPERATIONAL.TBL_COMPANY SET SECTOR = ? WHERE TICKER = ?", [
        "real estate",
        "EMFD",
      ]);
      await s.execute("UPDATE OPERATIONAL.TBL_COMPANY SET SECTOR = ? WHERE TICKER = ?", [
        "Real-Estate ",
        "PHDC",
      ]);
      await s.execute("UPDATE OPERATIONAL.TBL_COMPANY SET SECTOR = ? WHERE TICKER = ?", [
        "Real Estate",
        "HELI",
      ]);
    });
    const { project } = await buildModels(fx);
    assertEquals(
      await fx.wh.query(
        `SELECT SECTOR_KEY, SECTOR_NAME, COMPANY_COUNT, TRADED_COMPANY_COUNT
         FROM DWH_GOLD.gold_dim_sector WHERE SECTOR_KEY = 'REAL_ESTATE'`,
      ),
      [{
        SECTOR_KEY: "REAL_ESTATE",
        SECTOR_NAME: "Real Estate",
        COMPANY_COUNT: 5,
        TRADED_COMPANY_COUNT: 2,
      }],
    );
    assertEquals(
      await fx.wh.query(
        `SELECT TICKER, SECTOR, HAS_SECTOR FROM DWH_GOLD.gold_dim_company
         WHERE SECTOR_KEY = 'REAL_ESTATE' ORDER BY TICKER`,
      ),
      ["EMFD", "HELI", "MASR", "PHDC", "TMGH"].map((t) => ({
        TICKER: t,
        SECTOR: "Real Estate",
        HAS_SECTOR: true,
      })),
    );
    assertEquals(
      await fx.wh.query(
        `SELECT SECTOR, COMPANIES_TRADED FROM DWH_GOLD.vw_sector_performance
         WHERE SECTOR_KEY = 'REAL_ESTATE' AND TRADE_DATE = '2025-12-08'`,
      ),
      [{ SECTOR: "Real Estate", COMPANIES_TRADED: 2 }],
    );
    const t = await runTests(fx.wh, project, {
      asOf: AS_OF,
      targetDir: fx.targetDir,
      select: ["gold_dim_sector", "vw_sector_performance"],
    });
    assertEquals(t.results.filter((r) => r.status !== "pass").map((r) => r.name), []);
  } finally {
    await fx.close();
  }
});

Deno.test('a day whose volume is not known (an Investing.com "-") keeps its prices; the volume figures leave it out', async () => {
  const fx = await fixtureWarehouse();
  try {
    // Two of COMI's days come from an Investing.com export without a volume (no BARS_1M bar).
    const unknown = ["2025-11-20", "2025-12-08"];
    await fx.wh.transaction(async (s) => {
      for (const d of unknown) {
        await s.execute(
          `INSERT INTO OPERATIONAL.TBL_STOCK_PRICE
             (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE)
           SELECT TICKER, TRADE_DATE, 'INVESTING_EXPORT', OPEN, HIGH, LOW, CLOSE, NULL,
             'COMI Historical Data.csv'
           FROM OPERATIONAL.TBL_STOCK_PRICE
           WHERE TICKER = 'COMI' AND TRADE_DATE = ? AND DATA_SOURCE = 'BARS_1M'`,
          [d],
        );
        await s.execute(
          "DELETE FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'COMI' AND TRADE_DATE = ? " +
            "AND DATA_SOURCE = 'BARS_1M'",
          [d],
        );
      }
    });
    const { project } = await buildModels(fx);
    // Worked out from the fixture: COMI's volumes by day, oldest first, null on those two days.
    const comi = (await csv("daily_bars.csv")).filter((r) => r.ticker === "COMI")
      .sort((a, b) => a.trade_date.localeCompare(b.trade_date))
      .map((r) => ({
        date: r.trade_date,
        close: Number(r.close),
        volume: unknown.includes(r.trade_date) ? null : Number(r.volume),
      }));
    const avg30 = (i: number) => {
      const known = comi.slice(i - 29, i + 1).flatMap((b) => b.volume === null ? [] : [b.volume]);
      return known.reduce((a, v) => a + v, 0) / known.length;
    };
    const at = (d: string) => comi.findIndex((b) => b.date === d);
    const got = await fx.wh.query(
      `SELECT TRADE_DATE, DATA_SOURCE, CLOSE, VOLUME, TURNOVER_ESTIMATE, VOLUME_AVG_30,
         VOLUME_RATIO, VOLUME_SIGNAL
       FROM DWH_GOLD.gold_fct_stock_daily_prices
       WHERE TICKER = 'COMI' AND TRADE_DATE IN ('2025-11-20', '2025-11-23', '2025-12-08')
       ORDER BY TRADE_DATE`,
    );
    const nov23 = comi[at("2025-11-23")];
    assertEquals(got, [
      {
        TRADE_DATE: "2025-11-20",
        DATA_SOURCE: "INVESTING_EXPORT",
        CLOSE: 106.02,
        VOLUME: null,
        TURNOVER_ESTIMATE: null,
        VOLUME_AVG_30: avg30(at("2025-11-20")), // of the 29 known volumes
        VOLUME_RATIO: null,
        VOLUME_SIGNAL: "INSUFFICIENT_DATA",
      },
      {
        TRADE_DATE: "2025-11-23",
        DATA_SOURCE: "BARS_1M",
        CLOSE: 106.55,
        VOLUME: 1_387_926,
        TURNOVER_ESTIMATE: (107.75 + 106.03 + 106.55) / 3 * 1_387_926,
        VOLUME_AVG_30: avg30(at("2025-11-23")),
        VOLUME_RATIO: nov23.volume! / avg30(at("2025-11-23")),
        VOLUME_SIGNAL: "NORMAL",
      },
      {
        TRADE_DATE: "2025-12-08",
        DATA_SOURCE: "INVESTING_EXPORT",
        CLOSE: 117.6,
        VOLUME: null,
        TURNOVER_ESTIMATE: null,
        VOLUME_AVG_30: avg30(at("2025-12-08")), // 28 known volumes
        VOLUME_RATIO: null,
        VOLUME_SIGNAL: "INSUFFICIENT_DATA",
      },
    ]);
    // The windows really had unknown volumes in them, and 30 bars.
    assertEquals([at("2025-11-20") >= 29, comi.slice(at("2025-12-08") - 29).length], [true, 30]);
    assert(
      avg30(at("2025-12-08")) !== comi.slice(-30).reduce((a, b) => a + (b.volume ?? 0), 0) / 30,
    );
    // The latest day's volume leaders: COMI's unknown volume ranks after every known one.
    const leaders = await fx.wh.query<
      { TICKER: string; VOLUME_RANK: number; TURNOVER_RANK: number }
    >(
      "SELECT TICKER, VOLUME_RANK, TURNOVER_RANK FROM DWH_GOLD.vw_volume_leaders " +
        "WHERE TICKER = 'COMI'",
    );
    const traded = (await csv("daily_bars.csv")).filter((r) => r.trade_date === "2025-12-08");
    assertEquals(traded.length, 11);
    assertEquals(leaders, [{ TICKER: "COMI", VOLUME_RANK: 11, TURNOVER_RANK: 11 }]);
    // Every data test passes (the volume checks accept a NULL volume, not a negative one), but
    // the warning on the fixtures' EXPA seam (two days beyond EGX's daily limit).
    const t = await runTests(fx.wh, project, { asOf: AS_OF, targetDir: fx.targetDir });
    assertEquals(t.results.filter((r) => r.status !== "pass").map((r) => [r.name, r.status]), [
      ["gold_prices_within_daily_limit", "warn"],
    ]);
  } finally {
    await fx.close();
  }
});

Deno.test("TTM sums and year-on-year growth are NULL when their quarters are not all in one currency", async () => {
  const fx = await fixtureWarehouse();
  try {
    // COMI reports 2024 in EGP, then 2025 Q1 in USD.
    await fx.wh.transaction((s) =>
      s.execute(
        `INSERT INTO OPERATIONAL.TBL_FINANCIAL (TICKER, FISCAL_YEAR, FISCAL_QUARTER, PERIOD_END,
           CURRENCY, REVENUE, NET_INCOME, SHARES_OUTSTANDING, DATA_SOURCE)
         VALUES ('COMI', 2024, 1, '2024-03-31', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2024, 2, '2024-06-30', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2024, 3, '2024-09-30', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2024, 4, '2024-12-31', 'EGP', 5000, 1000, 100, 'TEST'),
           ('COMI', 2025, 1, '2025-03-31', 'USD', 100, 20, 100, 'TEST')`,
      )
    );
    await buildModels(fx, { select: ["stg_financials"] });
    assertEquals(
      await fx.wh.query(
        `SELECT FISCAL_YEAR AS Y, FISCAL_QUARTER AS Q, CURRENCY, REVENUE_TTM, NET_INCOME_TTM,
           EPS_TTM, REVENUE_GROWTH_YOY, NET_INCOME_GROWTH_YOY
         FROM DWH_SILVER.stg_financials WHERE TICKER = 'COMI' AND FISCAL_QUARTER IN (1, 4)
         ORDER BY Y, Q`,
      ),
      [
        {
          Y: 2024,
          Q: 1,
          CURRENCY: "EGP",
          REVENUE_TTM: null,
          NET_INCOME_TTM: null,
          EPS_TTM: null,
          REVENUE_GROWTH_YOY: null,
          NET_INCOME_GROWTH_YOY: null,
        },
        // Four EGP quarters: the sums.
        {
          Y: 2024,
          Q: 4,
          CURRENCY: "EGP",
          REVENUE_TTM: 20000,
          NET_INCOME_TTM: 4000,
          EPS_TTM: 40,
          REVENUE_GROWTH_YOY: null,
          NET_INCOME_GROWTH_YOY: null,
        },
        // Three EGP quarters and a USD one (was 15100, 3020, 30.2), and USD against EGP a year
        // earlier (was -0.98 and -0.98).
        {
          Y: 2025,
          Q: 1,
          CURRENCY: "USD",
          REVENUE_TTM: null,
          NET_INCOME_TTM: null,
          EPS_TTM: null,
          REVENUE_GROWTH_YOY: null,
          NET_INCOME_GROWTH_YOY: null,
        },
      ],
    );
  } finally {
    await fx.close();
  }
});

Deno.test("the market views' day is the newest day of a company in gold_dim_company: a later bar of a ticker the dimension lacks leaves them as they were", async () => {
  const fx = await fixtureWarehouse();
  try {
    const views = async () => ({
      snapshot: await fx.wh.query(
        "SELECT * FROM DWH_GOLD.vw_market_snapshot ORDER BY TICKER",
      ),
      movers: await fx.wh.query("SELECT * FROM DWH_GOLD.vw_top_movers ORDER BY TICKER"),
      leaders: await fx.wh.query("SELECT * FROM DWH_GOLD.vw_volume_leaders ORDER BY TICKER"),
    });
    await buildModels(fx);
    const before = await views();
    // NEWX has a bar on Tuesday 2025-12-09 (the fixture's last day is Monday the 8th) but no
    // company row (prices loaded before its company was).
    await fx.wh.transaction((s) =>
      s.execute(
        `INSERT INTO OPERATIONAL.TBL_STOCK_PRICE (TICKER, TRADE_DATE, DATA_SOURCE, OPEN, HIGH,
           LOW, CLOSE, VOLUME)
         VALUES ('NEWX', '2025-12-08', 'BATCH_CSV', 10, 10, 10, 10, 100),
           ('NEWX', '2025-12-09', 'BATCH_CSV', 11, 11, 11, 11, 100)`,
      )
    );
    await buildModels(fx);
    const [fact] = await fx.wh.query(
      "SELECT max(TRADE_DATE)::VARCHAR AS D FROM DWH_GOLD.gold_fct_stock_daily_prices",
    );
    assertEquals(fact, { D: "2025-12-09" });
    const after = await views();
    assertEquals(after, before);
    assertEquals(
      await fx.wh.query(
        `SELECT MARKET_DATE::VARCHAR AS D, count(*) AS N, count_if(IS_CURRENT) AS CURRENT
         FROM DWH_GOLD.vw_market_snapshot GROUP BY ALL`,
      ),
      [{ D: "2025-12-08", N: 11, CURRENT: 11 }],
    );
    for (const view of ["vw_top_movers", "vw_volume_leaders"]) {
      assertEquals(
        await fx.wh.query(
          `SELECT TRADE_DATE::VARCHAR AS D, count(*) AS N FROM DWH_GOLD.${view} GROUP BY ALL`,
        ),
        [{ D: "2025-12-08", N: 11 }],
        view,
      );
    }
  } finally {
    await fx.close();
  }
});

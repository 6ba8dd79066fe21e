import assert from "node:assert/strict";
import { AlertRulesError, loadRules, parseRules } from "../lib/alerts/rules.ts";
import { type DailyBar, evaluateRules } from "../lib/alerts/evaluate.ts";
import { ConfigError } from "../lib/config/config.ts";

const bar = (date: string, close: number, volume = 1000): DailyBar => ({ date, close, volume });

Deno.test("the bundled alerts.yaml parses into its four rules", async () => {
  const rules = await loadRules("alerts.yaml");
  assert.deepEqual(rules.map((r) => [r.id, r.kind]), [
    ["big-move", "price_move"],
    ["volume-spike", "volume_spike"],
    ["sma50-cross", "ma_cross"],
    ["index-drop", "index_move"],
  ]);
  assert.deepEqual(rules[0], {
    id: "big-move",
    description: "A stock moves 5% or more against its previous close",
    subjects: "all",
    kind: "price_move",
    thresholdPct: 5,
    direction: "both",
  });
  assert.deepEqual(rules[1], {
    id: "volume-spike",
    description: "Volume above 3x its 30-day average",
    subjects: "all",
    kind: "volume_spike",
    multiple: 3,
    lookbackDays: 30,
  });
});

Deno.test("every problem in a rule file is reported with its line and column", async () => {
  const text = await Deno.readTextFile("tests/testdata/alerts/bad_rules.yaml");
  let findings: string[] = [];
  try {
    parseRules(text, "bad_rules.yaml");
  } catch (e) {
    assert.ok(e instanceof AlertRulesError);
    findings = e.findings;
  }
  assert.deepEqual(findings, [
    // In file order (a rule's unknown keys were listed before its earlier values).
    "bad_rules.yaml:2:5 rule move: threshold_pct must be a number between 0.01 and 100 (missing)",
    "bad_rules.yaml:4:5 rule move: unknown key treshold_pct for kind price_move; allowed: id, kind, description, threshold_pct, direction, tickers",
    "bad_rules.yaml:6:11 rule cross: kind must be one of price_move, volume_spike, ma_cross, index_move",
    "bad_rules.yaml:10:15 rule vol: multiple must be a number between 1 and 1000, got 0.5",
    "bad_rules.yaml:11:20 rule vol: lookback_days must be an integer between 2 and 260, got 7.5",
    'bad_rules.yaml:12:21 rule vol: invalid ticker "C-OMI": not an EGX code, 2-10 letters or digits starting with a letter (e.g. COMI; a trailing .CA is dropped)',
    "bad_rules.yaml:16:16 rule idx: direction must be one of up, down, both",
    "bad_rules.yaml:17:9 duplicate rule id move (first at line 2)",
  ]);
});

Deno.test("a rule's tickers follow the one ticker rule (comi and ACTF.CA are COMI and ACTF)", () => {
  const rules = parseRules(
    "rules:\n  - {id: m, kind: price_move, threshold_pct: 5, tickers: [comi, ' ACTF.CA', ETEL]}\n",
  );
  assert.deepEqual(rules[0].subjects, ["COMI", "ACTF", "ETEL"]);
});

/** The findings of a rule text that must not parse. */
function findingsOf(text: string, file = "r.yaml"): string[] {
  try {
    parseRules(text, file);
  } catch (e) {
    assert.ok(e instanceof AlertRulesError, String(e));
    return e.findings;
  }
  assert.fail("the rules parsed");
}

Deno.test("a duplicate rule id is reported with every other problem of that rule", () => {
  const text = [
    "rules:",
    "  - id: move",
    "    kind: price_move",
    "    threshold_pct: 5",
    "  - id: move",
    "    kind: price_move",
    "    threshold_pct: 500",
    "    colour: red",
    "  - id: vol",
    "    kind: volume_spike",
    "    multiple: 0",
    "",
  ].join("\n");
  assert.deepEqual(findingsOf(text), [
    "r.yaml:5:9 duplicate rule id move (first at line 2)",
    "r.yaml:7:20 rule move: threshold_pct must be a number between 0.01 and 100, got 500",
    "r.yaml:8:5 rule move: unknown key colour for kind price_move; allowed: id, kind, " +
    "description, threshold_pct, direction, tickers",
    "r.yaml:11:15 rule vol: multiple must be a number between 1 and 1000, got 0",
  ]);
});

Deno.test("a rule without a usable id is named by its position in the list", () => {
  const text = [
    "rules:",
    "  - {id: ok, kind: price_move, threshold_pct: 5}",
    "  - kind: price_move",
    "    threshold_pct: -1",
    "  - {id: 7, kind: ma_cross, window: 1}",
    "  - {id: Big Move, kind: nope}",
    "  - {kind: index_move, threshold_pct: 5, indices: [egx30]}",
    "  - [not, a, rule]",
    "  - {id: '', kind: price_move, threshold_pct: 5}",
    "",
  ].join("\n");
  assert.deepEqual(findingsOf(text), [
    "r.yaml:3:5 rule #2: needs an id: lower-case letters, digits, - or _ (e.g. big-move)",
    "r.yaml:4:20 rule #2: threshold_pct must be a number between 0.01 and 100, got -1",
    "r.yaml:5:10 rule #3: id must be lower-case letters, digits, - or _ (e.g. big-move), got 7",
    "r.yaml:5:37 rule #3: window must be an integer between 2 and 260, got 1",
    'r.yaml:6:10 rule #4: id must be lower-case letters, digits, - or _ (e.g. big-move), got "Big Move"',
    "r.yaml:6:26 rule #4: kind must be one of price_move, volume_spike, ma_cross, index_move",
    "r.yaml:7:5 rule #5: needs an id: lower-case letters, digits, - or _ (e.g. big-move)",
    'r.yaml:7:52 rule #5: "egx30" is not an upper-case code',
    "r.yaml:8:5 rule #6: each rule must be a mapping (id, kind, ...)",
    'r.yaml:9:10 rule #7: id must be lower-case letters, digits, - or _ (e.g. big-move), got ""',
  ]);
});

Deno.test("a kind named like an object's inherited property is an unknown kind, reported with the rest", () => {
  const text = [
    "rules:",
    "  - {id: a, kind: toString}",
    "  - {id: b, kind: constructor, threshold_pct: 5}",
    "  - {id: c, kind: __proto__}",
    "  - {id: d, kind: price_move, threshold_pct: 0}",
    "",
  ].join("\n");
  const kinds = "kind must be one of price_move, volume_spike, ma_cross, index_move";
  assert.deepEqual(findingsOf(text), [
    `r.yaml:2:19 rule a: ${kinds}`,
    `r.yaml:3:19 rule b: ${kinds}`,
    `r.yaml:4:19 rule c: ${kinds}`,
    "r.yaml:5:46 rule d: threshold_pct must be a number between 0.01 and 100, got 0",
  ]);
});

Deno.test("a NaN or infinite number is named as such, not as null", () => {
  const text = [
    "rules:",
    "  - {id: a, kind: price_move, threshold_pct: .nan}",
    "  - {id: b, kind: volume_spike, multiple: .inf}",
    "  - {id: c, kind: index_move, threshold_pct: -.inf}",
    "  - {id: d, kind: price_move, threshold_pct: 1e999}",
    "",
  ].join("\n");
  assert.deepEqual(findingsOf(text), [
    "r.yaml:2:46 rule a: threshold_pct must be a number between 0.01 and 100, got NaN",
    "r.yaml:3:43 rule b: multiple must be a number between 1 and 1000, got Infinity",
    "r.yaml:4:46 rule c: threshold_pct must be a number between 0.01 and 100, got -Infinity",
    "r.yaml:5:46 rule d: threshold_pct must be a number between 0.01 and 100, got Infinity",
  ]);
});

Deno.test("malformed YAML and a missing rules list are reported, not ignored", () => {
  assert.throws(
    () => parseRules("rules:\n  - id: a\n   kind: x\n", "a.yaml"),
    (e: unknown) => e instanceof AlertRulesError && e.findings[0].startsWith("a.yaml:3:"),
  );
  assert.throws(
    () => parseRules("rulez: []\n", "b.yaml"),
    (e: unknown) =>
      e instanceof AlertRulesError &&
      e.findings.join("|") ===
        "b.yaml:1:1 unknown key rulez; the file holds only `rules:`|" +
          "b.yaml:1:1 `rules:` must be a list of rules",
  );
});

Deno.test("a bad rule file is a configuration error whose message names the file", () => {
  const cases: [string, string[]][] = [
    // Each bracket left open is named where it opens (the parser stops at the end, 1:44).
    ['{"rules": [{"id": "a", "kind": "price_move"', [
      "3 problem(s) in the alert rules file r.json:",
      "r.json:1:12 Flow map in block collection must be sufficiently indented and end with a }",
      "r.json:1:11 Flow sequence in block collection must be sufficiently indented and end with a ]",
      "r.json:1:1 Flow map must end with a }",
    ]],
    // An open quote, where it opens, not at the end of the file; it took the `}` with it.
    ["rules:\n  - {id: a, kind: 'price_move}\n  - {id: b, kind: price_move}\n", [
      "2 problem(s) in the alert rules file r.json:",
      "r.json:2:19 Missing closing 'quote",
      "r.json:2:5 Flow map in block collection must be sufficiently indented and end with a }",
    ]],
    ["rules:\n  - {id: a, kind: price_move, threshold_pct: x}\n", [
      "1 problem(s) in the alert rules file r.json:",
      'r.json:2:46 rule a: threshold_pct must be a number between 0.01 and 100, got "x"',
    ]],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseRules(text, "r.json"), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.ok(e instanceof AlertRulesError);
      assert.equal(e.name, "AlertRulesError");
      assert.deepEqual(e.message.split("\n"), message);
      return true;
    });
  }
});

const move = parseRules(
  "rules:\n  - {id: up5, kind: price_move, threshold_pct: 5, direction: up, tickers: [AAA, BBB]}\n",
);

Deno.test("a price move fires at the threshold and only in the rule's direction", () => {
  const stocks = new Map([
    ["AAA", [bar("2025-12-07", 80), bar("2025-12-08", 84)]], // exactly +5%
    ["BBB", [bar("2025-12-07", 80), bar("2025-12-08", 83.99)]], // +4.9875%
    ["CCC", [bar("2025-12-07", 80), bar("2025-12-08", 90)]], // not watched
  ]);
  const out = evaluateRules(move, { stocks, indices: new Map() });
  assert.equal(out.length, 1);
  assert.equal(out[0].subject, "AAA");
  assert.equal(out[0].direction, "up");
  assert.equal(out[0].observed, 5);
  assert.equal(
    out[0].message,
    "AAA up +5.00% on 2025-12-08 (84.00 vs previous close 80.00 on 2025-12-07); rule up5: " +
      "move beyond 5%",
  );
  const down = new Map([["AAA", [bar("2025-12-07", 80), bar("2025-12-08", 70)]]]);
  assert.deepEqual(evaluateRules(move, { stocks: down, indices: new Map() }), []);
});

Deno.test("a volume spike compares with the average of the previous lookback days only", () => {
  const rules = parseRules(
    "rules:\n  - {id: v, kind: volume_spike, multiple: 3, lookback_days: 4}\n",
  );
  const series = [
    bar("2025-12-01", 10, 100),
    bar("2025-12-02", 10, 200),
    bar("2025-12-03", 10, 300),
    bar("2025-12-04", 10, 400),
    bar("2025-12-07", 10, 750), // average of the four before = 250, 3x = 750: fires
  ];
  const out = evaluateRules(rules, { stocks: new Map([["AAA", series]]), indices: new Map() });
  assert.deepEqual(out.map((a) => [a.subject, a.date, a.observed, a.threshold]), [
    ["AAA", "2025-12-07", 3, 3],
  ]);
  assert.equal(
    out[0].message,
    "AAA volume 750 on 2025-12-07 is 3.00x its 4-day average 250; rule v: above 3x",
  );
  // Four days of history are needed before the day: with three, nothing fires.
  const short = new Map([["AAA", series.slice(1)]]);
  assert.deepEqual(evaluateRules(rules, { stocks: short, indices: new Map() }), []);
});

Deno.test("a volume spike leaves out days whose volume is not known, and a day without one never fires", () => {
  const rules = parseRules(
    "rules:\n  - {id: v, kind: volume_spike, multiple: 3, lookback_days: 4}\n",
  );
  const unknown = (date: string): DailyBar => ({ date, close: 10, volume: null });
  const series = [
    bar("2025-12-01", 10, 100),
    unknown("2025-12-02"), // an Investing.com "-": not 0, not counted
    bar("2025-12-03", 10, 300),
    bar("2025-12-04", 10, 200),
    bar("2025-12-07", 10, 600), // average of the three known = 200, 3x = 600: fires
  ];
  const out = evaluateRules(rules, { stocks: new Map([["AAA", series]]), indices: new Map() });
  assert.deepEqual(out.map((a) => [a.subject, a.date, a.observed]), [["AAA", "2025-12-07", 3]]);
  assert.equal(
    out[0].message,
    "AAA volume 600 on 2025-12-07 is 3.00x its 4-day average 200 (of the 3 days with a " +
      "volume); rule v: above 3x",
  );
  // The day itself without a volume, or no known volume before it: nothing fires.
  const none = (s: DailyBar[]) =>
    evaluateRules(rules, { stocks: new Map([["AAA", s]]), indices: new Map() });
  assert.deepEqual(none([...series.slice(0, 4), unknown("2025-12-07")]), []);
  assert.deepEqual(
    none([...["01", "02", "03", "04"].map((d) => unknown(`2025-12-${d}`)), series[4]]),
    [],
  );
});

Deno.test("a moving-average cross fires on the day the close crosses, each way, not after", () => {
  const rules = parseRules("rules:\n  - {id: x, kind: ma_cross, window: 3}\n");
  const series = [
    bar("2025-12-01", 10),
    bar("2025-12-02", 10),
    bar("2025-12-03", 10),
    bar("2025-12-04", 9), // 10 >= sma 10 the day before, 9 < sma(10,10,9)=9.667: crosses below
    bar("2025-12-07", 12), // close 12 > sma(10,9,12)=10.333: crosses above
    bar("2025-12-08", 13), // stays above: no new cross
  ];
  const stocks = new Map([["AAA", series]]);
  const dates = ["2025-12-04", "2025-12-07", "2025-12-08"];
  const out = evaluateRules(rules, { stocks, indices: new Map() }, { dates });
  assert.deepEqual(out.map((a) => [a.date, a.direction, a.observed, a.threshold.toFixed(4)]), [
    ["2025-12-04", "below", 9, "9.6667"],
    ["2025-12-07", "above", 12, "10.3333"],
  ]);
  assert.equal(
    out[1].message,
    "AAA crossed above its 3-day average on 2025-12-07 (close 12.00, average 10.33; previous " +
      "close 9.00, average 9.67); rule x",
  );
});

Deno.test("an index move uses index levels and ignores stocks", () => {
  const rules = parseRules(
    "rules:\n  - {id: d, kind: index_move, threshold_pct: 5, direction: down}\n",
  );
  const indices = new Map([
    ["EGX30", [bar("2025-12-07", 40000, 0), bar("2025-12-08", 37900, 0)]], // -5.25%
    ["EGX70_EWI", [bar("2025-12-07", 10000, 0), bar("2025-12-08", 9600, 0)]], // -4%
  ]);
  const stocks = new Map([["EGX30", [bar("2025-12-07", 1), bar("2025-12-08", 2)]]]);
  const out = evaluateRules(rules, { stocks, indices });
  assert.deepEqual(out.map((a) => [a.subject, a.direction, a.observed.toFixed(4)]), [
    ["EGX30", "down", "-5.2500"],
  ]);
});

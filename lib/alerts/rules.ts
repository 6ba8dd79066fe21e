/**
 * Alert rules, read from `alerts.yaml` (the file users edit). Parsed once, with positions: every
 * problem (unknown key, wrong type, duplicate id, bad ticker...) is collected and reported as
 * `alerts.yaml:LINE:COL message`, and no rule is used from a file with problems. A message names
 * its rule by id, or by position in the list ("rule #3") when the rule has no usable id; a
 * duplicate id is reported along with the rule's other problems.
 *
 * Rule kinds (each fires at most once per subject, Cairo trade date and direction):
 *   price_move    last price vs the previous trading day's close, |change| >= threshold_pct
 *   volume_spike  the day's volume >= multiple x the average of the previous lookback_days days
 *                 (of their known volumes: an Investing.com day may have none; a day without
 *                 one is never a spike)
 *   ma_cross      the close crosses its simple moving average of `window` days
 *   index_move    an index level vs its previous close, |change| >= threshold_pct
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { yamlErrorOffsets } from "../config/yaml_errors.ts";
import type { Node, Pair, YAMLMap } from "yaml";
import { ConfigError } from "../config/config.ts";
import { invalidTickerReason, tickerCode } from "../market/ticker.ts";
import type { Warehouse } from "../warehouse/warehouse.ts";
import { ALERT_SQL as SQL } from "./sql.ts";

export type MoveDirection = "up" | "down" | "both";
export type CrossDirection = "above" | "below" | "both";

interface RuleBase {
  id: string;
  description?: string;
  /** Tickers (or index codes for index_move) the rule watches; "all" = every one with data. */
  subjects: "all" | string[];
}

export type Rule =
  & RuleBase
  & (
    | { kind: "price_move"; thresholdPct: number; direction: MoveDirection }
    | { kind: "volume_spike"; multiple: number; lookbackDays: number }
    | { kind: "ma_cross"; window: number; direction: CrossDirection }
    | { kind: "index_move"; thresholdPct: number; direction: MoveDirection }
  );

export type RuleKind = Rule["kind"];

/**
 * The rule file had problems; `findings` holds one `file:line:col message` per problem. A
 * configuration error: the job exits 2 (see lib/runner/job.ts) and the runner does not retry.
 */
export class AlertRulesError extends ConfigError {
  override name = "AlertRulesError";
  /**
   * `rules`: the file's rules of a known kind, with problems of their own or not (their
   * tickers and indices can still be checked, so that every problem is reported at once); not
   * to be evaluated.
   */
  constructor(readonly findings: string[], readonly file: string, readonly rules: Rule[] = []) {
    super(`${findings.length} problem(s) in the alert rules file ${file}:\n${findings.join("\n")}`);
  }

  /** This error with `more` findings, all in the order of their position in the file. */
  with(more: readonly string[]): AlertRulesError {
    const pos = (f: string) => {
      const m = f.match(/:(\d+):(\d+) /);
      return m ? Number(m[1]) * 1e6 + Number(m[2]) : Infinity;
    };
    const all = [...this.findings, ...more].map((f, i) => ({ f, i }))
      .sort((a, b) => pos(a.f) - pos(b.f) || a.i - b.i).map((x) => x.f);
    return new AlertRulesError(all, this.file, this.rules);
  }
}

/** Where a parsed rule came from: its file and the position of each subject it names. */
interface RuleOrigin {
  file: string;
  subjects: Map<string, string>;
}
const origins = new WeakMap<Rule, RuleOrigin>();

const KIND_KEYS: Record<RuleKind, string[]> = {
  price_move: ["threshold_pct", "direction", "tickers"],
  volume_spike: ["multiple", "lookback_days", "tickers"],
  ma_cross: ["window", "direction", "tickers"],
  index_move: ["threshold_pct", "direction", "indices"],
};
const COMMON_KEYS = ["id", "kind", "description"];
const SUBJECT = /^[A-Z][A-Z0-9_]{1,14}$/;
const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Parse rule text; throws AlertRulesError listing every problem. */
export function parseRules(text: string, file = "alerts.yaml"): Rule[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const findings: string[] = [];
  const where = (node: Node | null | undefined) => {
    const { line, col } = lc.linePos(node?.range?.[0] ?? 0);
    return `${file}:${line}:${col}`;
  };
  const at = (node: Node | null | undefined, msg: string) => {
    findings.push(`${where(node)} ${msg}`);
  };
  const offsets = yamlErrorOffsets(text, doc.errors);
  for (const [i, e] of doc.errors.entries()) {
    const { line, col } = lc.linePos(offsets[i]);
    findings.push(`${file}:${line}:${col} ${e.message.split("\n")[0]}`);
  }
  if (findings.length) throw new AlertRulesError(findings, file);

  const root = doc.contents;
  if (!isMap(root)) {
    at(root, "expected a mapping with a `rules:` list");
    throw new AlertRulesError(findings, file);
  }
  for (const pair of root.items) {
    const k = keyOf(pair);
    if (k !== "rules") at(pair.key as Node, `unknown key ${k}; the file holds only \`rules:\``);
  }
  const list = root.get("rules", true);
  if (!isSeq(list)) {
    at(list ?? root, "`rules:` must be a list of rules");
    throw new AlertRulesError(findings, file);
  }
  const rules: Rule[] = [];
  const ids = new Map<string, number>();
  for (const [i, item] of list.items.entries()) {
    if (!isMap(item)) {
      at(item as Node, `rule #${i + 1}: each rule must be a mapping (id, kind, ...)`);
      continue;
    }
    // A duplicate is reported, and the rule is still checked: every problem at once.
    const id = item.get("id");
    if (typeof id === "string") {
      if (ids.has(id)) {
        at(item.get("id", true) as Node, `duplicate rule id ${id} (first at line ${ids.get(id)})`);
      } else ids.set(id, lc.linePos(item.range?.[0] ?? 0).line);
    }
    const rule = parseRule(item, at, i + 1);
    if (!rule) continue;
    // Keyed by the code the rule holds (comi and COMI.CA are COMI), as checkRuleSubjects looks
    // them up; an index code is kept as written.
    const subjects = new Map<string, string>();
    const index = rule.kind === "index_move";
    const listed = item.get(index ? "indices" : "tickers", true);
    for (const n of isSeq(listed) ? listed.items : []) {
      if (!isScalar(n) || typeof n.value !== "string") continue;
      const code = index ? n.value : tickerCode(n.value);
      if (code !== undefined && !subjects.has(code)) subjects.set(code, where(n));
    }
    origins.set(rule, { file, subjects });
    rules.push(rule);
  }
  // In file order: a rule's unknown keys are found before its values are checked.
  if (findings.length) throw new AlertRulesError(findings, file, rules).with([]);
  return rules;
}

/**
 * A value as the file gave it: JSON's form, but a YAML .nan, .inf or 1e999 as NaN or Infinity
 * (JSON.stringify gives null, which the file does not say).
 */
function shown(v: unknown): string {
  return typeof v === "number" && !Number.isFinite(v) ? String(v) : JSON.stringify(v);
}

function keyOf(pair: Pair): string {
  return isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
}

type At = (node: Node | null | undefined, msg: string) => void;

/**
 * The rule at `position` (1-based) of the list, its problems reported through `at`; undefined
 * when its kind is unknown (nothing else can be read then).
 */
function parseRule(m: YAMLMap, fail: At, position: number): Rule | undefined {
  const node = (k: string) => m.get(k, true) as Node | undefined;
  const scalar = (k: string) => {
    const n = node(k);
    return isScalar(n) ? n.value : n === undefined ? undefined : n;
  };

  // Messages name the rule by its id, or by its position when it has no usable id.
  const idRaw = scalar("id");
  const validId = typeof idRaw === "string" && ID.test(idRaw);
  const id = validId ? idRaw : "";
  const name = validId ? `rule ${id}` : `rule #${position}`;
  if (!validId) {
    const how = "lower-case letters, digits, - or _ (e.g. big-move)";
    fail(
      node("id") ?? m,
      idRaw === undefined || idRaw === null
        ? `${name}: needs an id: ${how}`
        : `${name}: id must be ${how}, got ${JSON.stringify(idRaw)}`,
    );
  }
  const kind = scalar("kind");
  // Own keys only: `in` also finds the prototype's ("toString", "constructor"...).
  if (typeof kind !== "string" || !Object.hasOwn(KIND_KEYS, kind)) {
    fail(
      node("kind") ?? m,
      `${name}: kind must be one of ${Object.keys(KIND_KEYS).join(", ")}`,
    );
    return undefined;
  }
  const k = kind as RuleKind;
  const allowed = [...COMMON_KEYS, ...KIND_KEYS[k]];
  for (const pair of m.items) {
    const key = keyOf(pair);
    if (!allowed.includes(key)) {
      fail(
        pair.key as Node,
        `${name}: unknown key ${key} for kind ${k}; allowed: ${allowed.join(", ")}`,
      );
    }
  }
  const description = scalar("description");
  if (description !== undefined && typeof description !== "string") {
    fail(node("description"), `${name}: description must be text`);
  }

  const num = (
    key: string,
    opts: { min: number; max: number; int?: boolean; fallback?: number },
  ) => {
    const v = scalar(key);
    if (v === undefined && opts.fallback !== undefined) return opts.fallback;
    if (
      typeof v !== "number" || !Number.isFinite(v) || v < opts.min || v > opts.max ||
      (opts.int && !Number.isInteger(v))
    ) {
      fail(
        node(key) ?? m,
        `${name}: ${key} must be ${opts.int ? "an integer" : "a number"} between ` +
          `${opts.min} and ${opts.max}${v === undefined ? " (missing)" : `, got ${shown(v)}`}`,
      );
      return NaN;
    }
    return v;
  };
  const choice = <T extends string>(key: string, choices: readonly T[], fallback: T): T => {
    const v = scalar(key);
    if (v === undefined) return fallback;
    if (typeof v !== "string" || !(choices as readonly string[]).includes(v)) {
      fail(node(key), `${name}: ${key} must be one of ${choices.join(", ")}`);
      return fallback;
    }
    return v as T;
  };
  const subjectsKey = k === "index_move" ? "indices" : "tickers";
  const subjects = ((): "all" | string[] => {
    const n = node(subjectsKey);
    if (n === undefined) return "all";
    if (isScalar(n) && n.value === "all") return "all";
    if (!isSeq(n) || n.items.length === 0) {
      fail(n, `${name}: ${subjectsKey} must be "all" or a non-empty list`);
      return [];
    }
    const out: string[] = [];
    for (const item of n.items) {
      const v = isScalar(item) ? item.value : undefined;
      // A ticker by the one ticker rule, as everywhere (comi and ACTF.CA are COMI and ACTF).
      const code = typeof v !== "string"
        ? undefined
        : subjectsKey === "tickers"
        ? tickerCode(v)
        : SUBJECT.test(v)
        ? v
        : undefined;
      if (code !== undefined) out.push(code);
      else if (subjectsKey === "tickers") {
        fail(item as Node, `${name}: ${invalidTickerReason(v ?? null)}`);
      } else {
        fail(item as Node, `${name}: ${JSON.stringify(v ?? null)} is not an upper-case code`);
      }
    }
    return out;
  })();

  const base = { id, subjects, ...(typeof description === "string" ? { description } : {}) };
  let rule: Rule;
  switch (k) {
    case "price_move":
    case "index_move":
      rule = {
        ...base,
        kind: k,
        thresholdPct: num("threshold_pct", { min: 0.01, max: 100 }),
        direction: choice("direction", ["up", "down", "both"] as const, "both"),
      };
      break;
    case "volume_spike":
      rule = {
        ...base,
        kind: k,
        multiple: num("multiple", { min: 1, max: 1000 }),
        lookbackDays: num("lookback_days", { min: 2, max: 260, int: true, fallback: 30 }),
      };
      break;
    case "ma_cross":
      rule = {
        ...base,
        kind: k,
        window: num("window", { min: 2, max: 260, int: true }),
        direction: choice("direction", ["above", "below", "both"] as const, "both"),
      };
      break;
  }
  // A rule with problems (reported) is still returned: parseRules then throws, with the rules
  // whose tickers and indices can be checked too, so that every problem is reported at once.
  return rule;
}

/** Read and parse a rules file. */
export async function loadRules(path: string): Promise<Rule[]> {
  return parseRules(await Deno.readTextFile(path), path);
}

/**
 * Check that every ticker and index the rules name is in the warehouse's lists
 * (OPERATIONAL.TBL_COMPANY, OPERATIONAL.TBL_INDEX: what the batch loader checks tickers
 * against); throws AlertRulesError naming each rule and unknown code, with its position.
 */
export async function checkRuleSubjects(
  wh: Warehouse,
  rules: readonly Rule[],
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  const named = (index: boolean) =>
    rules.some((r) => (r.kind === "index_move") === index && r.subjects !== "all");
  const codes = async (name: string, index: boolean) =>
    named(index)
      ? new Set(
        (await wh.query<{ CODE: string }>(SQL.get(name), [], {
          signal: opts.signal,
          label: `alerts: ${name}`,
        })).map((r) => r.CODE),
      )
      : new Set<string>();
  const tickers = await codes("company_tickers", false);
  const indices = await codes("index_codes", true);
  const findings: string[] = [];
  let file = "alerts.yaml";
  for (const rule of rules) {
    if (rule.subjects === "all") continue;
    const origin = origins.get(rule);
    if (origin) file = origin.file;
    const index = rule.kind === "index_move";
    const known = index ? indices : tickers;
    for (const code of new Set(rule.subjects)) {
      if (known.has(code)) continue;
      const why = index
        ? `the warehouse's indices: ${[...known].sort().join(", ") || "none"}`
        : known.size === 0
        ? "the warehouse lists no companies yet: load the company list first"
        : "not in the warehouse's company list, OPERATIONAL.TBL_COMPANY";
      const at = origin?.subjects.get(code) ?? origin?.file ?? file;
      findings.push(
        `${at} rule ${rule.id}: unknown ${index ? "index" : "ticker"} ${code} (${why})`,
      );
    }
  }
  if (findings.length) throw new AlertRulesError(findings, file);
}

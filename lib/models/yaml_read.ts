/**
 * Strict YAML reading with positions: every value keeps the file, line and column it came from,
 * so a wrong key or value in a model's YAML is reported as `models/x.yml:LINE:COL message`.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { yamlErrorOffsets } from "../config/yaml_errors.ts";
import { ModelError, type Position } from "./errors.ts";

export interface Y {
  pos: Position;
  /** Scalars: the value; maps and sequences: undefined. */
  value?: unknown;
  map?: Map<string, { keyPos: Position; node: Y }>;
  seq?: Y[];
}

/** Parse YAML text; syntax errors and duplicate keys become ModelErrors. */
export function readYaml(
  text: string,
  file: string,
  { lineOffset = 0 }: { lineOffset?: number } = {},
): Y {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  const at = (offset: number | undefined): Position => {
    const p = lc.linePos(offset ?? 0);
    return { file, line: p.line + lineOffset, col: p.col };
  };
  const e = doc.errors[0];
  if (e) {
    // The library ends its first line with "at line 3, column 1:" (counted in the YAML text
    // alone, so wrong for a model's header): our position already says where.
    const message = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new ModelError(at(yamlErrorOffsets(text, [e])[0]), message);
  }
  const convert = (n: Node | null | undefined, fallback: Position): Y => {
    if (n === null || n === undefined) return { pos: fallback, value: null };
    const pos = at(n.range?.[0]);
    if (isMap(n)) {
      const map = new Map<string, { keyPos: Position; node: Y }>();
      for (const pair of n.items) {
        const k = pair.key as Node;
        const keyPos = at(k?.range?.[0]);
        const key = isScalar(k) ? String(k.value) : "";
        if (!isScalar(k)) throw new ModelError(keyPos, "keys must be plain strings");
        map.set(key, { keyPos, node: convert(pair.value as Node, keyPos) });
      }
      return { pos, map };
    }
    if (isSeq(n)) return { pos, seq: n.items.map((i) => convert(i as Node, pos)) };
    if (isScalar(n)) return { pos, value: n.value };
    throw new ModelError(pos, "unsupported YAML node (aliases and tags are not used here)");
  };
  return convert(doc.contents as Node, at(0));
}

/** The map's entries, after checking that every key is one of `allowed`. */
export function mapOf(y: Y, what: string, allowed: readonly string[]): Map<string, Y> {
  if (!y.map) throw new ModelError(y.pos, `${what} must be a mapping`);
  const out = new Map<string, Y>();
  for (const [k, { keyPos, node }] of y.map) {
    if (!allowed.includes(k)) {
      throw new ModelError(
        keyPos,
        `unknown key "${k}" in ${what} (allowed: ${allowed.join(", ")})`,
      );
    }
    out.set(k, node);
  }
  return out;
}

export function seqOf(y: Y | undefined, what: string): Y[] {
  if (y === undefined || y.value === null) return [];
  if (!y.seq) throw new ModelError(y.pos, `${what} must be a list`);
  return y.seq;
}

export function str(y: Y | undefined, what: string): string | undefined {
  if (y === undefined || y.value === null) return undefined;
  if (typeof y.value !== "string" && typeof y.value !== "number") {
    throw new ModelError(y.pos, `${what} must be a string`);
  }
  return String(y.value);
}

export function reqStr(y: Y | undefined, what: string, parent: Y): string {
  const v = str(y, what);
  if (v === undefined || v === "") {
    throw new ModelError(y?.pos ?? parent.pos, `${what} is required`);
  }
  return v;
}

export function num(y: Y | undefined, what: string): number | undefined {
  if (y === undefined || y.value === null) return undefined;
  if (typeof y.value !== "number") throw new ModelError(y.pos, `${what} must be a number`);
  return y.value;
}

/** A string or a list of strings. */
export function strList(y: Y | undefined, what: string): string[] | undefined {
  if (y === undefined || y.value === null) return undefined;
  if (y.seq) return y.seq.map((i) => str(i, what) ?? "");
  const v = str(y, what);
  return v === undefined ? undefined : [v];
}

/** Plain JavaScript value of a node (for literal lists such as accepted values). */
export function plain(y: Y): unknown {
  if (y.map) return Object.fromEntries([...y.map].map(([k, v]) => [k, plain(v.node)]));
  if (y.seq) return y.seq.map(plain);
  return y.value;
}

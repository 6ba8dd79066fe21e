/**
 * Where a YAML syntax error really is. The parser (npm:yaml) reports some errors where it gives up
 * rather than where the mistake is: an open quote at the end of the text, a `[` or `{` left open
 * at the next key's line or the end, a mis-indented item at the first blank or comment line
 * before it. Shared by every YAML file we read (jobs.yaml, alerts.yaml, model YAML), so that each
 * names the same line:col for the same mistake.
 */
import { Parser, type YAMLError } from "yaml";

/**
 * The text offset to report for each of `errors` (in order), from a parse of `text`: where the
 * mistake is, for the errors above; the parser's own position for the rest.
 */
export function yamlErrorOffsets(text: string, errors: readonly YAMLError[]): number[] {
  const unclosedFlows = new UnclosedFlows(text);
  return errors.map((e) => {
    // A `[` or `{` left open is named where it opens, as an open quote is.
    // ("Flow sequence ... must be sufficiently indented and end with a ]", "Flow map must end
    // with a }": the parser's words for one left open, the second one a MISSING_CHAR as an open
    // quote is.)
    const flow = /^Flow (?:sequence|map)\b.*\bend with a ([\]}])/.exec(e.message)?.[1];
    return flow !== undefined
      ? unclosedFlows.take(flow === "]" ? "[" : "{", e.pos[0])
      : e.code === "MISSING_CHAR"
      ? unclosedQuoteStart(text, e.pos[0])
      : e.code === "BAD_INDENT"
      // A mis-indented item is reported at the first space of its line, or of the blank and
      // comment lines before it: the item is after them.
      ? afterSpaces(text, e.pos[0])
      : e.pos[0];
  });
}

/**
 * Where a quoted scalar that runs to `pos` without its closing quote opens: the YAML parser
 * reports such an error at the end of the text, past the line with the mistake. `pos` when none.
 */
function unclosedQuoteStart(text: string, pos: number): number {
  let start = pos;
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== "object") return;
    const t = node as { type?: string; offset?: number; source?: string };
    if (
      (t.type === "double-quoted-scalar" || t.type === "single-quoted-scalar") &&
      t.offset !== undefined && t.source !== undefined && t.offset + t.source.length >= pos
    ) {
      start = Math.min(start, t.offset);
    }
    for (const v of Object.values(node)) walk(v);
  };
  for (const token of new Parser().parse(text)) walk(token);
  return start;
}

/**
 * The `[` and `{` of a text that are never closed (by their own `]` / `}`), from the parser's
 * concrete syntax tree, read only when the parser reported one. `take(opener, pos)` gives the
 * innermost such opener before `pos` not yet taken (each error names one), else `pos`.
 */
class UnclosedFlows {
  #open: { opener: string; offset: number }[] | undefined;
  constructor(readonly text: string) {}
  take(opener: "[" | "{", pos: number): number {
    this.#open ??= this.#find();
    let best = -1;
    this.#open.forEach((o, i) => {
      if (
        o.opener === opener && o.offset < pos && (best < 0 || o.offset > this.#open![best].offset)
      ) {
        best = i;
      }
    });
    if (best < 0) return pos;
    return this.#open.splice(best, 1)[0].offset;
  }
  #find(): { opener: string; offset: number }[] {
    const open: { opener: string; offset: number }[] = [];
    const walk = (node: unknown): void => {
      if (node === null || typeof node !== "object") return;
      const t = node as {
        type?: string;
        start?: { source?: string; offset?: number };
        end?: unknown;
      };
      if (t.type === "flow-collection" && t.start?.offset !== undefined) {
        const closer = t.start.source === "[" ? "]" : "}";
        const ends = Array.isArray(t.end) ? t.end as { source?: string }[] : [];
        if (!ends.some((x) => x.source === closer)) {
          open.push({ opener: t.start.source ?? "", offset: t.start.offset });
        }
      }
      for (const v of Object.values(node)) walk(v);
    };
    for (const token of new Parser().parse(this.text)) walk(token);
    return open;
  }
}

/**
 * The offset of the first character at or after `pos` that is neither blank (spaces, line breaks)
 * nor in a comment: the parser's BAD_INDENT points at the start of the blank lines and comment
 * lines before the mis-indented item, not only at its own line's indentation.
 */
function afterSpaces(text: string, pos: number): number {
  for (;;) {
    while (text[pos] === " " || text[pos] === "\n" || text[pos] === "\r") pos++;
    if (text[pos] !== "#") return pos;
    while (pos < text.length && text[pos] !== "\n") pos++;
  }
}

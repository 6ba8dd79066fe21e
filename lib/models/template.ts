/**
 * The small template language of model files (a strict subset of dbt's Jinja):
 *
 *   {{ ref('model') }}                  the relation of another model (a DAG edge)
 *   {{ source('operational', 'TBL_X') }} a source table
 *   {{ this }}                          the model's own relation (incremental filters)
 *   {{ var('as_of') }}                  a project variable, rendered as a SQL literal
 *   {% if is_incremental() %} ... {% else %} ... {% endif %}   (also `if not is_incremental()`)
 *   {# a comment #}
 *
 * Anything else inside the braces is an error naming the file, line and column: a typo never
 * silently renders as empty text.
 */
import { lineCol, ModelError, type Position } from "./errors.ts";

export type Call =
  | { kind: "ref"; name: string; pos: Position }
  | { kind: "source"; source: string; table: string; pos: Position }
  | { kind: "var"; name: string; pos: Position }
  | { kind: "this"; pos: Position };

type Node =
  | { kind: "text"; text: string }
  | { kind: "expr"; call: Call }
  | { kind: "if"; negate: boolean; then: Node[]; else: Node[] };

export interface Template {
  file: string;
  nodes: Node[];
  /** Every ref/source/var/this used, in order of appearance (both branches of an `if`). */
  calls: Call[];
}

export interface RenderContext {
  ref(name: string, pos: Position): string;
  source(source: string, table: string, pos: Position): string;
  var(name: string, pos: Position): string;
  this(pos: Position): string;
  isIncremental: boolean;
}

const CALL = /^\s*([a-z_]+)\s*(?:\(\s*(.*?)\s*\))?\s*$/s;
const STRING_ARG = /^(?:'([^'\\]*)'|"([^"\\]*)")$/;

/** Parse `ref('x')`, `source('a', 'b')`, `var('x')` or `this` (the inside of `{{ }}`). */
export function parseCall(body: string, pos: Position): Call {
  const m = CALL.exec(body);
  if (!m) throw new ModelError(pos, `cannot read {{ ${body.trim()} }}`);
  const [, fn, rawArgs] = m;
  if (fn === "this" && rawArgs === undefined) return { kind: "this", pos };
  const args = rawArgs === undefined || rawArgs === "" ? [] : splitArgs(rawArgs, pos);
  const want = (n: number) => {
    if (rawArgs === undefined || args.length !== n) {
      throw new ModelError(pos, `${fn}() takes ${n} quoted argument${n > 1 ? "s" : ""}`);
    }
  };
  switch (fn) {
    case "ref":
      want(1);
      return { kind: "ref", name: args[0], pos };
    case "source":
      want(2);
      return { kind: "source", source: args[0], table: args[1], pos };
    case "var":
      want(1);
      return { kind: "var", name: args[0], pos };
    default:
      throw new ModelError(
        pos,
        `unknown template function "${fn}" (have: ref, source, var, this, is_incremental)`,
      );
  }
}

function splitArgs(raw: string, pos: Position): string[] {
  return raw.split(",").map((a) => {
    const m = STRING_ARG.exec(a.trim());
    if (!m) throw new ModelError(pos, `template arguments must be quoted strings, got ${a.trim()}`);
    return m[1] ?? m[2];
  });
}

/** Parse a template. `lineOffset` is added to line numbers (text that starts mid-file). */
export function parseTemplate(
  text: string,
  file: string,
  { lineOffset = 0 }: { lineOffset?: number } = {},
): Template {
  const calls: Call[] = [];
  const root: Node[] = [];
  const stack: { node: Extract<Node, { kind: "if" }>; inElse: boolean; pos: Position }[] = [];
  const here = (offset: number): Position => {
    const { line, col } = lineCol(text, offset);
    return { file, line: line + lineOffset, col };
  };
  const current = (): Node[] => {
    const top = stack.at(-1);
    return top ? (top.inElse ? top.node.else : top.node.then) : root;
  };
  const open = /\{\{|\{%|\{#/g;
  let at = 0;
  for (;;) {
    open.lastIndex = at;
    const m = open.exec(text);
    if (!m) break;
    if (m.index > at) current().push({ kind: "text", text: text.slice(at, m.index) });
    const closer = m[0] === "{{" ? "}}" : m[0] === "{%" ? "%}" : "#}";
    const end = text.indexOf(closer, m.index + 2);
    const pos = here(m.index);
    if (end < 0) throw new ModelError(pos, `"${m[0]}" is never closed with "${closer}"`);
    const body = text.slice(m.index + 2, end);
    at = end + 2;
    // The newlines a comment or tag spanned are kept (after what it renders to), so rendered
    // line numbers still match the file.
    const spanned = body.split("\n").length - 1;
    const keepLines = () => {
      if (spanned > 0) current().push({ kind: "text", text: "\n".repeat(spanned) });
    };
    if (m[0] === "{#") {
      keepLines();
      continue;
    }
    if (m[0] === "{{") {
      const call = parseCall(body, pos);
      calls.push(call);
      current().push({ kind: "expr", call });
      keepLines();
      continue;
    }
    const stmt = body.trim().replace(/\s+/g, " ");
    const ifm = /^if (not )?is_incremental\(\)$/.exec(stmt);
    if (ifm) {
      const node: Extract<Node, { kind: "if" }> = {
        kind: "if",
        negate: ifm[1] !== undefined,
        then: [],
        else: [],
      };
      current().push(node);
      stack.push({ node, inElse: false, pos });
    } else if (stmt === "else") {
      const top = stack.at(-1);
      if (!top || top.inElse) throw new ModelError(pos, "{% else %} without a matching {% if %}");
      top.inElse = true;
    } else if (stmt === "endif") {
      if (!stack.pop()) throw new ModelError(pos, "{% endif %} without a matching {% if %}");
    } else {
      throw new ModelError(
        pos,
        `unsupported statement {% ${stmt} %} (have: if is_incremental(), else, endif)`,
      );
    }
    keepLines();
  }
  if (at < text.length) current().push({ kind: "text", text: text.slice(at) });
  const unclosed = stack.pop();
  if (unclosed) throw new ModelError(unclosed.pos, "{% if %} is never closed with {% endif %}");
  return { file, nodes: root, calls };
}

/** Render a parsed template with the given resolvers. */
export function renderTemplate(t: Template, ctx: RenderContext): string {
  const out: string[] = [];
  const walk = (nodes: Node[]) => {
    for (const n of nodes) {
      if (n.kind === "text") out.push(n.text);
      else if (n.kind === "if") {
        // Keep the skipped branch's newlines: rendered line numbers still match the file.
        if (ctx.isIncremental !== n.negate) {
          walk(n.then);
          out.push("\n".repeat(newlines(n.else)));
        } else {
          out.push("\n".repeat(newlines(n.then)));
          walk(n.else);
        }
      } else {
        const c = n.call;
        if (c.kind === "ref") out.push(ctx.ref(c.name, c.pos));
        else if (c.kind === "source") out.push(ctx.source(c.source, c.table, c.pos));
        else if (c.kind === "var") out.push(ctx.var(c.name, c.pos));
        else out.push(ctx.this(c.pos));
      }
    }
  };
  walk(t.nodes);
  return out.join("");
}

function newlines(nodes: Node[]): number {
  let n = 0;
  for (const x of nodes) {
    if (x.kind === "text") n += x.text.split("\n").length - 1;
    else if (x.kind === "if") n += newlines(x.then) + newlines(x.else);
  }
  return n;
}

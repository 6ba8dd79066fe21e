/**
 * Lines with broken CSV quoting, found before DuckDB reads a file. DuckDB's reader cannot keep
 * such a line to itself: a quote that a line never closes runs on into the next lines (a quoted
 * field may span lines), and a file with one broken quote makes its sniffer read the whole file
 * without quoting. So the lines are screened first (a line is a record: quoted fields spanning
 * lines are not supported), the reader gets only well-formed ones, with the delimiter "," and
 * the quote '"' given (RFC 4180), and a broken line is quarantined alone. Inside a quoted field
 * only the doubled quote ("") is a literal quote (a backslash before a quote makes it stray). The
 * escape is not given to DuckDB: its sniffer finds "" where there is one, and setting it makes
 * the reader about twice as slow (the bundled one-minute bars: 95 ms -> 230 ms).
 *
 * Line breaks: a line ends at LF; a CR just before it is part of the break (CRLF). DuckDB's
 * sniffer fails on a whole file whose lines end both ways or that has a CR anywhere else (it
 * takes a lone CR for a line break), so a line with a CR inside it is quarantined alone too, and
 * a file whose lines end both ways is read from a copy with LF breaks only.
 *
 * Extra fields: the reader rejects a line with more fields than the header (Expected Number of
 * Columns: 7 Found: 8), but drops empty fields at the end of a line without a word
 * (`COMI,2025-12-08,10,11,9,10.5,1000,` reads as a good row of 7). In every format, a line with
 * more fields than the header is quarantined alone, with the reader's own wording; a header
 * ending with a comma has a field more (blank), and so may its lines.
 */

import { headerColumns } from "./formats.ts";

/** A data line whose quoting is broken, or that has more fields than the header. */
export interface BrokenLine {
  /** 1-based line number in the file (the header is line 1). */
  line: number;
  /** The line as it is in the file, without its line break. */
  text: string;
  problem:
    | "unterminated quote"
    | "stray quote"
    | "quote after more than one space or a tab"
    | "tab after a closing quote"
    | "carriage return (CR) inside the line"
    | `Expected Number of Columns: ${number} Found: ${number}`;
}

const QUOTE = 0x22;
const NL = 0x0a;
const CR = 0x0d;
const CHUNK = 1 << 20;
// (A regular expression: text.includes(",\n") is several times slower, the comma being common.)
const COMMA_EOL = /,\r?\n/;

/**
 * What is wrong with the quoting of one line (null: nothing). A quoted field is a quote, then
 * anything with doubled quotes for literal ones, then a closing quote followed by the comma or
 * the end of the line; a quote anywhere else is stray. Around the quotes, only what DuckDB's
 * reader allows: at most one space before the opening quote (after two spaces or a tab it reads
 * the quote as a literal character, so `  "B, Co"` is split at its comma) and spaces after the
 * closing one (a tab there makes its sniffer fail on the whole file).
 */
export function quoteProblem(line: string): BrokenLine["problem"] | null {
  const n = line.length;
  const blank = (i: number) => {
    while (i < n && (line[i] === " " || line[i] === "\t")) i++;
    return i;
  };
  let i = 0;
  for (;;) {
    const start = blank(i);
    if (line.charCodeAt(start) === QUOTE) {
      if (start - i > 1 || (start - i === 1 && line[i] !== " ")) {
        return "quote after more than one space or a tab";
      }
      i = start + 1;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q === -1) return "unterminated quote";
        if (line.charCodeAt(q + 1) === QUOTE) {
          i = q + 2;
          continue;
        }
        i = blank(q + 1);
        if (line.slice(q + 1, i).includes("\t")) return "tab after a closing quote";
        break;
      }
      if (i === n) return null;
      if (line[i] !== ",") return "stray quote";
      i++;
    } else {
      const comma = line.indexOf(",", i);
      const end = comma === -1 ? n : comma;
      const q = line.indexOf('"', i);
      if (q !== -1 && q < end) return "stray quote";
      if (comma === -1) return null;
      i = comma + 1;
    }
  }
}

/** The number of fields of a line whose quoting is good (quoteProblem: null). */
export function fieldCount(line: string): number {
  let n = 1;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line.charCodeAt(i);
    if (ch === QUOTE) quoted = !quoted;
    else if (ch === 0x2c && !quoted) n++;
  }
  return n;
}

/**
 * Whether a line of `text` (no quote in it) that ends with a comma has more than `fields` fields:
 * DuckDB's reader drops empty fields at the end of a line (`...,1000,` and `...,1000,,` read as
 * `...,1000`), where a line with one more non-empty field is rejected (Expected Number of
 * Columns: 7 Found: 8).
 */
function extraTrailingFields(text: string, fields: number): boolean {
  for (let at = text.indexOf(",\n"); at !== -1; at = text.indexOf(",\n", at + 2)) {
    if (commasBefore(text, at + 1) + 1 > fields) return true;
  }
  for (let at = text.indexOf(",\r\n"); at !== -1; at = text.indexOf(",\r\n", at + 3)) {
    if (commasBefore(text, at + 1) + 1 > fields) return true;
  }
  return false;
}

/** The commas of the line of `text` that ends at `end` (exclusive), from its start. */
function commasBefore(text: string, end: number): number {
  let n = 0;
  const start = text.lastIndexOf("\n", end - 1) + 1;
  for (let i = text.indexOf(",", start); i !== -1 && i < end; i = text.indexOf(",", i + 1)) n++;
  return n;
}

/**
 * The line breaks of a chunk of a file (Latin-1 text), after those of the chunks before it
 * (`state`): whether a line ends with a bare LF, one with CRLF, and whether a CR is anywhere else.
 * A CR that ends a chunk is decided by the next one (`state.cr`).
 */
interface Breaks {
  lf: boolean;
  crlf: boolean;
  loneCr: boolean;
  /** The chunk so far ended with a CR. */
  cr: boolean;
}

function scanBreaks(text: string, state: Breaks): void {
  if (text.length === 0) return;
  // An LF first in the chunk ends a CRLF when the chunk before ended with CR.
  const joined = state.cr && text[0] === "\n";
  if (state.cr) {
    if (joined) state.crlf = true;
    else state.loneCr = true;
  }
  state.cr = false;
  if (text.indexOf("\r") === -1) {
    if (text.indexOf("\n", joined ? 1 : 0) !== -1) state.lf = true;
    return;
  }
  for (let i = text.indexOf("\n", joined ? 1 : 0); i !== -1; i = text.indexOf("\n", i + 1)) {
    if (i > 0 && text[i - 1] === "\r") state.crlf = true;
    else state.lf = true;
  }
  for (let i = text.indexOf("\r"); i !== -1; i = text.indexOf("\r", i + 1)) {
    if (i === text.length - 1) state.cr = true;
    else if (text[i + 1] !== "\n") state.loneCr = true;
  }
}

/**
 * The data lines (after the header) of the file at `path` that the reader must not see: those
 * whose quoting is broken, that have a CR inside them or more fields than the header
 * (quarantined), and blank ones (DuckDB's
 * reader skips an empty line without counting it, which would shift the line number of every row
 * after it; a copy without them keeps the numbering exact, see stage_rejects.sql); and whether
 * its lines end both with LF and CRLF (`mixedBreaks`: the reader gets a copy with LF only). A
 * file without any quote, empty line, stray CR or line with too many fields ending with a comma
 * (most large files) is only scanned for one, chunk by chunk.
 */
export async function screenLines(
  path: string,
): Promise<{ broken: BrokenLine[]; blank: number[]; mixedBreaks: boolean }> {
  const f = await Deno.open(path, { read: true });
  let suspect = false;
  try {
    const buf = new Uint8Array(CHUNK);
    // Latin-1 maps each byte to one character: "\n\n" and "\n\r\n" are found as text; the
    // last two bytes of a chunk are carried over so an empty line across chunks is found too.
    const latin1 = new TextDecoder("latin1");
    let carry = "";
    const breaks: Breaks = { lf: false, crlf: false, loneCr: false, cr: false };
    // The text after the last LF read (a line not yet complete), and the header's field count.
    let partial = "";
    let fields = -1;
    for (;;) {
      const n = await f.read(buf);
      if (n === null) break;
      const chunk = buf.subarray(0, n);
      const decoded = latin1.decode(chunk);
      const text = carry + decoded;
      if (chunk.indexOf(QUOTE) !== -1 || text.includes("\n\n") || text.includes("\n\r\n")) {
        suspect = true;
        break;
      }
      // A line break of an empty line was found above: each break is seen once here.
      scanBreaks(decoded, breaks);
      if (breaks.loneCr || (breaks.lf && breaks.crlf)) {
        suspect = true;
        break;
      }
      carry = text.slice(-2);
      const last = decoded.lastIndexOf("\n");
      if (fields === -1 && last !== -1) {
        fields = headerColumns(partial + decoded.slice(0, decoded.indexOf("\n"))).length;
      }
      // Only a line ending with a comma can have empty fields the reader would drop; every
      // ",\n" of partial + decoded ends a complete line.
      if (
        COMMA_EOL.test(text) &&
        extraTrailingFields(partial + decoded, fields)
      ) {
        suspect = true;
        break;
      }
      partial = last === -1 ? partial + decoded : decoded.slice(last + 1);
    }
    // The last line, without a line break.
    if (!suspect && fields !== -1 && /,\r?$/.test(partial)) {
      suspect = extraTrailingFields(`${partial}\n`, fields);
    }
  } finally {
    f.close();
  }
  if (!suspect) return { broken: [], blank: [], mixedBreaks: false };
  const text = await Deno.readTextFile(path);
  const broken: BrokenLine[] = [];
  const blank: number[] = [];
  const header = text.indexOf("\n");
  const fields = headerColumns(header === -1 ? text : text.slice(0, header)).length;
  // Line breaks of the lines the reader gets (the header's too): a bare LF, or CRLF.
  let lf = header > 0 && text[header - 1] !== "\r";
  let crlf = header > 0 && text[header - 1] === "\r";
  let start = header + 1;
  for (let line = 2; start > 0 && start < text.length; line++) {
    const nl = text.indexOf("\n", start);
    const end = nl === -1 ? text.length : nl;
    let raw = text.slice(start, end);
    const cr = raw.endsWith("\r");
    if (cr) raw = raw.slice(0, -1);
    if (raw === "") blank.push(line);
    else if (raw.includes("\r")) {
      broken.push({ line, text: raw, problem: "carriage return (CR) inside the line" });
    } else {
      const problem = raw.includes('"') ? quoteProblem(raw) : null;
      // More fields than the header, as DuckDB's reader words it (it would drop empty ones).
      const found = problem ? 0 : fieldCount(raw);
      if (problem) broken.push({ line, text: raw, problem });
      else if (found > fields) {
        broken.push({
          line,
          text: raw,
          problem: `Expected Number of Columns: ${fields} Found: ${found}`,
        });
      } else if (nl !== -1 && cr) crlf = true;
      else if (nl !== -1) lf = true;
    }
    start = nl + 1;
  }
  return { broken, blank, mixedBreaks: lf && crlf };
}

/**
 * Write the file at `path` without the lines numbered `lines` (1-based) to `dest`; with `lfOnly`,
 * a CRLF line break is written as LF.
 */
export async function writeWithout(
  path: string,
  lines: readonly number[],
  dest: string,
  lfOnly = false,
): Promise<void> {
  const bytes = await Deno.readFile(path);
  const skip = new Set(lines);
  const parts: Uint8Array[] = [];
  const lf = new Uint8Array([NL]);
  let start = 0;
  for (let line = 1; start < bytes.length; line++) {
    const nl = bytes.indexOf(NL, start);
    const end = nl === -1 ? bytes.length : nl + 1;
    if (skip.has(line)) {
      // left out
    } else if (lfOnly && nl > start && bytes[nl - 1] === CR) {
      parts.push(bytes.subarray(start, nl - 1), lf);
    } else parts.push(bytes.subarray(start, end));
    start = end;
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  await Deno.writeFile(dest, out);
}

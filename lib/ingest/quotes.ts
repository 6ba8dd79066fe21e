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
 */

/** A data line whose quoting is broken. */
export interface BrokenLine {
  /** 1-based line number in the file (the header is line 1). */
  line: number;
  /** The line as it is in the file, without its line break. */
  text: string;
  problem:
    | "unterminated quote"
    | "stray quote"
    | "quote after more than one space or a tab"
    | "tab after a closing quote";
}

const QUOTE = 0x22;
const NL = 0x0a;
const CHUNK = 1 << 20;

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

/**
 * The data lines (after the header) of the file at `path` that the reader must not see: those
 * whose quoting is broken (quarantined), and blank ones (DuckDB's reader skips an empty line
 * without counting it, which would shift the line number of every row after it; a copy without
 * them keeps the numbering exact, see stage_rejects.sql). A file without any quote or empty line
 * (most large files) is only scanned for one, chunk by chunk.
 */
export async function screenLines(
  path: string,
): Promise<{ broken: BrokenLine[]; blank: number[] }> {
  const f = await Deno.open(path, { read: true });
  let suspect = false;
  try {
    const buf = new Uint8Array(CHUNK);
    // Latin-1 maps each byte to one character: "\n\n" and "\n\r\n" are found as text; the
    // last two bytes of a chunk are carried over so an empty line across chunks is found too.
    const latin1 = new TextDecoder("latin1");
    let carry = "";
    for (;;) {
      const n = await f.read(buf);
      if (n === null) break;
      const chunk = buf.subarray(0, n);
      const text = carry + latin1.decode(chunk);
      if (chunk.indexOf(QUOTE) !== -1 || text.includes("\n\n") || text.includes("\n\r\n")) {
        suspect = true;
        break;
      }
      carry = text.slice(-2);
    }
  } finally {
    f.close();
  }
  if (!suspect) return { broken: [], blank: [] };
  const text = await Deno.readTextFile(path);
  const broken: BrokenLine[] = [];
  const blank: number[] = [];
  let start = text.indexOf("\n") + 1;
  for (let line = 2; start > 0 && start < text.length; line++) {
    const nl = text.indexOf("\n", start);
    const end = nl === -1 ? text.length : nl;
    let raw = text.slice(start, end);
    if (raw.endsWith("\r")) raw = raw.slice(0, -1);
    if (raw === "") blank.push(line);
    else if (raw.includes('"')) {
      const problem = quoteProblem(raw);
      if (problem) broken.push({ line, text: raw, problem });
    }
    start = nl + 1;
  }
  return { broken, blank };
}

/** Write the file at `path` without the lines numbered `lines` (1-based) to `dest`. */
export async function writeWithout(
  path: string,
  lines: readonly number[],
  dest: string,
): Promise<void> {
  const bytes = await Deno.readFile(path);
  const skip = new Set(lines);
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let line = 1; start < bytes.length; line++) {
    const nl = bytes.indexOf(NL, start);
    const end = nl === -1 ? bytes.length : nl + 1;
    if (!skip.has(line)) parts.push(bytes.subarray(start, end));
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

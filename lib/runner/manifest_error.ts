/**
 * The manifest's error type, in a module of its own so that callers can catch it without loading
 * the YAML parser (see manifest_cache.ts).
 */

export interface Pos {
  line: number;
  col: number;
}

export interface Finding extends Pos {
  message: string;
}

/** A manifest that cannot be used; `findings` holds every problem, in file order. */
export class ManifestError extends Error {
  override name = "ManifestError";
  constructor(readonly file: string, readonly findings: Finding[]) {
    super(findings.map((f) => `${file}:${f.line}:${f.col} ${f.message}`).join("\n"));
  }
}

/**
 * The manifest's text, read from `abs` (`path` as given, for messages). Bytes that are not UTF-8
 * (a file saved as Latin-1 or Windows-1252) are findings, one per line that has any, with the
 * first such byte's position: decoded leniently, each would silently become U+FFFD in a job's
 * arguments, variables, paths or description.
 */
export function readManifestText(abs: string, path: string): string {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(abs);
  } catch (e) {
    throw new ManifestError(path, [{
      line: 1,
      col: 1,
      message: `cannot read: ${(e as Error).message}`,
    }]);
  }
  try {
    // ignoreBOM keeps a BOM in the text, as Deno.readTextFileSync does (the YAML parser skips it).
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new ManifestError(path, utf8Findings(bytes));
  }
}

function utf8Findings(bytes: Uint8Array): Finding[] {
  const decode = (b: Uint8Array) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(b);
  const findings: Finding[] = [];
  let line = 1;
  // After a byte order mark, which is no column.
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  let lineStart = bom;
  let reported = 0; // the last line with a finding
  for (let i = bom; i < bytes.length;) {
    const c = bytes[i];
    if (c === 0x0a) {
      line++;
      lineStart = i + 1;
    }
    const n = utf8Length(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (reported !== line) {
      reported = line;
      const col = decode(bytes.subarray(lineStart, i)).length + 1;
      const hex = c.toString(16).padStart(2, "0");
      findings.push({
        line,
        col,
        message: `not UTF-8 (byte 0x${hex}): save the file as UTF-8`,
      });
    }
    i++;
  }
  return findings;
}

/** The length of the well-formed UTF-8 sequence at `i`, or 0 when there is none. */
function utf8Length(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c === 0xe0) lo = 0xa0; // overlong
    if (c === 0xed) hi = 0x9f; // UTF-16 surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c === 0xf0) lo = 0x90; // overlong
    if (c === 0xf4) hi = 0x8f; // beyond U+10FFFF
  } else return 0;
  for (let k = 1; k < n; k++) {
    const d = b[i + k];
    if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return 0;
  }
  return n;
}

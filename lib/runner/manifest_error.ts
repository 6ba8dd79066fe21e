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

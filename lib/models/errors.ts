/**
 * Errors of the model engine. A `ModelError` points at a place in the project (file, line,
 * column) so every finding prints as `models/x.sql:12:5 message`.
 */

/** Where in the project a finding is. `line`/`col` are 1-based; 0 means "the whole file". */
export interface Position {
  file: string;
  line: number;
  col: number;
}

/** One problem in the project's files (a parse error, an unknown ref, a cycle...). */
export class ModelError extends Error {
  override name = "ModelError";
  constructor(readonly pos: Position, message: string, options?: ErrorOptions) {
    super(`${formatPos(pos)} ${message}`, options);
  }
}

/** Several findings at once: the project is reported as a whole, then nothing runs. */
export class ProjectError extends Error {
  override name = "ProjectError";
  constructor(readonly findings: ModelError[]) {
    super(
      findings.length === 1 ? findings[0].message : `${findings.length} problems in the models:\n` +
        findings.map((f) => `  ${f.message}`).join("\n"),
    );
  }
}

export function formatPos(p: Position): string {
  return p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file;
}

/** 1-based line and column of a character offset in `text`. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, col: offset - last };
}

/**
 * The warehouse's own message for a failed statement, in at most three non-empty lines joined
 * with " | " (a WarehouseQueryError wraps the driver's error and appends the statement: the
 * driver's message is the one that says what is wrong).
 */
export function warehouseMessage(e: unknown): string {
  let err = e as { message?: string; cause?: unknown; name?: string };
  while (err?.name === "WarehouseQueryError" && err.cause instanceof Error) {
    err = err.cause as typeof err;
  }
  return String(err?.message ?? e).split("\n").filter((l) => l.trim() !== "").slice(0, 3)
    .join(" | ");
}

/**
 * Errors of the model engine. A `ModelError` points at a place in the project (file, line,
 * column) so every finding prints as `models/x.sql:12:5 message`.
 */

import { ConfigError } from "../config/config.ts";
import type { Project } from "./project.ts";

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

/**
 * Several findings at once: the project is reported as a whole, then nothing runs. A ConfigError,
 * so the jobs exit 2 (bad configuration, like `--check` on the same project; the runner does not
 * retry it) and not 1, which means a build or test that ran and failed.
 */
/** What loading a project with problems still read: its good models, and the names of the bad. */
export interface PartialProject {
  project: Project;
  /** Names of model files that have problems (refs to them are not reported again). */
  unreadable: ReadonlySet<string>;
}

export class ProjectError extends ConfigError {
  override name = "ProjectError";
  constructor(readonly findings: ModelError[], readonly partial?: PartialProject) {
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
  // A statement's error can quote it at length (a 20,000-character identifier came back twice,
  // on every line of the log and in run_results.json): the start says what is wrong.
  const all = fullMessage(e);
  return all.length <= MAX_MESSAGE
    ? all
    : `${all.slice(0, MAX_MESSAGE)}... (${all.length - MAX_MESSAGE} more characters)`;
}

/** The longest warehouseMessage, in characters. */
export const MAX_MESSAGE = 1000;

function fullMessage(e: unknown): string {
  let err = e as { message?: string; cause?: unknown; name?: string };
  while (err?.name === "WarehouseQueryError" && err.cause instanceof Error) {
    err = err.cause as typeof err;
  }
  return String(err?.message ?? e).split("\n").filter((l) => l.trim() !== "").slice(0, 3)
    .join(" | ");
}

/**
 * The lines a warehouse error points at, from the statement's line number in its message
 * (DuckDB `LINE 15:`; Snowflake `error line 15 at position 4`, not tested here). The warehouse
 * counts the lines of the statement it ran, which wraps the compiled SELECT (`CREATE TABLE x AS`):
 * `compiled` is the line in the compiled SQL. `source` is the line of the model's file that
 * reads the same as that compiled line, or else holds it, when exactly one does (the
 * transpiler lays out again what it rewrites, so a line is found only where it was left as
 * written).
 */
export function errorLines(
  e: unknown,
  { statement, compiled, source }: { statement: string; compiled: string; source: string },
): { compiled?: number; source?: number } {
  const m = /\bLINE (\d+):|\berror line (\d+) at position/i.exec(fullMessage(e));
  const at = statement.indexOf(compiled);
  if (!m || at < 0) return {};
  const line = Number(m[1] ?? m[2]) - lineCol(statement, at).line + 1;
  const lines = compiled.split("\n");
  if (line < 1 || line > lines.length) return {};
  const norm = (l: string) => l.trim().replace(/\s+/g, " ").toLowerCase();
  const text = norm(lines[line - 1]);
  const find = (match: (l: string) => boolean) =>
    source.split("\n").flatMap((l, i) => text !== "" && match(norm(l)) ? [i + 1] : []);
  // The same line, else the one line holding it (the transpiler moves a WHERE's condition to a
  // line of its own).
  let same = find((l) => l === text);
  if (same.length === 0 && text.length >= 8) same = find((l) => l.includes(text));
  return { compiled: line, source: same.length === 1 ? same[0] : undefined };
}

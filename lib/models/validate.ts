/**
 * A static check of the models (for `deno task validate`): the project's files, refs, sources,
 * cycles and tests, and every model and test compiled for DuckDB (the transpile cache in
 * target/.cache is read, not written). Nothing touches a warehouse.
 */
import { Compiler } from "./compile.ts";
import { buildGraph } from "./dag.ts";
import { collectTests, compileTest } from "./data_tests.ts";
import { ModelError, ProjectError } from "./errors.ts";
import { loadProject } from "./project.ts";

/** Check the project under `root`; returns a summary line or throws a ProjectError. */
export async function checkModels(root: string, asOf: Date): Promise<string> {
  // Model files with problems: the refs, sources, vars and cycles of the good ones are checked
  // too, so that every problem is reported at once. Not after a YAML file's problem: a source or
  // var it failed to declare would be reported as unknown everywhere it is used.
  const project = await loadProject(root).catch((e) => {
    if (!(e instanceof ProjectError) || e.partial === undefined) throw e;
    if (e.findings.some((f) => /\.ya?ml$/.test(f.pos.file))) throw e;
    try {
      buildGraph(e.partial.project, e.partial.unreadable);
    } catch (g) {
      if (!(g instanceof ProjectError)) throw g;
      const at = (f: ModelError) => [f.pos.file, f.pos.line, f.pos.col] as const;
      throw new ProjectError(
        [...e.findings, ...g.findings].sort((a, b) => {
          const [x, y] = [at(a), at(b)];
          return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1] || x[2] - y[2];
        }),
      );
    }
    throw e;
  });
  buildGraph(project);
  const tests = collectTests(project, asOf);
  const compiler = new Compiler(project, { target: "duckdb", asOf, write: false });
  const findings: ModelError[] = [];
  const guard = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      if (e instanceof ModelError) findings.push(e);
      else throw e;
    }
  };
  for (const m of project.models.values()) {
    for (const inc of m.materialized === "incremental" ? [false, true] : [false]) {
      await guard(() => compiler.compileModel(m, inc));
    }
  }
  for (const t of tests) await guard(() => compileTest(compiler, t));
  if (findings.length > 0) throw new ProjectError(findings);
  return `models/: ok (${project.models.size} models, ${project.sources.size} sources, ${tests.length} tests)`;
}

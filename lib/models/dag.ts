/**
 * The model DAG: edges from `ref()` (model -> model) and `source()` (model -> source table).
 * Unknown refs and sources, and cycles, are errors naming the file and line of the offending
 * `ref`. The run order is a deterministic topological order.
 */
import { ModelError, ProjectError } from "./errors.ts";
import type { Project } from "./project.ts";

export interface Graph {
  /** Every model, parents before children (ties broken by name). */
  order: string[];
  /** model -> the models it refs. */
  parents: Map<string, Set<string>>;
  /** model -> the models that ref it. */
  children: Map<string, Set<string>>;
  /** model -> the source ids (`operational.TBL_X`) it reads. */
  sources: Map<string, Set<string>>;
}

function closest(name: string, candidates: Iterable<string>): string | undefined {
  const dist = (a: string, b: string) => {
    const d = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0];
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = d[j];
        d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = tmp;
      }
    }
    return d[b.length];
  };
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = dist(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Check every ref/source and order the models; throws ProjectError listing every problem.
 * Refs to `unreadable` names (model files that have problems of their own) are left out.
 */
export function buildGraph(
  project: Project,
  unreadable: ReadonlySet<string> = new Set(),
): Graph {
  const errors: ModelError[] = [];
  const parents = new Map<string, Set<string>>();
  const children = new Map<string, Set<string>>();
  const sources = new Map<string, Set<string>>();
  const refPos = new Map<string, ModelError["pos"]>(); // "child->parent" -> position of the ref
  for (const name of project.models.keys()) {
    parents.set(name, new Set());
    children.set(name, new Set());
    sources.set(name, new Set());
  }
  for (const m of project.models.values()) {
    for (const c of m.template.calls) {
      if (c.kind === "ref") {
        if (unreadable.has(c.name)) continue;
        if (!project.models.has(c.name)) {
          const hint = closest(c.name, project.models.keys());
          errors.push(
            new ModelError(
              c.pos,
              `ref('${c.name}'): no model named ${c.name}${hint ? ` (did you mean ${hint}?)` : ""}`,
            ),
          );
          continue;
        }
        if (c.name === m.name) {
          errors.push(
            new ModelError(c.pos, `ref('${c.name}'): a model cannot ref itself (use {{ this }})`),
          );
          continue;
        }
        parents.get(m.name)!.add(c.name);
        children.get(c.name)!.add(m.name);
        if (!refPos.has(`${m.name}->${c.name}`)) refPos.set(`${m.name}->${c.name}`, c.pos);
      } else if (c.kind === "source") {
        const id = `${c.source}.${c.table}`;
        if (!project.sources.has(id)) {
          const hint = closest(id, project.sources.keys());
          errors.push(
            new ModelError(
              c.pos,
              `source('${c.source}', '${c.table}'): not declared in a sources YAML` +
                (hint ? ` (did you mean ${hint}?)` : ""),
            ),
          );
          continue;
        }
        sources.get(m.name)!.add(id);
      } else if (c.kind === "var") {
        if (!(c.name in project.vars) && !RUNTIME_VARS.includes(c.name)) {
          errors.push(
            new ModelError(c.pos, `var('${c.name}'): not defined in models/project.yml vars`),
          );
        }
      }
    }
  }
  // Cycles: depth-first search; report each cycle once, at the ref that closes it.
  const state = new Map<string, 0 | 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 1);
    stack.push(n);
    for (const p of [...parents.get(n)!].sort()) {
      const s = state.get(p) ?? 0;
      if (s === 1) {
        const cycle = [...stack.slice(stack.indexOf(p)), p];
        errors.push(
          new ModelError(
            refPos.get(`${n}->${p}`)!,
            `cycle in refs (a -> b: a refs b): ${cycle.join(" -> ")}`,
          ),
        );
      } else if (s === 0) visit(p);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of [...project.models.keys()].sort()) if (!state.get(n)) visit(n);
  if (errors.length > 0) throw new ProjectError(errors);

  // Kahn's algorithm with a sorted ready list: a stable order.
  const indeg = new Map([...parents].map(([k, v]) => [k, v.size]));
  const ready = [...indeg].filter(([, d]) => d === 0).map(([k]) => k).sort();
  const order: string[] = [];
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const c of children.get(n)!) {
      indeg.set(c, indeg.get(c)! - 1);
      if (indeg.get(c) === 0) {
        ready.push(c);
        ready.sort();
      }
    }
  }
  return { order, parents, children, sources };
}

/** Variables the engine provides at run time (see compile.ts). */
export const RUNTIME_VARS = ["as_of_date", "as_of_ts"];

/** `name` and every model it depends on, transitively. */
export function ancestors(g: Graph, name: string): Set<string> {
  return closure(g.parents, name);
}

/** `name` and every model that depends on it, transitively. */
export function descendants(g: Graph, name: string): Set<string> {
  return closure(g.children, name);
}

function closure(edges: Map<string, Set<string>>, start: string): Set<string> {
  const out = new Set<string>([start]);
  const todo = [start];
  while (todo.length > 0) {
    for (const n of edges.get(todo.pop()!) ?? []) {
      if (!out.has(n)) {
        out.add(n);
        todo.push(n);
      }
    }
  }
  return out;
}

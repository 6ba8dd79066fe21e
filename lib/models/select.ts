/**
 * Selection syntax (a subset of dbt's):
 *   staging | marts          every model under that folder of models/ (any folder path works)
 *   stg_companies            one model by name
 *   +gold_dim_company        the model and all its ancestors
 *   stg_companies+           the model and all its descendants
 *   tag:prices               every model with that tag
 * Several selectors (space or comma separated) are a union. No selector means every model.
 */
import { ConfigError } from "../config/config.ts";
import { ancestors, descendants, type Graph } from "./dag.ts";
import type { Project } from "./project.ts";

/**
 * A selector (or test name) that names nothing: a bad argument, so a ConfigError (the job exits
 * 2, which the runner does not retry: another attempt cannot make the name exist).
 */
export class SelectionError extends ConfigError {
  override name = "SelectionError";
}

/** Resolve selectors to model names, in run order. */
export function selectModels(
  project: Project,
  graph: Graph,
  { select }: { select: readonly string[] },
): string[] {
  const terms = select.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean);
  if (terms.length === 0) {
    // `--select ""` (an empty shell variable) must not widen to every model: only no --select
    // at all means "everything".
    if (select.length > 0) {
      throw new SelectionError(
        `--select ${
          JSON.stringify(select.join(" "))
        } names no model (leave --select out to select every model)`,
      );
    }
    return [...graph.order];
  }
  const chosen = new Set<string>();
  for (const term of terms) {
    const up = term.startsWith("+");
    const down = term.endsWith("+") && term.length > 1;
    const core = term.slice(up ? 1 : 0, down ? -1 : undefined);
    let base: string[];
    if (core.startsWith("tag:")) {
      const tag = core.slice(4);
      if (tag === "") throw new SelectionError(`selector "${term}": tag: needs a tag name`);
      base = [...project.models.values()].filter((m) => m.tags.includes(tag)).map((m) => m.name);
      if (base.length === 0) {
        throw new SelectionError(`selector "${term}": no model has tag ${tag}`);
      }
    } else if (project.models.has(core)) {
      base = [core];
    } else {
      const path = core.replace(/^models\//, "").replace(/\/$/, "").split("/");
      base = [...project.models.values()]
        .filter((m) => path.every((p, i) => m.path[i] === p))
        .map((m) => m.name);
      if (base.length === 0) {
        throw new SelectionError(
          `selector "${term}" matches no model name, folder or tag (folders: ${
            [...new Set([...project.models.values()].map((m) => m.path.join("/")))].join(", ")
          })`,
        );
      }
    }
    for (const b of base) {
      chosen.add(b);
      if (up) { for (const a of ancestors(graph, b)) chosen.add(a); }
      if (down) { for (const d of descendants(graph, b)) chosen.add(d); }
    }
  }
  return graph.order.filter((n) => chosen.has(n));
}

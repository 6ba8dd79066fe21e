/**
 * The validated manifest, cached in the run history with its exact text, so that a run whose
 * jobs.yaml did not change starts without loading the YAML parser and croner (~40 ms of the
 * runner's ~100 ms start on our machines). A cache hit still checks that every script exists;
 * any change to the text (or another deno version) misses and goes through the full validation.
 */
import type { History } from "./history.ts";
import type { JobSpec, Manifest, PipelineSpec } from "./manifest.ts";
import { readManifestText } from "./manifest_error.ts";

/**
 * The version of the validation rules, part of the cache key: a manifest cached under older rules
 * is validated again. Bump it with every change to what manifest.ts (or permissions.ts) accepts.
 */
export const MANIFEST_RULES = 8;

interface Stored {
  settings: Manifest["settings"];
  jobs: JobSpec[];
  pipelines: PipelineSpec[];
}

function scriptsExist(m: Manifest): boolean {
  for (const j of m.jobs.values()) {
    try {
      if (!Deno.statSync(j.script.startsWith("/") ? j.script : `${m.root}/${j.script}`).isFile) {
        return false;
      }
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * manifest.ts (with the YAML parser and croner), loaded only when needed. The specifier is
 * computed so that Deno does not resolve those npm packages at every runner start (a literal
 * dynamic import is part of the module graph: ~3 ms, measured).
 */
export function importManifestModule(): Promise<typeof import("./manifest.ts")> {
  return import(new URL("./manifest.ts", import.meta.url).href);
}

/** Like loadManifest(path), answering from `history`'s cache when the text is unchanged. */
export async function loadManifestCached(path: string, history: History): Promise<Manifest> {
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const root = abs.slice(0, abs.lastIndexOf("/")) || "/";
  const text = readManifestText(abs, path);
  // The key is the text itself (compared exactly, no hashing) plus what shapes the result.
  const key = `${path}\0${Deno.version.deno}\0rules ${MANIFEST_RULES}\0${text}`;
  const hit = history.cachedManifest(abs, key);
  if (hit !== undefined) {
    const s = JSON.parse(hit) as Stored;
    const m: Manifest = {
      file: path,
      root,
      settings: s.settings,
      jobs: new Map(s.jobs.map((j) => [j.id, j])),
      pipelines: new Map(s.pipelines.map((p) => [p.id, p])),
    };
    if (scriptsExist(m)) return m;
  }
  const { parseManifest } = await importManifestModule();
  const m = parseManifest(text, { file: path, root });
  const stored: Stored = {
    settings: m.settings,
    jobs: [...m.jobs.values()],
    pipelines: [...m.pipelines.values()],
  };
  history.cacheManifest(abs, key, JSON.stringify(stored));
  return m;
}

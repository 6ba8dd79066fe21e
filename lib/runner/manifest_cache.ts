/**
 * The validated manifest, cached with its exact text, so that a run whose jobs.yaml did not change
 * starts without loading the YAML parser and croner (~40 ms of the runner's ~100 ms start on our
 * machines). A cache hit still checks that every script exists and that no write path has come to
 * hold the runner's folder (a symbolic link made since); any change to the text (or
 * another deno version, or new validation rules) misses and goes through the full validation.
 *
 * The cache decides what every job may do, so it lives where no job may write: the runner's own
 * folder beside the manifest (RUNNER_STATE_DIR, `.egx-runner/<manifest file>.json`), which no
 * write permission may cover (permissions.ts, writeEntryProblem). It used to live in the run
 * history, in the log folder, which the `cleanup` job writes: a job that could write there could
 * have rewritten any job's permissions for the next run.
 */
import type { JobSpec, Manifest, PipelineSpec } from "./manifest.ts";
import { readManifestText } from "./manifest_error.ts";
import { RUNNER_STATE_DIR, writeEntryProblem } from "./permissions.ts";

/**
 * The version of the validation rules, part of the cache key: a manifest cached under older rules
 * is validated again. Bump it with every change to what manifest.ts (or permissions.ts) accepts.
 */
export const MANIFEST_RULES = 12;

interface Stored {
  settings: Manifest["settings"];
  jobs: JobSpec[];
  pipelines: PipelineSpec[];
}

/**
 * What of a valid manifest depends on the file system, checked again on a hit: every script
 * exists, and no literal write path has come to hold the runner's folder since (a symbolic link
 * made after the check). Either way the full validation then reports it, and nothing runs.
 */
function stillValid(m: Manifest): boolean {
  for (const j of m.jobs.values()) {
    try {
      if (!Deno.statSync(j.script.startsWith("/") ? j.script : `${m.root}/${j.script}`).isFile) {
        return false;
      }
    } catch {
      return false;
    }
    for (const w of j.permissions.write) {
      if (!w.includes("${") && writeEntryProblem(w, m.root) !== undefined) return false;
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

/** Where the validated manifest at `abs` (in folder `root`) is cached. */
export function manifestCachePath(abs: string, root: string): string {
  return `${root}/${RUNNER_STATE_DIR}/${abs.slice(abs.lastIndexOf("/") + 1)}.json`;
}

/** Like loadManifest(path), answering from the cache when the text is unchanged. */
export async function loadManifestCached(path: string): Promise<Manifest> {
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const root = abs.slice(0, abs.lastIndexOf("/")) || "/";
  const text = readManifestText(abs, path);
  // The key is the text itself (compared exactly, no hashing) plus what shapes the result.
  const key = `${path}\0${Deno.version.deno}\0rules ${MANIFEST_RULES}\0${text}`;
  const file = manifestCachePath(abs, root);
  const hit = readCache(file, key);
  if (hit !== undefined) {
    const m: Manifest = {
      file: path,
      root,
      settings: hit.settings,
      jobs: new Map(hit.jobs.map((j) => [j.id, j])),
      pipelines: new Map(hit.pipelines.map((p) => [p.id, p])),
    };
    if (stillValid(m)) return m;
  }
  const { parseManifest } = await importManifestModule();
  const m = parseManifest(text, { file: path, root });
  writeCache(file, key, {
    settings: m.settings,
    jobs: [...m.jobs.values()],
    pipelines: [...m.pipelines.values()],
  });
  return m;
}

function readCache(file: string, key: string): Stored | undefined {
  try {
    const doc = JSON.parse(Deno.readTextFileSync(file)) as { key?: unknown; manifest?: Stored };
    return doc.key === key ? doc.manifest : undefined;
  } catch {
    return undefined; // none yet, or unreadable: validated in full
  }
}

/** Written whole or not at all (a temporary file renamed); a folder it cannot write skips it. */
function writeCache(file: string, key: string, manifest: Stored): void {
  const tmp = `${file}.${Deno.pid}.tmp`;
  try {
    Deno.mkdirSync(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(tmp, JSON.stringify({ key, manifest }));
    Deno.renameSync(tmp, file);
  } catch {
    try {
      Deno.removeSync(tmp);
    } catch { /* never made */ }
  }
}

/**
 * The manifest (`jobs.yaml`): parsed once, in two stages (YAML with positions -> typed Manifest).
 * Every finding (bytes that are not UTF-8, syntax, aliases to no anchor, unknown or duplicate
 * keys, bad values, unknown dependencies, cycles, bad cron or one that never fires, bad time zone,
 * missing scripts, bad permission entries) is collected and reported together as
 * `jobs.yaml:LINE:COL message`; a manifest with findings is never run. A change to what is
 * accepted bumps MANIFEST_RULES in manifest_cache.ts, so that the manifests runs cached as valid
 * are validated again.
 *
 * Reference (README.md "The manifest" has the prose version):
 *
 *   settings:            # all optional
 *     concurrency: 2     # jobs running at once in a run
 *     kill_grace: 10s    # SIGTERM -> SIGKILL delay at a timeout or shutdown
 *     timezone: Africa/Cairo
 *     overlap: skip      # skip | queue: a scheduled fire while the pipeline still runs
 *   defaults:            # per-job defaults
 *     retries: 0
 *     retry_backoff: 10s # delay before retry n is retry_backoff * 2^(n-1), at most 1h (or itself)
 *     timeout: 1h
 *   pipelines:
 *     <id>: { description, jobs: [ids], schedule: "<5-field cron>", timezone, overlap, concurrency }
 *   jobs:
 *     <id>:
 *       description, script, args: [..], depends_on: [ids], trigger: all_ok | none_failed | all_done,
 *       permissions: { net, read, write, env, ffi, sys }, env: { NAME: value },
 *       retries, retry_backoff, timeout
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { Node as YamlNode, Pair, YAMLMap } from "yaml";
import { Cron } from "croner";
import { parseDuration } from "./duration.ts";
import { yamlErrorOffsets } from "../config/yaml_errors.ts";
import { type Finding, ManifestError, readManifestText } from "./manifest_error.ts";
import {
  envEntryProblem,
  netEntryProblem,
  NO_PERMISSIONS,
  pathEntryProblem,
  PERMISSION_KEYS,
  type Permissions,
  referenceProblem,
  sysEntryProblem,
  writeEntryProblem,
} from "./permissions.ts";

export type Trigger = "all_ok" | "none_failed" | "all_done";
export const TRIGGERS: readonly Trigger[] = ["all_ok", "none_failed", "all_done"];
export type Overlap = "skip" | "queue";

export type { Pos } from "./manifest_error.ts";
import type { Pos } from "./manifest_error.ts";

export interface JobSpec {
  id: string;
  description: string;
  /** Relative to the manifest's folder (the project root). */
  script: string;
  args: string[];
  dependsOn: string[];
  /**
   * all_ok: run when every dependency in the run is ok; none_failed: when none failed;
   * all_done: when all ended, whatever their outcome.
   */
  trigger: Trigger;
  permissions: Permissions;
  /** Fixed variables set for the job (always readable by it). */
  env: Record<string, string>;
  retries: number;
  retryBackoffMs: number;
  timeoutMs: number;
  pos: Pos;
}

export interface PipelineSpec {
  id: string;
  description: string;
  jobs: string[];
  schedule?: string;
  timezone: string;
  overlap: Overlap;
  concurrency: number;
  pos: Pos;
}

export interface Settings {
  concurrency: number;
  killGraceMs: number;
  timezone: string;
  overlap: Overlap;
}

export interface Manifest {
  /** The manifest path as given (used in messages). */
  file: string;
  /** Absolute folder of the manifest: scripts and relative permission paths resolve here. */
  root: string;
  settings: Settings;
  jobs: Map<string, JobSpec>;
  pipelines: Map<string, PipelineSpec>;
}

export type { Finding } from "./manifest_error.ts";
export { ManifestError } from "./manifest_error.ts";

const ID = /^[a-z][a-z0-9_]*$/;
/**
 * Ids name files: each attempt logs to `<logDir>/runs/<run-id>/<job>.<attempt>.log`, and a file
 * name longer than 255 bytes fails every attempt ("File name too long"). 64 leaves ample room.
 */
export const MAX_ID_LENGTH = 64;

/** Why `id` is not a valid job or pipeline id ("job"/"pipeline" in `kind`), or undefined. */
function idProblem(kind: string, id: string): string | undefined {
  if (!ID.test(id)) return `${kind} id "${id}" must be snake_case (a-z, 0-9, _)`;
  if (id.length > MAX_ID_LENGTH) {
    return `${kind} id "${id.slice(0, 20)}..." is too long: ${id.length} characters ` +
      `(at most ${MAX_ID_LENGTH})`;
  }
  return undefined;
}
/** Timers cannot wait longer (setTimeout's 32-bit limit, ~24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

export const TOP_KEYS = ["settings", "defaults", "pipelines", "jobs"];
export const SETTINGS_KEYS = ["concurrency", "kill_grace", "timezone", "overlap"];
export const DEFAULTS_KEYS = ["retries", "retry_backoff", "timeout"];
export const PIPELINE_KEYS = [
  "description",
  "jobs",
  "schedule",
  "timezone",
  "overlap",
  "concurrency",
];
export const JOB_KEYS = [
  "description",
  "script",
  "args",
  "depends_on",
  "trigger",
  "permissions",
  "env",
  "retries",
  "retry_backoff",
  "timeout",
];

/** Is `tz` an IANA time zone this runtime knows? */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const CRON_FIELDS: readonly [string, number, number][] = [
  ["minute", 0, 59],
  ["hour", 0, 23],
  ["day of month", 1, 31],
  ["month", 1, 12],
  ["weekday", 0, 7],
];

/** Why a 5-field cron pattern is invalid in `tz`, or undefined. */
export function cronProblem(pattern: string, tz: string): string | undefined {
  if (pattern.trim().split(/\s+/).length !== 5) {
    return `schedule "${pattern}" must have 5 fields (minute hour day month weekday)`;
  }
  // croner names a day or month out of range by its own zero-based index ("0 0 32 * *": "Invalid
  // value for day: 31", "0 0 * 0 *": "month: -1"): such numbers are named here as written.
  const fields = pattern.trim().split(/\s+/);
  for (const [i, [name, lo, hi]] of CRON_FIELDS.entries()) {
    for (const item of fields[i].split(",")) {
      for (const bound of item.split("/")[0].split("-")) {
        const n = bound.replace(/^(\d+)(W|L|#.*)$/i, "$1");
        if (/^\d+$/.test(n) && (Number(n) < lo || Number(n) > hi)) {
          return `schedule "${pattern}": ${name} ${n} is out of range (${lo}-${hi})`;
        }
      }
    }
  }
  let cron: Cron;
  try {
    cron = new Cron(pattern, { timezone: tz, paused: true, mode: "5-part" });
  } catch (e) {
    return `schedule "${pattern}" is not a valid cron pattern: ${(e as Error).message}`;
  }
  // A date that does not exist (e.g. "0 0 30 2 *", February 30): the scheduler would find no
  // fire time and exit at once with success, which looks fine to a supervisor.
  if (cron.nextRun() === null) return `schedule "${pattern}" never fires (no date matches it)`;
  return undefined;
}

class Walker {
  findings: Finding[] = [];
  /** Key nodes already reported as not plain strings (a key is looked at more than once). */
  #badKeys = new Set<unknown>();
  /**
   * Each alias node's anchored node, found in one pass over the document: the parser's
   * `alias.resolve(doc)` walks the whole document at every call (3000 jobs sharing their
   * permissions through one anchor took 21 s to validate).
   */
  aliases = new Map<unknown, unknown>();
  constructor(private lc: LineCounter) {}

  pos(node: unknown): Pos {
    const r = (node as { range?: [number, number, number] } | undefined)?.range;
    return this.lc.linePos(r ? r[0] : 0);
  }
  add(node: unknown, message: string) {
    this.findings.push({ ...this.pos(node), message });
  }
  resolve(node: unknown): unknown {
    return isAlias(node) ? this.aliases.get(node) : node;
  }
  /** The pairs of a map node, reporting unknown keys; undefined when the node is not a map. */
  map(
    node: unknown,
    what: string,
    known?: readonly string[],
  ): Pair<YamlNode, YamlNode>[] | undefined {
    const n = this.resolve(node);
    if (n === null || n === undefined || (isScalar(n) && n.value === null)) return [];
    if (!isMap(n)) {
      this.add(node, `${what} must be a mapping`);
      return undefined;
    }
    const pairs = (n as YAMLMap<YamlNode, YamlNode>).items.filter(isPair) as Pair<
      YamlNode,
      YamlNode
    >[];
    if (known) {
      for (const p of pairs) {
        const k = this.keyOf(p);
        if (k !== undefined && !known.includes(k)) {
          const hint = k === "run" && what.endsWith("permissions")
            ? ": a job is never given --allow-run (starting a process escapes its sandbox)"
            : ` (known: ${known.join(", ")})`;
          this.add(p.key, `unknown key "${k}" in ${what}${hint}`);
        }
      }
    }
    return pairs;
  }
  keyOf(p: Pair<YamlNode, YamlNode>): string | undefined {
    const k = this.resolve(p.key);
    if (isScalar(k) && (typeof k.value === "string" || typeof k.value === "number")) {
      return String(k.value);
    }
    if (!this.#badKeys.has(p.key)) {
      this.#badKeys.add(p.key);
      this.add(p.key, "keys must be plain strings");
    }
    return undefined;
  }
  get(pairs: Pair<YamlNode, YamlNode>[], key: string): Pair<YamlNode, YamlNode> | undefined {
    return pairs.find((p) => {
      const k = this.resolve(p.key);
      return isScalar(k) && String(k.value) === key;
    });
  }
  scalar(node: unknown): unknown {
    const n = this.resolve(node);
    return isScalar(n) ? n.value : n === null || n === undefined ? null : Symbol.for("nonscalar");
  }
  /**
   * A number or boolean scalar as written: the job gets `1.10`, `0123` and `12345678901234567890`
   * from args and env, not `1.1`, `123` and `12345678901234567000` (the parsed value's String).
   */
  literal(node: unknown): string {
    const n = this.resolve(node);
    if (isScalar(n) && typeof n.source === "string" && n.source !== "") return n.source;
    return String(this.scalar(node));
  }
  string(node: unknown, what: string): string | undefined {
    const v = this.scalar(node);
    if (typeof v === "string" && v.trim() !== "") return v;
    this.add(node, `${what} must be a non-empty string`);
    return undefined;
  }
  int(node: unknown, what: string, min: number): number | undefined {
    const v = this.scalar(node);
    if (typeof v === "number" && Number.isInteger(v) && v >= min) return v;
    this.add(node, `${what} must be an integer >= ${min}`);
    return undefined;
  }
  bool(node: unknown, what: string): boolean | undefined {
    const v = this.scalar(node);
    if (typeof v === "boolean") return v;
    this.add(node, `${what} must be true or false`);
    return undefined;
  }
  duration(node: unknown, what: string): number | undefined {
    const v = this.scalar(node);
    const ms = typeof v === "string" ? parseDuration(v) : undefined;
    if (ms !== undefined && ms > MAX_TIMER_MS) {
      this.add(node, `${what} must be at most 24d (got ${show(v)})`);
      return undefined;
    }
    if (ms !== undefined && ms > 0) return ms;
    if (ms === 0) this.add(node, `${what} must be longer than 0 (got ${show(v)})`);
    else this.add(node, `${what} must be a duration like 500ms, 30s, 5m, 2h, 1d (got ${show(v)})`);
    return undefined;
  }
  oneOf<T extends string>(node: unknown, what: string, options: readonly T[]): T | undefined {
    const v = this.scalar(node);
    if (typeof v === "string" && (options as readonly string[]).includes(v)) return v as T;
    this.add(node, `${what} must be one of ${options.join(", ")} (got ${show(v)})`);
    return undefined;
  }
  /** A list of scalar items as strings, each item checked by `check` (which reports). */
  list(
    node: unknown,
    what: string,
    check?: (item: string, node: unknown) => boolean,
    opts: { numbers?: boolean } = {},
  ): string[] | undefined {
    const n = this.resolve(node);
    if (isScalar(n) && n.value === null) return [];
    if (!isSeq(n)) {
      this.add(node, `${what} must be a list`);
      return undefined;
    }
    const out: string[] = [];
    let ok = true;
    for (const item of n.items) {
      const v = this.scalar(item);
      if (typeof v === "string" || (opts.numbers && typeof v === "number")) {
        const s = typeof v === "string" ? v : this.literal(item);
        if (check && !check(s, item)) ok = false;
        else out.push(s);
      } else {
        this.add(item, `${what} items must be ${opts.numbers ? "strings or numbers" : "strings"}`);
        ok = false;
      }
    }
    return ok ? out : undefined;
  }
}

function show(v: unknown): string {
  return typeof v === "symbol" ? "a list or mapping" : JSON.stringify(v);
}

export interface ParseOptions {
  /** Name used in messages (default "jobs.yaml"). */
  file?: string;
  /** Absolute project root (scripts resolve here). Default: the current directory. */
  root?: string;
  /** Check that every script exists (default true). */
  checkScripts?: boolean;
}

/** Parse manifest text. Returns the manifest, or throws ManifestError with every finding. */
export function parseManifest(text: string, opts: ParseOptions = {}): Manifest {
  const file = opts.file ?? "jobs.yaml";
  const root = opts.root ?? Deno.cwd();
  // A byte order mark (readManifestText keeps it) is no column: positions on line 1 count from
  // after it.
  if (text.startsWith("\ufeff")) text = text.slice(1);
  const lc = new LineCounter();
  // Duplicate keys are found below, in one pass: the parser's check compares each key with every
  // key before it in its mapping (a 10 MB manifest of 39,000 jobs took 16 s to validate).
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  const w = new Walker(lc);
  const offsets = yamlErrorOffsets(text, doc.errors);
  for (const [i, e] of doc.errors.entries()) {
    const at = lc.linePos(offsets[i]);
    // The parser's own words name its API (YAML.parseAllDocuments()).
    const msg = e.code === "MULTIPLE_DOCS"
      ? "a second document starts here (after --- or ...): the manifest is one YAML document"
      : e.message;
    w.findings.push({ ...at, message: `YAML: ${msg}` });
  }
  // An alias resolves to the last node with its anchor before it. One whose anchor is not defined
  // before it (a typo, or the anchor further down) resolves to nothing, and the parser says
  // nothing: `permissions: *typo` would be no permissions at all.
  const anchors = new Map<string, unknown>();
  const maps: YAMLMap[] = [];
  let dangling = false;
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (target !== undefined) w.aliases.set(node, target);
        else {
          dangling = true;
          w.add(node, `alias *${node.source} names no anchor &${node.source} defined before it`);
        }
        return;
      }
      if (node.anchor) anchors.set(node.anchor, node);
      if (isMap(node)) maps.push(node);
    },
  });
  // Keys equal as the parser's uniqueKeys compares them: scalars of the same value, an alias
  // key (`*k :`) by the scalar it names (the parser lets those through, and which one wins then
  // differs: the first job, the last permission). Checked once every anchor is known.
  for (const map of maps) {
    const seen = new Set<unknown>();
    for (const p of map.items) {
      const key = isAlias(p.key) ? w.aliases.get(p.key) : p.key;
      if (!isScalar(key)) continue;
      if (seen.has(key.value)) {
        w.add(
          p.key,
          `duplicate key ${JSON.stringify(key.value)} (each id and key may appear once)`,
        );
      }
      seen.add(key.value);
    }
  }
  // A syntax error makes the rest guesswork: report it alone. So does an alias to nothing (its
  // value would be reported as missing). Duplicate keys are still walkable.
  if (dangling || doc.errors.length > 0) throw new ManifestError(file, sorted(w));

  const topPairs = w.map(doc.contents, "the manifest", TOP_KEYS);
  // A list or a scalar is not a mapping, which says it all: it is not empty, nor missing "jobs".
  const top = topPairs ?? [];
  if (topPairs?.length === 0) w.add(doc.contents, "the manifest is empty");

  // settings and defaults
  const settings: Settings = {
    concurrency: 2,
    killGraceMs: 10_000,
    timezone: "Africa/Cairo",
    overlap: "skip",
  };
  const sp = w.map(w.get(top, "settings")?.value, "settings", SETTINGS_KEYS) ?? [];
  for (const p of sp) {
    const k = w.keyOf(p);
    if (k === "concurrency") settings.concurrency = w.int(p.value, "concurrency", 1) ?? 2;
    if (k === "kill_grace") settings.killGraceMs = w.duration(p.value, "kill_grace") ?? 10_000;
    if (k === "overlap") {
      settings.overlap = w.oneOf(p.value, "overlap", ["skip", "queue"]) ?? "skip";
    }
    if (k === "timezone") {
      const tz = w.string(p.value, "timezone");
      if (tz && !isTimeZone(tz)) w.add(p.value, `unknown time zone "${tz}"`);
      else if (tz) settings.timezone = tz;
    }
  }
  const defaults = { retries: 0, retryBackoffMs: 10_000, timeoutMs: 3_600_000 };
  for (const p of w.map(w.get(top, "defaults")?.value, "defaults", DEFAULTS_KEYS) ?? []) {
    const k = w.keyOf(p);
    if (k === "retries") defaults.retries = w.int(p.value, "retries", 0) ?? 0;
    if (k === "retry_backoff") defaults.retryBackoffMs = w.duration(p.value, "retry_backoff") ?? 0;
    if (k === "timeout") defaults.timeoutMs = w.duration(p.value, "timeout") ?? 0;
  }

  // jobs
  const jobs = new Map<string, JobSpec>();
  const depNodes = new Map<string, [string, unknown][]>();
  const jobsPair = w.get(top, "jobs");
  if (!jobsPair && topPairs) w.add(doc.contents, 'the manifest needs a "jobs" mapping');
  for (const jp of w.map(jobsPair?.value, "jobs") ?? []) {
    const id = w.keyOf(jp);
    if (id === undefined || jobs.has(id)) continue; // a duplicate is reported by the YAML stage
    const badId = idProblem("job", id);
    if (badId) w.add(jp.key, badId);
    const what = `job ${id}`;
    const pairs = w.map(jp.value, what, JOB_KEYS);
    if (!pairs) continue;
    const job: JobSpec = {
      id,
      description: "",
      script: "",
      args: [],
      dependsOn: [],
      trigger: "all_ok",
      permissions: { ...NO_PERMISSIONS },
      env: {},
      ...defaults,
      pos: w.pos(jp.key),
    };
    const deps: [string, unknown][] = []; // in order, repeats kept (a repeat is a finding)
    const nativeEnv: [string, unknown][] = []; // fixed variables the loader reads (LD_PRELOAD)
    for (const p of pairs) {
      const k = w.keyOf(p);
      const v = p.value;
      if (k === "description") job.description = w.string(v, `${what}: description`) ?? "";
      if (k === "script") {
        const s = w.string(v, `${what}: script`);
        if (s !== undefined) {
          job.script = s;
          if (!/\.(ts|js|mts|mjs)$/.test(s)) {
            w.add(v, `${what}: script "${s}" must be a .ts or .js file`);
          } else if (opts.checkScripts !== false && !isFile(root, s)) {
            // Paths are relative to the manifest's folder: say where it was looked for.
            const at = s.startsWith("/") ? "" : ` (looked for ${root}/${s})`;
            w.add(v, `${what}: script "${s}" does not exist${at}`);
          }
        }
      }
      if (k === "args") {
        const check = (a: string, n: unknown) => {
          // A NUL byte cannot be passed to a process: every attempt would fail to start.
          const p = a.includes("\0")
            ? `${JSON.stringify(a)} contains a NUL byte`
            : referenceProblem(a);
          if (p) w.add(n, `${what}: args: ${p}`);
          return p === undefined;
        };
        job.args = w.list(v, `${what}: args`, check, { numbers: true }) ?? [];
      }
      if (k === "depends_on") {
        const n = w.resolve(v);
        // Only string items name a dependency; any other item is reported by the list check.
        if (isSeq(n)) {
          for (const item of n.items) {
            const dep = w.scalar(item);
            if (typeof dep === "string") deps.push([dep, item]);
          }
        }
        job.dependsOn = w.list(v, `${what}: depends_on`) ?? [];
      }
      if (k === "trigger") {
        job.trigger = w.oneOf(v, `${what}: trigger`, TRIGGERS) ?? "all_ok";
      }
      if (k === "permissions") job.permissions = permissions(w, v, what, root);
      if (k === "env") {
        for (const ep of w.map(v, `${what}: env`) ?? []) {
          const name = w.keyOf(ep);
          if (name === undefined) continue;
          const bad = envEntryProblem(name);
          if (bad || name.endsWith("*")) {
            w.add(ep.key, `${what}: env name "${name}" is not a variable name`);
            continue;
          }
          if (loadsNativeCode(name)) nativeEnv.push([name, ep.key]);
          const val = w.scalar(ep.value);
          if (typeof val === "string" && val.includes("\0")) {
            w.add(ep.value, `${what}: env ${name} contains a NUL byte`);
          } else if (typeof val === "string") job.env[name] = val;
          else if (typeof val === "number" || typeof val === "boolean") {
            job.env[name] = w.literal(ep.value);
          } else w.add(ep.value, `${what}: env ${name} must be a string, number or boolean`);
        }
      }
      if (k === "retries") job.retries = w.int(v, `${what}: retries`, 0) ?? 0;
      if (k === "retry_backoff") {
        job.retryBackoffMs = w.duration(v, `${what}: retry_backoff`) ?? defaults.retryBackoffMs;
      }
      if (k === "timeout") job.timeoutMs = w.duration(v, `${what}: timeout`) ?? defaults.timeoutMs;
    }
    if (!job.permissions.ffi) {
      for (const [name, n] of nativeEnv) w.add(n, `${what}: env ${nativeCodeProblem(name)}`);
    }
    if (!w.get(pairs, "script")) w.add(jp.key, `${what}: missing "script"`);
    jobs.set(id, job);
    depNodes.set(id, deps);
  }
  // dependencies: unknown ids, self, duplicates
  for (const job of jobs.values()) {
    const seen = new Set<string>();
    for (const [dep, node] of depNodes.get(job.id) ?? []) {
      if (dep === job.id) w.add(node, `job ${job.id} depends on itself`);
      else if (!jobs.has(dep)) w.add(node, `job ${job.id} depends on unknown job "${dep}"`);
      if (seen.has(dep)) w.add(node, `job ${job.id} lists dependency "${dep}" twice`);
      seen.add(dep);
    }
  }
  for (const cycle of findCycles(jobs)) {
    const first = cycle[0];
    const node = depNodes.get(first)?.find(([dep]) => dep === cycle[1])?.[1];
    w.add(node, `dependency cycle: ${[...cycle].join(" -> ")}`);
  }

  // pipelines
  const pipelines = new Map<string, PipelineSpec>();
  for (const pp of w.map(w.get(top, "pipelines")?.value, "pipelines") ?? []) {
    const id = w.keyOf(pp);
    if (id === undefined || pipelines.has(id)) continue;
    const what = `pipeline ${id}`;
    const badId = idProblem("pipeline", id);
    if (badId) w.add(pp.key, badId);
    if (jobs.has(id)) w.add(pp.key, `pipeline id "${id}" is also a job id: ids must be unique`);
    const pairs = w.map(pp.value, what, PIPELINE_KEYS);
    if (!pairs) continue;
    const pipe: PipelineSpec = {
      id,
      description: "",
      jobs: [],
      timezone: settings.timezone,
      overlap: settings.overlap,
      concurrency: settings.concurrency,
      pos: w.pos(pp.key),
    };
    let scheduleNode: unknown;
    for (const p of pairs) {
      const k = w.keyOf(p);
      const v = p.value;
      if (k === "description") pipe.description = w.string(v, `${what}: description`) ?? "";
      if (k === "overlap") {
        pipe.overlap = w.oneOf(v, `${what}: overlap`, ["skip", "queue"]) ?? "skip";
      }
      if (k === "concurrency") pipe.concurrency = w.int(v, `${what}: concurrency`, 1) ?? 1;
      if (k === "schedule") {
        pipe.schedule = w.string(v, `${what}: schedule`);
        scheduleNode = v;
      }
      if (k === "timezone") {
        const tz = w.string(v, `${what}: timezone`);
        if (tz && !isTimeZone(tz)) w.add(v, `${what}: unknown time zone "${tz}"`);
        else if (tz) pipe.timezone = tz;
      }
      if (k === "jobs") {
        const seen = new Set<string>();
        pipe.jobs = w.list(v, `${what}: jobs`, (j, node) => {
          if (!jobs.has(j)) w.add(node, `${what} lists unknown job "${j}"`);
          else if (seen.has(j)) w.add(node, `${what} lists job "${j}" twice`);
          else {
            seen.add(j);
            return true;
          }
          return false;
        }) ?? [];
      }
    }
    const jobsPair = w.get(pairs, "jobs");
    if (!jobsPair) w.add(pp.key, `${what}: missing "jobs"`);
    else if (isSeq(jobsPair.value) && jobsPair.value.items.length === 0) {
      w.add(jobsPair.value, `${what}: jobs is empty (a pipeline runs at least one job)`);
    }
    if (pipe.schedule !== undefined) {
      const bad = cronProblem(pipe.schedule, pipe.timezone);
      if (bad) w.add(scheduleNode, `${what}: ${bad}`);
    }
    pipelines.set(id, pipe);
  }

  if (w.findings.length > 0) throw new ManifestError(file, sorted(w));
  return { file, root, settings, jobs, pipelines };
}

function permissions(w: Walker, node: unknown, what: string, root: string): Permissions {
  const out: Permissions = { ...NO_PERMISSIONS };
  const label = `${what}: permissions`;
  const pairs = w.map(node, label, PERMISSION_KEYS) ?? [];
  const envNodes: [string, unknown][] = [];
  const checked = (problem: (s: string) => string | undefined) => (s: string, n: unknown) => {
    const p = problem(s);
    if (p) w.add(n, `${label}: ${p}`);
    else if (problem === envEntryProblem) envNodes.push([s, n]);
    return p === undefined;
  };
  for (const p of pairs) {
    const k = w.keyOf(p);
    const v = p.value;
    if (k === "net") {
      out.net = w.scalar(v) === true
        ? true
        : w.list(v, `${label}.net`, checked(netEntryProblem)) ?? [];
    }
    if (k === "read") out.read = w.list(v, `${label}.read`, checked(pathEntryProblem)) ?? [];
    if (k === "write") {
      // One with a ${VAR} is checked once expanded, when the job starts (plan.ts).
      const writable = (e: string) =>
        pathEntryProblem(e) ?? (e.includes("${") ? undefined : writeEntryProblem(e, root));
      out.write = w.list(v, `${label}.write`, checked(writable)) ?? [];
    }
    if (k === "env") out.env = w.list(v, `${label}.env`, checked(envEntryProblem)) ?? [];
    if (k === "ffi") out.ffi = w.bool(v, `${label}.ffi`) ?? false;
    if (k === "sys") {
      const s = w.scalar(v);
      out.sys = typeof s === "boolean"
        ? s
        : w.list(v, `${label}.sys (true, false or a list)`, checked(sysEntryProblem)) ?? false;
    }
  }
  if (!out.ffi) {
    for (const [name, n] of envNodes) {
      if (loadsNativeCode(name)) w.add(n, `${label}.env: ${nativeCodeProblem(name)}`);
    }
  }
  return out;
}

/** `LD_PRELOAD`, `DYLD_INSERT_LIBRARIES`...: the loader reads them, and loads native code. */
export function loadsNativeCode(name: string): boolean {
  return /^(LD_|DYLD_)/.test(name);
}

function nativeCodeProblem(name: string): string {
  return `${name} makes the loader load native code into the job (as ffi does): only for a ` +
    "job with ffi: true";
}

function isFile(root: string, rel: string): boolean {
  try {
    return Deno.statSync(rel.startsWith("/") ? rel : `${root}/${rel}`).isFile;
  } catch {
    return false;
  }
}

function sorted(w: Walker): Finding[] {
  return [...w.findings].sort((a, b) => a.line - b.line || a.col - b.col);
}

/** Every elementary dependency cycle found by DFS, each as [a, b, ..., a] in dependency order. */
export function findCycles(jobs: Map<string, JobSpec>): string[][] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (id: string) => {
    state.set(id, "open");
    stack.push(id);
    for (const dep of jobs.get(id)?.dependsOn ?? []) {
      if (!jobs.has(dep) || dep === id) continue;
      if (state.get(dep) === "open") cycles.push([...stack.slice(stack.indexOf(dep)), dep]);
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(id, "done");
  };
  for (const id of jobs.keys()) if (!state.has(id)) visit(id);
  return cycles;
}

/** Read and parse a manifest file; its folder is the project root. */
export function loadManifest(path = "jobs.yaml", opts: { checkScripts?: boolean } = {}): Manifest {
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const text = readManifestText(abs, path);
  const root = abs.slice(0, abs.lastIndexOf("/")) || "/";
  return parseManifest(text, { file: path, root, ...opts });
}

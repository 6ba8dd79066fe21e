/**
 * A job's permissions: validating manifest entries, expanding `${VAR}` references, and turning
 * them into the exact `deno run` flags and child environment. A job gets these and nothing else:
 * never `--allow-run` (starting `deno` again would escape the sandbox), never an inherited
 * environment variable it did not declare.
 *
 * Entries (all optional):
 *   net:   [host | host:port | [ipv6]:port ...], or `true` for any host (unscoped: say why)
 *   read:  [path ...]   relative to the project root (the manifest's folder) or absolute
 *   write: [path ...]
 *   env:   [NAME ...]   also `PREFIX_*`; the runner passes these from its own environment
 *   ffi:   true|false   (native code ignores every other permission: such a job is not sandboxed)
 *   sys:   true|false or [hostname, osRelease, ...] (Deno's sys kinds)
 *
 * net, read and write entries may reference the runner's environment as `${NAME}` or
 * `${NAME:-default}` (e.g. `${EGX_LOG_DIR:-logs}`), expanded when the run is planned.
 */
import { isSecretVariable } from "../config/config.ts";
import { RUNNER_ENV } from "./job.ts";

export interface Permissions {
  net: string[] | true;
  read: string[];
  write: string[];
  env: string[];
  ffi: boolean;
  sys: boolean | string[];
}

export const NO_PERMISSIONS: Permissions = {
  net: [],
  read: [],
  write: [],
  env: [],
  ffi: false,
  sys: false,
};

export const SYS_KINDS = [
  "loadavg",
  "hostname",
  "systemMemoryInfo",
  "networkInterfaces",
  "osRelease",
  "osUptime",
  "uid",
  "gid",
  "username",
  "cpus",
  "homedir",
  "statfs",
  "getPriority",
  "setPriority",
  "ca",
  "umask",
] as const;

/** Permission kinds a manifest may use; `run` is recognised only to be refused clearly. */
export const PERMISSION_KEYS = ["net", "read", "write", "env", "ffi", "sys"] as const;

/** Environment the runner always sets for a child (besides the job's declared variables). */
export const FIXED_CHILD_ENV: Readonly<Record<string, string>> = {
  DENO_NO_UPDATE_CHECK: "1",
  NO_COLOR: "1",
};

/** Variables deno itself needs to find its cache; passed through when set, not readable. */
const DENO_NEEDS = ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "DENO_CERT", "TMPDIR"];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;
const REF = /\$\{([^}]*)\}/g;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Why the `${...}` references in an entry (args too) are malformed, or undefined. */
export function referenceProblem(entry: string): string | undefined {
  return referenceProblems(entry)[0];
}

function referenceProblems(entry: string): string[] {
  const out: string[] = [];
  for (const m of entry.matchAll(REF)) {
    const name = m[1].split(":-")[0];
    if (!ENV_NAME.test(name)) out.push(`bad variable reference \${${m[1]}}`);
    else if (isSecretVariable(name)) {
      // A command line is readable by every local user (ps, /proc/<pid>/cmdline).
      out.push(
        `\${${name}} is a secret: it would be on the job's command line, which every local user ` +
          "can read; declare it in permissions.env and let the job read it",
      );
    }
  }
  if (entry.replace(REF, "").includes("${")) out.push("unclosed ${ in entry");
  return out;
}

/** Why a net entry is invalid, or undefined. Entries with `${...}` are checked when expanded. */
export function netEntryProblem(entry: string): string | undefined {
  if (entry.includes("${")) return referenceProblems(entry)[0];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) {
    // Only its scheme and host: a URL's user, password, path and query can be secrets (e.g. a
    // webhook URL given where its host was meant).
    const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^/?#]*@)?([^/?#]*)(.*)$/i.exec(entry)!;
    const shown = m[1] + m[2] + (m[3] ? "/..." : "");
    return `net entry "${shown}" is a URL: give host or host:port (${m[2]})`;
  }
  let host = entry;
  let port: string | undefined;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(entry);
  if (v6) {
    port = v6[2];
    host = "";
  } else {
    const i = entry.lastIndexOf(":");
    if (i >= 0) {
      host = entry.slice(0, i);
      port = entry.slice(i + 1);
    }
    if (!HOSTNAME.test(host) && !IPV4.test(host)) {
      return `net entry "${entry}" is not a host or host:port`;
    }
  }
  if (port !== undefined && (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    return `net entry "${entry}" has a bad port (1-65535)`;
  }
  return undefined;
}

/** Why a read/write path entry is invalid, or undefined. */
export function pathEntryProblem(entry: string): string | undefined {
  if (entry.trim() === "") return "path entry is empty";
  if (entry.includes(",")) return `path "${entry}" contains a comma (deno flag lists use commas)`;
  if (entry.includes("\0")) return `path "${entry}" contains a NUL byte`;
  return referenceProblems(entry)[0];
}

/**
 * The runner's own folder in the project root (the manifest's folder): its cache of the validated
 * manifest, which decides every job's permissions (manifest_cache.ts). No job may write there.
 */
export const RUNNER_STATE_DIR = ".egx-runner";

/**
 * Why a job may not be granted write access to `entry` (expanded; relative to `root`, the job's
 * folder): it is the runner's folder or one holding it, so the job could rewrite the permissions
 * of every job. Paths are compared as resolved (`..`, symbolic links of what exists).
 */
export function writeEntryProblem(entry: string, root: string): string | undefined {
  const state = resolved(`${root}/${RUNNER_STATE_DIR}`);
  const target = resolved(entry.startsWith("/") ? entry : `${root}/${entry}`);
  if (state !== target && !state.startsWith(target === "/" ? "/" : `${target}/`)) return undefined;
  return `write path "${entry}" holds the runner's own folder ${root}/${RUNNER_STATE_DIR} ` +
    "(its cache of the validated manifest): a job that can write there could raise any job's " +
    "permissions; grant the folders the job writes instead";
}

/** An absolute path without `.`, `..` or `//`, its longest existing part through realPath. */
function resolved(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  for (let i = parts.length; i >= 0; i--) {
    try {
      const real = Deno.realPathSync(`/${parts.slice(0, i).join("/")}`);
      return [real === "/" ? "" : real, ...parts.slice(i)].join("/") || "/";
    } catch {
      // not there (yet): its parent is resolved instead
    }
  }
  return `/${parts.join("/")}`;
}

/** Why an env entry is invalid, or undefined. */
export function envEntryProblem(entry: string): string | undefined {
  return ENV_PATTERN.test(entry)
    ? undefined
    : `env entry "${entry}" is not a variable name (letters, digits, _; optional trailing *)`;
}

/** Why a sys entry is invalid, or undefined. */
export function sysEntryProblem(entry: string): string | undefined {
  return (SYS_KINDS as readonly string[]).includes(entry)
    ? undefined
    : `sys entry "${entry}" is not one of ${SYS_KINDS.join(", ")}`;
}

/** Raised when a `${NAME}` reference cannot be expanded or expands to a bad entry. */
export class PermissionError extends Error {
  override name = "PermissionError";
}

type Env = (name: string) => string | undefined;

/** Expand `${NAME}` / `${NAME:-default}` from `env`; throws PermissionError when unset. */
export function expandEntry(entry: string, env: Env): string {
  return entry.replace(REF, (_, body: string) => {
    const [name, ...rest] = body.split(":-");
    const v = env(name);
    if (v !== undefined && v !== "") return v;
    if (rest.length > 0) return rest.join(":-");
    throw new PermissionError(`"${entry}" references ${name}, which is not set and has no default`);
  });
}

/** The permissions with every `${...}` expanded and re-validated. */
export function expandPermissions(p: Permissions, env: Env): Permissions {
  const expand = (list: string[], problemOf: (v: string) => string | undefined) => {
    const out = new Set<string>(); // the same entry twice (e.g. two defaults) is one
    for (const e of list) {
      const v = expandEntry(e, env);
      const problem = problemOf(v);
      if (problem) throw new PermissionError(`${e} -> ${problem}`);
      out.add(v);
    }
    return [...out];
  };
  // A path entry set from a variable that holds a URL (EGX_LANDING=s3://bucket/prefix/) names
  // no file: there is nothing to allow.
  const paths = (list: string[]) => expand(list, pathEntryProblem).filter((v) => !URL_LIKE.test(v));
  const net = p.net === true ? true : expand(p.net, netEntryProblem);
  return { ...p, net, read: paths(p.read), write: paths(p.write) };
}

const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * The `deno run` permission flags for expanded permissions. `extraEnv` names (the runner's
 * context variables and the job's fixed env) are always readable. `--cached-only`: Deno loads
 * remote modules (esm.sh, jsr.io, deno.land...) and npm packages without --allow-net, so a job
 * could reach the network through an import; with it, a job runs only what is already cached
 * (`deno task` installs the project's pinned packages before the runner starts).
 */
export function denoFlags(p: Permissions, extraEnv: readonly string[] = []): string[] {
  const flags = ["--no-prompt", "--cached-only", "--frozen"];
  if (p.net === true) flags.push("--allow-net");
  else if (p.net.length > 0) flags.push(`--allow-net=${p.net.join(",")}`);
  if (p.read.length > 0) flags.push(`--allow-read=${p.read.join(",")}`);
  if (p.write.length > 0) flags.push(`--allow-write=${p.write.join(",")}`);
  const env = [...new Set([...p.env, ...Object.values(RUNNER_ENV), ...extraEnv])];
  flags.push(`--allow-env=${env.join(",")}`);
  if (p.ffi) flags.push("--allow-ffi");
  if (p.sys === true) flags.push("--allow-sys");
  else if (Array.isArray(p.sys) && p.sys.length > 0) flags.push(`--allow-sys=${p.sys.join(",")}`);
  return flags;
}

/**
 * The child's whole environment: deno's own needs, the fixed runner variables, the declared
 * variables that are set in `source` (a map of the runner's environment), then `fixed`.
 */
export function childEnv(
  declared: readonly string[],
  source: Readonly<Record<string, string>>,
  fixed: Readonly<Record<string, string>> = {},
  opts: { ffi?: boolean } = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const n of DENO_NEEDS) if (source[n] !== undefined) env[n] = source[n];
  Object.assign(env, FIXED_CHILD_ENV);
  // A job without ffi never gets what makes the loader load native code (LD_PRELOAD...), also
  // not through a pattern such as L* (the manifest refuses such names given in full).
  const ok = (k: string) => opts.ffi || !/^(LD_|DYLD_)/.test(k);
  for (const d of declared) {
    if (d.endsWith("*")) {
      const prefix = d.slice(0, -1);
      for (const [k, v] of Object.entries(source)) if (k.startsWith(prefix) && ok(k)) env[k] = v;
    } else if (source[d] !== undefined && ok(d)) env[d] = source[d];
  }
  return Object.assign(env, fixed);
}

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  loadManifestCached,
  MANIFEST_RULES,
  manifestCachePath,
} from "../lib/runner/manifest_cache.ts";
import {
  DEFAULTS_KEYS,
  findCycles,
  JOB_KEYS,
  loadManifest,
  ManifestError,
  MAX_ID_LENGTH,
  parseManifest,
  PIPELINE_KEYS,
  SETTINGS_KEYS,
  TOP_KEYS,
  TRIGGERS,
} from "../lib/runner/manifest.ts";
import { childEnv, PERMISSION_KEYS, SYS_KINDS } from "../lib/runner/permissions.ts";
import { jobCommand, planRun, shellLine, UsageError } from "../lib/runner/plan.ts";
import { registerSecrets } from "../lib/config/config.ts";

const ROOT = new URL("./testdata/runner/", import.meta.url).pathname.replace(/\/$/, "");
const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** Run `fn`, expect it to throw an instance of `cls`, and return that error. */
function assertThrows<E extends Error>(fn: () => unknown, cls: new (...a: never[]) => E): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw new Error(`expected ${cls.name}, got ${e}`);
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}

/** The findings of a manifest that must fail, as `jobs.yaml:L:C message` lines. */
function findings(text: string): string[] {
  const e = assertThrows(() => parseManifest(text, { root: ROOT }), ManifestError);
  return e.message.split("\n");
}

Deno.test("a valid manifest parses into typed jobs and pipelines with defaults applied", () => {
  const m = parseManifest(
    `settings:
  concurrency: 3
  kill_grace: 2s
defaults:
  retries: 1
  retry_backoff: 500ms
  timeout: 5m
pipelines:
  nightly:
    schedule: "0 1 * * *"
    jobs: [load, report]
jobs:
  load:
    description: Load things
    script: jobs/behave.ts
    args: [--sleep, 10, "--say=\${WHO:-world}"]
    retries: 3
    permissions:
      net: [example.com, "127.0.0.1:8080", "[::1]:9000"]
      read: [data, "\${EGX_LOG_DIR:-logs}"]
      write: [data]
      env: [AWS_*, EGX_WAREHOUSE]
      ffi: true
      sys: [hostname, osRelease]
    env:
      FIXED: 1
  report:
    script: jobs/behave.ts
    depends_on: [load]
    trigger: none_failed
    timeout: 2h
`,
    { root: ROOT },
  );
  assertEquals(m.settings, {
    concurrency: 3,
    killGraceMs: 2000,
    timezone: "Africa/Cairo",
    overlap: "skip",
  });
  const load = m.jobs.get("load")!;
  assertEquals(load.args, ["--sleep", "10", "--say=${WHO:-world}"]);
  assertEquals(load.retries, 3);
  assertEquals(load.retryBackoffMs, 500);
  assertEquals(load.timeoutMs, 300_000);
  assertEquals(load.env, { FIXED: "1" });
  assertEquals(load.permissions, {
    net: ["example.com", "127.0.0.1:8080", "[::1]:9000"],
    read: ["data", "${EGX_LOG_DIR:-logs}"],
    write: ["data"],
    env: ["AWS_*", "EGX_WAREHOUSE"],
    ffi: true,
    sys: ["hostname", "osRelease"],
  });
  assertEquals(load.pos, { line: 13, col: 3 });
  const report = m.jobs.get("report")!;
  assertEquals([report.dependsOn, report.trigger, report.retries, report.timeoutMs], [
    ["load"],
    "none_failed",
    1,
    7_200_000,
  ]);
  assertEquals(m.pipelines.get("nightly")!.schedule, "0 1 * * *");
  assertEquals(m.pipelines.get("nightly")!.concurrency, 3);
});

Deno.test("malformed YAML is reported with its line and column and nothing else", () => {
  // A `[` or `{` left open is named where it opens, not where the parser gives up (line 4, or
  // the next key's line); nested, each error names its own.
  assertEquals(findings("jobs:\n  a:\n    script: [jobs/behave.ts\n"), [
    "jobs.yaml:3:13 YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
  ]);
  assertEquals(
    findings(
      "pipelines:\n  p: {jobs: [a, b]\njobs:\n  a:\n    script: jobs/behave.ts\n" +
        "    depends_on: [b, {x: 1]\n",
    ),
    [
      "jobs.yaml:2:6 YAML: Flow map in block collection must be sufficiently indented and end with a }",
      "jobs.yaml:6:17 YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
      "jobs.yaml:6:21 YAML: Flow map in block collection must be sufficiently indented and end with a }",
    ],
  );
  // A quote left open is named where it opens, not at the end of the file where the parser stops.
  const open = (q: string) =>
    findings(`jobs:\n  a:\n    script: ${q}jobs/behave.ts\n  b:\n    script: jobs/behave.ts\n`)
      .map((l) => l.split(" YAML: ")[0]);
  assertEquals(open('"'), ["jobs.yaml:3:13"]);
  assertEquals(open("'"), ["jobs.yaml:3:13"]);
});

Deno.test("a key indented wrongly is reported at the key, not at the start of its line", () => {
  assertEquals(findings("jobs:\n  a:\n    script: jobs/behave.ts\n   retries: 1\n"), [
    "jobs.yaml:4:4 YAML: All mapping items must start at the same column",
  ]);
  const deeper = "jobs:\n  a:\n    script: jobs/behave.ts\n  b:\n      script: jobs/behave.ts\n" +
    "     retries: 1\n";
  assertEquals(findings(deeper), [
    "jobs.yaml:6:6 YAML: All mapping items must start at the same column",
  ]);
});

Deno.test("a key indented wrongly after a blank line or a comment is reported at the key", () => {
  const at = (between: string) =>
    findings(`jobs:\n  a:\n    script: jobs/behave.ts\n${between}   retries: 1\n`);
  const line5 = ["jobs.yaml:5:4 YAML: All mapping items must start at the same column"];
  assertEquals(at("\n"), line5); // a blank line between the job's keys
  assertEquals(at("      \n"), line5); // one of spaces only
  assertEquals(at("   # retried once\n"), line5); // a comment
  assertEquals(at("\n  # retried once\n\n"), [
    "jobs.yaml:7:4 YAML: All mapping items must start at the same column",
  ]);
});

Deno.test("a second YAML document is named where it starts, in words about the manifest", () => {
  // Not the parser's "please use YAML.parseAllDocuments()", which names its API.
  const second = "YAML: a second document starts here (after --- or ...): the manifest is one " +
    "YAML document";
  const one = "jobs:\n  a: {script: jobs/behave.ts}\n";
  assertEquals(findings(`${one}---\npipelines: {}\n`), [`jobs.yaml:3:1 ${second}`]);
  assertEquals(findings(`${one}...\npipelines: {}\n`), [`jobs.yaml:4:1 ${second}`]);
  // One document with its markers is one document.
  assertEquals([...parseManifest(`---\n${one}...\n`, { root: ROOT }).jobs.keys()], ["a"]);
});

Deno.test("every class of manifest error is reported at once, in file order", () => {
  const text = `settings:
  concurency: 2
  timezone: Mars/Olympus
pipelines:
  daily:
    schedule: "61 1 * * *"
    jobs: [a, ghost]
    color: blue
  hourly:
    schedule: "0 * * *"
    timezone: Africa/Cairo
    jobs: [a]
jobs:
  a:
    script: jobs/behave.ts
    depends_on: [b]
    retry: 2
  b:
    script: jobs/behave.ts
    depends_on: [a]
    timeout: 30
  c:
    script: jobs/missing.ts
    depends_on: [nowhere]
    retry_backoff: 5 minutes
  a:
    script: jobs/behave.ts
  d:
    script: jobs/behave.ts
    permissions:
      net: ["https://example.com", "example.com:99999"]
      read: ["a,b"]
      env: [BAD-NAME]
      sys: [kernel]
      run: [deno]
      ffi: maybe
  Bad_Id:
    description: no script here
`;
  assertEquals(findings(text), [
    'jobs.yaml:2:3 unknown key "concurency" in settings (known: concurrency, kill_grace, timezone, overlap)',
    'jobs.yaml:3:13 unknown time zone "Mars/Olympus"',
    'jobs.yaml:6:15 pipeline daily: schedule "61 1 * * *": minute 61 is out of range (0-59)',
    'jobs.yaml:7:15 pipeline daily lists unknown job "ghost"',
    'jobs.yaml:8:5 unknown key "color" in pipeline daily (known: description, jobs, schedule, timezone, overlap, concurrency)',
    'jobs.yaml:10:15 pipeline hourly: schedule "0 * * *" must have 5 fields (minute hour day month weekday)',
    "jobs.yaml:16:18 dependency cycle: a -> b -> a",
    'jobs.yaml:17:5 unknown key "retry" in job a (known: description, script, args, depends_on, trigger, permissions, env, retries, retry_backoff, timeout)',
    "jobs.yaml:21:14 job b: timeout must be a duration like 500ms, 30s, 5m, 2h, 1d (got 30)",
    `jobs.yaml:23:13 job c: script "jobs/missing.ts" does not exist (looked for ${ROOT}/jobs/missing.ts)`,
    'jobs.yaml:24:18 job c depends on unknown job "nowhere"',
    'jobs.yaml:25:20 job c: retry_backoff must be a duration like 500ms, 30s, 5m, 2h, 1d (got "5 minutes")',
    'jobs.yaml:26:3 duplicate key "a" (each id and key may appear once)',
    'jobs.yaml:31:13 job d: permissions: net entry "https://example.com" is a URL: give host or host:port (example.com)',
    'jobs.yaml:31:36 job d: permissions: net entry "example.com:99999" has a bad port (1-65535)',
    'jobs.yaml:32:14 job d: permissions: path "a,b" contains a comma (deno flag lists use commas)',
    'jobs.yaml:33:13 job d: permissions: env entry "BAD-NAME" is not a variable name (letters, digits, _; optional trailing *)',
    'jobs.yaml:34:13 job d: permissions: sys entry "kernel" is not one of loadavg, hostname, systemMemoryInfo, networkInterfaces, osRelease, osUptime, uid, gid, username, cpus, homedir, statfs, getPriority, setPriority, ca, umask',
    'jobs.yaml:35:7 unknown key "run" in job d: permissions: a job is never given --allow-run (starting a process escapes its sandbox)',
    "jobs.yaml:36:12 job d: permissions.ffi must be true or false",
    'jobs.yaml:37:3 job id "Bad_Id" must be snake_case (a-z, 0-9, _)',
    'jobs.yaml:37:3 job Bad_Id: missing "script"',
  ]);
});

Deno.test("a schedule that can never fire is reported with the other findings", () => {
  // February 30 and April 31 do not exist; February 29 does (in leap years), and with a weekday
  // cron matches either (day of month OR weekday), so both of those fire.
  assertEquals(
    findings(`pipelines:
  feb30:
    schedule: "0 0 30 2 *"
    jobs: [a]
  apr31:
    schedule: "15 6 31 4 *"
    timezone: UTC
    jobs: [a]
  leap:
    schedule: "0 0 29 2 *"
    jobs: [a]
  feb31_or_monday:
    schedule: "0 0 31 2 1"
    jobs: [a]
jobs:
  a:
    script: jobs/behave.ts
    retries: lots
`),
    [
      'jobs.yaml:3:15 pipeline feb30: schedule "0 0 30 2 *" never fires (no date matches it)',
      'jobs.yaml:6:15 pipeline apr31: schedule "15 6 31 4 *" never fires (no date matches it)',
      "jobs.yaml:18:14 job a: retries must be an integer >= 0",
    ],
  );
});

Deno.test("a cron number out of its field's range is named as written, with the range", () => {
  // croner's own message counts days and months from 0: "0 0 32 * *" was "Invalid value for
  // day: 31", "0 0 * 0 *" was "month: -1".
  const problem = (pattern: string) =>
    findings(
      `pipelines:\n  p: {schedule: "${pattern}", jobs: [a]}\njobs:\n  a: {script: jobs/behave.ts}\n`,
    )
      .map((l) => l.replace(/^jobs\.yaml:2:\d+ pipeline p: /, ""));
  assertEquals(problem("0 0 32 * *"), [
    'schedule "0 0 32 * *": day of month 32 is out of range (1-31)',
  ]);
  assertEquals(problem("0 0 0 * *"), [
    'schedule "0 0 0 * *": day of month 0 is out of range (1-31)',
  ]);
  assertEquals(problem("0 0 * 1-13 *"), [
    'schedule "0 0 * 1-13 *": month 13 is out of range (1-12)',
  ]);
  assertEquals(problem("0 0 * 0 *"), ['schedule "0 0 * 0 *": month 0 is out of range (1-12)']);
  assertEquals(problem("0 0 32W * *"), [
    'schedule "0 0 32W * *": day of month 32 is out of range (1-31)',
  ]);
  assertEquals(problem("60 0 * * *"), ['schedule "60 0 * * *": minute 60 is out of range (0-59)']);
  assertEquals(problem("0 0 * * 8#2"), ['schedule "0 0 * * 8#2": weekday 8 is out of range (0-7)']);
  // In range, with names, steps, L, W and #: valid.
  const ok = parseManifest(
    `pipelines:
  p: {schedule: "*/15 0-23/2 1,15W,L JAN-DEC 0-7/2", jobs: [a]}
  q: {schedule: "59 23 31 12 5#3", jobs: [a]}
jobs:
  a: {script: jobs/behave.ts}
`,
    { root: ROOT },
  );
  assertEquals(ok.pipelines.size, 2);
});

Deno.test("job and pipeline ids longer than 64 characters are findings (a job's id names its log files)", () => {
  const long = (n: number) => "j" + "x".repeat(n - 1);
  assertEquals(
    findings(`pipelines:
  ${long(65)}:
    jobs: [${long(64)}]
jobs:
  ${long(64)}:
    script: jobs/behave.ts
  ${long(251)}:
    script: jobs/behave.ts
    retries: lots
`),
    [
      `jobs.yaml:2:3 pipeline id "${long(20)}..." is too long: 65 characters (at most 64)`,
      `jobs.yaml:7:3 job id "${long(20)}..." is too long: 251 characters (at most 64)`,
      "jobs.yaml:9:14 job j" + "x".repeat(250) + ": retries must be an integer >= 0",
    ],
  );
});

Deno.test("a self-dependency, a longer cycle and an id shared by a job and a pipeline are named", () => {
  const lines = findings(`pipelines:
  x:
    jobs: [x]
jobs:
  x:
    script: jobs/behave.ts
    depends_on: [x]
  p:
    script: jobs/behave.ts
    depends_on: [r]
  q:
    script: jobs/behave.ts
    depends_on: [p]
  r:
    script: jobs/behave.ts
    depends_on: [q]
  s:
    script: jobs/behave.ts
    depends_on: [p, q, p]
`);
  assertEquals(lines, [
    'jobs.yaml:2:3 pipeline id "x" is also a job id: ids must be unique',
    "jobs.yaml:7:18 job x depends on itself",
    "jobs.yaml:10:18 dependency cycle: p -> r -> q -> p",
    'jobs.yaml:19:24 job s lists dependency "p" twice',
  ]);
});

Deno.test("wrong value types are reported instead of being coerced", () => {
  assertEquals(
    findings(`jobs:
  a:
    script: jobs/behave.ts
    args: {x: 1}
    retries: -1
    timeout: 30d
    trigger: sometimes
    env: {OK: yes, "1BAD": x, LIST: [1]}
    permissions: [net]
`),
    [
      "jobs.yaml:4:11 job a: args must be a list",
      "jobs.yaml:5:14 job a: retries must be an integer >= 0",
      'jobs.yaml:6:14 job a: timeout must be at most 24d (got "30d")',
      'jobs.yaml:7:14 job a: trigger must be one of all_ok, none_failed, all_done (got "sometimes")',
      'jobs.yaml:8:20 job a: env name "1BAD" is not a variable name',
      "jobs.yaml:8:37 job a: env LIST must be a string, number or boolean",
      "jobs.yaml:9:18 job a: permissions must be a mapping",
    ],
  );
});

Deno.test("a key that is not a string and a dependency that is not a string are each reported once", () => {
  assertEquals(
    findings(`settings: {true: 1}
jobs:
  a: {script: jobs/behave.ts, depends_on: [~, [b], 3]}
`),
    [
      "jobs.yaml:1:12 keys must be plain strings",
      "jobs.yaml:3:44 job a: depends_on items must be strings",
      "jobs.yaml:3:47 job a: depends_on items must be strings",
      "jobs.yaml:3:52 job a: depends_on items must be strings",
    ],
  );
});

Deno.test("a pipeline without jobs is a finding", () => {
  assertEquals(
    findings(`jobs:
  a: {script: jobs/behave.ts}
pipelines:
  p: {jobs: []}
  q: {jobs: [a]}
`),
    ["jobs.yaml:4:13 pipeline p: jobs is empty (a pipeline runs at least one job)"],
  );
});

Deno.test("an alias to an anchor not defined before it is a finding, not an empty value", () => {
  // The parser resolves such an alias to nothing and says nothing: `permissions: *perms` ran
  // the job with no permissions, `env: *envs` with no variables, both accepted as valid.
  const text = `jobs:
  a:
    script: jobs/behave.ts
    permissions: *perms
    env: *envs
  b:
    script: jobs/behave.ts
    permissions: *later
    args: &args [--say, hi]
  c:
    script: jobs/behave.ts
    args: *args
    permissions: &later {read: [data]}
`;
  assertEquals(findings(text), [
    "jobs.yaml:4:18 alias *perms names no anchor &perms defined before it",
    "jobs.yaml:5:10 alias *envs names no anchor &envs defined before it",
    "jobs.yaml:8:18 alias *later names no anchor &later defined before it",
  ]);
  // Defined before their aliases, the same anchors are fine.
  const m = parseManifest(
    `jobs:
  c:
    script: jobs/behave.ts
    args: &args [--say, hi]
    permissions: &later {read: [data]}
  b:
    script: jobs/behave.ts
    permissions: *later
    args: *args
`,
    { root: ROOT },
  );
  assertEquals(m.jobs.get("b")!.args, ["--say", "hi"]);
  assertEquals(m.jobs.get("b")!.permissions.read, ["data"]);
});

Deno.test("aliases and duplicate keys in one pass: thousands of jobs sharing an anchor, duplicates once each", () => {
  // The parser's alias.resolve(doc) walks the whole document at every call: 3000 jobs sharing
  // their permissions through one anchor took 21 s here (0.3 s with one pass); its duplicate-key
  // check compares each key with all before it. (Not timed here: tests assert behaviour.)
  const many = [
    "jobs:",
    "  j0:",
    "    script: jobs/behave.ts",
    "    permissions: &p {read: [data]}",
  ];
  for (let i = 1; i < 3000; i++) many.push(`  j${i}: {script: jobs/behave.ts, permissions: *p}`);
  const m = parseManifest(many.join("\n") + "\n", { root: ROOT });
  assertEquals([m.jobs.size, m.jobs.get("j2999")!.permissions.read], [3000, ["data"]]);
  // Duplicates are found in every mapping, block or flow, once each (an anchored mapping's once,
  // however often it is aliased).
  assertEquals(
    findings(`jobs:
  a:
    script: jobs/behave.ts
    env: &env {X: "1", Y: "2", X: "3"}
    permissions: {read: [data], read: [var]}
  b: {script: jobs/behave.ts, env: *env}
  a: {script: jobs/behave.ts}
`),
    [
      'jobs.yaml:4:32 duplicate key "X" (each id and key may appear once)',
      'jobs.yaml:5:33 duplicate key "read" (each id and key may appear once)',
      'jobs.yaml:7:3 duplicate key "a" (each id and key may appear once)',
    ],
  );
  // A key repeated through an alias (`*k :`) is a duplicate too: the parser let it through, and
  // the first job won while the last permission did.
  assertEquals(
    findings(`jobs:
  &k a: {script: jobs/behave.ts, permissions: {&r read: [x], *r : [y]}}
  *k : {script: jobs/behave.ts, permissions: {ffi: true}}
`),
    [
      'jobs.yaml:2:62 duplicate key "read" (each id and key may appear once)',
      'jobs.yaml:3:3 duplicate key "a" (each id and key may appear once)',
    ],
  );
});

Deno.test("variables that load native code (LD_PRELOAD...) are refused for a job without ffi", () => {
  assertEquals(
    findings(`jobs:
  a: {script: jobs/behave.ts, env: {LD_PRELOAD: /tmp/x.so}, permissions: {env: [LD_LIBRARY_PATH, DYLD_*, LANG]}}
  b: {script: jobs/behave.ts, env: {LD_PRELOAD: /tmp/x.so}, permissions: {ffi: true, env: [LD_*]}}
`),
    [
      "jobs.yaml:2:37 job a: env LD_PRELOAD makes the loader load native code into the job (as " +
      "ffi does): only for a job with ffi: true",
      "jobs.yaml:2:81 job a: permissions.env: LD_LIBRARY_PATH makes the loader load native code " +
      "into the job (as ffi does): only for a job with ffi: true",
      "jobs.yaml:2:98 job a: permissions.env: DYLD_* makes the loader load native code into the " +
      "job (as ffi does): only for a job with ffi: true",
    ],
  );
});

Deno.test("a pattern never passes a job without ffi what the loader reads (LD_*, DYLD_*)", () => {
  const source = { PATH: "/bin", LANG: "C", LD_PRELOAD: "/tmp/x.so", LD_LIBRARY_PATH: "/tmp" };
  const pick = (env: Record<string, string>) =>
    Object.keys(env).filter((k) => k !== "PATH" && k in source);
  assertEquals(pick(childEnv(["L*"], source)), ["LANG"]);
  assertEquals(pick(childEnv(["L*"], source, {}, { ffi: true })), [
    "LANG",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
  ]);
});

Deno.test("a NUL byte in an argument or a fixed variable is a finding, not a job that cannot start", () => {
  assertEquals(
    findings(`jobs:
  a: {script: jobs/behave.ts, args: [ok, "a\\0b"], env: {X: "c\\0d", Y: fine}}
`),
    [
      'jobs.yaml:2:42 job a: args: "a\\u0000b" contains a NUL byte',
      "jobs.yaml:2:60 job a: env X contains a NUL byte",
    ],
  );
});

Deno.test("an empty file and a file without jobs are errors", () => {
  assertEquals(findings(""), [
    "jobs.yaml:1:1 the manifest is empty",
    'jobs.yaml:1:1 the manifest needs a "jobs" mapping',
  ]);
  assertEquals(findings("pipelines: {}\n"), ['jobs.yaml:1:1 the manifest needs a "jobs" mapping']);
});

Deno.test("a manifest that is a list or a scalar is said to be no mapping, not also empty", () => {
  for (const text of ["- jobs\n- pipelines\n", "jobs\n", "42\n"]) {
    assertEquals(findings(text), ["jobs.yaml:1:1 the manifest must be a mapping"]);
  }
  assertEquals(findings("{}\n"), [
    "jobs.yaml:1:1 the manifest is empty",
    'jobs.yaml:1:1 the manifest needs a "jobs" mapping',
  ]);
});

Deno.test("the project's jobs.yaml is valid and schedules full_pipeline and transformations in Cairo", () => {
  const m = loadManifest(`${REPO}/jobs.yaml`);
  const full = m.pipelines.get("full_pipeline")!;
  const tr = m.pipelines.get("transformations")!;
  assertEquals([full.schedule, full.timezone], ["0 1 * * *", "Africa/Cairo"]);
  assertEquals([tr.schedule, tr.timezone], ["0 2,14 * * *", "Africa/Cairo"]);
  assertEquals(full.jobs.at(-1), "cleanup");
  assertEquals(m.jobs.get("cleanup")!.script, "jobs/cleanup.ts");
});

Deno.test("s3_check's flags from jobs.yaml: defaults, a landing that is an S3 URL (no path to allow), no entry twice", () => {
  const m = loadManifest(`${REPO}/jobs.yaml`);
  const flags = (source: Record<string, string>) => {
    const argv = jobCommand(m, m.jobs.get("s3_check")!, { source, deno: "deno" }).argv;
    return argv.filter((a) => /^--allow-(net|read|write)=/.test(a));
  };
  assertEquals(flags({}), [
    "--allow-net=127.0.0.1",
    "--allow-read=data,var,data/egx.duckdb,data/sample",
    "--allow-write=data,var,data/egx.duckdb",
  ]);
  assertEquals(
    flags({
      EGX_LANDING: "s3://egx-landing/daily/",
      EGX_WAREHOUSE: "/srv/egx/egx.duckdb",
      EGX_S3_NET: "s3.eu-west-1.amazonaws.com",
      SNOWFLAKE_PRIVATE_KEY_PATH: "/etc/egx/key.p8",
    }),
    [
      "--allow-net=s3.eu-west-1.amazonaws.com,127.0.0.1",
      "--allow-read=data,var,/srv/egx/egx.duckdb,/etc/egx/key.p8",
      "--allow-write=data,var,/srv/egx/egx.duckdb",
    ],
  );
});

Deno.test("cycles are found by depth-first search in dependency order", () => {
  const m = parseManifest(
    "jobs:\n  a: {script: jobs/behave.ts}\n  b: {script: jobs/behave.ts, depends_on: [a]}\n",
    { root: ROOT },
  );
  assertEquals(findCycles(m.jobs), []);
});

const DAG = parseManifest(
  `pipelines:
  all:
    jobs: [extract, load, validate, model, report]
  models:
    jobs: [model, report]
jobs:
  extract: {script: jobs/behave.ts}
  load: {script: jobs/behave.ts, depends_on: [extract]}
  side: {script: jobs/behave.ts}
  validate: {script: jobs/behave.ts, depends_on: [load], trigger: none_failed}
  model: {script: jobs/behave.ts, depends_on: [validate]}
  report: {script: jobs/behave.ts, depends_on: [model, side]}
`,
  { root: ROOT },
);

Deno.test("a plan orders the pipeline's jobs by dependency and drops edges leaving the pipeline", () => {
  const p = planRun(DAG, "all");
  assertEquals(p.jobs.map((j) => j.id), ["extract", "load", "validate", "model", "report"]);
  assertEquals(p.deps.get("report"), ["model"]);
  const models = planRun(DAG, "models");
  assertEquals(models.jobs.map((j) => j.id), ["model", "report"]);
  assertEquals(models.deps.get("model"), []);
});

Deno.test("ties in a plan follow the pipeline's list, not the order of the jobs: section", () => {
  // `check` is defined last and depends on nothing: listed first, it is planned (and, at
  // concurrency 1, run) first; `late` after `load`, as listed, though defined before `extract`.
  const m = parseManifest(
    `pipelines:
  p:
    jobs: [check, extract, load, late]
jobs:
  late: {script: jobs/behave.ts}
  extract: {script: jobs/behave.ts}
  load: {script: jobs/behave.ts, depends_on: [extract]}
  check: {script: jobs/behave.ts}
`,
    { root: ROOT },
  );
  assertEquals(planRun(m, "p").jobs.map((j) => j.id), ["check", "extract", "load", "late"]);
  assertEquals(planRun(m, "p", { only: ["late", "load", "check"] }).jobs.map((j) => j.id), [
    "check",
    "load",
    "late",
  ]);
  // The real pipelines: the health check first, cleanup last.
  const real = loadManifest(`${REPO}/jobs.yaml`);
  for (const p of ["full_pipeline", "transformations"]) {
    const ids = planRun(real, p).jobs.map((j) => j.id);
    assertEquals([ids[0], ids.length], [
      "health_check",
      real.pipelines.get(p)!.jobs.length,
    ], p);
  }
  assertEquals(planRun(real, "full_pipeline").jobs.at(-1)!.id, "cleanup");
});

Deno.test("--from keeps a job and its downstream, --only keeps the named jobs", () => {
  assertEquals(planRun(DAG, "all", { from: "validate" }).jobs.map((j) => j.id), [
    "validate",
    "model",
    "report",
  ]);
  assertEquals(planRun(DAG, "all", { only: ["report", "load"] }).jobs.map((j) => j.id), [
    "load",
    "report",
  ]);
  assertEquals(
    planRun(DAG, "all", { from: "load", only: ["extract", "model"] }).jobs.map((j) => j.id),
    ["model"],
  );
  assertEquals(planRun(DAG, "side").jobs.map((j) => j.id), ["side"]);
});

Deno.test("an unknown target or a --only/--from outside the target is a usage error", () => {
  assertEquals(
    assertThrows(() => planRun(DAG, "nope"), UsageError).message,
    'unknown pipeline or job "nope" in jobs.yaml (have: all, models, extract, load, side, validate, model, report)',
  );
  assertEquals(
    assertThrows(() => planRun(DAG, "models", { only: ["load"] }), UsageError).message,
    "--only load: not part of pipeline models (pipeline models has: model, report)",
  );
  assertEquals(
    assertThrows(() => planRun(DAG, "models", { from: "extract" }), UsageError).message,
    "--from extract: not part of pipeline models (pipeline models has: model, report)",
  );
  // A name no job has (a typo) is said to be one.
  assertEquals(
    assertThrows(() => planRun(DAG, "models", { only: ["model", "reprot"] }), UsageError).message,
    "--only reprot: no job reprot in jobs.yaml (pipeline models has: model, report)",
  );
  assertEquals(
    assertThrows(() => planRun(DAG, "side", { from: "sid" }), UsageError).message,
    "--from sid: no job sid in jobs.yaml (job side has: side)",
  );
  // `--only ,` (the CLI drops empty names): nothing named, which is not "nothing in common".
  assertEquals(
    assertThrows(() => planRun(DAG, "models", { only: [] }), UsageError).message,
    "--only names no job (give --only a,b)",
  );
});

Deno.test("jobs.schema.json allows exactly the keys and values the parser accepts", () => {
  const schema = JSON.parse(Deno.readTextFileSync(`${REPO}/jobs.schema.json`));
  const keys = (o: { properties: Record<string, unknown> }) => Object.keys(o.properties);
  assertEquals(keys(schema), TOP_KEYS);
  assertEquals(keys(schema.properties.settings), SETTINGS_KEYS);
  assertEquals(keys(schema.properties.defaults), DEFAULTS_KEYS);
  assertEquals(keys(schema.$defs.pipeline), PIPELINE_KEYS);
  assertEquals(keys(schema.$defs.job), JOB_KEYS);
  assertEquals(keys(schema.$defs.permissions), [...PERMISSION_KEYS]);
  assertEquals(schema.$defs.permissions.properties.sys.oneOf[1].items.enum, [...SYS_KINDS]);
  assertEquals(schema.$defs.job.properties.trigger.enum, [...TRIGGERS]);
  assertEquals(schema.$defs.id.maxLength, MAX_ID_LENGTH);
});

Deno.test("a zero duration is said to be too short, and jobs.schema.json refuses it too", () => {
  // "0s" is a duration: "must be a duration like 500ms, 30s..." did not say what was wrong.
  assertEquals(
    findings(`defaults: {retry_backoff: 0ms}
settings: {kill_grace: 00s}
jobs:
  a: {script: jobs/behave.ts, timeout: 0m, retry_backoff: 0}
`),
    [
      'jobs.yaml:1:27 retry_backoff must be longer than 0 (got "0ms")',
      'jobs.yaml:2:24 kill_grace must be longer than 0 (got "00s")',
      'jobs.yaml:4:40 job a: timeout must be longer than 0 (got "0m")',
      "jobs.yaml:4:59 job a: retry_backoff must be a duration like 500ms, 30s, 5m, 2h, 1d (got 0)",
    ],
  );
  const schema = JSON.parse(Deno.readTextFileSync(`${REPO}/jobs.schema.json`));
  const pattern = new RegExp(schema.$defs.duration.pattern);
  for (const v of ["0s", "00m", "0ms", "1ms", "30s", "010s", "5m", "2h", "24d", "5 m", "1y", "s"]) {
    const parsed = (() => {
      try {
        parseManifest(`jobs:\n  a: {script: jobs/behave.ts, timeout: "${v}"}\n`, { root: ROOT });
        return true;
      } catch {
        return false;
      }
    })();
    assertEquals(pattern.test(v), parsed, v);
  }
});

Deno.test("no job may be granted write access to the runner's own folder (its manifest cache)", () => {
  const bad = (entry: string) =>
    `write path "${entry}" holds the runner's own folder ${ROOT}/.egx-runner (its cache of the ` +
    "validated manifest): a job that can write there could raise any job's permissions; grant " +
    "the folders the job writes instead";
  assertEquals(
    findings(
      "jobs:\n  a:\n    script: jobs/behave.ts\n    permissions:\n" +
        '      write: [".", .egx-runner, "/", sub/.., data, "${LOGS:-logs}"]\n',
    ),
    [".", ".egx-runner", "/", "sub/.."].map((e, i) =>
      `jobs.yaml:5:${[15, 20, 33, 38][i]} job a: permissions: ${bad(e)}`
    ),
  );
  // A ${VAR} entry is checked once expanded, when the job's command is built.
  const m = parseManifest(
    'jobs:\n  a: {script: jobs/behave.ts, permissions: {write: ["${LOGS:-logs}"]}}\n',
    { root: ROOT },
  );
  const cmd = (LOGS?: string) =>
    jobCommand(m, m.jobs.get("a")!, { source: LOGS ? { LOGS } : {}, deno: "deno" });
  assert(cmd().argv.includes("--allow-write=logs"));
  assert(cmd("/var/log/egx").argv.includes("--allow-write=/var/log/egx"));
  const err = assertThrows(() => cmd(ROOT), Error);
  assertEquals(err.message, bad(ROOT));
});

Deno.test("the validated manifest is cached in the runner's folder beside it, not in the log folder", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "runner_manifest_" });
  try {
    Deno.writeTextFileSync(`${tmp}/noop.ts`, "export {};\n");
    const path = `${tmp}/jobs.yaml`;
    Deno.writeTextFileSync(path, "jobs:\n  a: {script: noop.ts, permissions: {write: [logs]}}\n");
    const m = await loadManifestCached(path);
    assertEquals(m.jobs.get("a")!.permissions.write, ["logs"]);
    const file = `${tmp}/.egx-runner/jobs.yaml.json`;
    assertEquals(manifestCachePath(path, tmp), file);
    const doc = JSON.parse(Deno.readTextFileSync(file));
    assertEquals(doc.manifest.jobs[0].permissions.write, ["logs"]);
    // Answered from the cache while the text is the same: what the file says is what runs.
    doc.manifest.jobs[0].description = "from the cache";
    Deno.writeTextFileSync(file, JSON.stringify(doc));
    assertEquals((await loadManifestCached(path)).jobs.get("a")!.description, "from the cache");
    // A cache that is not JSON is validated again and rewritten.
    Deno.writeTextFileSync(file, "{");
    assertEquals((await loadManifestCached(path)).jobs.get("a")!.description, "");
    assertEquals(JSON.parse(Deno.readTextFileSync(file)).key, doc.key);
    // A write path that came to hold the runner's folder since (a link made after the check)
    // is refused at the next load, as by the full validation: the cache does not keep it valid.
    Deno.symlinkSync(".", `${tmp}/logs`);
    const err = await loadManifestCached(path).then(() => undefined, (e) => e);
    assert(err instanceof Error, "refused");
    assertEquals(
      err.message.split("\n").at(-1),
      `${path}:2:46 job a: permissions: write path "logs" holds the runner's own folder ` +
        `${tmp}/.egx-runner (its cache of the validated manifest): a job that can write there ` +
        "could raise any job's permissions; grant the folders the job writes instead",
    );
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("a secret variable is refused in an argument or a permission entry (a command line is public)", () => {
  const secret = (name: string) =>
    `\${${name}} is a secret: it would be on the job's command line, which every local user can ` +
    "read; declare it in permissions.env and let the job read it";
  assertEquals(
    findings(
      "jobs:\n  a:\n    script: jobs/behave.ts\n" +
        '    args: ["--smtp=${EGX_SMTP_URL}", "--who=${USER:-me}"]\n' +
        '    permissions: {net: ["${SNOWFLAKE_ACCESS_URL}"], read: ["${AWS_SECRET_ACCESS_KEY:-x}"]}\n',
    ),
    [
      `jobs.yaml:4:12 job a: args: ${secret("EGX_SMTP_URL")}`,
      `jobs.yaml:5:25 job a: permissions: ${secret("SNOWFLAKE_ACCESS_URL")}`,
      `jobs.yaml:5:60 job a: permissions: ${secret("AWS_SECRET_ACCESS_KEY")}`,
    ],
  );
  // A manifest validated before the rule (a cache of older rules) still never expands one.
  const m = parseManifest('jobs:\n  a: {script: jobs/behave.ts, args: ["--who=${USER:-me}"]}\n', {
    root: ROOT,
  });
  m.jobs.get("a")!.args.push("--pw=${SNOWFLAKE_PASSWORD:-unset}");
  const source = { USER: "egx", SNOWFLAKE_PASSWORD: "Sf-Pa55-secret" };
  const argv = jobCommand(m, m.jobs.get("a")!, { source, deno: "deno" }).argv;
  assertEquals(argv.slice(-2), ["--who=egx", "--pw=unset"]);
});

Deno.test("a command line shown to people masks a secret before quoting it for sh", () => {
  registerSecrets((k) => (k === "SNOWFLAKE_PASSWORD" ? "Sf-Pa55'secret" : undefined));
  assertEquals(
    shellLine(["deno", "run", "x.ts", "--say", "login as sf_user:Sf-Pa55'secret refused"]),
    "deno run x.ts --say 'login as sf_user:*** refused'",
  );
});

/** Cache `stored` for the manifest at `path` (absolute) under `key`, as a runner would. */
function cacheAs(path: string, key: string, stored: unknown) {
  const file = manifestCachePath(path, path.slice(0, path.lastIndexOf("/")));
  Deno.mkdirSync(file.slice(0, file.lastIndexOf("/")), { recursive: true });
  Deno.writeTextFileSync(file, JSON.stringify({ key, manifest: stored }));
}

Deno.test("a manifest cached as valid under older rules is validated again", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "runner_manifest_" });
  try {
    Deno.writeTextFileSync(`${tmp}/noop.ts`, "export {};\n");
    const id = "j".repeat(65); // too long since ids are limited to 64 characters
    const text = `jobs:\n  ${id}: {script: noop.ts}\n`;
    const path = `${tmp}/jobs.yaml`;
    Deno.writeTextFileSync(path, text);
    // As a runner before the rule would have cached it (its key had no rules version).
    const stored = { settings: {}, jobs: [{ id, script: "noop.ts" }], pipelines: [] };
    cacheAs(path, `${path}\0${Deno.version.deno}\0${text}`, stored);
    const err = await loadManifestCached(path).then(() => undefined, (e) => e);
    assert(err instanceof ManifestError, String(err));
    assertEquals(
      err.findings.map((f) => f.message),
      [`job id "${id.slice(0, 20)}..." is too long: 65 characters (at most 64)`],
    );
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("bytes that are not UTF-8 are findings (one per line, at the first), not U+FFFD in a job", async () => {
  const tmp = Deno.makeTempDirSync({ prefix: "runner_manifest_" });
  try {
    Deno.writeTextFileSync(`${tmp}/noop.ts`, "export {};\n");
    // Latin-1 "café" twice on one line, 0xff after a well-formed é, a UTF-16 surrogate (ED A0 80)
    // and a sequence cut short by the end of its line.
    const head = "jobs:\n  a:\n    script: noop.ts\n";
    const bytes = new Uint8Array([
      ...new TextEncoder().encode(`${head}    description: "caf`),
      0xe9,
      0x20,
      0xe9,
      ...new TextEncoder().encode(`"\n    args: ["\u00e9`),
      0xff,
      ...new TextEncoder().encode(`", "`),
      0xed,
      0xa0,
      0x80,
      ...new TextEncoder().encode(`"]\n    env: {X: "`),
      0xe2,
      0x82,
      ...new TextEncoder().encode(`"}\n`),
    ]);
    const path = `${tmp}/jobs.yaml`;
    Deno.writeFileSync(path, bytes);
    const expected = [
      "4:22 not UTF-8 (byte 0xe9): save the file as UTF-8",
      "5:14 not UTF-8 (byte 0xff): save the file as UTF-8",
      "6:15 not UTF-8 (byte 0xe2): save the file as UTF-8",
    ];
    const shown = (e: ManifestError) => e.findings.map((f) => `${f.line}:${f.col} ${f.message}`);
    assertEquals(shown(assertThrows(() => loadManifest(path), ManifestError)), expected);
    // Also when a runner that read the file leniently cached it as valid (U+FFFD in its text).
    const lenient = new TextDecoder().decode(bytes);
    const stored = { settings: {}, jobs: [{ id: "a", script: "noop.ts" }], pipelines: [] };
    cacheAs(path, `${path}\0${Deno.version.deno}\0rules ${MANIFEST_RULES}\0${lenient}`, stored);
    const err = await loadManifestCached(path).then(() => undefined, (e) => e);
    assert(err instanceof ManifestError, String(err));
    assertEquals(shown(err), expected);
    // A byte order mark is UTF-8, and still accepted.
    Deno.writeTextFileSync(path, `\ufeff${head}`);
    assertEquals([...loadManifest(path).jobs.keys()], ["a"]);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("a byte order mark does not shift the columns of line 1's findings", () => {
  const tmp = Deno.makeTempDirSync({ prefix: "runner_manifest_" });
  try {
    Deno.writeTextFileSync(`${tmp}/noop.ts`, "export {};\n");
    const path = `${tmp}/jobs.yaml`;
    const shown = (e: ManifestError) => e.findings.map((f) => `${f.line}:${f.col} ${f.message}`);
    // Notepad and Excel save UTF-8 with one: the mark is not a column.
    Deno.writeTextFileSync(path, "\ufeffjobz: 1\njobs: {a: {script: noop.ts, bad: 1}}\n");
    assertEquals(shown(assertThrows(() => loadManifest(path), ManifestError)), [
      '1:1 unknown key "jobz" in the manifest (known: settings, defaults, pipelines, jobs)',
      `2:29 unknown key "bad" in job a (known: ${JOB_KEYS.join(", ")})`,
    ]);
    Deno.writeTextFileSync(path, "\ufeff{jobs: {a: {script: noop.ts, bad: 1}}}\n");
    assertEquals(shown(assertThrows(() => loadManifest(path), ManifestError)), [
      `1:30 unknown key "bad" in job a (known: ${JOB_KEYS.join(", ")})`,
    ]);
    Deno.writeFileSync(
      path,
      new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("# caf"), 0xe9, 0x0a]),
    );
    assertEquals(shown(assertThrows(() => loadManifest(path), ManifestError)), [
      "1:6 not UTF-8 (byte 0xe9): save the file as UTF-8",
    ]);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

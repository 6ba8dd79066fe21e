/**
 * The jobs models_run, models_test and docs_generate as the runner starts them: separate
 * `deno run` processes with exactly the permissions in their header comment, a cleared
 * environment, and their exit codes (0 ok, 1 failed, 2 bad usage).
 */
import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { join } from "node:path";
import { copyDir, fixtureWarehouse, REPO } from "./models_fixture.ts";
import { denoCacheEnv, denoOutput, type ProcessOutput } from "./support/processes.ts";

/**
 * The permission flags of the `deno run` line in a job's header comment, word for word, except
 * that `node_modules` is the repository's (the jobs run in a temporary working directory).
 */
async function headerFlags(script: string): Promise<string[]> {
  const src = await Deno.readTextFile(`${REPO}/jobs/${script}`);
  const header = /^\/\*\*([\s\S]*?)\*\//.exec(src)![1].replace(/\\\n\s*\*\s*/g, " ");
  const words = /deno run (.*)/.exec(header)![1].trim().split(/\s+/)
    .map((w) => w.replace(/^'([^']*)'$/, "$1")); // a shell's quotes (around a `*`)
  const flags = words.slice(0, words.indexOf(`jobs/${script}`));
  assert(flags.length > 0 && flags.every((f) => f.startsWith("--allow-")), flags.join(" "));
  return flags.map((f) => f.replace(/([=,])node_modules(?=,|$)/, `$1${REPO}/node_modules`));
}

async function job(
  cwd: string,
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ProcessOutput> {
  const flags = await headerFlags(script);
  return denoOutput([
    "run",
    `--config=${REPO}/deno.json`,
    ...flags,
    `${REPO}/jobs/${script}`,
    ...args,
  ], {
    cwd,
    env: { EGX_WAREHOUSE: "data/egx.duckdb", ...denoCacheEnv(), ...env },
  });
}

/** A working directory like the repository's: models/ (a copy) and data/egx.duckdb (fixtures). */
async function workdir(): Promise<string> {
  const fx = await fixtureWarehouse();
  await fx.wh.close();
  const dir = await Deno.makeTempDir({ prefix: "egx_jobs_" });
  await Deno.mkdir(join(dir, "data"));
  await Deno.rename(join(fx.dir, "egx.duckdb"), join(dir, "data/egx.duckdb"));
  await Deno.remove(fx.dir, { recursive: true });
  await copyDir(join(REPO, "models"), join(dir, "models"));
  return dir;
}

Deno.test("each models job answers --help, and a bad flag is a usage error", async () => {
  for (const script of ["models_run.ts", "models_test.ts", "docs_generate.ts"]) {
    const r = await job(REPO, script, ["--help"]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, new RegExp(`^Usage: jobs/${script}`));
    const bad = await job(REPO, script, ["--no-such-flag"]);
    assertEquals(bad.code, 2, bad.stderr);
  }
  // docs_generate's --port is decimal 0-65535 (Number() took "0x50" as port 80), checked first.
  for (const port of ["0x50", "65536", "80.0"]) {
    const r = await job(REPO, "docs_generate.ts", ["--serve", "--port", port]);
    assertEquals(r.code, 2, r.stderr);
    assertEquals(
      r.stderr.replace(/ \(at lib\/config\/config\.ts:\d+\)\n$/, "\n"),
      `docs_generate: ConfigError: --port must be an integer between 0 and 65535, got "${port}"\n`,
    );
  }
});

Deno.test("the pipeline's models jobs run with their declared permissions: staging, marts, tests, docs", async () => {
  const dir = await workdir();
  try {
    const staging = await job(dir, "models_run.ts", ["--select", "staging"]);
    assertEquals(staging.code, 0, staging.stderr);
    assertMatch(
      staging.stdout,
      /models_run: 6 model\(s\): 6 ok, 0 failed, 0 skipped in [\d.]+ s \(as of 2025-12-08T12:30:00\.000Z\)/,
    );
    const marts = await job(dir, "models_run.ts", ["--select", "marts"]);
    assertEquals(marts.code, 0, marts.stderr);
    assertMatch(marts.stdout, /10 model\(s\): 10 ok/);
    const tests = await job(dir, "models_test.ts", ["--quiet"]);
    assertEquals(tests.code, 0, tests.stdout + tests.stderr);
    assertMatch(tests.stdout, /models_test: 191 test\(s\): 190 pass, 1 warn, 0 fail, 0 error/);
    const docs = await job(dir, "docs_generate.ts", []);
    assertEquals(docs.code, 0, docs.stderr);
    assertMatch(
      docs.stdout,
      /docs_generate: 26 page\(s\) in target\/docs\/ \(16 models, 8 sources, 191 tests\)/,
    );
    assert((await Deno.stat(join(dir, "target/docs/index.html"))).isFile);
    assert(
      (await Deno.stat(join(dir, "target/compiled/duckdb/models/marts/gold_dim_date.sql"))).isFile,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failing model makes models_run exit 1 with one clear line per failure; a test that cannot run makes models_test exit 1", async () => {
  const dir = await workdir();
  try {
    await Deno.writeTextFile(
      join(dir, "models/marts/gold_dim_company.sql"),
      "select TICKER, COMPANY_NAME\nfrom {{ ref('stg_companies') }}\nwhere NO_SUCH_COLUMN > 0",
    );
    const r = await job(dir, "models_run.ts", []);
    assertEquals(r.code, 1);
    assertMatch(r.stdout, /16 model\(s\): 10 ok, 1 failed, 5 skipped/);
    assertMatch(
      r.stderr,
      /^models_run: gold_dim_company failed: models\/marts\/gold_dim_company\.sql:3: Binder Error: Referenced column "NO_SUCH_COLUMN" not found.* \(compiled SQL: target\/compiled\/duckdb\/models\/marts\/gold_dim_company\.sql:\d+\)$/m,
    );
    // Models beside the failure still run; the views downstream of it are skipped.
    assertMatch(r.stdout, /gold_fct_index_performance +OK/);
    assertMatch(r.stdout, /vw_top_movers +SKIP +skipped: upstream gold_dim_company failed/);
    // A test on the model that was never built: an error, exit 1.
    const t = await job(dir, "models_test.ts", [
      "--name",
      "relationships_gold_fct_stock_daily_prices_ticker__gold_dim_company",
      "--name",
      "unique_stg_companies_ticker",
    ]);
    assertEquals(t.code, 1);
    assertMatch(
      t.stdout,
      /^ERROR 1 test\(s\) not run: 1 model relation\(s\) not built in this warehouse \(DWH_GOLD\.gold_dim_company\): build them first \(models_run, deno task run transformations\)$/m,
    );
    assertMatch(t.stdout, /1 pass, 0 warn, 0 fail, 1 error/);
    // A test that fails to run on a built model: its own error line, and the next tests run.
    await Deno.writeTextFile(
      join(dir, "models/tests/assert_broken.sql"),
      "select TICKER\nfrom {{ ref('stg_companies') }}\nwhere NO_SUCH_COLUMN > 0",
    );
    const b = await job(dir, "models_test.ts", [
      "--name",
      "assert_broken",
      "--name",
      "unique_stg_companies_ticker",
    ]);
    assertEquals(b.code, 1);
    assertMatch(
      b.stdout,
      /^ERROR assert_broken: models\/tests\/assert_broken\.sql:3: Binder Error: Referenced column "NO_SUCH_COLUMN" not found.* \(compiled SQL: target\/compiled\/duckdb\/tests\/assert_broken\.sql:5\)$/m,
    );
    assertMatch(b.stdout, /^PASS {2}unique_stg_companies_ticker$/m);
    assertMatch(b.stdout, /1 pass, 0 warn, 0 fail, 1 error/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a selector or test name that names nothing is a usage error: exit 2, which the runner does not retry", async () => {
  const dir = await workdir();
  try {
    const cases: [string, string[], string][] = [
      [
        "models_run.ts",
        ["--select", "stagin"],
        'models_run: SelectionError: selector "stagin" matches',
      ],
      ["models_run.ts", ["--list", "-s", "tag:nothing"], "models_run: SelectionError: selector"],
      ["models_test.ts", ["--select", "stagin"], 'models_test: SelectionError: selector "stagin"'],
      ["models_test.ts", ["--name", "no_such_test"], "models_test: SelectionError: no such test"],
    ];
    for (const [script, args, start] of cases) {
      const r = await job(dir, script, args);
      assertEquals(r.code, 2, `${script} ${args.join(" ")}: ${r.stderr}`);
      assert(r.stderr.startsWith(start), r.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a broken model project is a configuration error: each job exits 2 with every finding and builds nothing", async () => {
  const dir = await workdir();
  try {
    const before = await job(dir, "models_run.ts", ["--select", "stg_companies"]);
    assertEquals(before.code, 0, before.stderr);
    // A duplicate key in a models YAML and a ref to a model that does not exist.
    const yml = join(dir, "models/staging/_staging.yml");
    const text = await Deno.readTextFile(yml);
    await Deno.writeTextFile(
      yml,
      text.replace(
        "    grain: one row per TICKER\n",
        "    grain: one row per TICKER\n    grain: again\n",
      ),
    );
    await Deno.writeTextFile(
      join(dir, "models/staging/stg_orphan.sql"),
      "select * from {{ ref('no_such_model') }}",
    );
    for (const script of ["models_run.ts", "models_test.ts", "docs_generate.ts"]) {
      const r = await job(dir, script, []);
      assertEquals(r.code, 2, `${script}: ${r.stdout}${r.stderr}`);
      assertEquals(r.stdout, "");
      assert(
        r.stderr.startsWith(
          `${
            script.replace(".ts", "")
          }: ProjectError: models/staging/_staging.yml:9:5 Map keys must be unique`,
        ),
        r.stderr,
      );
    }
    // The YAML fixed, the unknown ref is the finding (the DAG is checked once files load).
    await Deno.writeTextFile(yml, text);
    const r = await job(dir, "models_run.ts", []);
    assertEquals(r.code, 2, r.stderr);
    assert(
      r.stderr.startsWith(
        "models_run: ProjectError: models/staging/stg_orphan.sql:1:15 ref('no_such_model'): no model named no_such_model",
      ),
      r.stderr,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("models_run --check compiles every model and test without a warehouse and lists every problem", async () => {
  const dir = await workdir();
  try {
    const ok = await job(dir, "models_run.ts", ["--check"]);
    assertEquals(ok.code, 0, ok.stderr);
    assertEquals(ok.stdout, "models/: ok (16 models, 8 sources, 191 tests)\n");
    await Deno.writeTextFile(
      join(dir, "models/marts/gold_dim_sector.sql"),
      "select SECTOR_KEY\nfrom {{ ref('stg_companie') }}\nwhere = 1",
    );
    await Deno.writeTextFile(
      join(dir, "models/staging/stg_market_stats.sql"),
      "select 1 as X\nfrom a where = 1",
    );
    const bad = await job(dir, "models_run.ts", ["--check"]);
    assertEquals(bad.code, 2);
    assertEquals(bad.stderr.split("\n").filter(Boolean), [
      "models/marts/gold_dim_sector.sql:2:6 ref('stg_companie'): no model named stg_companie (did you mean stg_companies?)",
      "1 problem(s) in models/",
    ]);
    await Deno.writeTextFile(
      join(dir, "models/marts/gold_dim_sector.sql"),
      "select SECTOR_KEY, count(*) as N\nfrom {{ ref('stg_companies') }}\ngroup by SECTOR_KEY",
    );
    const parse = await job(dir, "models_run.ts", ["--check"]);
    assertEquals(parse.code, 2);
    assertMatch(
      parse.stderr,
      /^models\/staging\/stg_market_stats\.sql:2:\d+ Snowflake SQL does not parse: /m,
    );
    // A YAML test's query is generated: its parse error points at the YAML entry declaring it.
    await Deno.copyFile(
      join(REPO, "models/staging/stg_market_stats.sql"),
      join(dir, "models/staging/stg_market_stats.sql"),
    );
    const yml = join(dir, "models/marts/_marts.yml");
    const lines = (await Deno.readTextFile(yml)).split("\n");
    const at = lines.indexOf("          name: gold_prices_volume_non_negative"); // 0-based
    assertEquals(lines[at + 1], '          expr: "VOLUME IS NULL OR VOLUME >= 0"');
    lines[at + 1] = '          expr: "VOLUME IS NULL OR VOLUME >= 0)"';
    await Deno.writeTextFile(yml, lines.join("\n"));
    const yaml = await job(dir, "models_run.ts", ["--check"]);
    assertEquals(yaml.code, 2);
    assertEquals(yaml.stderr.split("\n").filter(Boolean), [
      `models/marts/_marts.yml:${at}:9 test gold_prices_volume_non_negative: Snowflake SQL does ` +
      "not parse: Invalid expression / Unexpected token",
      "1 problem(s) in models/",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

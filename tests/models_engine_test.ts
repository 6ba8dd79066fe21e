/**
 * The model engine on small projects of its own: template, project loading, DAG errors with file
 * and line, selection, compilation per target, and building into DuckDB (failures, skipping,
 * no half-replaced tables, incremental schema changes).
 */
import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { join } from "node:path";
import { Dialect, transpile } from "@polyglot-sql/sdk";
import { loadConfig } from "../lib/config/config.ts";
import { Compiler } from "../lib/models/compile.ts";
import { collectTests, compileTest } from "../lib/models/data_tests.ts";
import { ancestors, buildGraph, descendants } from "../lib/models/dag.ts";
import { MAX_MESSAGE, ModelError, ProjectError } from "../lib/models/errors.ts";
import {
  columnsQueryOf,
  columnType,
  incrementalDropStatement,
  incrementalMergeStatements,
  incrementalStageStatements,
  newRowsRelation,
  nullKeysQuery,
  tableStatements,
  viewStatements,
} from "../lib/models/materialize.ts";
import { loadProject } from "../lib/models/project.ts";
import { runModels } from "../lib/models/run.ts";
import { SelectionError, selectModels } from "../lib/models/select.ts";
import { checkModels } from "../lib/models/validate.ts";
import { parseTemplate, renderTemplate } from "../lib/models/template.ts";
import { openWarehouse, type Warehouse } from "../lib/warehouse/warehouse.ts";
import { AS_OF, assertRejects, assertThrows, REPO } from "./models_fixture.ts";

const PROJECT_YML = `name: mini
folders:
  staging: {schema: S1, materialized: table, tags: [staging]}
  marts: {schema: M1, materialized: table}
vars:
  greeting: hello
`;

async function miniProject(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "egx_mini_" });
  const all = { "models/project.yml": PROJECT_YML, ...files };
  for (const [path, text] of Object.entries(all)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  }
  return root;
}

async function projectErrors(files: Record<string, string>): Promise<string[]> {
  const root = await miniProject(files);
  try {
    const p = await loadProject(root);
    buildGraph(p);
    return [];
  } catch (e) {
    if (e instanceof ProjectError) return e.findings.map((f) => f.message);
    throw e;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function memoryWarehouse(dir: string): Promise<Warehouse> {
  const cfg = loadConfig((k) =>
    ({ EGX_WAREHOUSE: `${dir}/w.duckdb` } as Record<string, string>)[k]
  );
  return await openWarehouse(cfg.warehouse);
}

Deno.test("a template renders refs, sources, vars and this, and keeps the file's line numbers", () => {
  const text =
    "select *\nfrom {{ ref('a') }}\n{% if is_incremental() %}\nwhere x > (select max(x) from {{ this }})\n{% endif %}\njoin {{ source('src', 'T') }} on {{ var('v') }} = 1\n";
  const t = parseTemplate(text, "models/x.sql");
  assertEquals(t.calls.map((c) => c.kind), ["ref", "this", "source", "var"]);
  assertEquals(t.calls[0].pos, { file: "models/x.sql", line: 2, col: 6 });
  const ctx = (inc: boolean) => ({
    isIncremental: inc,
    ref: (n: string) => `S.${n}`,
    source: (s: string, tb: string) => `${s.toUpperCase()}.${tb}`,
    var: () => "'v1'",
    this: () => "S.x",
  });
  const full = renderTemplate(t, ctx(false));
  const inc = renderTemplate(t, ctx(true));
  assertEquals(full.split("\n").length, text.split("\n").length);
  assertEquals(inc.split("\n").length, text.split("\n").length);
  assertEquals(full.split("\n")[5], "join SRC.T on 'v1' = 1");
  assertEquals(inc.split("\n")[3], "where x > (select max(x) from S.x)");
  assert(!full.includes("max(x)"));
});

Deno.test("a template with an unknown function, an unclosed tag or a stray endif names file, line and column", () => {
  assertThrows(
    () => parseTemplate("select 1\nfrom {{ reff('a') }}", "models/y.sql"),
    ModelError,
    'models/y.sql:2:6 unknown template function "reff"',
  );
  assertThrows(
    () => parseTemplate("select {{ ref('a') ", "m.sql"),
    ModelError,
    'm.sql:1:8 "{{" is never closed',
  );
  assertThrows(
    () => parseTemplate("a\n{% endif %}", "m.sql"),
    ModelError,
    "m.sql:2:1 {% endif %} without",
  );
  assertThrows(
    () => parseTemplate("{% if is_incremental() %}", "m.sql"),
    ModelError,
    "m.sql:1:1 {% if %} is never closed",
  );
  assertThrows(() => parseTemplate("{{ ref(a) }}", "m.sql"), ModelError, "must be quoted strings");
});

Deno.test("a parse error after a multi-line comment or tag is reported at the file's line (their newlines are kept)", async () => {
  const root = await miniProject({
    "models/staging/a.sql":
      "{# line 1\nline 2\nline 3 #}\nselect 1 as X,\n  2 as Y\nfrom\nwhere )\n",
    "models/staging/b.sql":
      "select X\nfrom {{\n  ref('a')\n}}\n{% if\n  is_incremental() %}where X > 0{% endif\n%}\nwhere )\n",
  });
  try {
    const p = await loadProject(root);
    const c = new Compiler(p, { target: "snowflake", asOf: AS_OF, write: false });
    const errors: string[] = [];
    for (const name of ["a", "b"]) {
      await c.compileModel(p.models.get(name)!, false).catch((e) => errors.push(e.message));
    }
    assertEquals(errors, [
      "models/staging/a.sql:7:6 Snowflake SQL does not parse: Expected table name or subquery, got Where",
      "models/staging/b.sql:8:8 Snowflake SQL does not parse: Unexpected token: RParen",
    ]);
    const b = c.render(p.models.get("b")!.template, { self: "S1.b", isIncremental: true });
    assertEquals(b, "select X\nfrom S1.a\n\n\n\nwhere X > 0\n\nwhere )\n");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an unknown ref is an error naming the file and line, with a suggestion", async () => {
  const errors = await projectErrors({
    "models/staging/stg_a.sql": "select 1 as X",
    "models/marts/m_b.sql": "select *\nfrom {{ ref('stg_aa') }}",
  });
  assertEquals(errors, [
    "models/marts/m_b.sql:2:6 ref('stg_aa'): no model named stg_aa (did you mean stg_a?)",
  ]);
});

Deno.test("two source tables whose names differ only in case are refused (one table, one docs page)", async () => {
  const errors = await projectErrors({
    "models/staging/prices.sql": "select 1 as X",
    "models/staging/_sources.yml":
      "sources:\n  - name: raw\n    schema: RAW\n    tables:\n      - name: quotes\n      - name: Quotes\n",
  });
  assertEquals(errors.sort(), [
    "models/staging/_sources.yml:6:9 source raw.Quotes differs from source raw.quotes only in case: SQL names ignore case, so both would be one table; declare it once",
  ]);
  // Source names too: RAW.quotes is raw.quotes.
  assertEquals(
    await projectErrors({
      "models/staging/_sources.yml":
        "sources:\n  - name: raw\n    schema: RAW\n    tables: [{name: quotes}]\n  - name: RAW\n    schema: RAW\n    tables: [{name: quotes}]\n",
    }),
    [
      "models/staging/_sources.yml:7:14 source RAW.quotes differs from source raw.quotes only in case: SQL names ignore case, so both would be one table; declare it once",
    ],
  );
});

Deno.test("a cycle in refs is an error naming the file and line of the ref that closes it", async () => {
  const errors = await projectErrors({
    "models/staging/a.sql": "select * from {{ ref('b') }}",
    "models/staging/b.sql": "select *\n  from {{ ref('c') }}",
    "models/staging/c.sql": "select *\nfrom\n  {{ ref('a') }}",
  });
  assertEquals(errors.length, 1);
  assertEquals(
    errors[0],
    "models/staging/c.sql:3:3 cycle in refs (a -> b: a refs b): a -> b -> c -> a",
  );
});

Deno.test("every problem of a project is reported at once with its position", async () => {
  const errors = await projectErrors({
    "models/staging/a.sql": "select * from {{ source('nope', 'T') }}",
    "models/staging/b.sql": "/*---\nmaterialized: incremental\n---*/\nselect 1 as X",
    "models/staging/c.sql": "/*---\nmaterialised: table\n---*/\nselect 1 as X",
    "models/staging/_docs.yml":
      "models:\n  - name: a\n    colums: []\n  - name: ghost\n    description: no sql\n",
  });
  assertEquals(errors.sort(), [
    'models/staging/_docs.yml:3:5 unknown key "colums" in a model (allowed: name, description, grain, config, columns, tests)',
    "models/staging/_docs.yml:4:5 YAML documents model ghost, but there is no ghost.sql",
    "models/staging/b.sql:1:1 an incremental model needs a unique_key",
    'models/staging/c.sql:2:1 unknown key "materialised" in the config header (allowed: materialized, unique_key, replace_by, tags)',
  ]);
  // The unknown source is found once the project loads.
  const e2 = await projectErrors({
    "models/staging/a.sql": "select * from {{ source('nope', 'T') }}",
  });
  assertEquals(e2, [
    "models/staging/a.sql:1:15 source('nope', 'T'): not declared in a sources YAML",
  ]);
});

Deno.test("the static check reports the good models' refs, vars and cycles beside the bad files' problems", async () => {
  const root = await miniProject({
    "models/staging/broken.sql": "/*---\nmaterialized: table\nselect 1 as X",
    "models/staging/bad_ref.sql": "select * from {{ ref( }}",
    "models/staging/select.sql": "select 1 as X",
    "models/staging/my_a.sql": "select * from {{ ref('my_b') }}",
    "models/staging/my_b.sql": "select * from {{ ref('my_a') }}",
    "models/staging/uses_var.sql": "select {{ var('nope') }} as X",
    // Refs to the files with problems are not reported again.
    "models/staging/uses_broken.sql": "select * from {{ ref('broken') }} join {{ ref('select') }}",
    "models/staging/typo.sql": "select * from {{ ref('my_aa') }}",
  });
  try {
    const e = await checkModels(root, new Date("2025-12-08T12:00:00Z")).catch((e) => e);
    assert(e instanceof ProjectError, String(e));
    assertEquals(e.findings.map((f) => f.message), [
      "models/staging/bad_ref.sql:1:15 cannot read {{ ref( }}",
      "models/staging/broken.sql:1:1 the /*--- header is never closed: end it with a line ---*/",
      "models/staging/my_b.sql:1:15 cycle in refs (a -> b: a refs b): my_a -> my_b -> my_a",
      'models/staging/select.sql:1:1 file name "select" is a reserved SQL word (it is the name, ' +
      "written unquoted): rename it",
      "models/staging/typo.sql:1:15 ref('my_aa'): no model named my_aa (did you mean my_a?)",
      "models/staging/uses_var.sql:1:8 var('nope'): not defined in models/project.yml vars",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a model or YAML file that is not UTF-8 is a finding at the bad byte, not text with U+FFFD built into the warehouse", async () => {
  const root = await miniProject({
    "models/staging/ok.sql": "select 1 as X",
    "models/staging/_docs.yml": "models:\n  - name: ok\n",
  });
  try {
    // Latin-1 "café" on line 2 of a model, and in a description on line 3 of its YAML.
    await Deno.writeFile(
      join(root, "models/staging/latin1.sql"),
      new Uint8Array([...new TextEncoder().encode("select 1 as X,\n  'caf"), 0xe9, 0x27, 0x0a]),
    );
    await Deno.writeFile(
      join(root, "models/staging/_docs.yml"),
      new Uint8Array([
        ...new TextEncoder().encode("models:\n  - name: ok\n    description: \u00e9t\u00e9 caf"),
        0xe9,
        0x0a,
      ]),
    );
    const e = await loadProject(root).catch((e) => e);
    assert(e instanceof ProjectError, String(e));
    assertEquals(e.findings.map((f) => f.message), [
      "models/staging/_docs.yml:3:25 is not UTF-8 (byte 0xE9 at offset 47); save the file as UTF-8",
      "models/staging/latin1.sql:2:7 is not UTF-8 (byte 0xE9 at offset 21); save the file as UTF-8",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a source name that is not an identifier is refused (it names the docs page's file)", async () => {
  const errors = await projectErrors({
    "models/staging/a.sql": "select 1 as X",
    "models/sources.yml":
      "sources:\n  - name: ../../data/pwn\n    schema: OPERATIONAL\n    tables:\n      - name: T\n",
  });
  assertEquals(errors, [
    'models/sources.yml:2:5 source name "../../data/pwn" is not a plain identifier',
  ]);
});

Deno.test("folders or vars in project.yml that are not a mapping are a finding there, not skipped", async () => {
  const errors = await projectErrors({
    "models/project.yml": "name: mini\nfolders: [staging]\nvars: greeting\n",
  });
  assertEquals(errors, ["models/project.yml:2:10 folders must be a mapping (name: value)"]);
  const e2 = await projectErrors({
    "models/project.yml": "name: mini\nfolders:\n  staging: {schema: S1}\nvars:\n  - greeting\n",
    "models/staging/a.sql": "select 1 as X",
  });
  assertEquals(e2, ["models/project.yml:5:3 vars must be a mapping (name: value)"]);
});

Deno.test("a model named like a reserved SQL word or an engine working table, or a header that is never closed, is a finding; a header with Windows line ends is read", async () => {
  const errors = await projectErrors({
    "models/staging/select.sql": "select 1 as X",
    "models/staging/left.sql": "select 1 as X",
    "models/staging/open.sql": "\n  /*---\nmaterialized: view\nselect 1 as X\n",
    // Named like the working table of a model (building `a` dropped it) or its new rows.
    "models/staging/a.sql": "select 1 as X",
    "models/staging/a__egx_tmp.sql": "select 1 as X",
    "models/staging/a__egx_new.sql": "select 1 as X",
    "models/staging/a__egx_view.sql": "select 1 as X",
    // A banner comment is not a header.
    "models/staging/banner.sql": "/*------------\n a banner\n------------*/\nselect 1 as X",
  });
  assertEquals(errors.sort(), [
    'models/staging/a__egx_new.sql:1:1 file name "a__egx_new" ends like the engine\'s working tables (__egx_tmp, __egx_new, __egx_view): rename it',
    'models/staging/a__egx_tmp.sql:1:1 file name "a__egx_tmp" ends like the engine\'s working tables (__egx_tmp, __egx_new, __egx_view): rename it',
    'models/staging/a__egx_view.sql:1:1 file name "a__egx_view" ends like the engine\'s working tables (__egx_tmp, __egx_new, __egx_view): rename it',
    'models/staging/left.sql:1:1 file name "left" is a reserved SQL word (it is the name, written unquoted): rename it',
    "models/staging/open.sql:2:3 the /*--- header is never closed: end it with a line ---*/",
    'models/staging/select.sql:1:1 file name "select" is a reserved SQL word (it is the name, written unquoted): rename it',
  ]);
  const root = await miniProject({
    "models/staging/crlf.sql":
      "/*---\r\nmaterialized: view\r\ntags: [win]\r\n---*/\r\nselect 1 as X\r\n",
  });
  try {
    const m = (await loadProject(root)).models.get("crlf")!;
    assertEquals([m.materialized, m.tags], ["view", ["staging", "win"]]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a config header after leading comments is read; one after SQL is a finding at its line, not a comment silently ignored", async () => {
  const root = await miniProject({
    "models/staging/snap.sql":
      "-- daily snapshot of K\n/*---\nmaterialized: incremental\nunique_key: [K]\n---*/\nselect 1 as K",
    "models/staging/blocks.sql":
      "\n/* about\n   blocks */ // more\n  /*---\nmaterialized: view\ntags: [b]\n---*/\nselect 1 as K",
  });
  try {
    const p = await loadProject(root);
    const snap = p.models.get("snap")!;
    assertEquals([snap.materialized, snap.uniqueKey], ["incremental", ["K"]]);
    const blocks = p.models.get("blocks")!;
    assertEquals([blocks.materialized, blocks.tags], ["view", ["staging", "b"]]);
    // The header is blanked, its lines kept: the comment and the SQL stay where they were.
    assertEquals(
      snap.sql,
      "-- daily snapshot of K\n     \n                         \n               \n     \nselect 1 as K",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  const errors = await projectErrors({
    "models/staging/late.sql": "select 1 as K\n  /*---\nmaterialized: view\n---*/\n",
    "models/staging/second.sql":
      "-- two headers\n/*---\nmaterialized: view\n---*/\nselect 1 as K\n/*---\ntags: [x]\n---*/\n",
    "models/staging/bad_key.sql":
      "-- one line\n/*---\nmaterialized: sometimes\n---*/\nselect 1 as K",
  });
  assertEquals(errors.sort(), [
    'models/staging/bad_key.sql:3:15 materialized must be one of view, table, incremental, got "sometimes"',
    "models/staging/late.sql:2:3 a /*--- config header must come first in the file (only comments may precede it); here it is a comment and its config is not read",
    "models/staging/second.sql:6:1 a /*--- config header must come first in the file (only comments may precede it); here it is a comment and its config is not read",
  ]);
});

Deno.test("a model in a schema holding sources, the loaders' tables or the test failures is a finding (its build would replace them)", async () => {
  const errors = await projectErrors({
    "models/project.yml": "name: mini\nfolders:\n  ops: {schema: operational}\n" +
      "  raw: {schema: RAW_IN}\n  audit: {schema: DWH_AUDIT}\n  staging: {schema: S1}\n",
    "models/sources.yml":
      "sources:\n  - name: raw\n    schema: RAW_IN\n    tables:\n      - name: T\n",
    "models/ops/tbl_company.sql": "select 1 as N",
    "models/raw/t.sql": "select 1 as N",
    "models/audit/test_results.sql": "select 1 as N",
    "models/staging/fine.sql": "select * from {{ source('raw', 'T') }}",
  });
  assertEquals(errors.sort(), [
    `models/audit/test_results.sql:1:1 model test_results would be built in schema DWH_AUDIT, which holds test_failures_schema: give folder "audit" its own schema in models/project.yml`,
    `models/ops/tbl_company.sql:1:1 model tbl_company would be built in schema operational, which holds the loaders' tables: give folder "ops" its own schema in models/project.yml`,
    `models/raw/t.sql:1:1 model t would be built in schema RAW_IN, which holds source raw: give folder "raw" its own schema in models/project.yml`,
  ]);
});

Deno.test("a YAML syntax error (tab, duplicate key) names its line once, right also in a model's header", async () => {
  const errors = await projectErrors({
    "models/staging/a.sql": "/*---\nmaterialized: view\n\ttags: [x]\n---*/\nselect 1 as X",
    "models/staging/b.sql": "select 1 as X",
    "models/staging/_docs.yml": "models:\n  - name: b\n    grain: one\n    grain: two\n",
  });
  assertEquals(errors.sort(), [
    "models/staging/_docs.yml:4:5 Map keys must be unique",
    "models/staging/a.sql:3:1 Tabs are not allowed as indentation",
  ]);
});

Deno.test("a [ or quote left open in YAML is named where it opens, not where the parser gives up", async () => {
  const errors = await projectErrors({
    "models/staging/a.sql":
      "/*---\nmaterialized: view\ntags: [x, y\nunique_key: id\n---*/\nselect 1 as X",
    "models/staging/b.sql": "select 1 as X",
    "models/staging/_docs.yml":
      "models:\n  - name: b\n    description: 'one\n  - name: a\n    description: two\n",
  });
  assertEquals(errors.sort(), [
    "models/staging/_docs.yml:3:18 Missing closing 'quote",
    "models/staging/a.sql:3:7 Flow sequence in block collection must be sufficiently indented and end with a ]",
  ]);
});

Deno.test("a model or YAML file the engine would skip (upper-case extension, symbolic link) is a finding, not left unbuilt without a word", async () => {
  const root = await miniProject({
    "models/staging/a.sql": "select 1 as X",
    "models/staging/b.SQL": "select 2 as X",
    "models/staging/_docs.YAML": "models:\n  - name: a\n",
    "models/staging/notes.md": "not a model, not a finding",
  });
  try {
    await Deno.symlink(join(root, "models/staging/a.sql"), join(root, "models/staging/c.sql"));
    const e = await loadProject(root).catch((e) => e);
    assert(e instanceof ProjectError, String(e));
    assertEquals(e.findings.map((f) => f.message), [
      "models/staging/c.sql is a symbolic link, which the engine does not follow: copy the file here",
      "models/staging/_docs.YAML is not read (the extension .YAML is upper case): rename it to .yaml",
      "models/staging/b.SQL is not read (the extension .SQL is upper case): rename it to .sql",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a folder without models/project.yml says where to run the job", async () => {
  const root = await Deno.makeTempDir({ prefix: "egx_mini_" });
  try {
    await assertRejects(
      () => loadProject(root),
      ProjectError,
      "models/project.yml not found: run the job from the folder that holds models/ (the repository root)",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("selection picks folders, models, ancestors, descendants, tags and unions, in run order", async () => {
  const p = await loadProject(REPO);
  const g = buildGraph(p);
  const sel = (...s: string[]) => selectModels(p, g, { select: s });
  assertEquals(sel("staging").length, 6);
  assert(sel("staging").every((n) => n.startsWith("stg_")));
  assertEquals(sel("marts").length, 10);
  assertEquals(sel("gold_dim_sector"), ["gold_dim_sector"]);
  assertEquals(sel("+gold_dim_sector"), [
    "stg_companies",
    "stg_stock_prices_unified",
    "gold_dim_sector",
  ]);
  assertEquals(
    sel("gold_fct_stock_daily_prices+"),
    [
      "gold_fct_stock_daily_prices",
      "gold_fct_index_performance",
      "vw_market_snapshot",
      "vw_price_history",
      "vw_sector_performance",
      "vw_top_movers",
      "vw_volume_leaders",
    ],
  );
  assertEquals(sel("tag:indices"), ["stg_index_membership", "gold_fct_index_performance"]);
  assertEquals(sel("stg_companies,gold_dim_sector"), ["stg_companies", "gold_dim_sector"]);
  assertEquals(sel("stg_companies gold_dim_sector"), ["stg_companies", "gold_dim_sector"]);
  assertEquals(sel().length, 16);
  // Run order: every model after all of its parents.
  const order = sel();
  for (const n of order) {
    for (const parent of g.parents.get(n)!) assert(order.indexOf(parent) < order.indexOf(n));
  }
  assertEquals(ancestors(g, "gold_dim_company").size, 5);
  assertEquals([...descendants(g, "stg_companies")].sort(), [
    "gold_dim_company",
    "gold_dim_sector",
    "stg_companies",
    "vw_market_snapshot",
    "vw_price_history",
    "vw_sector_performance",
    "vw_top_movers",
    "vw_volume_leaders",
  ]);
  assertThrows(() => sel("tag:nothing"), SelectionError, "no model has tag nothing");
  assertThrows(() => sel("stagin"), SelectionError, 'selector "stagin" matches no model name');
  // A --select that is empty or only separators (an unset shell variable) selected every model.
  for (const empty of ["", " ", ",", " , "]) {
    assertThrows(
      () => sel(empty),
      SelectionError,
      `--select ${JSON.stringify(empty)} names no model (leave --select out to select every model)`,
    );
  }
  assertThrows(() => sel("tag:"), SelectionError, 'selector "tag:": tag: needs a tag name');
  assertThrows(() => sel("+tag:+"), SelectionError, 'selector "+tag:+": tag: needs a tag name');
});

Deno.test("compilation transpiles Snowflake SQL to DuckDB, writes it under target/, and reports parse errors at the file's line", async () => {
  const root = await miniProject({
    "models/staging/a.sql":
      "select IFF(1 > 0, 'y', 'n') as A, NVL(NULL, 2) as B, {{ var('greeting') }} as G",
    "models/staging/bad.sql": "select 1 as X\nfrom {{ ref('a') }}\nwhere X = = 1",
  });
  try {
    const p = await loadProject(root);
    const c = new Compiler(p, { target: "duckdb", asOf: AS_OF });
    const a = await c.compileModel(p.models.get("a")!, false);
    assertEquals(a.path, join(root, "target/compiled/duckdb/models/staging/a.sql"));
    assertEquals(
      a.sql.replace(/\s+/g, " "),
      "SELECT CASE WHEN 1 > 0 THEN 'y' ELSE 'n' END AS A, COALESCE(NULL, 2) AS B, 'hello' AS G",
    );
    assertEquals((await Deno.readTextFile(a.path)).trim(), a.sql);
    await assertRejects(
      () => c.compileModel(p.models.get("bad")!, false),
      ModelError,
      "Snowflake SQL does not parse: Unexpected token",
    );
    await c.compileModel(p.models.get("bad")!, false).catch((e) => {
      assertMatch(e.message, /^models\/staging\/bad\.sql:3:\d+ /);
    });
    const sf = new Compiler(p, { target: "snowflake", asOf: AS_OF });
    const s = await sf.compileModel(p.models.get("a")!, false);
    assertEquals(s.sql, "select IFF(1 > 0, 'y', 'n') as A, NVL(NULL, 2) as B, 'hello' as G");
    // The transpile cache: a second compiler reads it and gives the same SQL.
    await c.saveCache();
    const cache = JSON.parse(
      await Deno.readTextFile(join(root, "target/.cache/transpile_duckdb.json")),
    );
    assertEquals(Object.keys(cache.entries).length, 1);
    const again = await new Compiler(p, { target: "duckdb", asOf: AS_OF }).compileModel(
      p.models.get("a")!,
      false,
    );
    assertEquals(again.sql, a.sql);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a model or singular test ending in `;` compiles without it for both targets (it is wrapped in CREATE TABLE AS or a COUNT)", async () => {
  const root = await miniProject({
    "models/staging/a.sql": "select 1 as X, ';' as S -- one row\n;\n",
    "models/tests/no_big_x.sql":
      "-- X is small\nselect * from {{ ref('a') }} where X > 1; ; -- done\n/* end */\n",
  });
  try {
    const p = await loadProject(root);
    const [t] = collectTests(p, AS_OF);
    const sf = new Compiler(p, { target: "snowflake", asOf: AS_OF });
    assertEquals(
      (await sf.compileModel(p.models.get("a")!, false)).sql,
      "select 1 as X, ';' as S -- one row",
    );
    const test = (await compileTest(sf, t)).sql;
    assertEquals(test, "-- X is small\nselect * from S1.a where X > 1");
    // As test_run.ts wraps it: this was "Expected RParen, got Semicolon" with the `;` kept.
    const count = `SELECT COUNT(*) AS FAILURES FROM (\n${test}\n) AS failing_rows`;
    assertEquals(transpile(count, Dialect.Snowflake, Dialect.Snowflake).error, null);
    const duck = new Compiler(p, { target: "duckdb", asOf: AS_OF });
    assertEquals(
      (await duck.compileModel(p.models.get("a")!, false)).sql,
      "SELECT\n  1 AS X,\n  ';' AS S /* one row */",
    );
    assertEquals(
      (await compileTest(duck, t)).sql,
      "/* X is small */ SELECT\n  *\nFROM S1.a\nWHERE\n  X > 1",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("every statement generated for Snowflake parses as Snowflake SQL", async () => {
  const p = await loadProject(REPO);
  const c = new Compiler(p, { target: "snowflake", asOf: AS_OF, write: false });
  for (const m of p.models.values()) {
    for (const inc of m.materialized === "incremental" ? [false, true] : [false]) {
      const { sql } = await c.compileModel(m, inc);
      const rel = { schema: m.schema, name: m.name };
      const stmts = [
        ...tableStatements("snowflake", { rel, sql, existing: "table" }),
        ...tableStatements("snowflake", { rel, sql, existing: "view" }),
        ...tableStatements("snowflake", { rel, sql }),
        ...viewStatements("snowflake", { rel, sql, existing: "table" }),
      ];
      if (inc) {
        stmts.push(
          ...incrementalStageStatements("snowflake", { rel, sql }),
          nullKeysQuery(
            newRowsRelation("snowflake", rel),
            [...new Set([...m.uniqueKey, ...m.replaceBy])],
          ),
          ...incrementalMergeStatements("snowflake", {
            rel,
            replaceBy: m.replaceBy,
            columns: m.columns.map((col) => col.name),
          }),
          incrementalDropStatement("snowflake", rel),
        );
      }
      for (const s of stmts) {
        const r = transpile(s, Dialect.Snowflake, Dialect.Snowflake);
        assert(r.success, `${m.name}: ${r.error}\n${s.slice(0, 200)}`);
      }
    }
  }
});

Deno.test("a failing model reports file, warehouse message and compiled SQL; downstream is skipped and the old table stays", async () => {
  const root = await miniProject({
    "models/staging/base.sql": "select 1 as ID, 'a' as NAME",
    "models/marts/good.sql": "select ID, NAME from {{ ref('base') }}",
    "models/marts/bad.sql": "select ID, NAME from {{ ref('base') }}",
    "models/marts/after_bad.sql": "select * from {{ ref('bad') }}",
    "models/marts/after_after.sql": "select * from {{ ref('after_bad') }}",
  });
  const wh = await memoryWarehouse(root);
  try {
    const p = await loadProject(root);
    const first = await runModels(wh, p, { asOf: AS_OF, targetDir: join(root, "target") });
    assert(first.ok);
    // Break `bad`: a column that does not exist.
    await Deno.writeTextFile(
      join(root, "models/marts/bad.sql"),
      "select ID, NAME, NO_SUCH_COLUMN from {{ ref('base') }}",
    );
    const p2 = await loadProject(root);
    const r = await runModels(wh, p2, { asOf: AS_OF, targetDir: join(root, "target") });
    assert(!r.ok);
    const by = new Map(r.results.map((x) => [x.name, x]));
    assertEquals(by.get("base")!.status, "success");
    assertEquals(by.get("good")!.status, "success");
    assertEquals(by.get("bad")!.status, "error");
    assertMatch(
      by.get("bad")!.message!,
      /^models\/marts\/bad\.sql:1: Binder Error: Referenced column "NO_SUCH_COLUMN" not found/,
    );
    assertMatch(
      by.get("bad")!.message!,
      /\(compiled SQL: target\/compiled\/duckdb\/models\/marts\/bad\.sql:\d+\)$/,
    );
    assertEquals(by.get("after_bad")!.status, "skipped");
    assertEquals(by.get("after_bad")!.message, "skipped: upstream bad failed");
    assertEquals(by.get("after_after")!.message, "skipped: upstream bad failed");
    // The previous `bad` table is intact (two columns), and no temporary relation was left.
    const cols = await wh.query(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = 'M1' AND table_name = 'bad'",
    );
    assertEquals(cols.length, 2);
    const tmp = await wh.query(
      "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%egx_tmp%'",
    );
    assertEquals(tmp, []);
  } finally {
    await wh.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a model's warehouse error names the line of its source file and of its compiled SQL, not of the statement that wraps it", async () => {
  const body = "-- the columns\nselect\n  ID,\n  NAME,\n  NO_SUCH_COLUMN\nfrom {{ ref('base') }}\n";
  const root = await miniProject({
    "models/staging/base.sql": "select 1 as ID, 'a' as NAME",
    "models/marts/as_view.sql": `/*---\nmaterialized: view\n---*/\n${body}`,
    "models/marts/as_table.sql": body,
    // The transpiler lays this one out again: the one source line holding the compiled one.
    "models/marts/one_line.sql": "select ID, NAME, NO_SUCH_COLUMN from {{ ref('base') }}",
    // No source line reads like or holds the compiled one: the file alone.
    "models/marts/spread.sql": "select ID, NAME, NO_SUCH_COLUMN from {{ ref('base') }}\n" +
      "union all select ID, NAME, NO_SUCH_COLUMN from {{ ref('base') }}",
  });
  const wh = await memoryWarehouse(root);
  try {
    const r = await runModels(wh, await loadProject(root), {
      asOf: AS_OF,
      targetDir: join(root, "target"),
    });
    const by = new Map(r.results.map((x) => [x.name, x.message ?? ""]));
    const compiled = async (name: string, line: number) =>
      (await Deno.readTextFile(join(root, `target/compiled/duckdb/models/marts/${name}.sql`)))
        .split("\n")[line - 1].trim();
    assertMatch(by.get("as_view")!, /^models\/marts\/as_view\.sql:8: Binder Error: /);
    assertMatch(
      by.get("as_view")!,
      /\(compiled SQL: target\/compiled\/duckdb\/models\/marts\/as_view\.sql:4\)$/,
    );
    assertEquals(await compiled("as_view", 4), "NO_SUCH_COLUMN");
    assertMatch(by.get("as_table")!, /^models\/marts\/as_table\.sql:5: Binder Error: /);
    assertMatch(by.get("as_table")!, /as_table\.sql:4\)$/);
    assertMatch(by.get("one_line")!, /^models\/marts\/one_line\.sql:1: Binder Error: /);
    assertMatch(by.get("spread")!, /^models\/marts\/spread\.sql: Binder Error: /);
    assertMatch(by.get("one_line")!, /one_line\.sql:4\)$/);
    assertEquals(await compiled("one_line", 4), "NO_SUCH_COLUMN");
  } finally {
    await wh.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a warehouse error quoting a huge identifier is cut to MAX_MESSAGE characters, and still names the model's line", async () => {
  const long = "NO_SUCH_" + "X".repeat(20_000);
  const root = await miniProject({
    "models/staging/base.sql": "select 1 as ID",
    "models/marts/wide.sql": `select\n  ID,\n  ${long}\nfrom {{ ref('base') }}\n`,
  });
  const wh = await memoryWarehouse(root);
  try {
    const r = await runModels(wh, await loadProject(root), {
      asOf: AS_OF,
      targetDir: join(root, "target"),
    });
    const msg = r.results.find((x) => x.name === "wide")!.message!;
    const prefix = "models/marts/wide.sql:3: ";
    assert(msg.startsWith(`${prefix}Binder Error: Referenced column "${long.slice(0, 100)}`), msg);
    const cut = /^(.*)\.\.\. \((\d+) more characters\) \(compiled SQL: (.*)\)$/s.exec(msg);
    assert(cut, msg.slice(-300));
    assertEquals(cut[1].length, prefix.length + MAX_MESSAGE);
    assertEquals(cut[2], "19170"); // the rest of the identifier and DuckDB's "LINE 3:" excerpt
    assertEquals(cut[3], "target/compiled/duckdb/models/marts/wide.sql:3");
    assertEquals(MAX_MESSAGE, 1000);
  } finally {
    await wh.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a run stopped after its first model leaves that model built and recorded in model_status.json, and the next one untouched", async () => {
  const root = await miniProject({
    "models/staging/first.sql": "select 1 as ID",
    "models/marts/second.sql": "select ID + 1 as ID from {{ ref('first') }}",
  });
  const wh = await memoryWarehouse(root);
  const target = join(root, "target");
  try {
    const project = await loadProject(root);
    const stop = new AbortController();
    const lines: string[] = [];
    await assertRejects(
      () =>
        runModels(wh, project, {
          asOf: AS_OF,
          targetDir: target,
          signal: stop.signal,
          log: (l) => {
            lines.push(l);
            stop.abort(new DOMException("models_run received SIGTERM", "AbortError"));
          },
        }),
      DOMException,
      "models_run received SIGTERM",
    );
    assertEquals(lines.length, 1);
    assertMatch(lines[0], /^1\/2 first +OK +table 1 rows in \d+ ms$/);
    assertEquals(await wh.query("SELECT ID FROM S1.first"), [{ ID: 1 }]);
    assertEquals(
      await wh.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'M1'"),
      [],
    );
    const status = JSON.parse(await Deno.readTextFile(join(target, "model_status.json")));
    assertEquals(Object.keys(status), ["first"]);
    assertEquals([status.first.status, status.first.rows], ["success", 1]);
    // No run result: the run did not finish.
    await assertRejects(
      () => Deno.stat(join(target, "run_results.json")),
      Deno.errors.NotFound,
      "",
    );
  } finally {
    await wh.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("run_results.json is replaced by a new file, never rewritten in place (a stopped write left half a JSON file)", async () => {
  const root = await miniProject({ "models/staging/one.sql": "select 1 as ID" });
  const wh = await memoryWarehouse(root);
  const target = join(root, "target");
  try {
    const project = await loadProject(root);
    const first = await runModels(wh, project, { asOf: AS_OF, targetDir: target });
    // A second name for the same file: rewritten in place, it would change too.
    await Deno.link(join(target, "run_results.json"), join(target, "kept.json"));
    const second = await runModels(wh, project, { asOf: AS_OF, targetDir: target });
    const read = async (f: string) => JSON.parse(await Deno.readTextFile(join(target, f)));
    assertEquals((await read("kept.json")).startedAt, first.startedAt);
    assertEquals((await read("run_results.json")).startedAt, second.startedAt);
    assert(first.startedAt !== second.startedAt);
    const names = [];
    for await (const e of Deno.readDir(target)) names.push(e.name);
    assertEquals(names.filter((n) => n.endsWith(".tmp")), []);
  } finally {
    await wh.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an incremental model whose unique_key is not one of its columns fails on its first build, not on every later run, and the old table stays", async () => {
  const inc = (key: string) =>
    `/*---\nmaterialized: incremental\nunique_key: ${key}\n---*/\nselect range as ID, 7 as V from range(3)`;
  const root = await miniProject({ "models/staging/inc.sql": inc("NOPE") });
  const wh = await memoryWarehouse(root);
  const run = async () =>
    (await runModels(wh, await loadProject(root), {
      asOf: AS_OF,
      targetDir: join(root, "target"),
    })).results[0];
  const tables = () =>
    wh.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'S1'");
  try {
    const first = await run();
    assertEquals(first.status, "error");
    assertEquals(
      first.message,
      "models/staging/inc.sql:1:1 unique_key/replace_by NOPE: not a column of inc (it has ID, V) " +
        "(compiled SQL: target/compiled/duckdb/models/staging/inc.sql)",
    );
    assertEquals(await tables(), []);
    await Deno.writeTextFile(join(root, "models/staging/inc.sql"), inc("ID"));
    assertEquals((await run()).status, "success");
    // The key renamed to a column the model does not have: the incremental run says so.
    await Deno.writeTextFile(join(root, "models/staging/inc.sql"), inc("[ID, NOPE]"));
    const later = await run();
    assertEquals(later.status, "error");
    assertMatch(
      later.message!,
      /^models\/staging\/inc\.sql:1:1 unique_key\/replace_by NOPE: not a column of inc \(it has ID, V\)/,
    );
    assertEquals(await wh.query("SELECT count(*)::INT AS N FROM S1.inc"), [{ N: 3 }]);
  } finally {
    await wh.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a model can switch between view and table, and an incremental model whose definition or columns changed is rebuilt in full", async () => {
  const root = await miniProject({
    "models/staging/src.sql": "select range as ID, range * 2 as V from range(5)",
    "models/marts/flip.sql": "/*---\nmaterialized: view\n---*/\nselect * from {{ ref('src') }}",
    "models/marts/inc.sql":
      "/*---\nmaterialized: incremental\nunique_key: ID\n---*/\nselect ID, V from {{ ref('src') }}\n{% if is_incremental() %}where ID >= 3{% endif %}",
    "models/marts/star.sql":
      "/*---\nmaterialized: incremental\nunique_key: ID\n---*/\nselect * from {{ ref('src') }}\n{% if is_incremental() %}where ID >= 3{% endif %}",
  });
  const wh = await memoryWarehouse(root);
  const target = join(root, "target");
  try {
    assert((await runModels(wh, await loadProject(root), { asOf: AS_OF, targetDir: target })).ok);
    const type = async () =>
      (await wh.query<{ T: string }>(
        "SELECT table_type AS T FROM information_schema.tables WHERE table_name = 'flip'",
      ))[0].T;
    assertEquals(await type(), "VIEW");
    await Deno.writeTextFile(join(root, "models/marts/flip.sql"), "select * from {{ ref('src') }}");
    const r2 = await runModels(wh, await loadProject(root), { asOf: AS_OF, targetDir: target });
    assert(r2.ok);
    assertEquals(await type(), "BASE TABLE");
    assertEquals(r2.results.find((x) => x.name === "inc")!.mode, "incremental");
    assertEquals(r2.results.find((x) => x.name === "inc")!.rows, 2);
    await Deno.writeTextFile(
      join(root, "models/marts/inc.sql"),
      "/*---\nmaterialized: incremental\nunique_key: ID\n---*/\nselect ID, V, 1 as EXTRA from {{ ref('src') }}",
    );
    const r3 = await runModels(wh, await loadProject(root), {
      asOf: AS_OF,
      targetDir: target,
      select: ["inc"],
    });
    assert(r3.ok, r3.results[0].message);
    assertEquals(
      [r3.results[0].mode, r3.results[0].reason, r3.results[0].rows],
      ["full-refresh", "definition changed since the last build", 5],
    );
    assertEquals(
      await wh.query("SELECT * FROM M1.inc ORDER BY ID"),
      [0, 1, 2, 3, 4].map((i) => ({ ID: i, V: 2 * i, EXTRA: 1 })),
    );
    const r4 = await runModels(wh, await loadProject(root), {
      asOf: AS_OF,
      targetDir: target,
      select: ["inc"],
      fullRefresh: true,
    });
    assert(r4.ok);
    assertEquals([r4.results[0].mode, r4.results[0].reason], ["full-refresh", "--full-refresh"]);
    assertEquals(r4.results[0].rows, 5);
    // star's definition is unchanged, but `select *` now has another column: rebuilt in full.
    await Deno.writeTextFile(
      join(root, "models/staging/src.sql"),
      "select range as ID, range * 2 as V, range * 3 as W from range(5)",
    );
    const r5 = await runModels(wh, await loadProject(root), {
      asOf: AS_OF,
      targetDir: target,
      select: ["src", "star"],
    });
    assert(r5.ok);
    const star = r5.results.find((x) => x.name === "star")!;
    assertEquals(
      [star.mode, star.reason, star.rows],
      ["full-refresh", "columns changed: ID, V, W (was ID, V)", 5],
    );
    assertEquals(
      await wh.query("SELECT * FROM M1.star ORDER BY ID"),
      [0, 1, 2, 3, 4].map((i) => ({ ID: i, V: 2 * i, W: 3 * i })),
    );
  } finally {
    await wh.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an incremental model whose upstream column changed type under the same definition is rebuilt in full, not cast to the old type", async () => {
  const root = await miniProject({
    "models/staging/a.sql": "select 1 as K, 10 as V",
    "models/marts/b.sql":
      "/*---\nmaterialized: incremental\nunique_key: K\n---*/\nselect * from {{ ref('a') }}",
  });
  const wh = await memoryWarehouse(root);
  const run = async () => {
    const r = await runModels(wh, await loadProject(root), {
      asOf: AS_OF,
      targetDir: join(root, "target"),
    });
    assert(r.ok, JSON.stringify(r.results.map((x) => x.message)));
    const b = r.results.find((x) => x.name === "b")!;
    return [b.mode, b.reason];
  };
  try {
    await run();
    // Identical types compare equal: the next run merges.
    assertEquals(await run(), ["incremental", undefined]);
    await Deno.writeTextFile(
      join(root, "models/staging/a.sql"),
      "select 1 as K, 10.75::DOUBLE as V",
    );
    assertEquals(await run(), ["full-refresh", "column types changed: V DOUBLE (was INTEGER)"]);
    assertEquals(await wh.query("SELECT * FROM M1.b"), [{ K: 1, V: 10.75 }]);
    assertEquals(await run(), ["incremental", undefined]);
    assertEquals(await wh.query("SELECT * FROM M1.b"), [{ K: 1, V: 10.75 }]);
  } finally {
    await wh.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("an incremental model whose new rows hold NULL in a key column fails, incremental run or full build, naming the model and the columns, and the table stays as it was", async () => {
  const root = await miniProject({
    "models/staging/a.sql": "select 1 as K, 1 as D, 10 as V",
    "models/marts/b.sql":
      "/*---\nmaterialized: incremental\nunique_key: [K, D]\n---*/\nselect * from {{ ref('a') }}",
  });
  const wh = await memoryWarehouse(root);
  const run = async (fullRefresh = false) =>
    (await runModels(wh, await loadProject(root), {
      asOf: AS_OF,
      targetDir: join(root, "target"),
      fullRefresh,
    })).results.find((x) => x.name === "b")!;
  const rows = () => wh.query("SELECT K, D, V FROM M1.b ORDER BY V");
  try {
    assertEquals((await run()).status, "success");
    await Deno.writeTextFile(
      join(root, "models/staging/a.sql"),
      "select 1 as K, 1 as D, 11 as V union all select NULL, 1, 12 " +
        "union all select NULL, NULL, 13",
    );
    // Twice: before, each run inserted the NULL-key rows again (IN never matches NULL).
    for (let i = 0; i < 2; i++) {
      const b = await run();
      assertEquals([b.mode, b.status, b.message], [
        "incremental",
        "error",
        "models/marts/b.sql:1:1 unique_key/replace_by NULL in new rows of b: K (2 rows), " +
        "D (1 row); a NULL key matches no row, so they would be inserted again on every run " +
        "(compiled SQL: target/compiled/duckdb/models/marts/b.incremental.sql)",
      ]);
      assertEquals(await rows(), [{ K: 1, D: 1, V: 10 }]);
    }
    // A full build is refused too, before it replaces the table (the next run would fail on it).
    const full = await run(true);
    assertEquals([full.mode, full.status, full.message], [
      "full-refresh",
      "error",
      "models/marts/b.sql:1:1 unique_key/replace_by NULL in the rows of b: K (2 rows), " +
      "D (1 row); a NULL key matches no row, so they would be inserted again on every run " +
      "(compiled SQL: target/compiled/duckdb/models/marts/b.sql)",
    ]);
    assertEquals(await rows(), [{ K: 1, D: 1, V: 10 }]);
    await Deno.writeTextFile(join(root, "models/staging/a.sql"), "select 1 as K, 1 as D, 11 as V");
    const fixed = await run();
    assertEquals([fixed.mode, fixed.status, fixed.rows], ["incremental", "success", 1]);
    assertEquals(await rows(), [{ K: 1, D: 1, V: 11 }]);
  } finally {
    await wh.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("column types are spelled one way: case and spaces of DuckDB's, precision and scale of Snowflake's NUMBER", () => {
  const row = (
    DATA_TYPE: string,
    NUMERIC_PRECISION: number | null,
    NUMERIC_SCALE: number | null,
  ) => ({
    COLUMN_NAME: "V",
    DATA_TYPE,
    NUMERIC_PRECISION,
    NUMERIC_SCALE,
  });
  assertEquals(columnType("duckdb", row("decimal(18, 3)", 18, 3)), "DECIMAL(18,3)");
  assertEquals(columnType("duckdb", row("INTEGER", 32, 0)), "INTEGER");
  assertEquals(columnType("snowflake", row("NUMBER", 38, 2)), "NUMBER(38,2)");
  assertEquals(columnType("snowflake", row("NUMBER", 38, 0)), "NUMBER(38,0)");
  assertEquals(columnType("snowflake", row("FLOAT", null, null)), "FLOAT");
  assertEquals(columnType("snowflake", row("TEXT", null, null)), "TEXT");
  const q = columnsQueryOf("snowflake", false, ["M1", "b"]);
  const t = transpile(q, Dialect.Snowflake, Dialect.Snowflake);
  assert(t.success, `${t.error}: ${q}`);
});

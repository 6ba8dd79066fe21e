/**
 * docs_generate: the static site under target/docs with manifest.json (every source and model,
 * columns with the warehouse's types, tests with their last results, compiled SQL for both
 * warehouses, lineage), and the loopback server behind `deno task docs`.
 */
import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { join } from "node:path";
import { type DocNode, generateDocs, type Manifest } from "../lib/models/docs.ts";
import { lineageSvg } from "../lib/models/docs_html.ts";
import { docsFile, serveDocs } from "../lib/models/docs_server.ts";
import { loadProject } from "../lib/models/project.ts";
import { runModels } from "../lib/models/run.ts";
import { runTests } from "../lib/models/test_run.ts";
import { AS_OF, fixtureWarehouse, REPO } from "./models_fixture.ts";

Deno.test("the docs site documents every source and model with types, tests, last results, compiled SQL and lineage", async () => {
  const fx = await fixtureWarehouse();
  try {
    const project = await loadProject(REPO);
    // Staging first, then marts (two runs: the site shows each model's latest result).
    await runModels(fx.wh, project, { asOf: AS_OF, targetDir: fx.targetDir, select: ["staging"] });
    await runModels(fx.wh, project, { asOf: AS_OF, targetDir: fx.targetDir, select: ["marts"] });
    await runTests(fx.wh, project, { asOf: AS_OF, targetDir: fx.targetDir });
    const r = await generateDocs(fx.wh, project, { asOf: AS_OF, targetDir: fx.targetDir });
    assertEquals(r.dir, `${fx.targetDir}/docs`);
    const m: Manifest = JSON.parse(await Deno.readTextFile(`${r.dir}/manifest.json`));
    const models = Object.values(m.nodes).filter((n) => n.kind === "model");
    const sources = Object.values(m.nodes).filter((n) => n.kind === "source");
    assertEquals(models.length, 16);
    assertEquals(sources.length, 8);
    for (const n of models) {
      assert(n.description.length > 20, `${n.name} has no description`);
      assert(n.grain, `${n.name} has no grain`);
      assert(n.built, `${n.name} not built`);
      assertEquals(n.lastRun?.status, "success");
      // Every column the warehouse has is documented, with its type.
      for (const c of n.columns) {
        assert(c.documented, `${n.name}.${c.name} is not documented`);
        assert(c.type, `${n.name}.${c.name} is not in the warehouse`);
        assert(c.description, `${n.name}.${c.name} has no description`);
      }
      assert(n.compiledSql!.duckdb.length > 0 && n.compiledSql!.snowflake.length > 0);
      assert(n.tests.length > 0, `${n.name} has no tests`);
    }
    // The sources too: every column of the operational tables, described.
    for (const n of sources) {
      assert(n.description, `${n.name} has no description`);
      assertEquals(
        n.columns.filter((c) => !c.documented || !c.type || !c.description).map((c) => c.name),
        [],
        `${n.name}: columns not documented, not in the warehouse or without a description`,
      );
    }
    const fct = m.nodes["model.gold_fct_stock_daily_prices"];
    assertEquals(fct.columns.find((c) => c.name === "RSI_14")!.type, "DOUBLE");
    assertEquals(fct.columns.find((c) => c.name === "TRADE_DATE")!.type, "DATE");
    assertEquals(fct.parents, ["model.stg_stock_prices_unified"]);
    assertEquals(fct.uniqueKey, ["TICKER", "TRADE_DATE"]);
    assertEquals(fct.lastRun!.mode, "full-refresh");
    assertMatch(fct.compiledSql!.snowflake, /power\(11::FLOAT \/ 13/);
    assertMatch(fct.compiledSql!.duckdb, /POWER\(CAST\(11 AS DOUBLE\) \/ 13/);
    assertEquals(m.nodes["source.operational.TBL_COMPANY"].columns[0], {
      name: "TICKER",
      type: "VARCHAR",
      description: "Local EGX code, e.g. COMI.",
      tests: ["unique_tbl_company_ticker", "not_null_tbl_company_ticker"],
      documented: true,
    });
    // Tests with their last results.
    assertEquals(Object.keys(m.tests).length, 191);
    // All pass but the warning on the fixtures' EXPA seam (bars beyond EGX's daily limit).
    assertEquals(
      Object.values(m.tests).filter((t) => t.lastResult?.status !== "pass").map((t) =>
        `${t.name}: ${t.lastResult?.status}`
      ),
      ["gold_prices_within_daily_limit: warn"],
    );
    assertEquals(m.lastTestRun!.counts, { pass: 190, fail: 0, warn: 1, error: 0 });
    // Lineage: sources -> staging -> gold -> views.
    const edges = new Set(m.lineage.edges.map(([a, b]) => `${a} > ${b}`));
    assert(edges.has("source.operational.TBL_STOCK_PRICE > model.stg_stock_prices_unified"));
    assert(edges.has("model.gold_fct_stock_daily_prices > model.vw_top_movers"));
    assertEquals(m.lineage.edges.length, 28); // 9 from sources, 19 between models
    // The pages.
    assertEquals(r.pages, 2 + 16 + 8);
    const index = await Deno.readTextFile(`${r.dir}/index.html`);
    assertMatch(index, /<svg [^>]*aria-label="lineage graph"/);
    assert(index.includes('href="models/gold_fct_stock_daily_prices.html"'));
    const page = await Deno.readTextFile(`${r.dir}/models/gold_fct_stock_daily_prices.html`);
    assert(page.includes("one row per TICKER and TRADE_DATE"));
    assert(page.includes("Compiled for DuckDB"));
    assert(page.includes("accepted_values_gold_fct_stock_daily_prices_trend_signal"));
    const tests = await Deno.readTextFile(`${r.dir}/tests.html`);
    assert(tests.includes("190 pass, 1 warn, 0 fail, 0 error"));
  } finally {
    await fx.close();
  }
});

Deno.test("tests keep their latest result across partial runs, and a full run forgets tests the project no longer has", async () => {
  const fx = await fixtureWarehouse();
  try {
    const project = await loadProject(REPO);
    await runModels(fx.wh, project, { asOf: AS_OF, targetDir: fx.targetDir });
    // The one-minute check warns: its failing rows are stored.
    await fx.wh.transaction((s) =>
      s.execute(
        `UPDATE DWH_SILVER.stg_intraday_bars SET VOLUME = VOLUME + 1
         WHERE TICKER = 'COMI' AND BAR_START = '2025-12-08 08:00:00'`,
      )
    );
    const full = await runTests(fx.wh, project, { asOf: AS_OF, targetDir: fx.targetDir });
    assertEquals(full.counts, { pass: 189, fail: 0, warn: 2, error: 0 });
    const one = "unique_gold_dim_company_ticker";
    const partial = await runTests(fx.wh, project, {
      asOf: AS_OF,
      targetDir: fx.targetDir,
      names: [one],
    });
    const docs = async (p = project): Promise<Manifest> =>
      JSON.parse(
        await Deno.readTextFile(
          `${
            (await generateDocs(fx.wh, p, { asOf: AS_OF, targetDir: fx.targetDir })).dir
          }/manifest.json`,
        ),
      );
    // Every test shows its latest result, from whichever run it came.
    const m = await docs();
    const at = (name: string) => m.tests[name].lastResult?.at;
    assertEquals(Object.keys(m.tests).length, 191);
    assertEquals(at(one), partial.startedAt);
    assertEquals(
      Object.keys(m.tests).filter((n) => n !== one && at(n) !== full.startedAt),
      [],
    );
    const moved = "assert_daily_bars_match_one_minute_bars";
    assertEquals(m.tests[moved].lastResult?.status, "warn");
    assertEquals(m.lastTestRun!.counts, { pass: 1, fail: 0, warn: 0, error: 0 });
    const stored = async () =>
      (await fx.wh.query<{ TEST_NAME: string }>("SELECT TEST_NAME FROM DWH_AUDIT.TEST_RESULTS"))
        .map((r) => r.TEST_NAME);
    assertEquals((await stored()).length, 191);
    // The warning test is renamed (removed here): a selected run keeps its results, a full run
    // forgets them, with its failing rows.
    const renamed = {
      ...project,
      singularTests: project.singularTests.filter((t) => t.name !== moved),
    };
    await runTests(fx.wh, renamed, { asOf: AS_OF, targetDir: fx.targetDir, names: [one] });
    assert((await stored()).includes(moved));
    // Someone else's table and view in the failures schema: a full run leaves them alone.
    await fx.wh.transaction(async (s) => {
      await s.execute("CREATE TABLE DWH_AUDIT.ANALYST_NOTES AS SELECT 1 AS N");
      await s.execute("CREATE VIEW DWH_AUDIT.ANALYST_VIEW AS SELECT 2 AS N");
    });
    await runTests(fx.wh, renamed, { asOf: AS_OF, targetDir: fx.targetDir });
    const left = await stored();
    assertEquals([left.length, left.includes(moved)], [190, false]);
    const tables = await fx.wh.query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'DWH_AUDIT'",
    );
    assertEquals(tables.map((t) => t.table_name).sort(), [
      "ANALYST_NOTES",
      "ANALYST_VIEW",
      "TEST_RESULTS",
      "gold_prices_within_daily_limit",
    ]);
    const status = JSON.parse(await Deno.readTextFile(`${fx.targetDir}/test_status.json`));
    assertEquals([Object.keys(status).length, moved in status], [190, false]);
    const after = await docs(renamed);
    assertEquals([Object.keys(after.tests).length, moved in after.tests], [190, false]);
  } finally {
    await fx.close();
  }
});

Deno.test("the docs server serves the site on loopback and nothing outside it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_docs_" });
  const ac = new AbortController();
  try {
    await Deno.mkdir(`${dir}/site/models`, { recursive: true });
    await Deno.writeTextFile(`${dir}/site/index.html`, "<h1>index</h1>");
    await Deno.writeTextFile(`${dir}/site/models/a.html`, "<h1>a</h1>");
    await Deno.writeTextFile(`${dir}/secret.txt`, "secret");
    const srv = await serveDocs(`${dir}/site`, { port: 0, signal: ac.signal });
    assertMatch(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const get = async (p: string) => {
      const r = await fetch(new URL(p, srv.url));
      return [r.status, await r.text(), r.headers.get("content-type")];
    };
    assertEquals(await get("/"), [200, "<h1>index</h1>", "text/html; charset=utf-8"]);
    assertEquals(await get("/models/a.html"), [200, "<h1>a</h1>", "text/html; charset=utf-8"]);
    assertEquals((await get("/nope.html"))[0], 404);
    assertEquals((await get("/%2e%2e/secret.txt"))[0], 404);
    assertEquals(docsFile("/site", "/../secret.txt"), "/site/secret.txt");
    assertEquals(docsFile("/site", "/%2e%2e/secret.txt"), "/site/secret.txt"); // clamped inside
    assertEquals(docsFile("/site", "/a%00b"), undefined);
    ac.abort();
    await srv.finished;
  } finally {
    ac.abort();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A new project folder with models/staging (schema S1) and its project.yml, no model yet. */
async function miniProject(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "egx_mini_" });
  await Deno.mkdir(join(root, "models/staging"), { recursive: true });
  await Deno.writeTextFile(
    join(root, "models/project.yml"),
    "name: mini\nfolders:\n  staging: {schema: S1}\n",
  );
  return root;
}

Deno.test("source and model names too long for a file name get short page names, every link leading to its page", async () => {
  const fx = await fixtureWarehouse({ load: false });
  const root = await miniProject();
  try {
    // Two long table names that differ only at their end, and a model name near the file
    // system's limit (its .sql file is 255 bytes) that reads the first.
    const long = "T".repeat(300);
    const long2 = "T".repeat(299) + "U";
    const model = "m_" + "a".repeat(248);
    await Deno.writeTextFile(
      join(root, `models/staging/${model}.sql`),
      `select 1 as X from {{ source('raw', '${long}') }}`,
    );
    await Deno.writeTextFile(
      join(root, "models/sources.yml"),
      "sources:\n  - name: raw\n    schema: RAW\n    tables:\n" +
        [long, long2, "T"].map((t) => `      - name: ${t}\n`).join(""),
    );
    const r = await generateDocs(fx.wh, await loadProject(root), {
      asOf: AS_OF,
      targetDir: fx.targetDir,
    });
    assertEquals(r.pages, 6);
    const sha = async (s: string) =>
      Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s))),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("").slice(0, 12);
    // Cut to 200 bytes with the hash of the node id: 200 - "-<12 hex>.html".length = 182.
    const expected = [
      `models/${model.slice(0, 182)}-${await sha(`model.${model}`)}.html`,
      `sources/raw.${"T".repeat(178)}-${await sha(`source.raw.${long}`)}.html`,
      `sources/raw.${"T".repeat(178)}-${await sha(`source.raw.${long2}`)}.html`,
      "sources/raw.T.html",
    ];
    const files: string[] = [];
    for (const folder of ["models", "sources"]) {
      for await (const d of Deno.readDir(join(r.dir, folder))) files.push(`${folder}/${d.name}`);
    }
    assertEquals(files.sort(), [...expected].sort());
    assertEquals(files.map((f) => f.split("/")[1].length).sort(), [10, 200, 200, 200]);
    // Every link of every page leads to a page that exists, and each node's page is linked.
    const linked = new Set<string>();
    for (const page of ["index.html", "tests.html", ...files]) {
      const html = await Deno.readTextFile(join(r.dir, page));
      for (const [, href] of html.matchAll(/href="([^"#]*)(?:#[^"]*)?"/g)) {
        if (href === "") continue;
        const target = new URL(href, `file:///site/${page}`).pathname.slice("/site/".length);
        assert((await Deno.stat(join(r.dir, target))).isFile, `${page} links to ${href}`);
        linked.add(target);
      }
    }
    for (const f of files) assert(linked.has(f), `nothing links to ${f}`);
    const page = await Deno.readTextFile(join(r.dir, expected[0]));
    assert(
      page.includes(`href="../${expected[1]}"`),
      "the model page links to its source, not the other long one",
    );
  } finally {
    await fx.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a docs page that cannot be written (its path too long for the system) fails the run and leaves neither a half-written site nor its temporary folder", async () => {
  const fx = await fixtureWarehouse({ load: false });
  const root = await miniProject();
  try {
    await Deno.writeTextFile(join(root, "models/staging/a.sql"), "select 1 as X");
    const sources = (table: string) =>
      `sources:\n  - name: raw\n    schema: RAW\n    tables:\n      - name: ${table}\n`;
    await Deno.writeTextFile(join(root, "models/sources.yml"), sources("T"));
    // A target folder of 3900 bytes: room for the site's folders and short pages, not for a
    // page of 200 bytes: that page's path is longer than the system's 4096 bytes.
    let targetDir = fx.targetDir;
    while (targetDir.length < 3900) {
      targetDir = join(targetDir, "d".repeat(Math.min(200, 3900 - targetDir.length - 1)));
    }
    await Deno.mkdir(targetDir, { recursive: true });
    const opts = { asOf: AS_OF, targetDir };
    await generateDocs(fx.wh, await loadProject(root), opts);
    const before = await Deno.readTextFile(join(targetDir, "docs/index.html"));
    await Deno.writeTextFile(join(root, "models/sources.yml"), sources("T".repeat(300)));
    const e = await generateDocs(fx.wh, await loadProject(root), opts).catch((e) => e);
    assert(e instanceof Error && /name too long/i.test(e.message), String(e));
    const left = [];
    for await (const d of Deno.readDir(targetDir)) left.push(d.name);
    assertEquals(left.filter((n) => n.startsWith("docs")), ["docs"]);
    assertEquals(await Deno.readTextFile(join(targetDir, "docs/index.html")), before);
  } finally {
    await fx.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a source's lineage graph starts with the source in the left column and has a finite height", () => {
  const node = (id: string, parents: string[], children: string[]): DocNode => ({
    id,
    kind: id.startsWith("source.") ? "source" : "model",
    name: id.split(".").at(-1)!,
    relation: `S.${id.split(".").at(-1)}`,
    file: "",
    description: "",
    built: true,
    columns: [],
    parents,
    children,
    tests: [],
  });
  const m: Manifest = {
    project: "mini",
    generatedAt: "",
    asOf: "",
    warehouse: "duckdb",
    nodes: {
      "source.s.T": node("source.s.T", [], ["model.a"]),
      "model.a": node("model.a", ["source.s.T"], ["model.b"]),
      "model.b": node("model.b", ["model.a"], []),
    },
    tests: {},
    lineage: {
      nodes: ["source.s.T", "model.a", "model.b"],
      edges: [["source.s.T", "model.a"], ["model.a", "model.b"]],
    },
  };
  const svg = (focus: string) => lineageSvg(m, { depth: 1, focus });
  const size = (s: string) => /^<svg [^>]*width="([^"]*)" height="([^"]*)"/.exec(s)!.slice(1);
  const xs = (s: string) => [...s.matchAll(/<rect x="(\d+)"/g)].map((x) => Number(x[1]));
  // Two columns (source, its child) of one box each: 20 + 2 * (230 + 90) - 90 wide, 20 + 36 high.
  assertEquals(size(svg("source.s.T")), ["570", "56"]);
  assertEquals(xs(svg("source.s.T")), [10, 330]);
  // A model with parents and children keeps its three columns.
  assertEquals(size(svg("model.a")), ["890", "56"]);
  assertEquals(xs(svg("model.a")), [10, 330, 650]);
});

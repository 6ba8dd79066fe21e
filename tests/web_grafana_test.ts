/**
 * The Grafana provisioning (compose.yaml, lib/web/grafana/): dashboards are the generated ones,
 * every query they send is answered by the real API with the fields the panels select, and the
 * files compose.yaml mounts exist where the provisioning looks for them. (Grafana itself needs
 * Docker, which the test machines do not have.)
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  dashboardTargets,
  dashboardText,
  DATASOURCE,
  grafanaDashboards,
} from "../lib/web/grafana/dashboards.ts";
import { buildMarketWarehouse } from "./support/market_warehouse.ts";
import { History, historyPath } from "../lib/runner/history.ts";
import { evaluateAlerts } from "../lib/alerts/run_alerts.ts";
import { parseRules } from "../lib/alerts/rules.ts";
import { startTestServer } from "./support/web_fixture.ts";

const DIR = "lib/web/grafana/dashboards";

Deno.test("the committed Grafana dashboards are the generated ones", async () => {
  const files = [...Deno.readDirSync(DIR)].map((e) => e.name).sort();
  const generated = grafanaDashboards();
  assert.deepEqual(files, Object.keys(generated).sort());
  for (const [name, d] of Object.entries(generated)) {
    assert.equal(
      await Deno.readTextFile(`${DIR}/${name}`),
      dashboardText(d),
      `${name} is stale: run deno run --allow-write=lib/web/grafana lib/web/grafana/write_dashboards.ts`,
    );
  }
});

Deno.test("compose.yaml provisions Grafana with the API data source and the dashboards", async () => {
  const compose = parse(await Deno.readTextFile("compose.yaml"));
  const g = compose.services.grafana;
  assert.match(g.image, /^grafana\/grafana:\d+\.\d+\.\d+$/);
  assert.match(
    g.environment.GF_PLUGINS_PREINSTALL,
    /^yesoreyeram-infinity-datasource@\d+\.\d+\.\d+$/,
  );
  const mounts = new Map(
    (g.volumes as string[]).map((v) => {
      const [host, container] = v.split(":");
      return [container, host];
    }),
  );
  assert.equal(mounts.get("/etc/grafana/provisioning"), "./lib/web/grafana/provisioning");
  const ds = parse(
    await Deno.readTextFile("lib/web/grafana/provisioning/datasources/egx_api.yaml"),
  ).datasources[0];
  assert.deepEqual([ds.type, ds.uid, ds.url], [DATASOURCE.type, DATASOURCE.uid, "${EGX_API_URL}"]);
  assert.equal(ds.secureJsonData.httpHeaderValue1, "Bearer ${EGX_API_TOKEN}");
  const provider = parse(
    await Deno.readTextFile("lib/web/grafana/provisioning/dashboards/egx.yaml"),
  ).providers[0];
  assert.equal(mounts.get(provider.options.path), `./${DIR}`);
  assert.equal(
    g.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH,
    `${provider.options.path}/egx_market.json`,
  );
});

/** JSONata-style dot path (the only form the dashboards use). */
function select(body: unknown, path: string): unknown {
  return path.split(".").reduce((v, k) => (v as Record<string, unknown>)?.[k], body);
}

Deno.test("every dashboard query is answered by the API with the fields its panel selects", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx-grafana-" });
  await buildMarketWarehouse(`${dir}/egx.duckdb`);
  // Something in every list the pipeline dashboard shows: a run, a stream position, an alert.
  const h = new History(historyPath(`${dir}/logs`));
  h.startRun({ id: "r1", target: "full_pipeline", trigger: "manual", jobs: ["a"], at: 0 });
  h.startJob("r1", "a", 0);
  h.endJob("r1", "a", { status: "ok", at: 1000, attempts: 1 });
  h.endRun("r1", "ok", 1000);
  h.close();
  const srv = await startTestServer({ warehouse: `${dir}/egx.duckdb`, logDir: `${dir}/logs` });
  await srv.warehouse.transaction((s) =>
    s.execute(
      "INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID, " +
        "NEXT_OFFSET) VALUES ('egx-warehouse-writer', 'egx.quotes.v1', 0, 42)",
    )
  );
  await evaluateAlerts(
    srv.warehouse,
    parseRules("rules:\n  - {id: m, kind: price_move, threshold_pct: 5}\n"),
    {
      source: "pipeline",
      date: "2025-11-13",
      write: () => {},
    },
  );
  try {
    let checked = 0;
    for (const [name, d] of Object.entries(grafanaDashboards())) {
      for (const t of dashboardTargets(d)) {
        const url = t.url
          .replaceAll("${__from:date:YYYY-MM-DD}", "2024-12-08")
          .replaceAll("${__to:date:YYYY-MM-DD}", "2025-12-08")
          .replaceAll("$ticker", "COMI");
        assert.ok(!url.includes("$"), `${name}: unknown variable in ${t.url}`);
        const r = await srv.get(url);
        assert.equal(r.status, 200, `${name} ${url}: ${JSON.stringify(r.body)}`);
        const rows = select(r.body, t.root_selector);
        const first = Array.isArray(rows) ? rows[0] : rows;
        assert.ok(
          first && typeof first === "object",
          `${name} ${url}: no rows at ${t.root_selector}`,
        );
        for (const c of t.columns) {
          assert.ok(c.selector in (first as object), `${name} ${url}: no field ${c.selector}`);
        }
        checked++;
      }
    }
    assert.equal(checked, 29); // 12 market, 5 ticker (with its variable), 2 sectors, 4 indices, 6 pipeline
  } finally {
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Regenerate the Grafana dashboards (lib/web/grafana/dashboards/*.json) from dashboards.ts.
 *
 *   deno run --allow-write=lib/web/grafana lib/web/grafana/write_dashboards.ts
 */
import { dashboardText, grafanaDashboards } from "./dashboards.ts";

if (import.meta.main) {
  const dir = new URL("./dashboards/", import.meta.url);
  for (const [name, d] of Object.entries(grafanaDashboards())) {
    await Deno.writeTextFile(new URL(name, dir), dashboardText(d));
    console.log(`wrote lib/web/grafana/dashboards/${name}`);
  }
}

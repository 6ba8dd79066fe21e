// Index performance: levels of every index over time (one line each) and a performance table.
import {
  api,
  apiAll,
  chartTheme,
  COLORS,
  egx,
  fillTable,
  fmtNum,
  h,
  live,
  pctCell,
} from "./app.js";

const LC = globalThis.LightweightCharts;
let chart;
const series = new Map();

/** The index's weighting, and how its latest level was computed when that differs. */
const METHOD = {
  EQUAL: "",
  LISTED_WEIGHTS: "",
  LISTED_WEIGHTS_WITH_AVERAGE_FILL: " (members without a weight: the average)",
  EQUAL_FALLBACK: " (no weights listed: computed equal-weighted)",
};
function weighting(r) {
  const name = { CAP_WEIGHTED: "cap-weighted", EQUAL_WEIGHTED: "equal-weighted" }[r.weighting] ??
    r.weighting;
  return name + (METHOD[r.weightMethod] ?? ` (${r.weightMethod})`);
}

async function render() {
  const indices = (await api("/api/v1/indices")).data;
  const rows = await apiAll("/api/v1/indices/performance");
  const byIndex = new Map(indices.map((i) => [i.code, []]));
  for (const r of rows) byIndex.get(r.index)?.push(r);
  egx.data.indices = indices;
  egx.data.indexLevels = Object.fromEntries(byIndex);
  chart ??= LC.createChart(document.getElementById("index-chart"), chartTheme);
  const legend = [];
  [...byIndex.keys()].forEach((code, i) => {
    const color = COLORS[i % COLORS.length];
    let s = series.get(code);
    if (!s) {
      s = chart.addSeries(LC.LineSeries, { color, lineWidth: 2 });
      series.set(code, s);
    }
    s.setData(byIndex.get(code).map((r) => ({ time: r.date, value: r.level })));
    legend.push(h("span", {}, h("i", { style: `background:${color}` }), code));
  });
  chart.timeScale().fitContent();
  egx.charts.indexLevels = Object.fromEntries(series);
  document.getElementById("index-legend").replaceChildren(...legend);

  const latestDate = rows.reduce((m, r) => (r.date > m ? r.date : m), "");
  document.getElementById("index-date").textContent = latestDate || "—";
  const table = indices.map((i) => {
    const s = byIndex.get(i.code);
    const last = s[s.length - 1];
    return { ...i, last };
  });
  fillTable(
    document.getElementById("index-table"),
    [
      { label: "Index", value: (r) => r.code },
      { label: "Name", value: (r) => r.name },
      { label: "Weighting", value: weighting },
      { label: "Members", class: "num", value: (r) => r.members },
      { label: "Date", value: (r) => r.last?.date ?? "—" },
      { label: "Level", class: "num", value: (r) => fmtNum(r.last?.level) },
      { label: "Change", class: "num", value: (r) => pctCell(r.last?.changePct) },
    ],
    table,
    (r) => r.code,
  );
}

live(render);

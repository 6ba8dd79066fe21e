// Index performance: levels of every index over time (one line each) and a performance table.
import {
  api,
  apiAll,
  chartTheme,
  COLORS,
  egx,
  fillTable,
  fmtNum,
  fmtPct,
  h,
  live,
  signClass,
} from "./app.js";

const LC = globalThis.LightweightCharts;
let chart;
const series = new Map();

function pctCell(x) {
  return h("span", { class: signClass(x) }, fmtPct(x));
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
  const extra = rows.length
    ? Object.keys(rows[0]).filter((k) => /Pct$/.test(k) && k !== "changePct")
    : [];
  fillTable(
    document.getElementById("index-table"),
    [
      { label: "Index", value: (r) => r.code },
      { label: "Name", value: (r) => r.name },
      { label: "Weighting", value: (r) => r.weighting },
      { label: "Members", class: "num", value: (r) => r.members },
      { label: "Date", value: (r) => r.last?.date ?? "—" },
      { label: "Level", class: "num", value: (r) => fmtNum(r.last?.level) },
      { label: "Change", class: "num", value: (r) => pctCell(r.last?.changePct) },
      ...extra.map((k) => ({ label: k, class: "num", value: (r) => pctCell(r.last?.[k]) })),
    ],
    table,
    (r) => r.code,
  );
}

live(render);

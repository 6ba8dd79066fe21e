// Market overview: breadth, index levels, movers, volume leaders and every stock of the day.
import {
  api,
  apiAll,
  chartTheme,
  COLORS,
  daysBefore,
  egx,
  fillTable,
  fmtInt,
  fmtNum,
  h,
  live,
  pctCell,
  tickerLink,
} from "./app.js";

const LC = globalThis.LightweightCharts;
let indexChart;
const indexSeries = new Map();

async function render() {
  const snap = (await api("/api/v1/market/snapshot")).data;
  egx.data.snapshot = snap;
  document.getElementById("market-date").textContent = snap.date;
  const b = snap.breadth;
  document.getElementById("kpi-adv").textContent = b.advancers;
  document.getElementById("kpi-dec").textContent = b.decliners;
  document.getElementById("kpi-unc").textContent = b.unchanged;
  document.getElementById("kpi-volume").textContent = fmtInt(snap.totals.volume);
  document.getElementById("kpi-value").textContent = fmtInt(snap.totals.value);
  const total = Math.max(1, b.advancers + b.decliners + b.unchanged);
  document.getElementById("breadth").replaceChildren(
    h("div", { class: "adv", style: `width:${(100 * b.advancers) / total}%` }),
    h("div", { class: "unc", style: `width:${(100 * b.unchanged) / total}%` }),
    h("div", { class: "dec", style: `width:${(100 * b.decliners) / total}%` }),
  );

  const [gainers, losers, leaders] = await Promise.all([
    api("/api/v1/market/top-movers", { date: snap.date, direction: "gainers", limit: 5 }),
    api("/api/v1/market/top-movers", { date: snap.date, direction: "losers", limit: 5 }),
    api("/api/v1/market/volume-leaders", { date: snap.date, limit: 5 }),
  ]);
  const moverCols = [
    { label: "Ticker", value: (r) => tickerLink(r.ticker) },
    { label: "Close", class: "num", value: (r) => fmtNum(r.close) },
    { label: "Change", class: "num", value: (r) => pctCell(r.changePct) },
  ];
  // A "loser" must have lost: on a day with few decliners the list is shorter.
  const up = gainers.data.filter((r) => r.changePct > 0);
  const down = losers.data.filter((r) => r.changePct < 0);
  fillTable(document.getElementById("gainers"), moverCols, up, (r) => r.ticker);
  fillTable(document.getElementById("losers"), moverCols, down, (r) => r.ticker);
  fillTable(
    document.getElementById("volume-leaders"),
    [
      { label: "Ticker", value: (r) => tickerLink(r.ticker) },
      { label: "Volume", class: "num", value: (r) => fmtInt(r.volume) },
      { label: "Change", class: "num", value: (r) => pctCell(r.changePct) },
    ],
    leaders.data,
    (r) => r.ticker,
  );
  egx.data.gainers = up;
  egx.data.losers = down;
  egx.data.volumeLeaders = leaders.data;

  fillTable(
    document.getElementById("snapshot"),
    [
      { label: "Ticker", value: (r) => tickerLink(r.ticker) },
      { label: "Company", value: (r) => r.name },
      { label: "Sector", value: (r) => r.sector ?? "—" },
      { label: "Close", class: "num", value: (r) => fmtNum(r.close) },
      { label: "Prev. close", class: "num", value: (r) => fmtNum(r.prevClose) },
      { label: "Change", class: "num", value: (r) => pctCell(r.changePct) },
      { label: "Volume", class: "num", value: (r) => fmtInt(r.volume) },
    ],
    snap.stocks,
    (r) => r.ticker,
  );

  // Index levels over the last 90 days up to the market date.
  const levels = await apiAll("/api/v1/indices/performance", {
    from: daysBefore(snap.date, 90),
    to: snap.date,
  });
  const byIndex = new Map();
  for (const r of levels) {
    if (!byIndex.has(r.index)) byIndex.set(r.index, []);
    byIndex.get(r.index).push(r);
  }
  egx.data.indexLevels = Object.fromEntries(byIndex);
  indexChart ??= LC.createChart(document.getElementById("index-chart"), {
    ...chartTheme,
    rightPriceScale: { ...chartTheme.rightPriceScale, mode: LC.PriceScaleMode.Percentage },
  });
  // A line keeps its colour across live updates, and the legend shows each line's own: an index
  // that appears later (or sorts before the others) takes a colour no line has, and one that is
  // gone from the 90 days leaves the chart and frees its colour.
  for (const [code, s] of indexSeries) {
    if (byIndex.has(code)) continue;
    indexChart.removeSeries(s);
    indexSeries.delete(code);
  }
  const legend = [];
  for (const code of [...byIndex.keys()].sort()) {
    let s = indexSeries.get(code);
    if (!s) {
      const used = new Set([...indexSeries.values()].map((x) => x.options().color));
      const color = COLORS.find((c) => !used.has(c)) ?? COLORS[indexSeries.size % COLORS.length];
      s = indexChart.addSeries(LC.LineSeries, { color, lineWidth: 2 });
      indexSeries.set(code, s);
    }
    s.setData(byIndex.get(code).map((r) => ({ time: r.date, value: r.level })));
    legend.push(h("span", {}, h("i", { style: `background:${s.options().color}` }), code));
  }
  indexChart.timeScale().fitContent();
  egx.charts.indexLevels = Object.fromEntries(indexSeries);
  document.getElementById("index-legend").replaceChildren(...legend);
  const latest = [...byIndex.entries()].map(([code, rows]) => ({ code, ...rows[rows.length - 1] }))
    .sort((a, b) => a.code.localeCompare(b.code));
  fillTable(
    document.getElementById("index-table"),
    [
      { label: "Index", value: (r) => r.code },
      { label: "Date", value: (r) => r.date },
      { label: "Level", class: "num", value: (r) => fmtNum(r.level) },
      { label: "Change", class: "num", value: (r) => pctCell(r.changePct) },
    ],
    latest,
    (r) => r.code,
  );
}

live(render);

// Ticker detail: candlesticks with volume and the gold indicators (moving averages on the price
// pane, RSI on its own pane), today's intraday bars on a Cairo-time axis, latest indicators.
import {
  api,
  apiAll,
  ApiError,
  chartTheme,
  clearError,
  COLORS,
  daysBefore,
  egx,
  fillTable,
  fmtCairoHm,
  fmtInt,
  fmtNum,
  fmtPct,
  h,
  live,
  showError,
  signClass,
} from "./app.js";

const LC = globalThis.LightweightCharts;
// As typed: the API validates and upper-cases it. Upper-casing here would turn "comı" into COMI
// (JavaScript maps the dotless ı to I), showing a ticker the API refuses as not ASCII.
const pathTicker = decodeURIComponent(location.pathname.split("/")[2] ?? "");
let ticker = pathTicker || null;
let range = "365";
let priceChart, candles, volume, intradayChart, intraday;
const lines = new Map();

/** Indicator lines drawn on the price pane, and on their own pane below (RSI). */
const PRICE_LINES = ["ma7", "ma30", "bbUpper", "bbLower"];
const PANE_LINES = ["rsi14"];
const TABLE_COLUMNS = [
  "close",
  "ma7",
  "ma30",
  "rsi14",
  "trendSignal",
  "rsiSignal",
];

function ensureCharts() {
  if (priceChart) return;
  priceChart = LC.createChart(document.getElementById("price-chart"), chartTheme);
  candles = priceChart.addSeries(LC.CandlestickSeries, {
    upColor: "#0e9f6e",
    downColor: "#e02424",
    borderVisible: false,
    wickUpColor: "#0e9f6e",
    wickDownColor: "#e02424",
  });
  candles.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
  volume = priceChart.addSeries(LC.HistogramSeries, {
    priceScaleId: "volume",
    priceFormat: { type: "volume" },
    color: "#9fb3c8",
  });
  priceChart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  intradayChart = LC.createChart(document.getElementById("intraday-chart"), {
    ...chartTheme,
    localization: { timeFormatter: fmtCairoHm },
    timeScale: { ...chartTheme.timeScale, timeVisible: true, tickMarkFormatter: fmtCairoHm },
  });
  intraday = intradayChart.addSeries(LC.LineSeries, { color: "#2563eb", lineWidth: 2 });
  egx.charts = { candles, volume, intraday, indicators: {} };
}

let picker; // the picker's fill, shared by renders that overlap (a range clicked while loading)
/**
 * Fill the picker at every live render (`live` passes the data version it renders; a range click
 * passes none and shares the fill it finds): a company that gets prices while the page is open
 * joins the list.
 */
function fillPicker(liveVersion) {
  if (liveVersion !== undefined) picker = undefined;
  picker ??= loadPicker().catch((e) => {
    picker = undefined; // a failed fill is tried again by the next render
    throw e;
  });
  return picker;
}

async function loadPicker() {
  const select = document.getElementById("ticker-select");
  const companies = await apiAll("/api/v1/companies", { hasPrices: "true" });
  select.replaceChildren(
    ...companies.map((c) => h("option", { value: c.ticker }, `${c.ticker} · ${c.name}`)),
  );
  if (!ticker && companies.length) ticker = companies[0].ticker;
  select.value = ticker;
}

document.getElementById("ticker-select").addEventListener("change", (e) => {
  location.href = `/ticker/${encodeURIComponent(e.target.value)}`;
});

/** Bumped by every render: a render that a later one (a range click) overtook draws nothing. */
let renderId = 0;

async function render(version) {
  const id = ++renderId;
  const current = () => id === renderId;
  ensureCharts();
  await fillPicker(version);
  if (!ticker || !current()) return;
  let company;
  try {
    company = (await api(`/api/v1/companies/${encodeURIComponent(ticker)}`)).data;
    if (!current()) return;
  } catch (e) {
    if (!current()) return;
    if (e instanceof ApiError && e.status === 404) {
      document.getElementById("ticker-title").textContent =
        `${ticker.toUpperCase()}: unknown ticker`;
      return;
    }
    throw e;
  }
  ticker = company.ticker; // the API's spelling: /ticker/comi is COMI
  const select = document.getElementById("ticker-select");
  if (![...select.options].some((o) => o.value === ticker)) {
    // The picker lists companies with prices: name this one too, rather than show a blank.
    const note = company.lastDate ? "" : " (no prices)"; // or prices newer than the list
    select.append(h("option", { value: ticker }, `${ticker} · ${company.name}${note}`));
  }
  select.value = ticker;
  document.title = `${company.ticker} · EGX pipeline`;
  document.getElementById("ticker-title").textContent = `${company.ticker} · ${company.name}`;
  document.getElementById("ticker-sub").textContent = [company.sector, company.isin]
    .filter(Boolean).join(" · ");
  const last = company.latest;
  document.getElementById("kpi-close").textContent = last ? fmtNum(last.close) : "—";
  const ch = document.getElementById("kpi-change");
  ch.textContent = last ? fmtPct(last.changePct) : "—";
  ch.className = `value ${signClass(last?.changePct ?? 0)}`;
  document.getElementById("kpi-volume").textContent = last ? fmtInt(last.volume) : "—";
  document.getElementById("kpi-date").textContent = last?.date ?? "—";
  if (!company.lastDate) {
    // A listed company the files have no prices for: say so, rather than show empty charts.
    egx.data.daily = [];
    egx.data.indicators = [];
    egx.data.intraday = [];
    candles.setData([]);
    volume.setData([]);
    for (const s of lines.values()) s.setData([]);
    intraday.setData([]);
    document.getElementById("price-legend").replaceChildren(
      `no daily prices for ${company.ticker}`,
    );
    document.getElementById("intraday-date").textContent = "no intraday bars";
    fillTable(document.getElementById("indicator-table"), [{ label: "Date" }], []);
    return;
  }

  const from = range === "all" ? company.firstDate : daysBefore(company.lastDate, Number(range));
  const params = { from, to: company.lastDate };
  const [daily, indicators] = await Promise.all([
    apiAll(`/api/v1/prices/${ticker}/daily`, params),
    apiAll(`/api/v1/indicators/${ticker}`, params),
  ]);
  if (!current()) return;
  egx.data.daily = daily;
  egx.data.indicators = indicators;
  candles.setData(daily.map((r) => ({
    time: r.date,
    open: r.open,
    high: r.high,
    low: r.low,
    close: r.close,
  })));
  // A day whose volume is not known (null: an Investing.com "-") is a gap, not a 0 bar.
  volume.setData(daily.map((r) =>
    r.volume === null ? { time: r.date } : {
      time: r.date,
      value: r.volume,
      color: r.close >= r.open ? "rgba(14,159,110,0.45)" : "rgba(224,36,36,0.45)",
    }
  ));

  const keys = [...PRICE_LINES, ...PANE_LINES];
  const legend = [
    h("span", {}, h("i", { style: "background:#0e9f6e" }), "OHLC"),
    h("span", {}, h("i", { style: "background:#9fb3c8" }), "volume"),
  ];
  keys.forEach((k, i) => {
    const color = COLORS[i % COLORS.length];
    const pane = PANE_LINES.includes(k) ? 1 : 0;
    let s = lines.get(k);
    if (!s) {
      s = priceChart.addSeries(
        LC.LineSeries,
        {
          color,
          lineWidth: k.startsWith("bb") ? 1 : 2,
          lineStyle: k.startsWith("bb") ? LC.LineStyle.Dashed : LC.LineStyle.Solid,
          priceLineVisible: false,
          lastValueVisible: false,
        },
        pane,
      );
      lines.set(k, s);
    }
    s.setData(indicators.filter((r) => r[k] !== null).map((r) => ({ time: r.date, value: r[k] })));
    egx.charts.indicators[k] = s;
    legend.push(h("span", {}, h("i", { style: `background:${color}` }), k));
  });
  if (priceChart.panes().length > 1) priceChart.panes()[1].setHeight(90);
  priceChart.timeScale().fitContent();
  document.getElementById("price-legend").replaceChildren(...legend);

  const latestInd = indicators.slice(-10).reverse();
  fillTable(
    document.getElementById("indicator-table"),
    [
      { label: "Date", value: (r) => r.date },
      ...TABLE_COLUMNS.map((k) => ({
        label: k,
        class: "num",
        value: (r) => (typeof r[k] === "string" ? r[k] : fmtNum(r[k])),
      })),
    ],
    latestInd,
    (r) => r.date,
  );

  const bars = await api(`/api/v1/prices/${ticker}/intraday`, { limit: 1000 });
  if (!current()) return;
  egx.data.intraday = bars.data;
  document.getElementById("intraday-date").textContent = bars.data.length
    ? `${bars.data[0].date} (Cairo time)`
    : "no intraday bars";
  intraday.setData(bars.data.map((b) => ({ time: Date.parse(b.time) / 1000, value: b.close })));
  intradayChart.timeScale().fitContent();
}

for (const b of document.querySelectorAll("#ranges button")) {
  b.addEventListener("click", () => {
    range = b.dataset.range;
    for (const o of document.querySelectorAll("#ranges button")) {
      o.setAttribute("aria-pressed", String(o === b));
    }
    // Shown like a failed update: the pressed button must not hide that the chart is not its.
    render().then(clearError, (e) => showError("update failed", e));
  });
}

live(render);

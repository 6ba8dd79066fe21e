// Sector comparison: average change per sector as bars, sector table, stocks grouped by sector.
import {
  api,
  egx,
  fillTable,
  fmtInt,
  fmtNum,
  fmtPct,
  h,
  live,
  pctCell,
  signClass,
  tickerLink,
} from "./app.js";

async function render() {
  const snap = (await api("/api/v1/market/snapshot")).data;
  const sectors = (await api("/api/v1/sectors/performance", { date: snap.date })).data;
  egx.data.sectors = sectors;
  document.getElementById("sector-date").textContent = snap.date;

  const max = Math.max(0.5, ...sectors.map((s) => Math.abs(s.avgChangePct ?? 0)));
  document.getElementById("sector-bars").replaceChildren(
    ...sectors.map((s) => {
      const w = (50 * Math.abs(s.avgChangePct ?? 0)) / max;
      const style = (s.avgChangePct ?? 0) >= 0
        ? `left:50%;width:${w}%`
        : `left:${50 - w}%;width:${w}%`;
      return h(
        "div",
        { class: "row", "data-key": s.sector },
        h("span", {}, s.sector),
        h(
          "span",
          { class: "track" },
          h("span", { class: "zero" }),
          h("span", {
            class: `bar ${(s.avgChangePct ?? 0) >= 0 ? "up" : "down"}`,
            style,
          }),
        ),
        h("span", { class: `num ${signClass(s.avgChangePct)}` }, fmtPct(s.avgChangePct)),
      );
    }),
  );

  fillTable(
    document.getElementById("sector-table"),
    [
      { label: "Sector", value: (r) => r.sector },
      { label: "Stocks", class: "num", value: (r) => r.companies },
      { label: "Up / down", class: "num", value: (r) => `${r.advancers} / ${r.decliners}` },
      { label: "Avg change", class: "num", value: (r) => pctCell(r.avgChangePct) },
      { label: "Volume", class: "num", value: (r) => fmtInt(r.volume) },
    ],
    sectors,
    (r) => r.sector,
  );

  const stocks = [...snap.stocks].sort((a, b) =>
    (a.sector ?? "~").localeCompare(b.sector ?? "~") || a.ticker.localeCompare(b.ticker)
  );
  fillTable(
    document.getElementById("sector-stocks"),
    [
      { label: "Sector", value: (r) => r.sector ?? "(unknown)" },
      { label: "Ticker", value: (r) => tickerLink(r.ticker) },
      { label: "Company", value: (r) => r.name },
      { label: "Close", class: "num", value: (r) => fmtNum(r.close) },
      { label: "Change", class: "num", value: (r) => pctCell(r.changePct) },
      { label: "Volume", class: "num", value: (r) => fmtInt(r.volume) },
    ],
    stocks,
    (r) => r.ticker,
  );
}

live(render);

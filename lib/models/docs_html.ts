/**
 * The docs site's HTML: plain static pages (no script needed), relative links so the site works
 * from any URL prefix (the dashboard serves it under its own path), and an SVG lineage graph.
 */
import { createHash } from "node:crypto";
import type { DocNode, DocTest, Manifest } from "./docs.ts";

export function esc(s: unknown): string {
  return String(s ?? "").replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#12324a;color:#fff;padding:10px 24px}header a{color:#fff;margin-right:18px}
main{padding:16px 24px;max-width:1400px;overflow-wrap:break-word}h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0}
th,td{border:1px solid #dde2e8;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#fff;border:1px solid #dde2e8;padding:10px;overflow:auto;max-height:480px}
.badge{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;color:#fff}
.pass,.success{background:#2e7d32}.fail,.error{background:#c62828}.warn{background:#ef6c00}
.skipped,.none{background:#78909c}.muted{color:#6b7785}.meta td:first-child{width:160px}
svg a text{fill:#12324a}svg a:hover rect{stroke:#ef6c00;stroke-width:2}
.scroll,.wrap{overflow-x:auto}.wrap{margin:8px 0}.wrap>table{margin:0}
@media (max-width:600px){header,main{padding-left:12px;padding-right:12px}}
`;

/**
 * A table in a box that scrolls sideways by itself: on a phone screen a table wider than the
 * screen must not make the whole page scroll.
 */
function table(rows: string, cls = ""): string {
  return `<div class="wrap"><table${cls ? ` class="${cls}"` : ""}>${rows}</table></div>`;
}

function page(title: string, depth: number, body: string): string {
  const up = "../".repeat(depth);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)}</title>
<style>${CSS}</style></head><body><header><a href="${up}index.html"><b>egx models</b></a>
<a href="${up}index.html#lineage">Lineage</a><a href="${up}tests.html">Tests</a>
<a href="${up}manifest.json">manifest.json</a></header><main>${body}</main></body></html>\n`;
}

/**
 * Most bytes of a page's file name. File systems allow 255 (a name longer fails the write: a
 * source table name of 250 characters stopped docs_generate); this leaves room for the suffixes
 * of tools that copy the site (`.tmp`, `~`, `.orig`).
 */
export const MAX_PAGE_NAME_BYTES = 200;

/** Hex digits of the SHA-256 of the node id that set a cut page name apart. */
const PAGE_HASH_DIGITS = 12;

/**
 * A node's page file name: `<name>.html` (`<source>.<table>.html` for a source table), or, when
 * that is longer than MAX_PAGE_NAME_BYTES, the name cut to fit followed by `-` and the first
 * PAGE_HASH_DIGITS hex digits of the SHA-256 of the node's id, so that two long names that share
 * their beginning still get two pages. (Names are identifiers: ASCII, no `-`, no `/`.)
 */
export function pageFileName(id: string): string {
  const name = id.split(".").slice(1).join(".");
  const whole = `${name}.html`;
  const bytes = new TextEncoder();
  if (bytes.encode(whole).length <= MAX_PAGE_NAME_BYTES) return whole;
  const hash = createHash("sha256").update(id).digest("hex").slice(0, PAGE_HASH_DIGITS);
  const room = MAX_PAGE_NAME_BYTES - `-${hash}.html`.length;
  // Cut on a whole character (a name of other characters would not be cut inside one).
  let cut = "";
  for (const ch of name) {
    if (bytes.encode(cut + ch).length > room) break;
    cut += ch;
  }
  return `${cut}-${hash}.html`;
}

/** A node's page, relative to the site's root: the href every link to it uses. */
export function nodeHref(id: string): string {
  const kind = id.split(".")[0];
  return `${kind === "model" ? "models" : "sources"}/${pageFileName(id)}`;
}

function badge(status: string | undefined): string {
  return status ? `<span class="badge ${esc(status)}">${esc(status)}</span>` : "";
}

function testStatus(m: Manifest, name: string): string {
  const t = m.tests[name];
  return t?.lastResult ? t.lastResult.status : "none";
}

/** Layered lineage graph: sources on the left, each model one layer right of its parents. */
export function lineageSvg(
  m: Manifest,
  { depth, focus }: { depth: number; focus?: string },
): string {
  const up = "../".repeat(depth);
  let ids = m.lineage.nodes;
  if (focus) {
    const n = m.nodes[focus];
    ids = [...new Set([...n.parents, focus, ...n.children])];
  }
  const layer = new Map<string, number>();
  const layerOf = (id: string): number => {
    if (layer.has(id)) return layer.get(id)!;
    const n = m.nodes[id];
    const l = n.parents.length === 0 ? 0 : 1 + Math.max(...n.parents.map(layerOf));
    layer.set(id, l);
    return l;
  };
  const slots: string[][] = [];
  for (const id of ids) {
    const l = focus
      ? (id === focus ? 1 : m.nodes[focus].parents.includes(id) ? 0 : 2)
      : layerOf(id);
    (slots[l] ??= []).push(id);
  }
  // A focus without parents (every source) leaves slot 0 a hole: dropped, so the graph has no
  // empty left column, and the height is a number (Math.max over a hole was NaN: height="NaN").
  const layers = slots.filter((l) => l !== undefined);
  const W = 230, H = 26, GX = 90, GY = 10;
  const pos = new Map<string, { x: number; y: number }>();
  layers.forEach((ls, i) => {
    if (i > 0) {
      const bary = (id: string) => {
        const ps = m.nodes[id].parents.filter((p) => pos.has(p)).map((p) => pos.get(p)!.y);
        return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : 0;
      };
      ls.sort((a, b) => bary(a) - bary(b) || a.localeCompare(b));
    } else ls.sort();
    ls.forEach((id, j) => pos.set(id, { x: 10 + i * (W + GX), y: 10 + j * (H + GY) }));
  });
  const width = 20 + layers.length * (W + GX) - GX;
  const height = 20 + Math.max(...layers.map((l) => l.length)) * (H + GY);
  const edges = m.lineage.edges.filter(([a, b]) => pos.has(a) && pos.has(b)).map(([a, b]) => {
    const p = pos.get(a)!, q = pos.get(b)!;
    const x1 = p.x + W, y1 = p.y + H / 2, x2 = q.x, y2 = q.y + H / 2;
    const mx = (x1 + x2) / 2;
    return `<path d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}" fill="none" ` +
      `stroke="#9aa7b4" marker-end="url(#arrow)"><title>${esc(a)} -&gt; ${esc(b)}</title></path>`;
  });
  const boxes = [...pos].map(([id, p]) => {
    const n = m.nodes[id];
    const fill = n.kind === "source"
      ? "#e3f2fd"
      : n.name.startsWith("vw_")
      ? "#f3e5f5"
      : n.name.startsWith("gold_")
      ? "#fff8e1"
      : "#e8f5e9";
    const stroke = id === focus ? "#ef6c00" : n.lastRun?.status === "error" ? "#c62828" : "#8a99a8";
    return `<a href="${up}${
      nodeHref(id)
    }"><rect x="${p.x}" y="${p.y}" width="${W}" height="${H}" ` +
      `rx="4" fill="${fill}" stroke="${stroke}"/><text x="${p.x + 8}" y="${p.y + 17}" ` +
      `font-size="12">${esc(n.name)}</text><title>${esc(n.relation)}</title></a>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" role="img" aria-label="lineage graph">` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" ` +
    `markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#9aa7b4"/></marker></defs>` +
    edges.join("") + boxes.join("") + `</svg>`;
}

function firstSentence(s: string): string {
  const m = /^(.*?[.!?])(\s|$)/s.exec(s.trim());
  return (m ? m[1] : s).replace(/\s+/g, " ");
}

function links(ids: string[], up: string, m: Manifest): string {
  return ids.length === 0
    ? '<span class="muted">none</span>'
    : ids.map((id) => `<a href="${up}${nodeHref(id)}">${esc(m.nodes[id]?.name ?? id)}</a>`)
      .join(", ");
}

function nodePage(m: Manifest, n: DocNode): string {
  const up = "../";
  const meta: [string, string][] = [
    [
      "Relation",
      `<code>${esc(n.relation)}</code>${
        n.built ? "" : ' <span class="badge fail">not built</span>'
      }`,
    ],
    [
      "File",
      `<code>${esc(n.file)}</code>${n.yamlFile ? ` + <code>${esc(n.yamlFile)}</code>` : ""}`,
    ],
  ];
  if (n.kind === "model") {
    meta.push(["Grain", esc(n.grain || "(not stated)")]);
    meta.push([
      "Materialized",
      esc(n.materialized) +
      (n.uniqueKey?.length ? `, unique key <code>${esc(n.uniqueKey.join(", "))}</code>` : ""),
    ]);
    meta.push(["Tags", esc((n.tags ?? []).join(", "))]);
    if (n.lastRun) {
      meta.push([
        "Last run",
        `${badge(n.lastRun.status)} ${esc(n.lastRun.mode)}, ${n.lastRun.durationMs} ms` +
        (n.lastRun.rows !== undefined ? `, ${n.lastRun.rows} rows` : "") +
        ` <span class="muted">(${esc(n.lastRun.at)})</span>`,
      ]);
    }
  }
  meta.push(["Depends on", links(n.parents, up, m)]);
  meta.push(["Referenced by", links(n.children, up, m)]);
  const cols = n.columns.map((c) =>
    `<tr><td><code>${esc(c.name)}</code></td><td>${
      c.type ? `<code>${esc(c.type)}</code>` : '<span class="muted">not in warehouse</span>'
    }</td><td>${
      c.documented ? esc(c.description) : '<span class="muted">undocumented</span>'
    }</td><td>${
      c.tests.map((t) =>
        `<a href="${up}tests.html#${esc(t)}">${esc(t)}</a> ${badge(testStatus(m, t))}`
      )
        .join("<br>")
    }</td></tr>`
  ).join("");
  const tests = n.tests.map((t) =>
    `<li><a href="${up}tests.html#${esc(t)}">${esc(t)}</a> ${
      badge(testStatus(m, t))
    } <span class="muted">${esc(m.tests[t]?.description)}</span></li>`
  ).join("");
  const sql = n.kind === "model"
    ? `<h2>SQL</h2><details open><summary>Source (Snowflake SQL, <code>${
      esc(n.file)
    }</code>)</summary><pre>${
      esc(n.rawSql)
    }</pre></details><details><summary>Compiled for DuckDB</summary><pre>${
      esc(n.compiledSql?.duckdb)
    }</pre></details><details><summary>Compiled for Snowflake</summary><pre>${
      esc(n.compiledSql?.snowflake)
    }</pre></details>`
    : "";
  return page(
    n.name,
    1,
    `<h1>${n.kind === "source" ? "Source" : "Model"} ${esc(n.name)}</h1><p>${esc(n.description)}</p>
${table(meta.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join(""), "meta")}
<h2>Lineage</h2><div class="scroll">${lineageSvg(m, { depth: 1, focus: n.id })}</div>
<h2>Columns</h2>${
      table(`<tr><th>Column</th><th>Type</th><th>Description</th><th>Tests</th></tr>${cols}`)
    }
<h2>Tests (${n.tests.length})</h2><ul>${tests}</ul>${sql}`,
  );
}

function testsPage(m: Manifest): string {
  const rows = Object.values(m.tests).map((t: DocTest) => {
    const r = t.lastResult;
    const on = t.attachedTo
      ? `<a href="${nodeHref(t.attachedTo)}">${esc(m.nodes[t.attachedTo]?.name)}</a>${
        t.column ? `.${esc(t.column)}` : ""
      }`
      : links(t.dependsOn, "", m);
    return `<tr id="${esc(t.name)}"><td><code>${esc(t.name)}</code></td><td>${
      esc(t.kind)
    }</td><td>${esc(t.severity)}</td><td>${on}</td><td>${esc(t.description)}</td><td>${
      r ? badge(r.status) : badge("none")
    }${r && r.failures > 0 ? ` ${r.failures} rows` : ""}${
      r?.message ? `<br><span class="muted">${esc(r.message)}</span>` : ""
    }</td><td><details><summary><code>${esc(t.file)}:${t.line}</code></summary><pre>${
      esc(t.compiledSql.duckdb)
    }</pre></details></td></tr>`;
  }).join("");
  const c = m.lastTestRun?.counts;
  const summary = m.lastTestRun
    ? `Last run ${esc(m.lastTestRun.at)}: ${c?.pass ?? 0} pass, ${c?.warn ?? 0} warn, ${
      c?.fail ?? 0
    } fail, ${c?.error ?? 0} error.`
    : "No test run recorded yet (run models_test).";
  return page(
    "Data tests",
    0,
    `<h1>Data tests (${Object.keys(m.tests).length})</h1><p>${summary} Failing rows of the last run
are stored in the warehouse (one table per failing test in the failures schema).</p>
${
      table(
        `<tr><th>Test</th><th>Kind</th><th>Severity</th><th>On</th><th>Checks</th><th>Last result</th><th>SQL</th></tr>${rows}`,
      )
    }`,
  );
}

function indexPage(m: Manifest): string {
  const nodes = Object.values(m.nodes);
  const row = (n: DocNode) =>
    `<tr><td><a href="${nodeHref(n.id)}">${esc(n.name)}</a></td><td><code>${
      esc(n.relation)
    }</code></td><td>${esc(n.materialized ?? "source")}</td><td>${
      n.lastRun ? badge(n.lastRun.status) : ""
    }</td><td>${n.tests.length}</td><td>${esc(firstSentence(n.description))}</td></tr>`;
  const head =
    "<tr><th>Name</th><th>Relation</th><th>Kind</th><th>Last run</th><th>Tests</th><th>Description</th></tr>";
  const models = nodes.filter((n) => n.kind === "model")
    .sort((a, b) => a.file.localeCompare(b.file));
  const sources = nodes.filter((n) => n.kind === "source");
  const run = m.lastRun
    ? `Last model run ${esc(m.lastRun.at)}: ${
      m.lastRun.ok ? "ok" : "with failures"
    } in ${m.lastRun.durationMs} ms.`
    : "No model run recorded yet.";
  return page(
    `${m.project} models`,
    0,
    `<h1>${esc(m.project)}: models, sources and tests</h1>
<p>${models.length} models, ${sources.length} sources, <a href="tests.html">${
      Object.keys(m.tests).length
    } data tests</a>.
${run} Generated ${esc(m.generatedAt)} from the ${esc(m.warehouse)} warehouse (as of ${
      esc(m.asOf)
    }).</p>
<h2 id="lineage">Lineage</h2><div class="scroll">${lineageSvg(m, { depth: 0 })}</div>
<h2>Models</h2>${table(head + models.map(row).join(""))}
<h2>Sources</h2>${table(head + sources.map(row).join(""))}`,
  );
}

/** Every page of the site: relative path -> HTML. */
export function renderSite(m: Manifest): Map<string, string> {
  const out = new Map<string, string>();
  out.set("index.html", indexPage(m));
  out.set("tests.html", testsPage(m));
  const pageOf = new Map<string, string>();
  for (const n of Object.values(m.nodes)) {
    const href = nodeHref(n.id);
    // A page written over another's would lose it, and its links would lead to the wrong node.
    const other = pageOf.get(href);
    if (other !== undefined) throw new Error(`docs: ${other} and ${n.id} would share ${href}`);
    pageOf.set(href, n.id);
    out.set(href, nodePage(m, n));
  }
  return out;
}

// Pipeline health: data freshness per dataset, stream lag, the stream's dead letters, last run
// of each job with its duration, recent runs, recent alerts and the rows batch loads quarantined.
// Every time shown in Cairo time.
import { api, egx, fillTable, fmtCairo, fmtDuration, fmtInt, fmtNum, h, live } from "./app.js";

/** Every status of a job or a run (lib/runner/history.ts); app.css styles each one. */
const STATUSES = new Set([
  "pending",
  "running",
  "ok",
  "skipped",
  "failed",
  "upstream_failed",
  "cancelled",
  "abandoned",
]);

/** A status's class, `status-<status>` (`status-unknown` for one this page does not know). */
function statusClass(s) {
  return STATUSES.has(s) ? `status-${s}` : "status-unknown";
}

function status(s) {
  return h("span", { class: statusClass(s) }, s);
}

/** "45 s", "1 min 40 s": the age of the consumer's status file. */
function fmtAge(seconds) {
  return seconds < 60 ? `${seconds} s` : fmtDuration(seconds * 1000);
}

/**
 * The dead-letter panel: the records in the topic, the consumer's by reason and its last one.
 * Reasons come from Kafka records: only ever set as text (h() makes text nodes), never as HTML.
 */
function renderDeadLetters(d) {
  const text = (id, value) => (document.getElementById(id).textContent = value);
  text("dlq-topic", d.topic);
  text("dlq-count", d.count === null ? "unknown" : d.count === 0 ? "none" : fmtInt(d.count));
  const c = d.consumer?.counters;
  text("dlq-invalid", c ? fmtInt(c.invalid) : "—");
  text("dlq-unknown-ticker", c ? fmtInt(c.unknownTicker) : "—");
  text("dlq-key-mismatch", c ? fmtInt(c.keyMismatch) : "—");
  const last = d.consumer?.last;
  document.getElementById("dlq-last").replaceChildren(
    ...(last
      ? [
        "Last: ",
        h("strong", { id: "dlq-last-reason" }, last.reason),
        ` (${fmtCairo(last.at)}; partition ${last.partition}, offset ${last.offset})`,
      ]
      : d.consumer
      ? ["None since the consumer started."]
      : []),
  );
  const notes = [];
  if (d.note) notes.push(`Count unknown — ${d.note}.`);
  if (d.consumer) {
    notes.push(
      `By reason: counted by the consumer since ${fmtCairo(d.consumer.startedAt)} ` +
        `(its status file is ${fmtAge(d.consumer.ageSeconds)} old).`,
    );
  }
  if (d.consumerNote) notes.push(`By reason unknown — ${d.consumerNote}.`);
  document.getElementById("dlq-notes").replaceChildren(...notes.map((n) => h("div", {}, n)));
}

async function render() {
  const [health, alerts, quarantine] = await Promise.all([
    api("/api/v1/pipeline/health"),
    api("/api/v1/alerts", { limit: 20 }),
    api("/api/v1/pipeline/quarantine", { limit: 20 }),
  ]);
  const d = health.data;
  egx.data.health = d;
  egx.data.alerts = alerts.data;
  document.getElementById("health-asof").textContent = fmtCairo(d.asOf);

  fillTable(
    document.getElementById("freshness"),
    [
      { label: "Data", value: (r) => r.dataset },
      {
        label: "Latest",
        value: (r) => (r.latest && r.latest.length > 10 ? fmtCairo(r.latest) : r.latest ?? "—"),
      },
      {
        label: "Age",
        class: "num",
        value: (r) => (r.ageHours === null ? "—" : `${fmtNum(r.ageHours, 1)} h`),
      },
      {
        label: "State",
        value: (r) => {
          // Nothing yet, and none expected now (streamed quotes outside a session): not "fresh".
          const state = r.stale ? "stale" : r.latest === null ? "no data" : "fresh";
          return h("span", { class: `badge ${state === "no data" ? "none" : state}` }, state);
        },
      },
    ],
    d.freshness,
    (r) => r.dataset,
  );

  const st = d.stream;
  fillTable(
    document.getElementById("stream"),
    [
      { label: "Topic / partition", value: (r) => `${r.topic} / ${r.partition}` },
      { label: "Written up to", class: "num", value: (r) => fmtInt(r.nextOffset) },
      {
        label: "Lag (messages)",
        class: "num",
        value: (r) => (r.lag === null ? "—" : fmtInt(r.lag)),
      },
      { label: "Updated", value: (r) => fmtCairo(r.updatedAt) },
    ],
    st.partitions,
    (r) => `${r.topic}/${r.partition}`,
  );
  if (st.note) {
    document.getElementById("stream").append(
      h("caption", { style: "caption-side:bottom;text-align:left", class: "muted" }, st.note),
    );
  }

  renderDeadLetters(d.deadLetters);

  fillTable(
    document.getElementById("jobs"),
    [
      { label: "Job", value: (r) => r.job },
      { label: "Status", value: (r) => status(r.status) },
      { label: "Started", value: (r) => fmtCairo(r.startedAt) },
      { label: "Duration", class: "num", value: (r) => fmtDuration(r.durationMs) },
    ],
    d.jobs,
    (r) => r.job,
  );

  const max = Math.max(1, ...d.jobs.map((j) => j.durationMs ?? 0));
  document.getElementById("durations").replaceChildren(
    ...d.jobs.map((j) =>
      h(
        "div",
        { class: "row", "data-key": j.job },
        h("span", {}, j.job),
        h(
          "span",
          { class: "track" },
          h("span", {
            class: `bar ${statusClass(j.status)}`, // coloured as its status
            style: `left:0;width:${(100 * (j.durationMs ?? 0)) / max}%`,
          }),
        ),
        h("span", { class: "num" }, fmtDuration(j.durationMs)),
      )
    ),
  );

  fillTable(
    document.getElementById("runs"),
    [
      { label: "Run", value: (r) => r.id },
      { label: "Target", value: (r) => r.target },
      { label: "Trigger", value: (r) => r.trigger },
      { label: "Status", value: (r) => status(r.status) },
      { label: "Started", value: (r) => fmtCairo(r.startedAt) },
      { label: "Duration", class: "num", value: (r) => fmtDuration(r.durationMs) },
      // The counts of an ended run; why a scheduled fire was skipped; why a run was abandoned.
      { label: "Message", value: (r) => r.message ?? "" },
    ],
    d.runs,
    (r) => r.id,
  );

  fillTable(
    document.getElementById("alerts"),
    [
      { label: "Date", value: (r) => r.date },
      { label: "Subject", value: (r) => r.subject },
      { label: "Rule", value: (r) => r.ruleId },
      { label: "Message", class: "wrap", value: (r) => r.message },
      { label: "Recorded", value: (r) => fmtCairo(r.triggeredAt) },
    ],
    alerts.data,
    (r) => `${r.ruleId}/${r.subject}/${r.date}/${r.direction}`,
  );

  // A file's name, its whole key on hover; reasons quote file contents: text only (h()).
  fillTable(
    document.getElementById("quarantine"),
    [
      {
        label: "File",
        value: (r) =>
          h("span", { title: r.fileKey }, r.fileKey.slice(r.fileKey.lastIndexOf("/") + 1)),
      },
      { label: "Line", class: "num", value: (r) => fmtInt(r.line) },
      { label: "Reason", class: "wrap", value: (r) => r.reason },
      { label: "Quarantined", value: (r) => fmtCairo(r.quarantinedAt) },
    ],
    quarantine.data,
    (r) => `${r.fileKey}/${r.etag}/${r.line}`,
  );
}

live(render, { everyPoll: true }); // lag and freshness move without a warehouse write

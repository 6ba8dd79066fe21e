/**
 * The /api/v1 endpoint table: service endpoints (ping, version, pipeline health, alerts) here,
 * market data in market_routes.ts. Each entry documents its parameters once; the server
 * validates with them and openapi.ts publishes them.
 */
import { type Endpoint, pageInfo, type Schema } from "./endpoint.ts";
import { DATE_SCHEMA, int, list, nullable, num, obj, PARAMS, str } from "./api_schema.ts";
import { marketEndpoints } from "./market_routes.ts";
import { pipelineHealth } from "./pipeline_health.ts";
import { API_SQL as SQL } from "./sql.ts";
import { BadRequestError, checkSpan, parseFileKey, parsePage, parseRange } from "./validate.ts";
import { addDays, cairoDate } from "../market/calendar.ts";
import { streamOpenGraceMinutes } from "../config/config.ts";

/** The longest window of alert dates one request may ask for. */
const MAX_ALERT_DAYS = 3660;

const ALERT: Schema = obj({
  date: DATE_SCHEMA,
  subject: str("ticker or index code"),
  ruleId: str("rule id in alerts.yaml"),
  kind: str(undefined, { enum: ["price_move", "volume_spike", "ma_cross", "index_move"] }),
  direction: str(undefined, { enum: ["up", "down", "above", "below"] }),
  observed: num("change %, volume multiple or close"),
  threshold: num("threshold %, multiple or moving average"),
  message: str(),
  source: str("pipeline or stream"),
  triggeredAt: str("UTC instant", { format: "date-time" }),
  deliveredAt: nullable(str("UTC instant", { format: "date-time" })),
  deliveryError: nullable(str()),
});

const HEALTH: Schema = obj({
  asOf: str("the instant market data's freshness is judged at (UTC)", { format: "date-time" }),
  freshness: list(obj({
    dataset: str(),
    latest: nullable(str("trade date or UTC instant")),
    ageHours: nullable(num(
      "hours since `latest`: to asOf for market data, to the server's clock for the last load; " +
        "never negative",
    )),
    stale: { type: "boolean" },
    expectation: str(),
  })),
  stream: obj({
    partitions: list(obj({
      group: str(),
      topic: str(),
      partition: int(),
      nextOffset: int(),
      updatedAt: str(undefined, { format: "date-time" }),
      lag: nullable(int("messages not yet in the warehouse")),
    })),
    note: nullable(str()),
  }),
  deadLetters: obj({
    topic: str("the dead-letter topic (EGX_TOPIC_DEAD_LETTER)"),
    count: nullable(int("records in the topic now, all partitions (log end - log start)")),
    note: nullable(str("why count is null (Kafka not configured or not reachable)")),
    consumer: nullable(obj({
      startedAt: str("when the consumer started: its counters count from there", {
        format: "date-time",
      }),
      updatedAt: str("its status file's last write (every 10 s while it runs)", {
        format: "date-time",
      }),
      ageSeconds: int("seconds from updatedAt to the server's clock (never negative)"),
      counters: obj({
        deadLettered: int("all dead letters (the sum of the three below)"),
        invalid: int("records that are not a valid quote"),
        unknownTicker: int("valid quotes of a ticker not in OPERATIONAL.TBL_COMPANY"),
        keyMismatch: int("valid quotes whose Kafka key is not their ticker, or without a key"),
      }),
      last: nullable(obj({
        at: str("when it was sent", { format: "date-time" }),
        reason: str("the egx-dlq-reason header"),
        partition: int("its partition in the quotes topic"),
        offset: int("its offset there"),
      })),
    })),
    consumerNote: nullable(str("why consumer is null (no readable status file)")),
  }),
  jobs: list(obj({
    job: str(),
    status: str(),
    runId: str(),
    startedAt: nullable(str()),
    endedAt: nullable(str()),
    durationMs: nullable(int()),
    attempts: int(),
    message: nullable(str()),
  })),
  runs: list(obj({
    id: str(),
    target: str(),
    trigger: str(),
    status: str(),
    startedAt: str(),
    endedAt: nullable(str()),
    durationMs: nullable(int()),
    message: nullable(str()),
  })),
});

const QUARANTINED: Schema = obj({
  fileKey: str("the file's key in the landing (s3://bucket/path, or its path in the folder)"),
  etag: str("the version of the file whose load quarantined the row"),
  line: int("1-based line in the file (the header is line 1)"),
  format: nullable(str("the format the file was read as")),
  reason: str("why the row was not loaded"),
  record: nullable(str("the row as read: JSON of its columns, or the raw line if unreadable")),
  quarantinedAt: str("UTC instant", { format: "date-time" }),
});

export const serviceEndpoints: Endpoint[] = [
  {
    id: "ping",
    path: "/api/v1/ping",
    summary: "Liveness: answers without touching the warehouse",
    tag: "meta",
    params: [],
    data: obj({ ok: { type: "boolean" } }),
    cached: false,
    handle: () => Promise.resolve({ data: { ok: true } }),
  },
  {
    id: "version",
    path: "/api/v1/version",
    summary: "The data version (changes whenever the warehouse or run history is written)",
    description: "Dashboards poll this and reload their data when dataVersion changes.",
    tag: "meta",
    params: [],
    data: obj({
      dataVersion: str(),
      serverTime: str("UTC", { format: "date-time" }),
      asOf: str("'now': EGX_AS_OF, the sample's end, or the clock", { format: "date-time" }),
    }),
    cached: false,
    handle: async ({ deps }) => ({
      data: {
        dataVersion: await deps.version.current(),
        serverTime: new Date().toISOString(),
        asOf: deps.asOf().toISOString(),
      },
    }),
  },
  {
    id: "pipelineHealth",
    path: "/api/v1/pipeline/health",
    summary: "Last runs, job durations, data freshness, stream position/lag and dead letters",
    tag: "pipeline",
    params: [],
    data: HEALTH,
    cached: true,
    maxAgeMs: 2_000, // lag and freshness move without a warehouse write (a stuck consumer)
    handle: async ({ deps }) => ({
      data: await pipelineHealth(deps.warehouse, {
        logDir: deps.config.logDir,
        asOf: deps.asOf(),
        now: deps.now?.(),
        maxStalenessMinutes: deps.config.stream.maxStalenessMinutes,
        openGraceMinutes: streamOpenGraceMinutes(deps.config.stream),
        sources: deps.health,
        deadLetters: {
          topic: deps.config.kafka.deadLetterTopic,
          statusDir: deps.config.stream.statusDir,
        },
      }),
    }),
  },
  {
    id: "alerts",
    path: "/api/v1/alerts",
    summary: "Alerts recorded by the rules in alerts.yaml, newest first",
    tag: "alerts",
    params: [
      {
        ...PARAMS.from,
        description: "First alert date (default: 29 days before `to`, a window of 30 days " +
          "counting `to`)",
      },
      { ...PARAMS.to, description: "Last alert date (default: the as-of date)" },
      PARAMS.limit,
      PARAMS.offset,
    ],
    data: list(ALERT),
    paginated: true,
    cached: true,
    varies: (deps) => cairoDate(deps.asOf()), // the default window ends on the as-of date
    handle: async ({ url, query, deps }) => {
      const r = parseRange(query);
      const to = r.to ?? cairoDate(deps.asOf());
      const from = r.from ?? addDays(to, -29); // 30 days, `to` the 30th
      if (from > to) throw new BadRequestError(`from (${from}) must not be after to (${to})`);
      // After the defaults: from=1990-01-01 alone spans as many days as with to given.
      checkSpan(from, to, MAX_ALERT_DAYS);
      const page = parsePage(query, 50);
      const wh = deps.warehouse;
      const [{ N }] = await wh.query<{ N: number }>(SQL.get("alerts_count"), [from, to]);
      const rows = await wh.query(SQL.get("alerts_page"), [from, to, page.limit, page.offset]);
      return { data: rows, page: pageInfo(url, page, rows.length, Number(N)) };
    },
  },
  {
    id: "quarantine",
    path: "/api/v1/pipeline/quarantine",
    summary: "Rows batch loads did not load, with the reason: newest load first",
    description:
      "Every quarantined row of every loaded file version (OPERATIONAL.TBL_QUARANTINE)," +
      " a file's rows in line order; `file` keeps one file's.",
    tag: "pipeline",
    params: [
      {
        name: "file",
        in: "query",
        description: "Only this file: its whole key (as the load log names it) or its name " +
          "(the part after the last /)",
        schema: { type: "string", minLength: 1, maxLength: 1024 },
      },
      PARAMS.limit,
      PARAMS.offset,
    ],
    data: list(QUARANTINED),
    paginated: true,
    cached: true,
    handle: async ({ url, query, deps }) => {
      const raw = query.get("file");
      const file = raw === undefined ? null : parseFileKey(raw, "file");
      const page = parsePage(query, 100);
      const args = [file, file, file, file];
      const wh = deps.warehouse;
      const [{ N }] = await wh.query<{ N: number }>(SQL.get("quarantine_count"), args);
      const rows = await wh.query(SQL.get("quarantine_page"), [...args, page.limit, page.offset]);
      return { data: rows, page: pageInfo(url, page, rows.length, Number(N)) };
    },
  },
];

/** Every /api/v1 endpoint. */
export function apiEndpoints(): Endpoint[] {
  return [...serviceEndpoints, ...marketEndpoints];
}

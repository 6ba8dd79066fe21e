/**
 * The one place configuration is read. Every setting comes from the environment (optionally
 * seeded from a `.env` file by the entry point, see `loadDotEnv`), is parsed into a typed section,
 * and is read lazily: a job that never touches Kafka never needs `KAFKA_*` in its permissions.
 *
 * A job granted `--allow-env=A,B` that reads a section needing `C` fails with a message naming `C`
 * and the manifest key to add, instead of silently falling back to a default.
 *
 * Secrets (passwords, tokens, webhook URLs, private-key passphrases) are registered with
 * `redact()` as soon as they are read, so any text passed through `redact` has them masked.
 */
import { cairoWallToInstant } from "../market/calendar.ts";

/** Raised when configuration is missing, malformed, or not granted to this process. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The bundled sample's landing folder and the last instant its data covers. */
export const SAMPLE_DIR = "data/sample";
export const SAMPLE_AS_OF = "2025-12-08T12:30:00Z";

type Env = (name: string) => string | undefined;

const secretValues = new Set<string>();

/**
 * Register a secret and the encoded forms it may be quoted in when they differ from it: JSON's
 * (a `"`, `\` or control character in it; JSON-lines logs, lib/stream/log.ts, mask the encoded
 * line) and a URL's percent-encoding (an STS session token goes in a request URL or header as
 * `X-Amz-Security-Token=FwoG...%2B...%3D`, a key with `/` or `+` as `%2F`/`%2B`).
 */
function addSecret(value: string): void {
  secretValues.add(value);
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) secretValues.add(escaped);
  try {
    const encoded = encodeURIComponent(value);
    if (encoded !== value) secretValues.add(encoded);
  } catch { /* a lone surrogate: no URL could hold it */ }
}

/** Mask every secret value read so far (and any passed in `extra`) in `text`. */
export function redact(text: string, extra: readonly string[] = []): string {
  let out = text;
  for (const s of [...secretValues, ...extra]) {
    if (s.length >= 4) out = out.split(s).join("***");
  }
  return out;
}

/** Whether any secret is known (one that redact would mask). */
export function hasSecrets(): boolean {
  for (const s of secretValues) if (s.length >= 4) return true;
  return false;
}

/**
 * Console methods that print their arguments as `console.log` does (`assert` prints those after
 * its condition; `dir` and `dirxml`, which take inspect options, are wrapped apart).
 */
const PRINTING = [
  "log",
  "info",
  "warn",
  "error",
  "debug",
  "trace",
  "table",
  "group",
  "groupCollapsed",
] as const;

/**
 * Mask secrets in what `target` (default: the global console) prints, as it prints it: a string
 * argument through `redact`, any other argument whose inspected form holds a secret as that form
 * masked (an Error with a password in its message or cause, an object holding a token). For jobs:
 * the runner hands a job its log file, so what the job prints is in the file at once, and the
 * runner masks the file again only when the attempt has ended. Output that does not go through
 * the console (native libraries writing to their descriptors) is masked then. Arguments are
 * passed on unchanged while no secret is known, and when they hold none.
 */
export function maskConsole(target: Console = console): void {
  const mask = (a: unknown, options?: Deno.InspectOptions): unknown => {
    if (typeof a === "string") return redact(a);
    if (a === null || a === undefined || typeof a === "number" || typeof a === "boolean") return a;
    const shown = typeof a === "object" || typeof a === "function"
      ? Deno.inspect(a, options)
      : String(a);
    const masked = redact(shown);
    return masked === shown ? a : masked;
  };
  const masking = (args: unknown[]) => (hasSecrets() ? args.map((a) => mask(a)) : args);
  for (const name of PRINTING) {
    const original = target[name] as (...args: unknown[]) => void;
    target[name] = (...args: unknown[]) => original.apply(target, masking(args));
  }
  // `dir` prints its object with the options it is given (depth, hidden properties): checked so.
  for (const name of ["dir", "dirxml"] as const) {
    const original = target[name] as (...args: unknown[]) => void;
    target[name] = (item?: unknown, options?: Deno.InspectOptions, ...rest: unknown[]) =>
      original.call(
        target,
        hasSecrets() ? mask(item, options) : item,
        options,
        ...masking(rest),
      );
  }
  const assert = target.assert;
  target.assert = (condition?: boolean, ...args: unknown[]) =>
    assert.call(target, condition, ...masking(args));
}

/**
 * The forms `redact` masks, in the order they are masked, as their UTF-8 bytes (one character per
 * byte), for masking bytes as bytes.
 */
function byteForms(): string[] {
  const enc = new TextEncoder();
  return [...secretValues].filter((s) => s.length >= 4).map((s) => latin1(enc.encode(s)));
}

/** `bytes` as a string of one character per byte (U+0000..U+00FF), whatever they encode. */
function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return text;
}

/**
 * `bytes` (a job's log file) with every secret masked, or undefined when none is in it. Bytes are
 * compared as bytes, never decoded, so output that is not UTF-8 is left exactly as it was. Each
 * form is masked in the text the previous ones left (a split and join each), in order.
 */
export function redactBytes(bytes: Uint8Array): Uint8Array | undefined {
  const forms = byteForms();
  if (forms.length === 0) return undefined;
  const text = latin1(bytes);
  let out = text;
  for (const b of forms) {
    if (out.includes(b)) out = out.split(b).join("***");
  }
  return out === text ? undefined : Uint8Array.from(out, (c) => c.charCodeAt(0));
}

/**
 * One form's split and join over a text given piece by piece (`push`), passing on as soon as it
 * can what the whole-text split and join would give. A match is looked for only where the last
 * ended, as split does; the text's last `form.length - 1` characters past the last match are held
 * back (they may be the start of one) until the next piece or the end.
 */
class FormMask {
  #held = "";
  found = false;
  constructor(readonly form: string) {}

  push(piece: string, end: boolean): string {
    const text = this.#held + piece;
    let out = "";
    let from = 0;
    for (let at = text.indexOf(this.form); at !== -1; at = text.indexOf(this.form, from)) {
      out += `${text.slice(from, at)}***`;
      from = at + this.form.length;
      this.found = true;
    }
    const keep = end ? text.length : Math.max(from, text.length - this.form.length + 1);
    this.#held = text.slice(keep);
    return out + text.slice(from, keep);
  }
}

/** The piece of the log read at a time by `redactFile`. */
const REDACT_CHUNK = 1 << 20;

/**
 * `redactBytes` for a file of any size, in bounded memory: `path` is read `chunkSize` bytes at a
 * time and the pieces go through each form's FormMask in turn (each holds back less than its
 * form's length), so the result is `redactBytes`'s for the whole file, byte for byte, wherever a
 * piece ends: inside a secret, one of its encoded forms or a UTF-8 character (bytes are never
 * decoded). One hold-back ahead of all forms would not do: as in `redactBytes`, each form is
 * masked in what the forms before it left (a form may overlap another, or hold "***").
 *
 * True when something was masked: the result is then in `dest` (created or truncated), written
 * from the first piece with a mask on, the file's start copied there then. False when nothing
 * was: `dest` untouched and the file only read (not even opened when no secret is known). On an
 * error `dest` is removed.
 */
export async function redactFile(
  path: string,
  dest: string,
  chunkSize = REDACT_CHUNK,
): Promise<boolean> {
  const masks = byteForms().map((f) => new FormMask(f));
  if (masks.length === 0) return false;
  // Loaded here, not at the top: node:buffer starts Deno's Node compatibility layer (~6 ms), a
  // cost every process importing this module would pay at its start (the runner's, each job's).
  const { Buffer } = await import("node:buffer");
  const src = await Deno.open(path);
  let out: Deno.FsFile | undefined;
  try {
    // While nothing is masked what passes through is the file's start, as is: only counted.
    let passed = 0;
    const buf = new Uint8Array(chunkSize);
    for (;;) {
      const n = await src.read(buf);
      const end = n === null;
      let piece = end ? "" : Buffer.from(buf.buffer, 0, n).toString("latin1");
      for (const m of masks) piece = m.push(piece, end);
      if (!out && masks.some((m) => m.found)) {
        out = await Deno.open(dest, { write: true, create: true, truncate: true });
        await copyStart(path, out, passed, chunkSize);
      }
      if (out) await writeAll(out, Buffer.from(piece, "latin1"));
      else passed += piece.length;
      if (end) return out !== undefined;
    }
  } catch (e) {
    if (out) {
      out.close();
      out = undefined;
      await Deno.remove(dest).catch(() => {});
    }
    throw e;
  } finally {
    src.close();
    out?.close();
  }
}

/** Copy the first `n` bytes of the file at `path` to `out`, `chunkSize` bytes at a time. */
async function copyStart(path: string, out: Deno.FsFile, n: number, chunkSize: number) {
  using src = await Deno.open(path);
  const buf = new Uint8Array(Math.min(chunkSize, n));
  for (let left = n; left > 0;) {
    const r = await src.read(buf.subarray(0, Math.min(left, buf.length)));
    if (r === null) throw new Error(`${path} is shorter than the ${n} bytes already read from it`);
    await writeAll(out, buf.subarray(0, r));
    left -= r;
  }
}

async function writeAll(out: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let i = 0; i < bytes.length;) i += await out.write(bytes.subarray(i));
}

/** A URL's path and query shorter than this are not masked on their own ("/hook", "/alerts"). */
const MIN_SECRET_PATH = 12;

/**
 * The forms a secret value appears in. A secret URL also appears normalised, and fetch errors
 * quote it without its user and password: its path and query (where webhook tokens live) are
 * masked on their own, unless too short to hold a token (masking "/hook" would mask every path
 * that contains it); a URL with a user and such a short path or query is then masked as a whole
 * without its user.
 */
export function secretForms(value: string): string[] {
  try {
    const u = new URL(value);
    const forms = [value, u.href];
    const pathAndQuery = u.pathname + u.search;
    // A long path alone, so that a quote of the URL keeps its host (where it failed).
    if (pathAndQuery.length >= MIN_SECRET_PATH) forms.push(pathAndQuery);
    else if ((u.username || u.password) && pathAndQuery !== "/") {
      const bare = new URL(u.href);
      bare.username = bare.password = "";
      forms.push(bare.href);
    }
    if (/^smtps?:$/.test(u.protocol) && u.password) forms.push(...smtpAuthForms(u));
    return forms;
  } catch {
    return [value];
  }
}

/** UTF-8 bytes of `s` in base64, as SMTP AUTH sends them. */
function base64(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

/**
 * The credentials of an SMTP URL as they go over the wire: AUTH PLAIN's base64 of
 * `\0user\0password` (lib/runner/smtp.ts), and AUTH LOGIN's base64 of the password alone, each
 * with and without its `=` padding. A server that refuses the login may quote the line it got
 * (`535 5.7.8 rejected: AUTH PLAIN AHVzZXIA...`), and that reply ends up in the alert's outcome,
 * on the runner's output and in the run history: base64 is not a mask.
 */
function smtpAuthForms(u: URL): string[] {
  let user: string, password: string;
  try {
    user = decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const b of [base64(`\0${user}\0${password}`), base64(password)]) {
    out.push(b, b.replace(/=+$/, ""));
  }
  return out;
}

function secret(value: string | undefined): string | undefined {
  if (value) {
    for (const f of secretForms(value)) addSecret(f);
    urlPassword(value);
  }
  return value;
}

/** The password of a URL that is not secret as a whole (`http://key:password@host`). */
function urlPassword(value: string | undefined): string | undefined {
  if (!value) return value;
  try {
    const u = new URL(value);
    if (u.password) {
      addSecret(u.password);
      addSecret(decodeURIComponent(u.password));
    }
  } catch {
    // Not a URL, but it may still say `//user:password@`.
    const m = /\/\/[^/@\s]*:([^/@\s]+)@/.exec(value);
    if (m) addSecret(m[1]);
  }
  return value;
}

/**
 * `value` with a URL's `user:password@` part masked, for messages about a malformed URL: up to
 * the last `@` before any query, since an unencoded password may hold `/` (AWS secret keys do).
 */
function withoutUserInfo(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^?#]*@/i, "$1***@");
}

function isHttpUrl(value: string): boolean {
  try {
    return /^https?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** An optional http(s) URL variable, checked when read; its password is a secret. */
function httpUrl(env: Env, name: string, example: string): string | undefined {
  const raw = urlPassword(env(name));
  if (raw === undefined || isHttpUrl(raw)) return raw;
  throw new ConfigError(
    `${name} must be an http(s) URL such as ${example}, got ${
      JSON.stringify(redact(withoutUserInfo(raw)))
    }`,
  );
}

/** An optional http(s) URL variable that is a secret as a whole: a bad one is named, not shown. */
function secretHttpUrl(env: Env, name: string, example: string): string | undefined {
  const raw = secret(env(name));
  if (raw === undefined || isHttpUrl(raw)) return raw;
  throw new ConfigError(
    `${name} must be an http(s) URL such as ${example}; its value is not one (not shown: secret)`,
  );
}

/** Variables whose whole value is a secret, and URL variables whose password is one. */
const SECRET_VARIABLES = [
  "SNOWFLAKE_PASSWORD",
  "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "EGX_API_TOKEN",
  "EGX_ALERT_WEBHOOK_URL",
  "EGX_SMTP_URL",
];
const URL_VARIABLES = [
  "S3_ENDPOINT",
  "SNOWFLAKE_ACCESS_URL",
  "TRADINGVIEW_SCANNER_URL",
  "TRADINGVIEW_WS_URL",
];

/** Whether variable `name` holds a secret (its whole value, or a URL's password). */
export function isSecretVariable(name: string): boolean {
  return SECRET_VARIABLES.includes(name) || URL_VARIABLES.includes(name);
}

/**
 * Register every secret of the environment with `redact` at once, before any section is read:
 * for processes that print text they did not make (the runner shows jobs' errors and stores them
 * in its history, the server shows that history). Variables this process may not read are
 * skipped; nothing is parsed, so this never throws.
 */
export function registerSecrets(env: Env = readableEnv): void {
  for (const name of SECRET_VARIABLES) secret(env(name));
  for (const name of URL_VARIABLES) urlPassword(env(name));
}

function readableEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(name) || undefined;
}

/** Read one variable, turning a missing permission into a ConfigError that says what to grant. */
export function envVar(name: string): string | undefined {
  const state = Deno.permissions.querySync({ name: "env", variable: name }).state;
  if (state !== "granted") {
    throw new ConfigError(
      `this process reads ${name} but was not granted it: add it to the job's permissions.env ` +
        `in jobs.yaml (or --allow-env=${name} when running the script directly)`,
    );
  }
  const v = Deno.env.get(name);
  return v === undefined || v === "" ? undefined : v;
}

/**
 * `raw` as an integer from `min` to `max`, or a ConfigError naming the setting: `name` is the
 * variable, or the flag of a job that overrides one (`--days`), so both are refused alike (exit 2).
 * Decimal digits only (an optional leading "-"): `Number` alone would also take "0x50", "1e3",
 * " 80", "80.0" and "" (as 0). Integers beyond 2^53 are refused, not rounded.
 */
export function parseInteger(name: string, raw: string, min = 0, max = Infinity): number {
  const n = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Infinity ? `>= ${min}` : `between ${min} and ${max}`;
    throw new ConfigError(`${name} must be an integer ${range}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function int(env: Env, name: string, fallback: number, min = 0, max = Infinity): number {
  const raw = env(name);
  return raw === undefined ? fallback : parseInteger(name, raw, min, max);
}

/**
 * The longest retention, in days (100 years). Far more would put the cleanup's cutoff before the
 * earliest date a Date can hold (100,000,000 days before 1970) and crash it.
 */
export const MAX_RETENTION_DAYS = 36_500;

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env(name);
  if (raw === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(raw)}`);
}

export type WarehouseConfig =
  | { kind: "duckdb"; path: string }
  | {
    kind: "snowflake";
    account: string;
    user: string;
    password?: string;
    privateKeyPath?: string;
    privateKeyPassphrase?: string;
    warehouse?: string;
    role?: string;
    database: string;
    /** Full endpoint URL, e.g. a local protocol-compatible server in tests. */
    accessUrl?: string;
  };

export interface LandingConfig {
  /** `local`: a folder; `s3`: a bucket (and key prefix) on S3 or any S3-API server. */
  kind: "local" | "s3";
  /** Folder for `local`. */
  dir: string;
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** With temporary credentials (AWS STS): AWS_SESSION_TOKEN. */
  sessionToken?: string;
}

export interface KafkaConfig {
  /** Broker list; empty means "use the project's local broker" (see `deno task kafka`). */
  brokers: string[];
  /**
   * The local broker's folder (KAFKA_LOCAL_DIR), used when `brokers` is empty; undefined: the
   * repository's var/kafka/data.
   */
  localDir?: string;
  clientId: string;
  quotesTopic: string;
  deadLetterTopic: string;
  groupId: string;
  batchSize: number;
  /** Partitions of the quotes topic when the stream creates it. */
  partitions: number;
  /** Retention of the stream's topics when created, hours. */
  retentionHours: number;
  /** Consumer group session timeout: how soon a dead consumer's partitions move, ms. */
  sessionTimeoutMs: number;
}

/** The streaming processes (`deno task stream`, `health_check`). */
export interface StreamConfig {
  /** The producer's market source: `replay` (offline default) or `tradingview`. */
  source: "replay" | "tradingview";
  /** Minutes between two polls during the session. */
  pollMinutes: number;
  /** Folder of one-minute bar files the replay reads. */
  replayDir: string;
  /** Replay speed: simulated time / real time (`max` = no waiting). */
  replaySpeed: number;
  /** First and last Cairo trade dates replayed (YYYY-MM-DD), default all. */
  replayStart?: string;
  replayEnd?: string;
  /** TradingView endpoints (default: the public ones). */
  scannerUrl?: string;
  websocketUrl?: string;
  /** tradingview: before the first poll, fetch this many one-minute bars of these tickers. */
  backfillTickers: string[];
  backfillBars: number;
  /**
   * tradingview: how far the scanner's data lags the market, minutes (EGX_TV_DELAY_MINUTES,
   * default 15, its delayed tier; 0 for a real-time subscription): polls go on until the close +
   * this. The replay is not delayed.
   */
  tvDelayMinutes: number;
  /** Where the producer and consumer write their status files (read by health_check). */
  statusDir: string;
  /** health_check: most consumer lag (records, summed over partitions) in trading hours. */
  maxLag: number;
  /** health_check: most minutes without a warehouse write in trading hours. */
  maxStalenessMinutes: number;
  /** The alert rules the consumer evaluates after its writes; undefined: none (`off`). */
  alertRules?: string;
}

/**
 * How long into a session streamed data that is older than the staleness limit still is not
 * stale: the last write is the previous session's until the first polls land (10:05 on; 10:20 on
 * for the scanner, whose data lags the market by its delay). health_check and the pipeline page
 * both use it.
 */
export function streamOpenGraceMinutes(
  stream: Pick<StreamConfig, "maxStalenessMinutes" | "source" | "tvDelayMinutes">,
): number {
  return stream.maxStalenessMinutes + (stream.source === "tradingview" ? stream.tvDelayMinutes : 0);
}

export interface ApiConfig {
  host: string;
  port: number;
  token?: string;
}

export interface AlertConfig {
  webhookUrl?: string;
  smtpUrl?: string;
  emailTo?: string;
  emailFrom: string;
}

export interface Config {
  warehouse: WarehouseConfig;
  landing: LandingConfig;
  kafka: KafkaConfig;
  stream: StreamConfig;
  api: ApiConfig;
  /** Every alert channel (the runner's failure alerts: webhook and email). */
  alerts: AlertConfig;
  /**
   * The webhook alone (EGX_ALERT_WEBHOOK_URL), for processes that deliver price alerts: they
   * need no grant of the SMTP URL and its password, which only the runner uses.
   */
  alertWebhookUrl: string | undefined;
  /** Where run logs and run history live. */
  logDir: string;
  /** Logs and run records older than this many days are removed by `cleanup`. */
  retentionDays: number;
  /**
   * "Now" for freshness checks and the market calendar. Defaults to the real clock, except on
   * the bundled sample (the embedded default landing), whose world ends at SAMPLE_AS_OF.
   * `EGX_AS_OF` (ISO date or instant) pins it explicitly.
   */
  asOf: Date;
}

function warehouse(env: Env): WarehouseConfig {
  const raw = env("EGX_WAREHOUSE") ?? "data/egx.duckdb";
  if (raw.toLowerCase() !== "snowflake") {
    return { kind: "duckdb", path: raw.replace(/^duckdb:/, "") };
  }
  const account = env("SNOWFLAKE_ACCOUNT");
  const user = env("SNOWFLAKE_USER");
  const password = secret(env("SNOWFLAKE_PASSWORD"));
  const privateKeyPath = env("SNOWFLAKE_PRIVATE_KEY_PATH");
  // Every missing variable in one message, not one per attempt.
  const missing = [
    ...(account ? [] : ["SNOWFLAKE_ACCOUNT"]),
    ...(user ? [] : ["SNOWFLAKE_USER"]),
    ...(password || privateKeyPath ? [] : ["SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH"]),
  ];
  if (!account || !user || missing.length > 0) {
    const list = missing.length < 3
      ? missing.join(" and ")
      : `${missing.slice(0, -1).join(", ")}, and ${missing.at(-1)}`;
    throw new ConfigError(`EGX_WAREHOUSE=snowflake needs ${list}`);
  }
  return {
    kind: "snowflake",
    account,
    user,
    password,
    privateKeyPath,
    privateKeyPassphrase: secret(env("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")),
    warehouse: env("SNOWFLAKE_WAREHOUSE"),
    role: env("SNOWFLAKE_ROLE"),
    database: env("SNOWFLAKE_DATABASE") ?? "EGX_OPERATIONAL_DB",
    accessUrl: httpUrl(
      env,
      "SNOWFLAKE_ACCESS_URL",
      "https://xy12345.eu-central-1.snowflakecomputing.com",
    ),
  };
}

/**
 * An S3 landing prefix is a folder: `landing` means `landing/`, so the store lists the keys under
 * it and not those of a sibling sharing its first letters (`landing2/...`, `landing_old/...`).
 */
export function folderPrefix(prefix: string): string {
  return prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
}

function landing(env: Env): LandingConfig {
  const raw = env("EGX_LANDING") ?? SAMPLE_DIR;
  const common = {
    endpoint: httpUrl(env, "S3_ENDPOINT", "http://127.0.0.1:9000"),
    region: env("AWS_REGION") ?? "us-east-1",
    forcePathStyle: bool(env, "S3_FORCE_PATH_STYLE", env("S3_ENDPOINT") !== undefined),
  };
  if (!raw.startsWith("s3://")) {
    return { kind: "local", dir: raw, bucket: "", prefix: "", ...common };
  }
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(raw);
  if (!m) throw new ConfigError(`EGX_LANDING must look like s3://bucket/prefix, got ${raw}`);
  return {
    kind: "s3",
    dir: "",
    bucket: m[1],
    prefix: folderPrefix(m[2]),
    ...common,
    accessKeyId: env("AWS_ACCESS_KEY_ID"),
    secretAccessKey: secret(env("AWS_SECRET_ACCESS_KEY")),
    sessionToken: secret(env("AWS_SESSION_TOKEN")),
  };
}

/** KAFKA_BROKERS: `host:port` entries separated by commas (kafkajs's own error names neither). */
function brokerList(env: Env): string[] {
  const brokers = (env("KAFKA_BROKERS") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const b of brokers) {
    const port = /^[^\s:/@]+:(\d{1,5})$/.exec(b)?.[1];
    if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
      throw new ConfigError(
        "KAFKA_BROKERS must be host:port entries separated by commas, such as " +
          `127.0.0.1:9092,kafka2:9092; ${JSON.stringify(redact(withoutUserInfo(b)))} is not one`,
      );
    }
  }
  return brokers;
}

/**
 * A topic name Kafka accepts (letters, digits, `.`, `_`, `-`; at most 249 characters; not `.` or
 * `..`): the broker's own refusal reached the user as kafkajs's "Topic creation errors", naming
 * neither the topic nor the variable.
 */
function topicName(env: Env, name: string, fallback: string): string {
  const v = env(name) ?? fallback;
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(v) || v === "." || v === "..") {
    throw new ConfigError(
      `${name} must be a Kafka topic name (letters, digits, '.', '_', '-', at most 249 ` +
        `characters), got ${JSON.stringify(v.length > 300 ? `${v.slice(0, 300)}...` : v)}`,
    );
  }
  return v;
}

/**
 * The largest EGX_CONSUMER_BATCH_SIZE: the consumer fetches fetchBytesFor(batchSize) bytes per
 * partition (2,048 a record), a 32-bit field of the fetch request; from 1,048,576 on it overflowed
 * and every fetch crashed the consumer (restarted by `run` to crash again).
 */
const MAX_BATCH_SIZE = 100_000;

function kafka(env: Env): KafkaConfig {
  const brokers = brokerList(env);
  const quotesTopic = topicName(env, "EGX_TOPIC_QUOTES", "egx.quotes.v1");
  const deadLetterTopic = topicName(env, "EGX_TOPIC_DEAD_LETTER", "egx.quotes.dlq");
  if (quotesTopic === deadLetterTopic) {
    // Invalid records would be dead-lettered into the topic they are read from, read again and
    // dead-lettered again, for ever.
    throw new ConfigError(
      `EGX_TOPIC_DEAD_LETTER must differ from EGX_TOPIC_QUOTES, both are ${quotesTopic}`,
    );
  }
  return {
    brokers,
    localDir: env("KAFKA_LOCAL_DIR"),
    clientId: env("KAFKA_CLIENT_ID") ?? "egx-pipeline",
    quotesTopic,
    deadLetterTopic,
    groupId: env("EGX_CONSUMER_GROUP") ?? "egx-warehouse-writer",
    batchSize: int(env, "EGX_CONSUMER_BATCH_SIZE", 100, 1, MAX_BATCH_SIZE),
    partitions: int(env, "EGX_TOPIC_PARTITIONS", 3, 1),
    // 100 years (as EGX_RETENTION_DAYS): from ~2.6e12 hours the topics' retention.ms overflowed
    // the broker's 64-bit value and topic creation failed as kafkajs's bare "Topic creation
    // errors", naming neither the topic nor the variable.
    retentionHours: int(env, "EGX_TOPIC_RETENTION_HOURS", 168, 1, MAX_RETENTION_DAYS * 24),
    // The range brokers allow by default (group.min/max.session.timeout.ms): past 30 minutes
    // every join crashed the consumer with a protocol error naming no variable of ours.
    sessionTimeoutMs: int(env, "EGX_CONSUMER_SESSION_TIMEOUT_MS", 30_000, 6_000, 1_800_000),
  };
}

function stream(env: Env): StreamConfig {
  const source = env("EGX_STREAM_SOURCE") ?? "replay";
  if (source !== "replay" && source !== "tradingview") {
    throw new ConfigError(`EGX_STREAM_SOURCE must be replay or tradingview, got ${source}`);
  }
  const speedRaw = env("EGX_REPLAY_SPEED") ?? "270";
  const replaySpeed = speedRaw === "max" ? Infinity : Number(speedRaw);
  if (!(replaySpeed > 0)) {
    throw new ConfigError(`EGX_REPLAY_SPEED must be a number > 0 or "max", got ${speedRaw}`);
  }
  const alertRules = env("EGX_STREAM_ALERT_RULES") ?? "alerts.yaml";
  const date = (name: string) => {
    const v = env(name);
    // A date that does not exist (2025-02-30) is refused too, not compared as text.
    if (
      v !== undefined &&
      (!/^\d{4}-\d{2}-\d{2}$/.test(v) ||
        new Date(`${v}T00:00:00Z`).toJSON()?.slice(0, 10) !== v)
    ) {
      throw new ConfigError(`${name} must be a date YYYY-MM-DD, got ${v}`);
    }
    return v;
  };
  const replayStart = date("EGX_REPLAY_START");
  const replayEnd = date("EGX_REPLAY_END");
  if (replayStart !== undefined && replayEnd !== undefined && replayStart > replayEnd) {
    throw new ConfigError(
      `EGX_REPLAY_START (${replayStart}) must not be after EGX_REPLAY_END (${replayEnd})`,
    );
  }
  return {
    source,
    pollMinutes: int(env, "EGX_POLL_MINUTES", 5, 1),
    replayDir: env("EGX_REPLAY_DIR") ?? `${SAMPLE_DIR}/bars_1m`,
    replaySpeed,
    replayStart,
    replayEnd,
    scannerUrl: urlPassword(env("TRADINGVIEW_SCANNER_URL")),
    websocketUrl: urlPassword(env("TRADINGVIEW_WS_URL")),
    backfillTickers: (env("EGX_TV_BACKFILL_TICKERS") ?? "").split(",").map((t) => t.trim())
      .filter(Boolean),
    backfillBars: int(env, "EGX_TV_BACKFILL_BARS", 300, 1),
    tvDelayMinutes: int(env, "EGX_TV_DELAY_MINUTES", 15, 0, 120),
    statusDir: env("EGX_STREAM_STATUS_DIR") ?? "var/stream",
    maxLag: int(env, "EGX_STREAM_MAX_LAG", 1000, 0),
    maxStalenessMinutes: int(env, "EGX_STREAM_MAX_STALENESS_MINUTES", 15, 1),
    alertRules: alertRules === "off" ? undefined : alertRules,
  };
}

function api(env: Env): ApiConfig {
  return {
    host: env("EGX_API_HOST") ?? "127.0.0.1",
    port: int(env, "EGX_API_PORT", 8080, 0, 65535),
    token: secret(env("EGX_API_TOKEN")),
  };
}

function alertWebhookUrl(env: Env): string | undefined {
  return secretHttpUrl(env, "EGX_ALERT_WEBHOOK_URL", "https://hooks.slack.com/services/...");
}

function alerts(env: Env, webhookUrl: string | undefined): AlertConfig {
  return {
    webhookUrl,
    smtpUrl: secret(env("EGX_SMTP_URL")),
    emailTo: env("EGX_ALERT_EMAIL_TO"),
    emailFrom: env("EGX_ALERT_EMAIL_FROM") ?? "egx-pipeline@localhost",
  };
}

function asOf(env: Env): Date {
  const raw = env("EGX_AS_OF");
  if (raw !== undefined) {
    // A date alone is the end of that day in Cairo (23:59:59 local, DST included), not in UTC:
    // 23:59:59Z is already the next day there.
    // A date that does not exist (2025-02-30, 2025-13-45, alone or in an instant) is refused:
    // Date would roll it over into another day.
    // A time without an offset (2025-12-08T10:00) is Cairo's wall clock too, not the machine's
    // time zone (Date's reading): the same setting means the same instant on every server.
    const written = /^\d{4}-\d{2}-\d{2}/.exec(raw)?.[0];
    const day = new Date(`${written}T00:00:00Z`);
    const real = written !== undefined && !Number.isNaN(day.getTime()) &&
      day.toISOString().startsWith(written);
    const wall = /^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(\.\d{1,3})?)?$/
      .exec(raw);
    const d = !real
      ? new Date(NaN)
      : raw === written
      ? new Date(cairoWallToInstant(raw, "23:59").getTime() + 59_000)
      : wall
      ? new Date(
        cairoWallToInstant(written, `${wall[1]}:${wall[2]}`).getTime() +
          Number(wall[3] ?? 0) * 1000 + Math.round(Number(wall[4] ?? 0) * 1000),
      )
      : /[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(raw)
      ? new Date(raw)
      : new Date(NaN);
    if (Number.isNaN(d.getTime())) {
      throw new ConfigError(`EGX_AS_OF must be an ISO date or instant, got ${raw}`);
    }
    return d;
  }
  const landingRaw = env("EGX_LANDING") ?? SAMPLE_DIR;
  return landingRaw === SAMPLE_DIR ? new Date(SAMPLE_AS_OF) : new Date();
}

/**
 * Build the configuration from an environment reader (default: the process environment).
 * Sections are computed on first access, so only the variables a caller uses are read.
 */
export function loadConfig(env: Env = envVar): Config {
  const cache = new Map<string, unknown>();
  const lazy = <T>(key: string, make: () => T): T => {
    if (!cache.has(key)) cache.set(key, make());
    return cache.get(key) as T;
  };
  return {
    get warehouse() {
      return lazy("warehouse", () => warehouse(env));
    },
    get landing() {
      return lazy("landing", () => landing(env));
    },
    get kafka() {
      return lazy("kafka", () => kafka(env));
    },
    get stream() {
      return lazy("stream", () => stream(env));
    },
    get api() {
      return lazy("api", () => api(env));
    },
    get alerts() {
      return lazy("alerts", () => alerts(env, this.alertWebhookUrl));
    },
    get alertWebhookUrl() {
      return lazy("alertWebhookUrl", () => alertWebhookUrl(env));
    },
    get logDir() {
      return lazy("logDir", () => env("EGX_LOG_DIR") ?? "logs");
    },
    get retentionDays() {
      return lazy("retentionDays", () => int(env, "EGX_RETENTION_DAYS", 30, 1, MAX_RETENTION_DAYS));
    },
    get asOf() {
      return lazy("asOf", () => asOf(env));
    },
  };
}

/**
 * Parse `.env` text: `KEY=value` lines, `#` comments, optional `export `, single or double
 * quotes. Returns the pairs; never touches the process environment.
 */
export function parseDotEnv(text: string, file = ".env"): Map<string, string> {
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(t);
    if (!m) throw new ConfigError(`${file}:${i + 1}: expected KEY=value`);
    let v = m[2];
    const q = v[0];
    if ((q === '"' || q === "'") && v.endsWith(q) && v.length >= 2) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, "");
    out.set(m[1], v);
  });
  return out;
}

/**
 * For entry points (runner, server, stream): copy `.env` values into the process environment
 * for variables not already set. A missing file is fine; a malformed one is an error.
 */
export function loadDotEnv(path = ".env"): void {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  for (const [k, v] of parseDotEnv(text, path)) {
    if (Deno.env.get(k) === undefined) Deno.env.set(k, v);
  }
}

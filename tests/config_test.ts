import {
  deepStrictEqual as assertEquals,
  match,
  ok as assert,
  rejects,
  throws,
} from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  loadConfig,
  maskConsole,
  parseDotEnv,
  redact,
  redactBytes,
  redactFile,
  registerSecrets,
  SAMPLE_AS_OF,
} from "../lib/config/config.ts";
import { jsonLogger } from "../lib/stream/log.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const envOf = (vars: Record<string, string>) => (k: string) => vars[k];

Deno.test("with no variables set the embedded defaults are used", () => {
  const c = loadConfig(envOf({}));
  assertEquals(c.warehouse, { kind: "duckdb", path: "data/egx.duckdb" });
  assertEquals([c.landing.kind, c.landing.dir], ["local", "data/sample"]);
  assertEquals(c.kafka.brokers, []);
  assertEquals(c.kafka.batchSize, 100);
  assertEquals([c.api.host, c.api.port, c.api.token], ["127.0.0.1", 8080, undefined]);
  assertEquals([c.logDir, c.retentionDays], ["logs", 30]);
  // On the bundled sample "now" is the end of the sample's world.
  assertEquals(c.asOf.toISOString(), new Date(SAMPLE_AS_OF).toISOString());
});

Deno.test("the landing, warehouse and clock follow their variables", () => {
  const before = Date.now();
  const c = loadConfig(envOf({
    EGX_LANDING: "s3://egx-landing/daily/2025",
    S3_ENDPOINT: "http://127.0.0.1:9000",
    AWS_SECRET_ACCESS_KEY: "s3cr3t-key",
    EGX_WAREHOUSE: "/srv/egx/prod.duckdb",
    KAFKA_BROKERS: " b1:9092, b2:9092 ,",
  }));
  assertEquals(c.landing.kind, "s3");
  assertEquals([c.landing.bucket, c.landing.prefix], ["egx-landing", "daily/2025/"]);
  // A prefix is a folder: with or without its trailing slash, and none for the whole bucket.
  for (
    const [raw, prefix] of [["s3://b/daily/2025/", "daily/2025/"], ["s3://b", ""], ["s3://b/", ""]]
  ) {
    assertEquals(loadConfig(envOf({ EGX_LANDING: raw })).landing.prefix, prefix);
  }
  assertEquals([c.landing.endpoint, c.landing.forcePathStyle], ["http://127.0.0.1:9000", true]);
  assertEquals(c.warehouse, { kind: "duckdb", path: "/srv/egx/prod.duckdb" });
  assertEquals(c.kafka.brokers, ["b1:9092", "b2:9092"]);
  // Not the bundled sample: "now" is the clock.
  const asOf = c.asOf.getTime();
  assertEquals(asOf >= before && asOf <= Date.now(), true);
  // A date alone: the end of that day in Cairo, +02:00 in winter, +03:00 under DST.
  assertEquals(
    loadConfig(envOf({ EGX_AS_OF: "2026-04-23" })).asOf.toISOString(),
    "2026-04-23T21:59:59.000Z",
  );
  assertEquals(
    loadConfig(envOf({ EGX_AS_OF: "2026-07-01" })).asOf.toISOString(),
    "2026-07-01T20:59:59.000Z",
  );
});

Deno.test("bad or incomplete values are errors that name the variable", () => {
  throws(() => loadConfig(envOf({ EGX_CONSUMER_BATCH_SIZE: "0" })).kafka, {
    name: "ConfigError",
    message: 'EGX_CONSUMER_BATCH_SIZE must be an integer between 1 and 100000, got "0"',
  });
  // The consumer's fetch size per partition (2,048 bytes a record) must fit the fetch request.
  throws(() => loadConfig(envOf({ EGX_CONSUMER_BATCH_SIZE: "100001" })).kafka, {
    name: "ConfigError",
    message: 'EGX_CONSUMER_BATCH_SIZE must be an integer between 1 and 100000, got "100001"',
  });
  assertEquals(loadConfig(envOf({ EGX_CONSUMER_BATCH_SIZE: "100000" })).kafka.batchSize, 100_000);
  // Brokers refuse a group session timeout outside 6 s - 30 min by default.
  throws(() => loadConfig(envOf({ EGX_CONSUMER_SESSION_TIMEOUT_MS: "1800001" })).kafka, {
    name: "ConfigError",
    message: "EGX_CONSUMER_SESSION_TIMEOUT_MS must be an integer between 6000 and 1800000, got " +
      '"1800001"',
  });
  // The topics' retention.ms must fit the broker's 64-bit value: 100 years at most.
  throws(() => loadConfig(envOf({ EGX_TOPIC_RETENTION_HOURS: "10000000000000" })).kafka, {
    name: "ConfigError",
    message: "EGX_TOPIC_RETENTION_HOURS must be an integer between 1 and 876000, got " +
      '"10000000000000"',
  });
  assertEquals(
    loadConfig(envOf({ EGX_TOPIC_RETENTION_HOURS: "876000" })).kafka.retentionHours,
    876_000,
  );
  throws(() => loadConfig(envOf({ EGX_AS_OF: "yesterday" })).asOf, {
    message: "EGX_AS_OF must be an ISO date or instant, got yesterday",
  });
  // Dates that do not exist are refused, not rolled over into another day.
  for (const raw of ["2025-02-30", "2025-13-45", "0000-00-00", "2025-02-29T10:00:00Z"]) {
    throws(() => loadConfig(envOf({ EGX_AS_OF: raw })).asOf, {
      name: "ConfigError",
      message: `EGX_AS_OF must be an ISO date or instant, got ${raw}`,
    });
  }
  assertEquals(
    loadConfig(envOf({ EGX_AS_OF: "2024-02-29T10:00:00+02:00" })).asOf.toISOString(),
    "2024-02-29T08:00:00.000Z",
  );
  // A time without an offset is Cairo's wall clock (+02:00 in winter, +03:00 under DST), on any
  // machine (Date read it in the machine's own zone).
  for (
    const [raw, iso] of [
      ["2025-12-08T10:00:00", "2025-12-08T08:00:00.000Z"],
      ["2025-12-08T10:00", "2025-12-08T08:00:00.000Z"],
      ["2025-12-08 14:30:15.5", "2025-12-08T12:30:15.500Z"],
      ["2026-07-01T23:59:59", "2026-07-01T20:59:59.000Z"],
      ["2025-12-08T10:00:00Z", "2025-12-08T10:00:00.000Z"],
      ["2025-12-08T10:00:00.250-05:00", "2025-12-08T15:00:00.250Z"],
    ]
  ) assertEquals(loadConfig(envOf({ EGX_AS_OF: raw })).asOf.toISOString(), iso, raw);
  for (const raw of ["2025-12-08T24:00", "2025-12-08T10:60", "2025-12-08T10", "2025-12-08x"]) {
    throws(() => loadConfig(envOf({ EGX_AS_OF: raw })).asOf, {
      name: "ConfigError",
      message: `EGX_AS_OF must be an ISO date or instant, got ${raw}`,
    });
  }
  throws(() => loadConfig(envOf({ EGX_WAREHOUSE: "snowflake", SNOWFLAKE_USER: "u" })).warehouse, {
    message: "EGX_WAREHOUSE=snowflake needs SNOWFLAKE_ACCOUNT and SNOWFLAKE_PASSWORD or " +
      "SNOWFLAKE_PRIVATE_KEY_PATH",
  });
  // Every missing variable is named at once, not one per attempt.
  throws(() => loadConfig(envOf({ EGX_WAREHOUSE: "snowflake" })).warehouse, {
    message: "EGX_WAREHOUSE=snowflake needs SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, and " +
      "SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH",
  });
  throws(
    () =>
      loadConfig(envOf({ EGX_WAREHOUSE: "snowflake", SNOWFLAKE_ACCOUNT: "a", SNOWFLAKE_USER: "u" }))
        .warehouse,
    { message: "EGX_WAREHOUSE=snowflake needs SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH" },
  );
  throws(
    () =>
      loadConfig(envOf({ EGX_WAREHOUSE: "snowflake", SNOWFLAKE_PASSWORD: "pw-123456" })).warehouse,
    { message: "EGX_WAREHOUSE=snowflake needs SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER" },
  );
  // Replay dates: real dates only, and the first not after the last.
  for (const raw of ["2025-02-30", "2025-13-01", "0000-00-00", "2025-1-5"]) {
    throws(() => loadConfig(envOf({ EGX_REPLAY_START: raw })).stream, {
      name: "ConfigError",
      message: `EGX_REPLAY_START must be a date YYYY-MM-DD, got ${raw}`,
    });
  }
  throws(() => loadConfig(envOf({ EGX_REPLAY_END: "2025-02-29" })).stream, {
    message: "EGX_REPLAY_END must be a date YYYY-MM-DD, got 2025-02-29",
  });
  throws(
    () =>
      loadConfig(envOf({ EGX_REPLAY_START: "2025-12-09", EGX_REPLAY_END: "2025-12-01" })).stream,
    { message: "EGX_REPLAY_START (2025-12-09) must not be after EGX_REPLAY_END (2025-12-01)" },
  );
  const replay = loadConfig(envOf({ EGX_REPLAY_START: "2024-02-29", EGX_REPLAY_END: "2024-02-29" }))
    .stream;
  assertEquals([replay.replayStart, replay.replayEnd], ["2024-02-29", "2024-02-29"]);
  // A section that is never read never fails: a bad Kafka value does not stop a warehouse user.
  assertEquals(
    loadConfig(envOf({ EGX_CONSUMER_BATCH_SIZE: "many" })).warehouse.kind,
    "duckdb",
  );
});

Deno.test("integer settings are decimal digits only: no hex, exponent, blanks or fraction", () => {
  for (
    const raw of ["0x50", "1e3", " 80", "80 ", "80.0", "", "+80", "65536", "-1", "0b1", "Infinity"]
  ) {
    throws(() => loadConfig(envOf({ EGX_API_PORT: raw })).api, {
      name: "ConfigError",
      message: `EGX_API_PORT must be an integer between 0 and 65535, got ${JSON.stringify(raw)}`,
    }, raw);
  }
  for (const [raw, port] of [["0", 0], ["80", 80], ["08080", 8080], ["65535", 65535]] as const) {
    assertEquals(loadConfig(envOf({ EGX_API_PORT: raw })).api.port, port);
  }
  // The same rule for every integer setting, with or without an upper bound.
  throws(() => loadConfig(envOf({ EGX_CONSUMER_BATCH_SIZE: "1e2" })).kafka, {
    name: "ConfigError",
    message: 'EGX_CONSUMER_BATCH_SIZE must be an integer between 1 and 100000, got "1e2"',
  });
  throws(() => loadConfig(envOf({ EGX_RETENTION_DAYS: "0x10" })).retentionDays, {
    name: "ConfigError",
    message: 'EGX_RETENTION_DAYS must be an integer between 1 and 36500, got "0x10"',
  });
  // Beyond 2^53 a number is no longer exact: refused rather than rounded.
  throws(() => loadConfig(envOf({ EGX_STREAM_MAX_LAG: "9007199254740993" })).stream, {
    name: "ConfigError",
    message: 'EGX_STREAM_MAX_LAG must be an integer >= 0, got "9007199254740993"',
  });
  assertEquals(loadConfig(envOf({ EGX_STREAM_MAX_LAG: "250" })).stream.maxLag, 250);
});

Deno.test("secrets read by the configuration are masked by redact, URL passwords too", () => {
  const c = loadConfig(envOf({
    EGX_ALERT_WEBHOOK_URL: "https://hooks.example.com/T000/B000/XYZsecretXYZ",
    EGX_SMTP_URL: "smtp://ops:p%40ss-word-9@mail.example.com:587",
  }));
  c.alerts; // reading the section registers its secrets
  assertEquals(
    redact("POST https://hooks.example.com/T000/B000/XYZsecretXYZ failed; login p@ss-word-9"),
    "POST *** failed; login ***",
  );
});

Deno.test("a webhook URL is masked as fetch quotes it: without its user, normalised", async () => {
  const l = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const url = `HTTP://hook:Hook-pw-1@127.0.0.1:${port}/hooks/Hook-T0k-2?key=Hook-K3y-3`;
  loadConfig(envOf({ EGX_ALERT_WEBHOOK_URL: url })).alerts;
  const err = await fetch(url, { method: "POST" }).then(() => undefined, (e) => e as Error);
  // Deno's fetch says "fetch failed"; its cause quotes the URL it normalised, user dropped.
  const said = `${err}: ${err?.cause}`;
  match(said, /Hook-T0k-2/);
  const masked = redact(said);
  assertEquals(/Hook-(pw-1|T0k-2|K3y-3)/.test(masked), false, masked);
  match(
    masked,
    new RegExp(`error sending request for url \\(http://127\\.0\\.0\\.1:${port}\\*\\*\\*\\)`),
  );
});

Deno.test("a webhook URL with a user and a short token is masked as fetch quotes it", async () => {
  const l = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const url = `http://bot:Hook-pw-4@127.0.0.1:${port}/?t=Tok5n`;
  loadConfig(envOf({ EGX_ALERT_WEBHOOK_URL: url })).alerts;
  const err = await fetch(url, { method: "POST" }).then(() => undefined, (e) => e as Error);
  const said = `${err}: ${err?.cause}`;
  match(said, /Tok5n/);
  const masked = redact(said);
  assertEquals(/Hook-pw-4|Tok5n/.test(masked), false, masked);
  match(masked, /error sending request for url \(\*\*\*\)/);
  // Other URLs of its host are left alone.
  assertEquals(redact(`http://127.0.0.1:${port}/health`), `http://127.0.0.1:${port}/health`);
});

Deno.test("URL variables: a password in them is a secret; a malformed one is named, not echoed", () => {
  const c = loadConfig(envOf({
    EGX_LANDING: "s3://egx-landing/daily/",
    S3_ENDPOINT: "http://minio:S3-Pa55-word@127.0.0.1:9000",
    AWS_SESSION_TOKEN: "Sess-T0ken-secret",
  }));
  assertEquals(c.landing.endpoint, "http://minio:S3-Pa55-word@127.0.0.1:9000");
  assertEquals(c.landing.sessionToken, "Sess-T0ken-secret");
  assertEquals(
    redact("connect http://minio:S3-Pa55-word@127.0.0.1:9000 with Sess-T0ken-secret"),
    "connect http://minio:***@127.0.0.1:9000 with ***",
  );
  throws(
    () =>
      loadConfig(envOf({ EGX_LANDING: "s3://b/", S3_ENDPOINT: "http://k:Typo-Pa55@minio:90OO" }))
        .landing,
    {
      name: "ConfigError",
      message:
        'S3_ENDPOINT must be an http(s) URL such as http://127.0.0.1:9000, got "http://***@minio:90OO"',
    },
  );
  // An unencoded password may hold "/" (AWS secret keys do): still masked, not echoed.
  throws(
    () =>
      loadConfig(envOf({
        EGX_LANDING: "s3://b/",
        S3_ENDPOINT: "http://minio:wJalr/K7MDENG-Sl4sh@127.0.0.1:9000",
      })).landing,
    {
      message:
        'S3_ENDPOINT must be an http(s) URL such as http://127.0.0.1:9000, got "http://***@127.0.0.1:9000"',
    },
  );
  throws(
    () => loadConfig(envOf({ EGX_LANDING: "data/sample", S3_ENDPOINT: "minio:9000" })).landing,
    {
      message: 'S3_ENDPOINT must be an http(s) URL such as http://127.0.0.1:9000, got "minio:9000"',
    },
  );
  throws(
    () =>
      loadConfig(envOf({
        EGX_WAREHOUSE: "snowflake",
        SNOWFLAKE_ACCOUNT: "a",
        SNOWFLAKE_USER: "u",
        SNOWFLAKE_PASSWORD: "pw-123456",
        SNOWFLAKE_ACCESS_URL: "xy12345.snowflakecomputing.com",
      })).warehouse,
    {
      message: "SNOWFLAKE_ACCESS_URL must be an http(s) URL such as " +
        'https://xy12345.eu-central-1.snowflakecomputing.com, got "xy12345.snowflakecomputing.com"',
    },
  );
});

Deno.test("registerSecrets masks every secret of the environment before any section is read", () => {
  registerSecrets(envOf({
    SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: "Key-Pass-phrase-7",
    TRADINGVIEW_WS_URL: "wss://tv:Tv-Pa55-8@data.example.com/socket",
    EGX_API_TOKEN: "Api-T0ken-9",
    SNOWFLAKE_USER: "not-a-secret",
  }));
  assertEquals(
    redact("Key-Pass-phrase-7 wss://tv:Tv-Pa55-8@data.example.com/socket Api-T0ken-9 not-a-secret"),
    "*** wss://tv:***@data.example.com/socket *** not-a-secret",
  );
});

Deno.test("maskConsole masks secrets in what the console prints: strings, errors, objects", () => {
  const printed: unknown[][] = [];
  const target = {} as Record<string, unknown>;
  for (const m of ["log", "info", "warn", "error", "debug", "table", "group", "dir"]) {
    target[m] = (...args: unknown[]) => printed.push([m, ...args]);
  }
  target.assert = (condition: boolean, ...args: unknown[]) =>
    printed.push(["assert", condition, ...args]);
  const c = target as unknown as Console;
  maskConsole(c);
  const plain = { rows: 3 };
  c.log("no secret %s", "here", 7, plain, null);
  registerSecrets(envOf({ AWS_SECRET_ACCESS_KEY: "Aws-Console-Key-21" }));
  c.error("login with %s refused", "Aws-Console-Key-21");
  c.warn(new Error("bad key Aws-Console-Key-21", { cause: "x" }));
  c.info({ key: "Aws-Console-Key-21", n: 1 }, plain, 42);
  c.assert(false, "key", "Aws-Console-Key-21");
  // dir prints with its options: a secret deeper than console.log's default depth of 4.
  const deep = { a: { b: { c: { d: { e: { key: "Aws-Console-Key-21" } } } } } };
  c.dir(deep);
  c.dir(deep, { depth: Infinity });
  const [first, ...masked] = printed;
  // Unchanged while no secret was known, and an argument without one is passed on as it is.
  assertEquals(first, ["log", "no secret %s", "here", 7, plain, null]);
  assert(first[4] === plain);
  assertEquals(masked[0], ["error", "login with %s refused", "***"]);
  assertEquals(masked[1][0], "warn");
  match(masked[1][1] as string, /^Error: bad key \*\*\*\n {4}at /);
  assertEquals(masked[2], ["info", '{ key: "***", n: 1 }', plain, 42]);
  assert(masked[2][2] === plain);
  assertEquals(masked[3], ["assert", false, "key", "***"]);
  assert(masked[4][1] === deep); // shown as [Object] at depth 4: passed on as it is
  assertEquals(masked[5], [
    "dir",
    '{\n  a: {\n    b: {\n      c: { d: { e: { key: "***" } } }\n    }\n  }\n}',
    { depth: Infinity },
  ]);
  assertEquals(printed.length, 7);
});

Deno.test("a job masks the secrets it may read in what it prints, without the runner", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-env=EGX_API_TOKEN",
      `${REPO}/tests/testdata/runner/jobs/behave.ts`,
      "--say",
      "calling with token Job-Api-Token-22",
      "--say",
      "done",
    ],
    clearEnv: true,
    env: { EGX_API_TOKEN: "Job-Api-Token-22", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assertEquals(
    [out.code, dec.decode(out.stdout), dec.decode(out.stderr)],
    [0, "calling with token ***\ndone\n", ""],
  );
});

Deno.test("a log file's bytes are masked as bytes: what is not UTF-8 stays exactly as it was", () => {
  registerSecrets(envOf({ SNOWFLAKE_PASSWORD: "Sf-Pässwort-12" }));
  const enc = new TextEncoder();
  const bin = [0xff, 0xfe, 0x00, 0x80, 0xc3]; // not UTF-8
  const bytes = new Uint8Array([...bin, ...enc.encode(" pw=Sf-Pässwort-12 é\n"), ...bin]);
  assertEquals(
    redactBytes(bytes),
    new Uint8Array([...bin, ...enc.encode(" pw=*** é\n"), ...bin]),
  );
  assertEquals(redactBytes(new Uint8Array([...bin, ...enc.encode("nothing secret")])), undefined);
});

Deno.test("a log file is masked streamed, piece by piece, exactly as whole: every form cut at every offset", async () => {
  const password = 'Pä"ss\\wörd/+€-13'; // JSON escapes " and \; a URL encodes ä " \ / + €
  const hook = "https://hooks.example.test/services/T1/B1/Hoök-Tokën-15";
  registerSecrets(envOf({
    SNOWFLAKE_PASSWORD: password,
    EGX_ALERT_WEBHOOK_URL: hook,
    EGX_SMTP_URL: "smtp://op:M%C3%A4il-Pa55-14@mail.example.com:587",
  }));
  const enc = new TextEncoder();
  const b64 = (s: string) => btoa(String.fromCharCode(...enc.encode(s)));
  const forms = [
    password,
    'Pä\\"ss\\\\wörd/+€-13', // in JSON
    "P%C3%A4%22ss%5Cw%C3%B6rd%2F%2B%E2%82%AC-13", // in a URL
    hook,
    "https://hooks.example.test/services/T1/B1/Ho%C3%B6k-Tok%C3%ABn-15", // normalised
    "/services/T1/B1/Ho%C3%B6k-Tok%C3%ABn-15", // its path alone
    "Mäil-Pa55-14",
    "M%C3%A4il-Pa55-14",
    b64("\0op\0Mäil-Pa55-14"), // AUTH PLAIN, "=" padded
    b64("\0op\0Mäil-Pa55-14").replace(/=+$/, ""),
    b64("Mäil-Pa55-14"), // AUTH LOGIN, "==" padded
    b64("Mäil-Pa55-14").replace(/=+$/, ""),
  ];
  assertEquals(b64("\0op\0Mäil-Pa55-14").endsWith("="), true);
  assertEquals(b64("Mäil-Pa55-14").endsWith("=="), true);
  // `n` bytes of UTF-8 text with characters of 2, 3 and 4 bytes, so that pieces cut them too.
  const filler = (n: number) => {
    let out = "";
    for (let i = 0; n > 0; i++) {
      const c = ["é", "€", "😀", "."][i % 4];
      const len = enc.encode(c).length;
      if (len <= n) [out, n] = [out + c, n - len];
    }
    return out;
  };
  // Each form once across every offset of a 64-byte boundary, twice in a row once, with filler
  // between them; `masked` is what the log must become.
  const CHUNK = 64;
  let log = "", masked = "", size = 0;
  const add = (text: string, as = text) => {
    log += text;
    masked += as;
    size += enc.encode(text).length;
  };
  // Many pieces without a secret first: they pass through before there is anything to write.
  add(filler(100 * CHUNK + 5));
  for (const f of forms) {
    const len = enc.encode(f).length;
    for (let before = 1; before < len; before++) {
      // Up to the boundary less `before` bytes, sometimes a whole piece or two of filler more.
      add(filler(CHUNK - ((size + before) % CHUNK) + (before % 3) * CHUNK));
      assertEquals((size + before) % CHUNK, 0);
      add(f, "***");
    }
    add(" ");
    add(f + f, "******");
    add("\n");
  }
  const tmp = Deno.makeTempDirSync({ prefix: "config_redact_" });
  const path = `${tmp}/job.1.log`;
  const bytes = enc.encode(log);
  Deno.writeFileSync(path, bytes);
  assert(bytes.length > 100 * CHUNK, `${bytes.length} bytes`);
  const whole = redactBytes(bytes)!;
  assertEquals(new TextDecoder().decode(whole) === masked, true);
  // And in pieces shorter than any form, and in one piece.
  for (const chunk of [CHUNK, 13, 1 << 20]) {
    assertEquals(await redactFile(path, `${path}.masking`, chunk), true);
    const streamed = Deno.readFileSync(`${path}.masking`);
    assertEquals([chunk, streamed.length, Buffer.compare(streamed, whole)], [
      chunk,
      whole.length,
      0,
    ]);
  }
  assertEquals(Deno.readFileSync(path), bytes); // only dest is written

  // Without a secret (each form cut in two) the log is only read: no dest, and the log as it was
  // (same inode, size, mtime and bytes).
  const clean = `${tmp}/clean.1.log`;
  const cleanBytes = enc.encode(
    forms.map((f) => {
      const half = Math.floor(f.length / 2);
      return `${filler(61)}${f.slice(0, half)}|${f.slice(half)}${filler(40)}`;
    }).join("\n"),
  );
  Deno.writeFileSync(clean, cleanBytes);
  assertEquals(redactBytes(cleanBytes), undefined);
  const before = Deno.statSync(clean);
  assertEquals(await redactFile(clean, `${clean}.masking`, CHUNK), false);
  const after = Deno.statSync(clean);
  assertEquals([after.ino, after.mtime, after.size], [before.ino, before.mtime, before.size]);
  assertEquals(Deno.readFileSync(clean), cleanBytes);
  throws(() => Deno.statSync(`${clean}.masking`), Deno.errors.NotFound);
  await rejects(
    redactFile(`${tmp}/missing.log`, `${tmp}/missing.log.masking`),
    Deno.errors.NotFound,
  );
  Deno.removeSync(tmp, { recursive: true });
});

Deno.test("a secret with a quote or backslash is masked in JSON-lines logs too", () => {
  // Snowflake passwords and passphrases may hold any character; JSON writes " as \" and \ as \\.
  registerSecrets(envOf({
    SNOWFLAKE_PASSWORD: 'Sf"Pa55\\word-10',
    EGX_SMTP_URL: "smtp://ops:Mail%22Pa55%5C-11@mail.example.com:587",
  }));
  const lines: string[] = [];
  const log = jsonLogger("consumer", { write: (l) => lines.push(l) });
  log.warn("sink.retry", {
    error: new Error('login failed for password Sf"Pa55\\word-10'),
    note: 'smtp password Mail"Pa55\\-11',
  });
  const rec = JSON.parse(lines[0]);
  assertEquals([rec.error.message, rec.note], [
    "login failed for password ***",
    "smtp password ***",
  ]);
});

Deno.test(".env files: comments, export, quotes and inline comments; a bad line names file and line", () => {
  const parsed = parseDotEnv(
    [
      "# comment",
      "",
      "export EGX_LOG_DIR=var/logs",
      'EGX_API_TOKEN="a b # not a comment"',
      "EGX_RETENTION_DAYS=14   # two weeks",
      "EGX_LANDING='s3://b/p'",
    ].join("\n"),
  );
  assertEquals([...parsed], [
    ["EGX_LOG_DIR", "var/logs"],
    ["EGX_API_TOKEN", "a b # not a comment"],
    ["EGX_RETENTION_DAYS", "14"],
    ["EGX_LANDING", "s3://b/p"],
  ]);
  throws(() => parseDotEnv("OK=1\nnot a pair\n", "prod.env"), {
    name: "ConfigError",
    message: "prod.env:2: expected KEY=value",
  });
});

Deno.test("a process without permission for a variable gets an error that says what to grant", async () => {
  const script = Deno.makeTempFileSync({ suffix: ".ts" });
  Deno.writeTextFileSync(
    script,
    `import { loadConfig } from "${REPO}/lib/config/config.ts";
    console.log(loadConfig().logDir); loadConfig().warehouse;`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--allow-env=EGX_LOG_DIR", script],
    env: { EGX_LOG_DIR: "custom/logs" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assertEquals(out.code, 1);
  assertEquals(dec.decode(out.stdout), "custom/logs\n");
  match(
    dec.decode(out.stderr),
    /ConfigError: this process reads EGX_WAREHOUSE but was not granted it: add it to the job's permissions\.env in jobs\.yaml/,
  );
});

Deno.test(".env.example documents every variable the configuration reads, and loads as written", () => {
  const source = Deno.readTextFileSync(`${REPO}/lib/config/config.ts`);
  const read = new Set(
    [...source.matchAll(/\b(?:env|need|date)\(\s*(?:env,\s*)?"([A-Z][A-Z0-9_]+)"/g)].map((m) =>
      m[1]
    ),
  );
  for (const m of source.matchAll(/\b(?:int|bool)\(env, "([A-Z][A-Z0-9_]+)"/g)) read.add(m[1]);
  const example = Deno.readTextFileSync(`${REPO}/.env.example`);
  const uncommented = example.split("\n").map((l) => l.replace(/^# ([A-Z][A-Z0-9_]*=)/, "$1"))
    .join("\n");
  const vars = parseDotEnv(uncommented, ".env.example");
  const missing = [...read].filter((v) => !vars.has(v));
  assertEquals(missing, []);
  // Every documented value is accepted (the later of two alternatives wins, as in a real .env).
  const c = loadConfig((k) => vars.get(k));
  assertEquals([c.warehouse.kind, c.landing.kind], ["snowflake", "s3"]);
  assertEquals([c.kafka.partitions, c.stream.replaySpeed, c.api.port], [3, 270, 8080]);
  assertEquals(c.asOf.toISOString(), "2025-12-08T21:59:59.000Z"); // 23:59:59 in Cairo
});

Deno.test("a Kafka topic name the broker would refuse, or one topic for both, is named at once", () => {
  for (
    const [name, raw] of [
      ["EGX_TOPIC_QUOTES", "egx quotes"],
      ["EGX_TOPIC_QUOTES", "egx/quotes"],
      ["EGX_TOPIC_DEAD_LETTER", ".."],
      ["EGX_TOPIC_DEAD_LETTER", "q".repeat(250)],
    ]
  ) {
    throws(() => loadConfig(envOf({ [name]: raw })).kafka, {
      name: "ConfigError",
      message: `${name} must be a Kafka topic name (letters, digits, '.', '_', '-', at most 249 ` +
        `characters), got ${JSON.stringify(raw)}`,
    });
  }
  // Invalid records would go back into the topic they came from, to be read and sent again.
  throws(
    () => loadConfig(envOf({ EGX_TOPIC_QUOTES: "q.v1", EGX_TOPIC_DEAD_LETTER: "q.v1" })).kafka,
    {
      name: "ConfigError",
      message: "EGX_TOPIC_DEAD_LETTER must differ from EGX_TOPIC_QUOTES, both are q.v1",
    },
  );
  const k =
    loadConfig(envOf({ EGX_TOPIC_QUOTES: "Q_1-a.b", EGX_TOPIC_DEAD_LETTER: "q".repeat(249) }))
      .kafka;
  assertEquals([k.quotesTopic, k.deadLetterTopic.length], ["Q_1-a.b", 249]);
});

Deno.test("a malformed broker list or alert webhook is named at once, the webhook not shown", () => {
  assertEquals(
    loadConfig(envOf({ KAFKA_BROKERS: "127.0.0.1:9092, kafka-2.internal:19092" })).kafka.brokers,
    ["127.0.0.1:9092", "kafka-2.internal:19092"],
  );
  for (
    const [entry, shown] of [["kafka:9092x", "kafka:9092x"], ["kafka", "kafka"], ["k:0", "k:0"]]
  ) {
    throws(() => loadConfig(envOf({ KAFKA_BROKERS: `127.0.0.1:9092,${entry}` })).kafka, {
      name: "ConfigError",
      message: "KAFKA_BROKERS must be host:port entries separated by commas, such as " +
        `127.0.0.1:9092,kafka2:9092; "${shown}" is not one`,
    });
  }
  for (const entry of ["user:Br0ker-pw@kafka:9092", "user:Br0k/er-pw@kafka:9092"]) {
    throws(() => loadConfig(envOf({ KAFKA_BROKERS: entry })).kafka, {
      message: /; "\*\*\*@kafka:9092" is not one$/,
    });
  }
  const hook = "hooks.example.com/services/T000/Hook-Secret-77";
  throws(() => loadConfig(envOf({ EGX_ALERT_WEBHOOK_URL: hook })).alerts, (e: Error) => {
    assertEquals(e.name, "ConfigError");
    assertEquals(
      e.message,
      "EGX_ALERT_WEBHOOK_URL must be an http(s) URL such as https://hooks.slack.com/services/...; " +
        "its value is not one (not shown: secret)",
    );
    return true;
  });
  // Even so it is a secret from then on.
  assertEquals(redact(`posting to ${hook}`), "posting to ***");
  // A short path holds no token and is not masked on its own ("/hook" is in many paths).
  loadConfig(envOf({ EGX_ALERT_WEBHOOK_URL: "http://127.0.0.1:9/hook" })).alerts;
  assertEquals(redact("lib/hooks/x.ts via http://127.0.0.1:9/hook"), "lib/hooks/x.ts via ***");
});

/**
 * The S3 landing store against a real S3-API HTTP server (moto, tests/support/s3_server.ts),
 * through the library and through the s3_check / batch_load / validate_data job scripts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { loadConfig } from "../lib/config/config.ts";
import { pendingObjects, runBatch } from "../lib/ingest/batch.ts";
import { type FetchedFile, type Landing, openLanding } from "../lib/ingest/landing.ts";
import { S3Landing } from "../lib/ingest/landing_s3.ts";
import type { LandingObject } from "../lib/ingest/load.ts";
import { openWarehouse } from "../lib/warehouse/warehouse.ts";
import { s3Endpoint, s3TestClient, s3TestEnv } from "./support/s3_server.ts";
import { runProjectJob } from "./support/processes.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SAMPLE = `${ROOT}data/sample`;
const DATA = `${ROOT}tests/testdata/ingest`;

async function bucketWith(files: Record<string, string>): Promise<string> {
  const bucket = `egx-${crypto.randomUUID().slice(0, 8)}`;
  const s3 = await s3TestClient();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const [key, path] of Object.entries(files)) {
    await put(bucket, key, await Deno.readFile(path));
  }
  return bucket;
}

async function put(bucket: string, key: string, body: Uint8Array): Promise<void> {
  const s3 = await s3TestClient();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

Deno.test("S3 landing: new files are listed by key and ETag, loaded, then no longer pending", async () => {
  const bucket = await bucketWith({
    "landing/companies.csv": `${SAMPLE}/companies.csv`,
    "landing/bars_1m/COMI.csv": `${DATA}/bars_1m/COMI.csv`,
    "landing/notes.txt": `${DATA}/exports/EGX_ETEL.txt`,
    "elsewhere/ignored.csv": `${SAMPLE}/index_membership.csv`,
  });
  const env = await s3TestEnv(bucket, "landing/");
  const config = loadConfig((k) => env[k]);
  const landing = await openLanding(config.landing);
  assert.equal(landing.where, `s3://${bucket}/landing/`);
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_" });
  const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
  try {
    const pending = await pendingObjects(wh, landing);
    assert.deepEqual(pending.map((p) => [p.key, p.change]), [
      [`s3://${bucket}/landing/bars_1m/COMI.csv`, "new"],
      [`s3://${bucket}/landing/companies.csv`, "new"],
    ]);
    // moto gives the MD5 of the content as the ETag of a single-part upload.
    assert.match(pending[0].etag, /^[0-9a-f]{32}$/);
    assert.equal(pending[1].size, Deno.statSync(`${SAMPLE}/companies.csv`).size);
    const out = await runBatch(wh, landing, pending, { tmpDir: `${dir}/tmp`, progress: false });
    assert.deepEqual(out.map((o) => [o.status, o.rowsRead, o.rowsLoaded]), [
      ["LOADED", 223, 223],
      ["LOADED", 13, 6],
    ]);
    // Downloads are removed once loaded.
    assert.deepEqual([...Deno.readDirSync(`${dir}/tmp`)], []);
    assert.deepEqual(await pendingObjects(wh, landing), []);
    const [q] = await wh.query(
      "SELECT FILE_KEY, LINE_NUMBER, REASON FROM OPERATIONAL.TBL_QUARANTINE ORDER BY 2 LIMIT 1",
    );
    assert.deepEqual(q, {
      FILE_KEY: `s3://${bucket}/landing/bars_1m/COMI.csv`,
      LINE_NUMBER: 4,
      REASON: "outside the session (13:45 Cairo, Ramadan 1446 session 10:00-13:30)",
    });
    // A changed object (new content, new ETag) is pending again, as "changed".
    const changed = new TextEncoder().encode(
      Deno.readTextFileSync(`${DATA}/bars_1m/COMI.csv`) +
        "2025-11-03 08:00:00,99.0,99.5,98.5,99.1,700\n",
    );
    await put(bucket, "landing/bars_1m/COMI.csv", changed);
    const again = await pendingObjects(wh, landing);
    assert.deepEqual(again.map((p) => [p.key, p.change]), [
      [`s3://${bucket}/landing/bars_1m/COMI.csv`, "changed"],
    ]);
    const [o] = await runBatch(wh, landing, again, { tmpDir: `${dir}/tmp`, progress: false });
    assert.deepEqual([o.status, o.rowsRead, o.rowsLoaded], ["LOADED", 14, 7]);
  } finally {
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("S3 landing: objects of one scan load oldest first by LastModified, so a re-download 'daily (1).csv' wins over the older 'daily.csv'", async () => {
  // By key alone "daily (1).csv" loaded first and the older object's close stayed.
  const bucket = await bucketWith({ "land/companies.csv": `${SAMPLE}/companies.csv` });
  const day = (close: string) =>
    new TextEncoder().encode(
      `ticker,trade_date,open,high,low,close,volume\nCOMI,2025-12-08,10,13,9,${close},100\n`,
    );
  const env = await s3TestEnv(bucket, "land/");
  const landing = await openLanding(loadConfig((k) => env[k]).landing);
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_order_" });
  const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
  try {
    await put(bucket, "land/daily.csv", day("10.5"));
    // LastModified is in whole seconds: the re-download lands in a later one.
    await new Promise((r) => setTimeout(r, 1100));
    await put(bucket, "land/daily (1).csv", day("12.5"));
    const pending = await pendingObjects(wh, landing);
    const out = await runBatch(wh, landing, pending, { tmpDir: `${dir}/tmp`, progress: false });
    assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsLoaded]), [
      [`s3://${bucket}/land/companies.csv`, "LOADED", 223],
      [`s3://${bucket}/land/daily.csv`, "LOADED", 1],
      [`s3://${bucket}/land/daily (1).csv`, "LOADED", 1],
    ]);
    assert.deepEqual(
      await wh.query(
        "SELECT CLOSE AS C, SOURCE_FILE AS F FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'COMI'",
      ),
      [{ C: 12.5, F: `s3://${bucket}/land/daily (1).csv` }],
    );
  } finally {
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("S3 landing: an object put back to a version loaded before a later one loads again", async () => {
  // The same content has the same ETag: the restored object's ETag had a LOADED row, so it was
  // taken for loaded ("nothing to do") and the later version's close stayed.
  const bucket = await bucketWith({ "land/companies.csv": `${SAMPLE}/companies.csv` });
  const day = (close: string) =>
    new TextEncoder().encode(
      `ticker,trade_date,open,high,low,close,volume\nCOMI,2025-12-08,10,13,9,${close},100\n`,
    );
  const key = `s3://${bucket}/land/daily.csv`;
  const env = await s3TestEnv(bucket, "land/");
  const landing = await openLanding(loadConfig((k) => env[k]).landing);
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_restore_" });
  const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
  try {
    const load = async () => {
      const pending = await pendingObjects(wh, landing);
      await runBatch(wh, landing, pending, { tmpDir: `${dir}/tmp`, progress: false });
      const [{ C }] = await wh.query<{ C: number }>(
        "SELECT CLOSE AS C FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'COMI'",
      );
      return [pending.map((p) => [p.key, p.change]), C];
    };
    await put(bucket, "land/daily.csv", day("10.5"));
    assert.deepEqual(await load(), [
      [[`s3://${bucket}/land/companies.csv`, "new"], [key, "new"]],
      10.5,
    ]);
    await put(bucket, "land/daily.csv", day("12.5"));
    assert.deepEqual(await load(), [[[key, "changed"]], 12.5]);
    await put(bucket, "land/daily.csv", day("10.5"));
    assert.deepEqual(await load(), [[[key, "changed"]], 10.5]);
    assert.deepEqual(await pendingObjects(wh, landing), []);
    // One row per key and ETag: the first version's, loaded twice, is the most recent.
    assert.deepEqual(
      await wh.query(
        "SELECT ETAG, STATUS FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY = ? ORDER BY STARTED_AT",
        [key],
      ),
      [
        { ETAG: createHash("md5").update(day("12.5")).digest("hex"), STATUS: "LOADED" },
        { ETAG: createHash("md5").update(day("10.5")).digest("hex"), STATUS: "LOADED" },
      ],
    );
  } finally {
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("S3 landing: a prefix without a trailing slash is a folder, not the start of a key", async () => {
  const bucket = await bucketWith({
    "landing/companies.csv": `${SAMPLE}/companies.csv`,
    "landing2/bars_1m/COMI.csv": `${DATA}/bars_1m/COMI.csv`,
    "landing_old/index_membership.csv": `${SAMPLE}/index_membership.csv`,
    "landing.csv": `${SAMPLE}/index_membership.csv`,
  });
  const env = await s3TestEnv(bucket, "landing");
  assert.equal(env.EGX_LANDING, `s3://${bucket}/landing`);
  const config = loadConfig((k) => env[k]);
  assert.equal(config.landing.prefix, "landing/");
  const landing = await openLanding(config.landing);
  assert.equal(landing.where, `s3://${bucket}/landing/`);
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_prefix_" });
  const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
  try {
    const pending = await pendingObjects(wh, landing);
    assert.deepEqual(pending.map((p) => [p.key, p.change]), [
      [`s3://${bucket}/landing/companies.csv`, "new"],
    ]);
    const out = await runBatch(wh, landing, pending, { tmpDir: `${dir}/tmp`, progress: false });
    assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded]), [
      [`s3://${bucket}/landing/companies.csv`, "LOADED", 223, 223],
    ]);
    assert.deepEqual(
      await wh.query("SELECT FILE_KEY, STATUS FROM OPERATIONAL.TBL_LOAD_LOG ORDER BY 1"),
      [{ FILE_KEY: `s3://${bucket}/landing/companies.csv`, STATUS: "LOADED" }],
    );
    // An S3Landing given a LandingConfig directly applies the same rule.
    const direct = new S3Landing({ ...config.landing, prefix: "landing" }, await s3TestClient());
    assert.equal(direct.where, `s3://${bucket}/landing/`);
    assert.deepEqual((await direct.list()).map((o) => o.key), [
      `s3://${bucket}/landing/companies.csv`,
    ]);
  } finally {
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** The job as the runner starts it: its exact command and environment from jobs.yaml. */
const job = runProjectJob;

Deno.test("the s3_check, batch_load and validate_data jobs run the batch branch on S3", async () => {
  const bucket = await bucketWith({
    "companies.csv": `${SAMPLE}/companies.csv`,
    "bars_1m/COMI.csv": `${SAMPLE}/bars_1m/COMI.csv`,
    "bars_1m/ETEL.csv": `${SAMPLE}/bars_1m/ETEL.csv`,
  });
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_jobs_" });
  try {
    const env = {
      ...(await s3TestEnv(bucket)),
      EGX_WAREHOUSE: `${dir}/egx.duckdb`,
      EGX_AS_OF: "2025-12-08T12:30:00Z",
    };
    const check = await job("s3_check", env);
    assert.equal(check.code, 0, check.err);
    assert.equal(
      check.out.split("\n")[0],
      `s3_check: 3 new or changed file(s) in s3://${bucket}/`,
    );
    assert.match(
      check.out,
      new RegExp(`new {5}s3://${bucket}/companies\\.csv \\(etag [0-9a-f]{32}, 13063 bytes\\)`),
    );
    const load = await job("batch_load", { ...env });
    assert.equal(load.code, 0, load.err);
    assert.match(
      load.out,
      /LOADED {2}s3:\/\/egx-[0-9a-f]+\/bars_1m\/COMI\.csv \(bars_1m\): 20796 read, 20796 loaded, 0 quarantined/,
    );
    assert.match(load.err, /batch_load: 3\/3 files, 41,561 rows, [\d,]+ rows\/s, done/);
    const nothing = await job("s3_check", env);
    assert.equal(nothing.code, 78, nothing.err);
    assert.equal(
      nothing.out,
      `s3_check: nothing to do: no new or changed files in s3://${bucket}/\n`,
    );
    // A mistyped prefix is no work either, but not mistaken for an up-to-date landing.
    const typo = await job("s3_check", { ...env, EGX_LANDING: `s3://${bucket}/dialy/` });
    assert.equal(typo.code, 78, typo.err);
    assert.equal(
      typo.out,
      `s3_check: nothing to do: no .csv files at all in s3://${bucket}/dialy/ (EGX_LANDING)\n`,
    );
    const valid = await job("validate_data", env);
    assert.equal(valid.code, 0, valid.out + valid.err);
    assert.match(
      valid.out,
      /PASS {2}recent data present: 2 ticker\(s\) with prices for 2025-12-08/,
    );
    const late = await job("validate_data", { ...env, EGX_AS_OF: "2025-12-10T13:00:00Z" });
    assert.equal(late.code, 1);
    assert.match(
      late.out,
      /FAIL {2}recent data present: no prices for 2025-12-10, .*\(latest stored: 2025-12-08; set EGX_AS_OF=2025-12-08 to judge data as of an earlier day, e\.g\. a copy of the sample\)$/m,
    );
    assert.match(
      late.err.trim(),
      /^validate_data: Error: data-quality checks failed: recent data present \(at jobs\/validate_data\.ts:\d+\)$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("batch_load loads the other files, then fails naming the file that did not load", async () => {
  const bucket = await bucketWith({
    "companies.csv": `${SAMPLE}/companies.csv`,
    "exports/mystery.csv": `${DATA}/exports/mystery.csv`,
  });
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_fail_" });
  try {
    const env = { ...(await s3TestEnv(bucket)), EGX_WAREHOUSE: `${dir}/egx.duckdb` };
    const load = await job("batch_load", env);
    assert.equal(load.code, 1, load.out + load.err);
    assert.match(
      load.out,
      new RegExp(`LOADED {2}s3://${bucket}/companies\\.csv \\(companies\\): 223 read, 223 loaded`),
    );
    assert.match(
      load.err,
      new RegExp(
        `^batch_load: Error: 1 of 2 file\\(s\\) failed to load \\(first: ` +
          `s3://${bucket}/exports/mystery\\.csv: unknown file format: header ` +
          `"foo,bar,baz"; expected one of: .*\\) \\(at jobs/batch_load\\.ts:\\d+\\)$`,
        "m",
      ),
    );
    // The failed file stays pending (moto's ETag is the MD5 of the content); the loaded one not.
    const mystery = await Deno.readFile(`${DATA}/exports/mystery.csv`);
    const check = await job("s3_check", env);
    assert.equal(check.code, 0, check.err);
    assert.equal(
      check.out,
      `s3_check: 1 new or changed file(s) in s3://${bucket}/\n` +
        `  new     s3://${bucket}/exports/mystery.csv ` +
        `(etag ${createHash("md5").update(mystery).digest("hex")}, ${mystery.length} bytes)\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A canonical daily file of one COMI row on `day`. */
const dailyComi = (day: string) =>
  new TextEncoder().encode(
    `ticker,trade_date,open,high,low,close,volume\nCOMI,${day},10,11,9,10.5,1000\n`,
  );

Deno.test("an object that cannot be downloaded fails alone and stays pending; the others load", async () => {
  const bucket = await bucketWith({ "landing/companies.csv": `${SAMPLE}/companies.csv` });
  const s3 = await s3TestClient();
  // moto refuses GetObject on a GLACIER object (InvalidObjectState) but lists it as usual.
  const archived = dailyComi("2025-12-07");
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: "landing/2025/archived.csv",
      Body: archived,
      StorageClass: "GLACIER",
    }),
  );
  await put(bucket, "landing/2025/new.csv", dailyComi("2025-12-08"));
  const env = await s3TestEnv(bucket, "landing/");
  const landing = await openLanding(loadConfig((k) => env[k]).landing);
  const endpoint = new URL(env.S3_ENDPOINT).host;
  const key = `s3://${bucket}/landing/2025/archived.csv`;
  const etag = createHash("md5").update(archived).digest("hex");
  const error = `cannot fetch ${key} on ${endpoint}: InvalidObjectState: ` +
    "The operation is not valid for the object's storage class";
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_glacier_" });
  const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
  try {
    const pending = await pendingObjects(wh, landing);
    assert.deepEqual(pending.map((p) => p.key), [
      key,
      `s3://${bucket}/landing/2025/new.csv`,
      `s3://${bucket}/landing/companies.csv`,
    ]);
    const out = await runBatch(wh, landing, pending, {
      runId: "run-1",
      tmpDir: `${dir}/tmp`,
      progress: false,
    });
    assert.deepEqual(out, [
      {
        key,
        etag,
        format: null,
        status: "FAILED",
        rowsRead: 0,
        rowsLoaded: 0,
        rowsQuarantined: 0,
        error,
      },
      {
        key: `s3://${bucket}/landing/companies.csv`,
        etag: pending[2].etag,
        format: "companies",
        status: "LOADED",
        rowsRead: 223,
        rowsLoaded: 223,
        rowsQuarantined: 0,
      },
      {
        key: `s3://${bucket}/landing/2025/new.csv`,
        etag: pending[1].etag,
        format: "daily_canonical",
        status: "LOADED",
        rowsRead: 1,
        rowsLoaded: 1,
        rowsQuarantined: 0,
      },
    ]);
    assert.deepEqual([...Deno.readDirSync(`${dir}/tmp`)], []);
    const log = () =>
      wh.query(
        "SELECT FILE_KEY, ETAG, SIZE_BYTES, FORMAT, STATUS, ERROR, RUN_ID " +
          "FROM OPERATIONAL.TBL_LOAD_LOG WHERE STATUS = 'FAILED'",
      );
    assert.deepEqual(await log(), [{
      FILE_KEY: key,
      ETAG: etag,
      SIZE_BYTES: archived.length,
      FORMAT: null,
      STATUS: "FAILED",
      ERROR: error,
      RUN_ID: "run-1",
    }]);
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, TRADE_DATE, CLOSE FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY 2",
      ),
      [{ TICKER: "COMI", TRADE_DATE: "2025-12-08", CLOSE: 10.5 }],
    );
    // Still pending: the next run tries it again (and records the failure again, once).
    const again = await pendingObjects(wh, landing);
    assert.deepEqual(again.map((p) => [p.key, p.change]), [[key, "new"]]);
    const [o] = await runBatch(wh, landing, again, {
      runId: "run-2",
      tmpDir: `${dir}/tmp`,
      progress: false,
    });
    assert.deepEqual([o.status, o.error], ["FAILED", error]);
    assert.deepEqual((await log()).map((r) => r.RUN_ID), ["run-2"]);
  } finally {
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("batch_load fails naming an object it could not download, after loading the others", async () => {
  const bucket = await bucketWith({ "companies.csv": `${SAMPLE}/companies.csv` });
  const s3 = await s3TestClient();
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: "archived.csv",
      Body: dailyComi("2025-12-07"),
      StorageClass: "GLACIER",
    }),
  );
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_glacier_job_" });
  try {
    const env = { ...(await s3TestEnv(bucket)), EGX_WAREHOUSE: `${dir}/egx.duckdb` };
    const endpoint = new URL(await s3Endpoint()).host;
    const error = `cannot fetch s3://${bucket}/archived.csv on ${endpoint}: InvalidObjectState: ` +
      "The operation is not valid for the object's storage class";
    const load = await job("batch_load", env);
    assert.equal(load.code, 1, load.out + load.err);
    assert.equal(
      load.out,
      `batch_load: 2 file(s) from s3://${bucket}/\n` +
        `  FAILED  s3://${bucket}/archived.csv: ${error}\n` +
        `  LOADED  s3://${bucket}/companies.csv (companies): 223 read, 223 loaded, ` +
        "0 quarantined\n",
    );
    assert.match(
      load.err,
      new RegExp(
        `^batch_load: Error: 1 of 2 file\\(s\\) failed to load \\(first: ` +
          `${error.replace(/[.()']/g, "\\$&")}\\) \\(at jobs/batch_load\\.ts:\\d+\\)$`,
        "m",
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a download cut short leaves nothing in the temporary folder", async () => {
  // An S3 endpoint whose GetObject answers 200 with 100 bytes announced, sends 18 of them and
  // closes the connection, as a network failure would (the real SDK on the client side).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(65536);
      await conn.read(buf); // the request
      await conn.write(new TextEncoder().encode(
        'HTTP/1.1 200 OK\r\nETag: "abc"\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n' +
          "\r\nticker,trade_date\n",
      ));
      conn.close();
    }
  })();
  const server = {
    addr: listener.addr as Deno.NetAddr,
    shutdown: async () => {
      listener.close();
      await serving.catch(() => {});
    },
  };
  const endpoint = `127.0.0.1:${server.addr.port}`;
  const client = new S3Client({
    endpoint: `http://${endpoint}`,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  const landing = new S3Landing(
    loadConfig((k) => ({ EGX_LANDING: "s3://b/landing/", AWS_REGION: "us-east-1" })[k]).landing,
    client,
  );
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_cut_" });
  try {
    await assert.rejects(
      landing.fetch({ key: "s3://b/landing/a.csv", etag: "abc", size: 100 }, dir),
      (e: Error) => {
        assert.match(
          e.message,
          /^cannot fetch s3:\/\/b\/landing\/a\.csv on AWS S3 \(us-east-1\): /,
        );
        return true;
      },
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    client.destroy();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("temporary credentials: AWS_SESSION_TOKEN is sent with the configured keys", async () => {
  // A bare HTTP server that records the request and answers an empty listing: the token travels
  // in a header moto does not check.
  const seen: Headers[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    seen.push(req.headers);
    return new Response(
      '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>' +
        "<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>",
      { headers: { "content-type": "application/xml" } },
    );
  });
  try {
    const config = loadConfig((k) =>
      ({
        EGX_LANDING: "s3://b/daily/",
        S3_ENDPOINT: `http://127.0.0.1:${server.addr.port}`,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "ASIATEMPORARY",
        AWS_SECRET_ACCESS_KEY: "temp-secret-key",
        AWS_SESSION_TOKEN: "temp-session-token",
      })[k]
    );
    const landing = await openLanding(config.landing);
    assert.deepEqual(await landing.list(), []);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].get("x-amz-security-token"), "temp-session-token");
    assert.match(seen[0].get("authorization") ?? "", /Credential=ASIATEMPORARY\//);
  } finally {
    await server.shutdown();
  }
});

Deno.test("S3 failures say what was asked of which server: a missing bucket, a closed port", async () => {
  const env = await s3TestEnv(`egx-missing-${crypto.randomUUID().slice(0, 8)}`, "daily/");
  const missing = await openLanding(loadConfig((k) => env[k]).landing);
  const endpoint = new URL(env.S3_ENDPOINT).host;
  const noBucket = `cannot list ${missing.where} on ${endpoint}: NoSuchBucket: The specified ` +
    "bucket does not exist (check the bucket in EGX_LANDING)";
  await assert.rejects(missing.list(), (e: Error) => {
    // A setting to mend, not a failure to try again: the job exits 2 (EXIT_USAGE, not retried).
    assert.equal(e.name, "ConfigError");
    assert.equal(e.message, noBucket);
    return true;
  });
  const check = await job("s3_check", env);
  assert.equal(check.code, 2, check.err);
  assert.equal(check.err.replace(/ \(at [^)]*\)\n$/, ""), `s3_check: ConfigError: ${noBucket}`);
  // No keys at all: the SDK's credential chain gives up (no profile file, no instance role).
  const { AWS_ACCESS_KEY_ID: _, AWS_SECRET_ACCESS_KEY: __, ...keyless } = env;
  const unsigned = await job("s3_check", keyless);
  assert.equal(unsigned.code, 2, unsigned.err);
  assert.match(
    unsigned.err,
    new RegExp(
      `^s3_check: ConfigError: cannot list ${missing.where} on ${endpoint}: ` +
        "CredentialsProviderError: .* \\(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\\)",
    ),
  );
  const l = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const closed = await openLanding(
    loadConfig((k) => ({ ...env, S3_ENDPOINT: `http://127.0.0.1:${port}` })[k]).landing,
  );
  await assert.rejects(closed.list(), (e: Error) => {
    assert.match(
      e.message,
      new RegExp(
        `^cannot list s3://egx-missing-\\w+/daily/ on 127\\.0\\.0\\.1:${port}: .*refused`,
        "i",
      ),
    );
    return true;
  });
});

Deno.test("s3_check masks the session token an S3 server quotes percent-encoded, as in a URL", async () => {
  const token = "FwoGZXIvYXdzE+/Sess10n+T0ken==";
  // A proxy in front of S3 that refuses the request and quotes it, token and all.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const got = req.headers.get("x-amz-security-token") ?? "";
    const quoted = `/egx-landing/?X-Amz-Security-Token=${encodeURIComponent(got)}`;
    return new Response(
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidToken</Code>` +
        `<Message>refused ${quoted}</Message><RequestId>1</RequestId></Error>`,
      { status: 400, headers: { "content-type": "application/xml" } },
    );
  });
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_token_" });
  try {
    const res = await job("s3_check", {
      EGX_LANDING: "s3://egx-landing/daily/",
      S3_ENDPOINT: `http://127.0.0.1:${server.addr.port}`,
      AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "Secret/Key+10",
      AWS_SESSION_TOKEN: token,
      EGX_WAREHOUSE: `${dir}/egx.duckdb`,
    });
    assert.equal(res.code, 1);
    assert.match(
      res.err,
      new RegExp(
        `^s3_check: Error: cannot list s3://egx-landing/daily/ on 127\\.0\\.0\\.1:${server.addr.port}: ` +
          `InvalidToken: refused /egx-landing/\\?X-Amz-Security-Token=\\*\\*\\* ` +
          `\\(at lib/ingest/landing_s3\\.ts:\\d+\\)\\n$`,
      ),
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The real S3 landing, watched: every download (what is on disk under `tmp` when it arrives) and
 * every release in a trace; `before` runs just before the named object's download is asked for.
 */
class WatchedLanding implements Landing {
  readonly trace: string[] = [];
  constructor(
    private readonly inner: Landing,
    private readonly tmp: string,
    private readonly before: Record<string, () => Promise<unknown>> = {},
  ) {}
  get where() {
    return this.inner.where;
  }
  list(signal?: AbortSignal) {
    return this.inner.list(signal);
  }
  readHeader(obj: LandingObject, signal?: AbortSignal) {
    return this.inner.readHeader(obj, signal);
  }
  async fetch(obj: LandingObject, tmpDir: string, signal?: AbortSignal): Promise<FetchedFile> {
    const name = basename(obj.key);
    await this.before[obj.key]?.();
    let f: FetchedFile;
    try {
      f = await this.inner.fetch(obj, tmpDir, signal);
    } catch (e) {
      this.trace.push(`fetch ${name} failed: on disk [${this.#onDisk()}]`);
      throw e;
    }
    this.trace.push(`fetch ${name}: on disk [${this.#onDisk()}]`);
    return {
      ...f,
      release: async () => {
        await f.release();
        this.trace.push(`release ${name}: on disk [${this.#onDisk()}]`);
      },
    };
  }
  /** The names of the files under the temporary folder, at any depth. */
  #onDisk(): string {
    const names: string[] = [];
    const walk = (dir: string) => {
      for (const e of Deno.readDirSync(dir)) {
        if (e.isDirectory) walk(`${dir}/${e.name}`);
        else names.push(e.name);
      }
    };
    walk(this.tmp);
    return names.sort().join(", ");
  }
}

const basename = (key: string) => key.slice(key.lastIndexOf("/") + 1);

Deno.test("a backlog is downloaded one group at a time, in load order; a download failing mid-way fails alone", async () => {
  const bucket = await bucketWith({
    "landing/companies.csv": `${SAMPLE}/companies.csv`,
    "landing/index_membership.csv": `${SAMPLE}/index_membership.csv`,
    "landing/financials_2025q3.csv": `${DATA}/exports/financials_2025q3.csv`,
    "landing/bars_1m/COMI.csv": `${DATA}/bars_1m/COMI.csv`,
    "landing/exports/EGX_ETEL, 1D.csv": `${DATA}/exports/EGX_ETEL, 1D.csv`,
  });
  // Three canonical daily files of one header: one group, downloaded and loaded together.
  await put(bucket, "landing/daily/a.csv", dailyComi("2025-12-03"));
  await put(bucket, "landing/daily/b.csv", dailyComi("2025-12-04"));
  await put(bucket, "landing/daily/c.csv", dailyComi("2025-12-08"));
  const s3 = await s3TestClient();
  const env = await s3TestEnv(bucket, "landing/");
  const endpoint = new URL(env.S3_ENDPOINT).host;
  const key = (k: string) => `s3://${bucket}/landing/${k}`;
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_backlog_" });
  const tmp = `${dir}/tmp`;
  // After their headers were read, while the batch loads: the index list is archived (the same
  // content, so the same ETag, but GetObject is refused), a.csv replaced by other content.
  const indexList = await Deno.readFile(`${SAMPLE}/index_membership.csv`);
  const replaced = dailyComi("2025-12-02");
  const landing = new WatchedLanding(await openLanding(loadConfig((k) => env[k]).landing), tmp, {
    [key("index_membership.csv")]: () =>
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: "landing/index_membership.csv",
          Body: indexList,
          StorageClass: "GLACIER",
        }),
      ),
    [key("daily/a.csv")]: () => put(bucket, "landing/daily/a.csv", replaced),
  });
  const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
  try {
    const pending = await pendingObjects(wh, landing);
    const etag = (k: string) => pending.find((p) => p.key === key(k))!.etag;
    const out = await runBatch(wh, landing, pending, {
      runId: "run-1",
      tmpDir: tmp,
      progress: false,
    });
    assert.deepEqual(landing.trace, [
      "fetch companies.csv: on disk [companies.csv]",
      "release companies.csv: on disk []",
      "fetch index_membership.csv failed: on disk []",
      "fetch financials_2025q3.csv: on disk [financials_2025q3.csv]",
      "release financials_2025q3.csv: on disk []",
      "fetch COMI.csv: on disk [COMI.csv]",
      "release COMI.csv: on disk []",
      "fetch a.csv failed: on disk []",
      "fetch b.csv: on disk [b.csv]",
      "fetch c.csv: on disk [b.csv, c.csv]",
      "release b.csv: on disk [c.csv]",
      "release c.csv: on disk []",
      "fetch EGX_ETEL, 1D.csv: on disk [EGX_ETEL, 1D.csv]",
      "release EGX_ETEL, 1D.csv: on disk []",
    ]);
    const indexError = `cannot fetch ${key("index_membership.csv")} on ${endpoint}: ` +
      "InvalidObjectState: The operation is not valid for the object's storage class";
    const changedError = `${key("daily/a.csv")}: changed since it was listed and its header ` +
      `read (version ${etag("daily/a.csv")}): not loaded; the next load reads it again`;
    assert.deepEqual(
      out.map((o) => [basename(o.key), o.status, o.format, o.rowsRead, o.rowsLoaded, o.error]),
      [
        ["companies.csv", "LOADED", "companies", 223, 223, undefined],
        ["index_membership.csv", "FAILED", "index_membership", 0, 0, indexError],
        ["financials_2025q3.csv", "LOADED", "financials", 3, 1, undefined],
        ["COMI.csv", "LOADED", "bars_1m", 13, 6, undefined],
        ["a.csv", "FAILED", "daily_canonical", 0, 0, changedError],
        ["b.csv", "LOADED", "daily_canonical", 1, 1, undefined],
        ["c.csv", "LOADED", "daily_canonical", 1, 1, undefined],
        ["EGX_ETEL, 1D.csv", "LOADED", "daily_tradingview", 3, 2, undefined],
      ],
    );
    // Nothing is left: not a download, not the run's folder.
    assert.deepEqual([...Deno.readDirSync(tmp)], []);
    assert.deepEqual(
      await wh.query(
        "SELECT FILE_KEY, ETAG, FORMAT, ERROR, RUN_ID FROM OPERATIONAL.TBL_LOAD_LOG " +
          "WHERE STATUS = 'FAILED' ORDER BY 1",
      ),
      [
        {
          FILE_KEY: key("daily/a.csv"),
          ETAG: etag("daily/a.csv"),
          FORMAT: "daily_canonical",
          ERROR: changedError,
          RUN_ID: "run-1",
        },
        {
          FILE_KEY: key("index_membership.csv"),
          ETAG: etag("index_membership.csv"),
          FORMAT: "index_membership",
          ERROR: indexError,
          RUN_ID: "run-1",
        },
      ],
    );
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, TRADE_DATE, CLOSE FROM OPERATIONAL.TBL_STOCK_PRICE " +
          "WHERE DATA_SOURCE = 'BATCH_CSV' ORDER BY 2",
      ),
      [
        { TICKER: "COMI", TRADE_DATE: "2025-12-04", CLOSE: 10.5 },
        { TICKER: "COMI", TRADE_DATE: "2025-12-08", CLOSE: 10.5 },
      ],
    );
    // Both stay pending; the replaced file's new version loads next time.
    const again = await pendingObjects(wh, landing);
    assert.deepEqual(again.map((p) => [basename(p.key), p.change]), [
      ["a.csv", "new"],
      ["index_membership.csv", "new"],
    ]);
    assert.equal(again[0].etag, createHash("md5").update(replaced).digest("hex"));
    const next = await runBatch(wh, landing, again, {
      runId: "run-2",
      tmpDir: tmp,
      progress: false,
    });
    assert.deepEqual(next.map((o) => [basename(o.key), o.status, o.rowsLoaded]), [
      ["index_membership.csv", "FAILED", 0],
      ["a.csv", "LOADED", 1],
    ]);
  } finally {
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an object's header is read from its first 64 KiB; an empty object has an empty one", async () => {
  const rows = Array.from({ length: 8000 }, (_, i) => `COMI,2025-12-08,10,11,9,10.5,${i}\n`);
  const big = new TextEncoder().encode(
    "ticker,trade_date,open,high,low,close,volume\r\n" + rows.join(""),
  );
  assert.ok(big.length > 4 * 65536);
  const bucket = await bucketWith({});
  await put(bucket, "big.csv", big);
  await put(bucket, "empty.csv", new Uint8Array());
  const env = await s3TestEnv(bucket);
  const landing = await openLanding(loadConfig((k) => env[k]).landing);
  const [bigObj, emptyObj] = await landing.list();
  assert.deepEqual(await landing.readHeader(bigObj), {
    header: "ticker,trade_date,open,high,low,close,volume",
    etag: createHash("md5").update(big).digest("hex"),
    size: big.length,
    // Its LastModified, as listed (whole seconds), by which files of one scan load.
    modified: bigObj.modified,
  });
  assert.equal(typeof bigObj.modified, "number");
  assert.deepEqual(await landing.readHeader(emptyObj), {
    header: "",
    etag: createHash("md5").update(new Uint8Array()).digest("hex"),
    size: 0,
    modified: emptyObj.modified,
  });
});

Deno.test("on S3, a file to reload loads again and one deleted since is named without failing", async () => {
  // Both files quarantine ZZZZ's rows (lines 3-5, tests/testdata/ingest/reload).
  const bucket = await bucketWith({
    "companies.csv": `${SAMPLE}/companies.csv`,
    "a.csv": `${DATA}/reload/prices.csv`,
    "b.csv": `${DATA}/reload/prices.csv`,
  });
  const dir = await Deno.makeTempDir({ prefix: "egx_s3_reload_" });
  try {
    const env = {
      ...(await s3TestEnv(bucket)),
      EGX_WAREHOUSE: `${dir}/egx.duckdb`,
      EGX_AS_OF: "2025-12-08T13:00:00Z",
    };
    const first = await job("batch_load", env);
    assert.equal(first.code, 0, first.out + first.err);
    const s3 = await s3TestClient();
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "b.csv" }));
    await put(bucket, "zzzz.csv", await Deno.readFile(`${DATA}/reload/zzzz.csv`));
    const load = await job("batch_load", env);
    assert.equal(load.code, 0, load.out + load.err);
    const listed = "3 quarantined row(s) of tickers listed since: ZZZZ";
    const gone = `cannot reload s3://${bucket}/b.csv: ${listed}, but it is no longer in ` +
      `s3://${bucket}/ (put it back to load them)`;
    assert.ok(load.out.includes(`batch_load: reloading s3://${bucket}/a.csv: ${listed}\n`));
    assert.ok(load.out.includes(`batch_load: ${gone}\n`), load.out);
    assert.match(
      load.out,
      new RegExp(`LOADED {2}s3://${bucket}/a\\.csv \\(daily_canonical\\): 6 read, 3 loaded, 3 `),
    );
    const wh = await openWarehouse({ kind: "duckdb", path: `${dir}/egx.duckdb` });
    try {
      assert.deepEqual(
        await wh.query(
          "SELECT TRADE_DATE AS D, CLOSE AS C, SOURCE_FILE AS F FROM OPERATIONAL.TBL_STOCK_PRICE " +
            "WHERE TICKER = 'ZZZZ' ORDER BY 1",
        ),
        [
          { D: "2025-12-07", C: 20.5, F: `s3://${bucket}/a.csv` },
          { D: "2025-12-08", C: 21.5, F: `s3://${bucket}/a.csv` },
        ],
      );
    } finally {
      await wh.close();
    }
    // Nothing to do: the deleted file is named, no more.
    const check = await job("s3_check", env);
    assert.equal(check.code, 78, check.out + check.err);
    assert.equal(
      check.out,
      `s3_check: ${gone}\ns3_check: nothing to do: no new or changed files in s3://${bucket}/\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The Snowflake warehouse against a local server speaking the Snowflake REST protocol
 * (fakesnow, see tests/support/snowflake_server.ts), and every statement it sent checked with a
 * Snowflake-dialect parser (@polyglot-sql/sdk). Not real Snowflake: see the README section
 * "Warehouse and batch ingestion" for what this does and does not prove.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { allClosures } from "../lib/market/calendar.ts";
import { DuckDBWarehouse } from "../lib/warehouse/duckdb.ts";
import { splitStatements } from "../lib/warehouse/migrations.ts";
import { SnowflakeWarehouse } from "../lib/warehouse/snowflake.ts";
import {
  inTransaction,
  type Session,
  type Warehouse,
  WarehouseBusyError,
  WarehouseQueryError,
} from "../lib/warehouse/warehouse.ts";
import { snowflakeErrors, snowflakeTestConfig } from "./support/snowflake_server.ts";
import { checkAlertClaims } from "./support/alert_claims.ts";
import {
  OffsetMovedError,
  type SinkRow,
  storedOffsets,
  writeQuotes,
  writeQuotesIn,
} from "../lib/stream/sink.ts";
import snowflakeDdl from "../lib/warehouse/migrations_snowflake.sql" with { type: "text" };

const sent: string[] = [];

function splitMigrationNames(ddl: string): string[] {
  return [...ddl.matchAll(/^-- migration: (\S+)$/gm)].map((m) => m[1]);
}

async function freshWarehouse(
  extra: Partial<Awaited<ReturnType<typeof snowflakeTestConfig>>> = {},
): Promise<SnowflakeWarehouse> {
  const cfg = { ...(await snowflakeTestConfig()), ...extra };
  const wh = await SnowflakeWarehouse.open(cfg, { onStatement: (sql) => sent.push(sql) });
  // An administrator creates the database in production; the test server starts empty.
  await wh.query(`CREATE DATABASE IF NOT EXISTS ${cfg.database}`);
  return wh;
}

Deno.test("every statement of the Snowflake DDL parses as Snowflake SQL", () => {
  const statements = splitStatements(snowflakeDdl);
  assert.ok(statements.length >= 14, `only ${statements.length} statements found`);
  assert.deepEqual(statements.flatMap(snowflakeErrors), []);
});

Deno.test("the Snowflake DDL migrates a new database and records each migration", async () => {
  const wh = await freshWarehouse();
  try {
    const applied = await wh.migrate();
    assert.deepEqual(applied, splitMigrationNames(snowflakeDdl));
    assert.deepEqual(await wh.migrate(), []);
    const rows = await wh.query<{ VERSION: number; NAME: string }>(
      "SELECT VERSION, NAME FROM OPERATIONAL.SCHEMA_MIGRATION ORDER BY VERSION",
    );
    assert.deepEqual(rows.map((r) => r.NAME), applied);
    assert.deepEqual(rows.slice(0, 4), [
      { VERSION: 1, NAME: "001_operational" },
      { VERSION: 2, NAME: "002_alert_event" },
      { VERSION: 3, NAME: "003_index_seed" },
      { VERSION: 4, NAME: "004_unindexed_facts" },
    ]);
    const closures = await wh.query<{ CLOSURE_DATE: string; NAME: string }>(
      "SELECT CLOSURE_DATE, NAME FROM OPERATIONAL.TBL_MARKET_CLOSURE ORDER BY CLOSURE_DATE",
    );
    assert.deepEqual(closures, allClosures().map((c) => ({ CLOSURE_DATE: c.date, NAME: c.name })));
  } finally {
    await wh.close();
  }
});

Deno.test("a Snowflake migrate interrupted before its records runs the migrations again", async () => {
  const wh = await freshWarehouse();
  try {
    await wh.migrate();
    // DDL commits statement by statement here: a migrate stopped after a migration's DDL but
    // before its record runs that migration again from its start next time.
    await wh.query("DELETE FROM OPERATIONAL.SCHEMA_MIGRATION");
    assert.deepEqual(await wh.migrate(), splitMigrationNames(snowflakeDdl));
  } finally {
    await wh.close();
  }
});

Deno.test("both warehouses' DDL define the same tables and columns in the same order", async () => {
  const sf = await freshWarehouse();
  const duck = await DuckDBWarehouse.open(":memory:");
  try {
    await sf.migrate();
    await duck.migrate();
    const sql = "SELECT table_name AS T, column_name AS C, is_nullable AS N " +
      "FROM information_schema.columns " +
      "WHERE table_schema = 'OPERATIONAL' ORDER BY table_name, ordinal_position";
    type Col = { T: string; C: string; N: string };
    // Nullability too: a column NOT NULL on one warehouse only fails loads there alone.
    const norm = (rows: Col[]) => rows.map((r) => `${r.T}.${r.C} ${r.N}`.toUpperCase());
    const sfCols = norm(await sf.query<Col>(sql));
    const duckCols = norm(await duck.query<Col>(sql));
    assert.ok(duckCols.length > 100);
    assert.ok(duckCols.includes("TBL_STOCK_PRICE.VOLUME YES"));
    assert.ok(duckCols.includes("TBL_STOCK_PRICE.CLOSE NO"));
    assert.deepEqual(sfCols, duckCols);
  } finally {
    await sf.close();
    await duck.close();
  }
});

Deno.test("Snowflake round trip follows the value mapping (dates, timestamps, big integers)", async () => {
  const wh = await freshWarehouse();
  try {
    await wh.migrate();
    await wh.transaction(async (s) => {
      await s.insertRows(
        "OPERATIONAL.TBL_STREAM_OFFSET",
        ["CONSUMER_GROUP", "TOPIC", "PARTITION_ID", "NEXT_OFFSET", "UPDATED_AT"],
        [
          ["g", "t", 0, 10, new Date("2025-10-30T08:01:02.500Z")],
          ["g", "t", 1, 2n ** 60n, "2025-01-01 00:00:00"],
        ],
      );
      const changed = await s.execute(
        "UPDATE OPERATIONAL.TBL_STREAM_OFFSET SET TOPIC = ? WHERE PARTITION_ID = ?",
        ["u", 1],
      );
      assert.equal(changed, 1);
    });
    const rows = await wh.query(
      "SELECT PARTITION_ID, TOPIC, NEXT_OFFSET, UPDATED_AT, TO_DATE(UPDATED_AT) AS D, " +
        "NEXT_OFFSET / 4 AS Q FROM OPERATIONAL.TBL_STREAM_OFFSET ORDER BY PARTITION_ID",
    );
    assert.deepEqual(rows, [
      {
        PARTITION_ID: 0,
        TOPIC: "t",
        NEXT_OFFSET: 10,
        UPDATED_AT: "2025-10-30T08:01:02.500Z",
        D: "2025-10-30",
        Q: 2.5,
      },
      {
        PARTITION_ID: 1,
        TOPIC: "u",
        NEXT_OFFSET: 1152921504606846976n,
        UPDATED_AT: "2025-01-01T00:00:00.000Z",
        D: "2025-01-01",
        Q: 288230376151711740,
      },
    ]);
    // A NULL number is null (the driver's default gives it as the text "NULL": NaN, or a
    // failed result for an integer column).
    assert.deepEqual(
      await wh.query(
        "SELECT CAST(NULL AS NUMBER(38,0)) AS I, CAST(NULL AS NUMBER(10,2)) AS D, " +
          "CAST(NULL AS FLOAT) AS F",
      ),
      [{ I: null, D: null, F: null }],
    );
  } finally {
    await wh.close();
  }
});

Deno.test("a failing Snowflake transaction rolls back and names the statement", async () => {
  const wh = await freshWarehouse();
  try {
    await wh.migrate();
    const err = await wh.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_INDEX (INDEX_CODE, INDEX_NAME, WEIGHTING, BASE_VALUE) " +
          "VALUES ('TEST_IDX', 'EGX 30', 'CAP_WEIGHTED', 1000)",
      );
      await s.execute("INSERT INTO OPERATIONAL.NO_SUCH_TABLE VALUES (1)");
    }, { label: "sf test" }).catch((e) => e);
    assert.ok(err instanceof WarehouseQueryError, String(err));
    assert.match(err.message, /^sf test: .*NO_SUCH_TABLE/);
    assert.deepEqual(
      await wh.query("SELECT count(*) AS N FROM OPERATIONAL.TBL_INDEX WHERE INDEX_NAME = 'EGX 30'"),
      [{ N: 1 }],
    );
  } finally {
    await wh.close();
  }
});

Deno.test("alert delivery claims hold, expire and clear on Snowflake", async () => {
  const wh = await freshWarehouse();
  try {
    await wh.migrate();
    await checkAlertClaims(wh);
  } finally {
    await wh.close();
  }
});

Deno.test("key-pair authentication reads the encrypted private key (a wrong passphrase fails)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_sf_key_" });
  try {
    const { privateKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: {
        type: "pkcs8",
        format: "pem",
        cipher: "aes-256-cbc",
        passphrase: "key-pass-phrase",
      },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    const keyPath = `${dir}/rsa_key.p8`;
    await Deno.writeTextFile(keyPath, privateKey);
    const wh = await freshWarehouse({
      password: undefined,
      privateKeyPath: keyPath,
      privateKeyPassphrase: "key-pass-phrase",
    });
    try {
      assert.deepEqual(await wh.query("SELECT 1 AS ONE"), [{ ONE: 1 }]);
    } finally {
      await wh.close();
    }
    const cfg = await snowflakeTestConfig();
    const err = await SnowflakeWarehouse.open({
      ...cfg,
      password: undefined,
      privateKeyPath: keyPath,
      privateKeyPassphrase: "wrong-pass-phrase",
    }).then(async (w) => {
      await w.close();
      return null;
    }, (e) => e);
    assert.ok(err !== null, "a wrong passphrase must not log in");
    assert.doesNotMatch(String(err?.message), /wrong-pass-phrase/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the stream's offset statements run on Snowflake: marks stored, a stale or second first write refused", async () => {
  const wh = await freshWarehouse();
  try {
    await wh.migrate();
    const at = { group: "g", topic: "t", partition: 0 };
    const write = (nextOffset: number, expected?: number | null) =>
      wh.transaction((s) =>
        writeQuotes(s, [], {
          offsets: [{ ...at, nextOffset, last: { timestamp: nextOffset, key: "COMI" }, expected }],
        })
      );
    await write(10, null);
    await write(20, 10);
    await assert.rejects(write(15, 10), OffsetMovedError);
    await assert.rejects(write(15, null), OffsetMovedError);
    assert.deepEqual(Object.fromEntries(await storedOffsets(wh, "g", "t")), {
      0: { nextOffset: 20, last: { timestamp: 20, key: "COMI" } },
    });
    await wh.transaction((s) =>
      writeQuotes(s, [], { offsets: [{ ...at, partition: 1, nextOffset: 7 }] })
    );
    assert.deepEqual((await storedOffsets(wh, "g", "t")).get(1), { nextOffset: 7 });
  } finally {
    await wh.close();
  }
});

/** A warehouse of `kind` recording every statement (no server); UPDATEs change `updated` rows. */
function recordingWarehouse(kind: "duckdb" | "snowflake", updated = 1) {
  const log: string[] = [];
  const session: Session = {
    query: (sql) => (log.push(sql), Promise.resolve([])),
    execute: (sql) => (log.push(sql), Promise.resolve(sql.startsWith("UPDATE") ? updated : 1)),
    insertRows: (table) => (log.push(`INSERT INTO ${table} (rows)`), Promise.resolve()),
  };
  const wh: Warehouse = {
    kind,
    transaction: (fn, opts = {}) => inTransaction(session, fn, opts),
    query: (sql) => session.query(sql),
    migrate: () => Promise.resolve([]),
    close: () => Promise.resolve(),
  };
  return { wh, log: () => log.map((sql) => sql.trim().split(/\s+/).slice(0, 3).join(" ")) };
}

const QUOTE: SinkRow = {
  quote: {
    ticker: "COMI",
    barStart: "2025-09-17T08:00:00.000Z",
    interval: "1m",
    open: 90,
    high: 91,
    low: 89.5,
    close: 90.5,
    volume: 1200,
    source: "replay",
    fetchedAt: "2025-09-17T08:01:00.000Z",
  },
  ref: "kafka:t/0@9",
};

Deno.test("the stream sink on Snowflake creates its staging table before BEGIN: the merges and the offset mark are one transaction (DuckDB: all inside, as before)", async () => {
  const offsets = [{ group: "g", topic: "t", partition: 0, nextOffset: 10, expected: 9 }];
  const sf = recordingWarehouse("snowflake");
  await writeQuotesIn(sf.wh, [QUOTE], { offsets });
  const merges = [
    "INSERT INTO EGX_STREAM_STAGE",
    "MERGE INTO OPERATIONAL.TBL_INTRADAY_BAR",
    "MERGE INTO OPERATIONAL.TBL_STOCK_PRICE",
    "UPDATE OPERATIONAL.TBL_STREAM_OFFSET SET",
  ];
  assert.deepEqual(sf.log(), [
    "CREATE OR REPLACE",
    "BEGIN TRANSACTION",
    "DELETE FROM EGX_STREAM_STAGE",
    ...merges,
    "COMMIT",
  ]);
  const duck = recordingWarehouse("duckdb");
  await writeQuotesIn(duck.wh, [QUOTE], { offsets });
  assert.deepEqual(duck.log(), [
    "BEGIN TRANSACTION",
    "CREATE OR REPLACE",
    ...merges,
    "COMMIT",
  ]);
  // The partition taken over: rolled back, and on Snowflake no DDL ended the transaction before.
  const moved = recordingWarehouse("snowflake", 0);
  await assert.rejects(writeQuotesIn(moved.wh, [QUOTE], { offsets }), OffsetMovedError);
  assert.deepEqual(moved.log(), [
    "CREATE OR REPLACE",
    "BEGIN TRANSACTION",
    "DELETE FROM EGX_STREAM_STAGE",
    ...merges,
    "ROLLBACK",
  ]);
  // Without rows nothing is staged.
  const empty = recordingWarehouse("snowflake");
  await writeQuotesIn(empty.wh, [], { offsets });
  assert.deepEqual(empty.log(), [
    "BEGIN TRANSACTION",
    "UPDATE OPERATIONAL.TBL_STREAM_OFFSET SET",
    "COMMIT",
  ]);
});

Deno.test("the stream sink writes a bar and its offset through the Snowflake driver with the stage created before BEGIN", async () => {
  const wh = await freshWarehouse();
  try {
    await wh.migrate();
    await wh.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) SELECT 'COMI', 'CIB' " +
          "WHERE NOT EXISTS (SELECT 1 FROM OPERATIONAL.TBL_COMPANY WHERE TICKER = 'COMI')",
      )
    );
    const at = { group: "g-sink", topic: "t", partition: 0 };
    const r = await writeQuotesIn(wh, [QUOTE], {
      offsets: [{ ...at, nextOffset: 10, expected: null }],
    });
    assert.deepEqual(r, { rows: 1, intraday: 1, daily: 0 });
    const bars = () =>
      wh.query(
        "SELECT CLOSE FROM OPERATIONAL.TBL_INTRADAY_BAR WHERE TICKER = 'COMI' " +
          "AND DATA_SOURCE = 'STREAMING_API'",
      );
    assert.deepEqual(await bars(), [{ CLOSE: 90.5 }]);
    const later = { ...QUOTE, quote: { ...QUOTE.quote, close: 95 } };
    await assert.rejects(
      writeQuotesIn(wh, [later], { offsets: [{ ...at, nextOffset: 11, expected: 3 }] }),
      OffsetMovedError,
    );
    assert.deepEqual(await bars(), [{ CLOSE: 90.5 }]);
    assert.equal((await storedOffsets(wh, "g-sink", "t")).get(0)?.nextOffset, 10);
  } finally {
    await wh.close();
  }
});

Deno.test("an unreachable Snowflake endpoint fails with WarehouseBusyError", async () => {
  const cfg = await snowflakeTestConfig();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const err = await SnowflakeWarehouse.open({ ...cfg, accessUrl: `http://127.0.0.1:${port}` }, {
    loginRetries: 0,
  }).catch((e) => e);
  assert.ok(err instanceof WarehouseBusyError, String(err));
  assert.match(
    err.message,
    new RegExp(`^cannot connect to Snowflake account egxtest at 127\\.0\\.0\\.1:${port}: .+`),
  );
  assert.doesNotMatch(err.message, /test-password/);
});

Deno.test("a server that does not answer as Snowflake is named, since the driver says nothing", async () => {
  const cfg = await snowflakeTestConfig();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    () => new Response("<html>a proxy's page</html>", { headers: { "content-type": "text/html" } }),
  );
  try {
    const at = `127.0.0.1:${server.addr.port}`;
    const err = await SnowflakeWarehouse.open({ ...cfg, accessUrl: `http://${at}` }, {
      loginRetries: 0,
    }).catch((e) => e);
    assert.ok(err instanceof WarehouseBusyError, String(err));
    assert.equal(
      err.message,
      `cannot connect to Snowflake account egxtest at ${at}: OperationFailedError, with no ` +
        `details from the driver (is ${at} a Snowflake endpoint?)`,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("every statement sent to Snowflake in these tests parses as Snowflake SQL", () => {
  assert.ok(sent.length > 30, `only ${sent.length} statements were sent`);
  assert.deepEqual([...new Set(sent)].flatMap(snowflakeErrors), []);
});

import assert from "node:assert/strict";
import { allClosures } from "../lib/market/calendar.ts";
import { applyMigrations, parseMigrations, splitStatements } from "../lib/warehouse/migrations.ts";
import { DuckDBWarehouse } from "../lib/warehouse/duckdb.ts";
import duckdbDdl from "../lib/warehouse/migrations_duckdb.sql" with { type: "text" };
import {
  openWarehouse,
  type Session,
  type StatementProgress,
  WarehouseBusyError,
  WarehouseMissingError,
  WarehouseQueryError,
} from "../lib/warehouse/warehouse.ts";
import { ConfigError } from "../lib/config/config.ts";
import { withTempWarehouse } from "./support/temp_warehouse.ts";

const WRITER = new URL("./testdata/warehouse/writer.ts", import.meta.url).pathname;

async function tempDb(): Promise<{ path: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "egx_wh_" });
  return { dir, path: `${dir}/test.duckdb` };
}

function writer(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-read", "--allow-write", "--allow-env", WRITER, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Resolve when the child prints `line`; the rest of its output is collected for `finish`. */
async function waitForLine(child: Deno.ChildProcess, line: string): Promise<() => Promise<string>> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.split("\n").includes(line)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child exited before printing ${line}: ${seen}`);
    seen += value;
  }
  return async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    return seen;
  };
}

Deno.test("opening a new DuckDB file applies every migration once and records it", async () => {
  await withTempWarehouse(async (wh) => {
    const rows = await wh.query<{ VERSION: number; NAME: string }>(
      "SELECT VERSION, NAME FROM OPERATIONAL.SCHEMA_MIGRATION ORDER BY VERSION",
    );
    const file = await parseMigrations(duckdbDdl, "migrations_duckdb.sql");
    assert.deepEqual(
      rows.map((r) => [r.VERSION, r.NAME]),
      file.migrations.map((m) => [
        m.version,
        m.name,
      ]),
    );
    assert.deepEqual(rows.slice(0, 4).map((r) => r.NAME), [
      "001_operational",
      "002_alert_event",
      "003_index_seed",
      "004_unindexed_facts",
    ]);
    assert.deepEqual(await wh.migrate(), []);
    const tables = await wh.query<{ T: string }>(
      "SELECT table_name AS T FROM information_schema.tables WHERE table_schema = 'OPERATIONAL' " +
        "ORDER BY 1",
    );
    assert.deepEqual(tables.map((t) => t.T), [
      "SCHEMA_MIGRATION",
      "TBL_ALERT_EVENT",
      "TBL_COMPANY",
      "TBL_FINANCIAL",
      "TBL_INDEX",
      "TBL_INDEX_MEMBERSHIP",
      "TBL_INTRADAY_BAR",
      "TBL_LOAD_LOG",
      "TBL_MARKET_CLOSURE",
      "TBL_MARKET_STAT",
      "TBL_MODEL_BUILD",
      "TBL_QUARANTINE",
      "TBL_STOCK_PRICE",
      "TBL_STREAM_OFFSET",
    ]);
  });
});

Deno.test("a new warehouse whose process is killed right after it opened it opens again (its migrations are not left in the WAL)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "egx_wh_killed_" });
  try {
    const path = `${dir}/egx.duckdb`;
    const module = new URL("../lib/warehouse/warehouse.ts", import.meta.url).href;
    // Opened (migrated), held open, then SIGKILL: no close, no checkpoint at exit.
    const killed = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const { openWarehouse } = await import(${JSON.stringify(module)});
         const wh = await openWarehouse({ kind: "duckdb", path: ${JSON.stringify(path)} });
         await wh.query("SELECT 1");
         Deno.kill(Deno.pid, "SIGKILL");`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(killed.signal, "SIGKILL", new TextDecoder().decode(killed.stderr));
    // DuckDB 1.5 could not replay migration 007 (ALTER COLUMN ... DROP NOT NULL) from the WAL:
    // "INTERNAL Error: Failure while replaying WAL file", at every later open.
    assert.throws(() => Deno.statSync(`${path}.wal`), Deno.errors.NotFound);
    const wh = await openWarehouse({ kind: "duckdb", path });
    try {
      const [{ N }] = await wh.query<{ N: number }>(
        "SELECT count(*)::INT AS N FROM OPERATIONAL.SCHEMA_MIGRATION",
      );
      assert.equal(
        N,
        (await parseMigrations(duckdbDdl, "migrations_duckdb.sql")).migrations.length,
      );
    } finally {
      await wh.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a warehouse in a folder that does not exist is a configuration error, not retried", async () => {
  const path = `/nonexistent-${crypto.randomUUID()}/egx.duckdb`;
  // A job may not create the folder (its write permission is the data folder only), and DuckDB
  // cannot open the file: it says so in one line and exits 2 (EXIT_USAGE), not retried.
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-read=data", "--allow-env", "jobs/s3_check.ts"],
    cwd: new URL("../", import.meta.url).pathname,
    env: { EGX_WAREHOUSE: path },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.equal(
    new TextDecoder().decode(out.stderr).replace(
      / \(at lib\/warehouse\/duckdb_file\.ts:\d+\)\n$/,
      "",
    ),
    `s3_check: ConfigError: cannot create DuckDB warehouse file ${path} (EGX_WAREHOUSE): its folder ` +
      `${path.slice(0, -"/egx.duckdb".length)} does not exist: create the folder, or fix ` +
      "EGX_WAREHOUSE",
  );
});

Deno.test("a writer does not create a missing folder, even with every permission: it names the folder", async () => {
  const { dir } = await tempDb();
  try {
    const path = `${dir}/dta/egx.duckdb`;
    const err = await openWarehouse({ kind: "duckdb", path }).catch((e) => e);
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(
      err.message,
      `cannot create DuckDB warehouse file ${path} (EGX_WAREHOUSE): its folder ${dir}/dta does ` +
        "not exist: create the folder, or fix EGX_WAREHOUSE",
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Names of the entries of `dir`, sorted. */
function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("a reader refuses a missing DuckDB file, naming it and EGX_WAREHOUSE, and creates no file and no .wal", async () => {
  const { dir } = await tempDb();
  try {
    const path = `${dir}/egx.duckbd`; // the typo the check is for
    const err = await openWarehouse({ kind: "duckdb", path }, { mustExist: true }).catch((e) => e);
    assert.ok(err instanceof WarehouseMissingError && err instanceof ConfigError, String(err));
    assert.equal(
      err.message,
      `DuckDB warehouse file ${path} (EGX_WAREHOUSE, default data/egx.duckdb) does not exist: ` +
        'run "deno task run full_pipeline" first to create it, or fix EGX_WAREHOUSE',
    );
    assert.deepEqual(entries(dir), []);
    // Without it (a writer) the file is created on first use, as before.
    const writer = await openWarehouse({ kind: "duckdb", path });
    await writer.close();
    assert.deepEqual(entries(dir), ["egx.duckbd"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reader whose DuckDB file is removed while it runs gets the same error at its next query, and recreates nothing", async () => {
  const { dir, path } = await tempDb();
  try {
    await (await openWarehouse({ kind: "duckdb", path })).close();
    const reader = await openWarehouse({ kind: "duckdb", path }, { mustExist: true, lingerMs: 0 });
    try {
      assert.deepEqual(await reader.query("SELECT 1 AS N"), [{ N: 1 }]);
      await Deno.remove(path);
      const err = await reader.query("SELECT 1 AS N").catch((e) => e);
      assert.ok(err instanceof WarehouseMissingError, String(err));
      assert.deepEqual(entries(dir), []);
    } finally {
      await reader.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a warehouse file that is not a DuckDB database is a configuration error naming it, the file left as it is", async () => {
  const { dir, path: good } = await tempDb();
  try {
    await (await openWarehouse({ kind: "duckdb", path: good })).close();
    const db = await Deno.readFile(good);
    const notDb = (name: string, why = "") =>
      `DuckDB warehouse file ${dir}/${name} (EGX_WAREHOUSE) is not a DuckDB database${why}: ` +
      "point EGX_WAREHOUSE at the warehouse file; this one was left as it is";
    const text = new TextEncoder();
    // A data file (DuckDB opens a .csv, .json or .parquet given as the database in memory, with
    // a view of it: everything written would be lost), a text file, an empty file, truncated ones.
    const cases: [string, Uint8Array, string][] = [
      [
        "prices.csv",
        text.encode("TICKER,CLOSE\nCOMI,80.5\n"),
        notDb(
          "prices.csv",
          " (DuckDB would only read it as a data file, in memory)",
        ),
      ],
      [
        "egx.json",
        text.encode('{"a": 1}\n'),
        notDb(
          "egx.json",
          " (DuckDB would only read it as a data file, in memory)",
        ),
      ],
      ["notes.duckdb", text.encode("not a database\n"), notDb("notes.duckdb")],
      ["empty.duckdb", new Uint8Array(), notDb("empty.duckdb")],
      [
        "head.duckdb",
        db.slice(0, 100),
        notDb(
          "head.duckdb",
          ", or a truncated one (it ends before the data its header describes)",
        ),
      ],
      [
        "half.duckdb",
        db.slice(0, db.length / 2),
        notDb(
          "half.duckdb",
          ", or a truncated one (it ends before the data its header describes)",
        ),
      ],
    ];
    for (const [name, bytes] of cases) await Deno.writeFile(`${dir}/${name}`, bytes);
    const before = entries(dir);
    for (const [name, bytes, message] of cases) {
      for (const mustExist of [false, true]) {
        const path = `${dir}/${name}`;
        const err = await openWarehouse({ kind: "duckdb", path }, { mustExist }).catch((e) => e);
        assert.ok(err instanceof ConfigError, `${name}: ${err}`);
        assert.equal(err.message, message);
        assert.deepEqual(await Deno.readFile(path), bytes, `${name} was changed`);
      }
    }
    assert.deepEqual(entries(dir), before); // no .wal, nothing else
    await Deno.mkdir(`${dir}/folder.duckdb`);
    const err = await openWarehouse({ kind: "duckdb", path: `${dir}/folder.duckdb` }).catch((e) =>
      e
    );
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(
      err.message,
      `DuckDB warehouse file ${dir}/folder.duckdb (EGX_WAREHOUSE) is a folder, not a DuckDB ` +
        "database",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a warehouse file without read or write permission is a configuration error saying which",
  // root reads and writes every file whatever its mode.
  ignore: Deno.build.os === "windows" || Deno.uid() === 0,
  fn: async () => {
    const { dir, path } = await tempDb();
    try {
      await (await openWarehouse({ kind: "duckdb", path })).close();
      const bytes = await Deno.readFile(path);
      const message = (what: string) =>
        `DuckDB warehouse file ${path} (EGX_WAREHOUSE) ${what}: permission denied; every ` +
        "command that uses the warehouse needs to read and write it";
      for (
        const [mode, what] of [[0o444, "cannot be written"], [0o000, "cannot be read"]] as const
      ) {
        await Deno.chmod(path, mode);
        for (const mustExist of [false, true]) {
          const err = await openWarehouse({ kind: "duckdb", path }, { mustExist }).catch((e) => e);
          assert.ok(err instanceof ConfigError, String(err));
          assert.equal(err.message, message(what));
        }
      }
      await Deno.chmod(path, 0o644);
      assert.deepEqual(await Deno.readFile(path), bytes);
      assert.deepEqual(entries(dir), ["test.duckdb"]);
      await Deno.chmod(dir, 0o555);
      const inside = `${dir}/new.duckdb`;
      const err = await openWarehouse({ kind: "duckdb", path: inside }).catch((e) => e);
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(
        err.message,
        `cannot create DuckDB warehouse file ${inside} (EGX_WAREHOUSE): permission denied in ` +
          `its folder ${dir}`,
      );
    } finally {
      await Deno.chmod(dir, 0o755);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("market closures are seeded from the EGX calendar and re-synced when they drift", async () => {
  await withTempWarehouse(async (wh) => {
    const read = () =>
      wh.query<{ CLOSURE_DATE: string; NAME: string; SOURCE: string }>(
        "SELECT CLOSURE_DATE, NAME, SOURCE FROM OPERATIONAL.TBL_MARKET_CLOSURE ORDER BY 1",
      );
    const expected = allClosures().map((c) => ({
      CLOSURE_DATE: c.date,
      NAME: c.name,
      SOURCE: c.source,
    }));
    assert.equal(expected.length, 19);
    assert.deepEqual(await read(), expected);
    await wh.transaction(async (s) => {
      await s.execute("DELETE FROM OPERATIONAL.TBL_MARKET_CLOSURE WHERE CLOSURE_DATE = ?", [
        "2025-01-07",
      ]);
      await s.execute(
        "UPDATE OPERATIONAL.TBL_MARKET_CLOSURE SET NAME = 'x' WHERE CLOSURE_DATE = ?",
        [
          "2025-01-01",
        ],
      );
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_MARKET_CLOSURE VALUES ('2025-01-02', 'not a closure', NULL)",
      );
    });
    await wh.migrate();
    assert.deepEqual(await read(), expected);
  });
});

Deno.test("migration 008 turns a company kept with its Cairo suffix into its code, once", async () => {
  await withTempWarehouse(async (wh) => {
    await wh.transaction(async (s) => {
      for (
        const [t, name] of [["ACTF.CA", "Act Financial"], ["COMI", "CIB"], ["COMI.CA", "CIB old"]]
      ) {
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME, SECTOR) VALUES (?, ?, 'Fin')",
          [t, name],
        );
      }
      // As a warehouse made before the migration: it runs again at the next open.
      await s.execute("DELETE FROM OPERATIONAL.SCHEMA_MIGRATION WHERE NAME = '008_ticker_codes'");
    });
    assert.deepEqual(await wh.migrate(), ["008_ticker_codes"]);
    const rows = await wh.query<{ TICKER: string; COMPANY_NAME: string; SECTOR: string }>(
      "SELECT TICKER, COMPANY_NAME, SECTOR FROM OPERATIONAL.TBL_COMPANY ORDER BY 1",
    );
    assert.deepEqual(rows.map((r) => [r.TICKER, r.COMPANY_NAME, r.SECTOR]), [
      ["ACTF", "Act Financial", "Fin"],
      ["COMI", "CIB", "Fin"],
    ]);
    assert.deepEqual(await wh.migrate(), []);
  });
});

Deno.test("a migration edited after it was applied is refused with its name", async () => {
  await withTempWarehouse(async (wh) => {
    const text = [
      "CREATE SCHEMA IF NOT EXISTS OPERATIONAL;",
      "-- migration: 001_operational",
      "SELECT 1;",
    ].join("\n");
    const file = await parseMigrations(text, "edited.sql");
    await assert.rejects(
      applyMigrations(file, (fn, o) => wh.transaction(fn, o), {
        fileName: "edited.sql",
        runScript: async (s, sql) => void await s.execute(sql),
      }),
      /edited\.sql: migration 001_operational was edited after it was applied/,
    );
  });
});

Deno.test("migration files must list versions in increasing order", async () => {
  const text = "-- migration: 002_b\nSELECT 1;\n-- migration: 001_a\nSELECT 2;\n";
  await assert.rejects(
    parseMigrations(text, "bad.sql"),
    /bad\.sql:3: migration 001_a is out of order/,
  );
});

Deno.test("scripts split into statements at semicolons outside quotes and comments", () => {
  const script = [
    "-- a comment; with a semicolon",
    "CREATE TABLE a (x VARCHAR DEFAULT 'a;b'); /* block; comment */",
    "INSERT INTO a VALUES ('it''s; fine'), (\"q;\");",
    "  ;  ",
    "SELECT 1",
  ].join("\n");
  assert.deepEqual(splitStatements(script), [
    "CREATE TABLE a (x VARCHAR DEFAULT 'a;b')",
    "INSERT INTO a VALUES ('it''s; fine'), (\"q;\")",
    "SELECT 1",
  ]);
});

Deno.test("query results follow the documented value mapping", async () => {
  await withTempWarehouse(async (wh) => {
    const [row] = await wh.query(
      "SELECT DATE '2025-10-30' AS d, TIMESTAMP '2025-10-30 08:01:02.5' AS ts, 42::INTEGER AS i, " +
        "12345678901234::BIGINT AS b, 9007199254740993::BIGINT AS huge, 1.25::DECIMAL(10,2) AS dec, " +
        "0.5::DOUBLE AS dbl, 'x' AS v, true AS t, NULL AS n, ? AS p_date, ?::DATE AS p_str_date, " +
        "timezone('Africa/Cairo', TIMESTAMP '2025-10-30 08:00'::TIMESTAMPTZ) AS cairo",
      [new Date("2025-01-02T03:04:05.006Z"), "2025-01-03"],
    );
    assert.deepEqual(row, {
      d: "2025-10-30",
      ts: "2025-10-30T08:01:02.500Z",
      i: 42,
      b: 12345678901234,
      huge: 9007199254740993n,
      dec: 1.25,
      dbl: 0.5,
      v: "x",
      t: true,
      n: null,
      p_date: "2025-01-02T03:04:05.006Z",
      p_str_date: "2025-01-03",
      cairo: "2025-10-30T11:00:00.000Z",
    });
  });
});

Deno.test("timestamps defaulted by the warehouse are UTC", async () => {
  await withTempWarehouse(async (wh) => {
    const before = Date.now();
    const [{ NOW }] = await wh.query<{ NOW: string }>("SELECT now()::TIMESTAMP AS NOW");
    const t = Date.parse(NOW);
    assert.ok(Math.abs(t - before) < 60_000, `${NOW} is not the current UTC time`);
  });
});

Deno.test("a transaction that throws leaves nothing written", async () => {
  await withTempWarehouse(async (wh) => {
    await assert.rejects(
      wh.transaction(async (s) => {
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('AAAA', 'A Co')",
        );
        throw new Error("boom");
      }),
      /boom/,
    );
    const [{ N }] = await wh.query<{ N: number }>(
      "SELECT count(*) AS N FROM OPERATIONAL.TBL_COMPANY",
    );
    assert.equal(N, 0);
  });
});

Deno.test("prepare stages temporary tables before BEGIN on the transaction's connection", async () => {
  await withTempWarehouse(async (wh) => {
    const txids = async (s: Session) =>
      [
        (await s.query<{ T: number }>("SELECT txid_current() AS T"))[0].T,
        (await s.query<{ T: number }>("SELECT txid_current() AS T"))[0].T,
      ] as const;
    let staged: readonly [number, number] = [0, 0];
    let inside: readonly [number, number] = [0, 0];
    const prepare = async (s: Session) => {
      staged = await txids(s);
      await s.execute("CREATE TEMP TABLE stage AS SELECT 'AAAA' AS t, 'A Co' AS n");
    };
    const load = (fail: boolean) =>
      wh.transaction(async (s) => {
        inside = await txids(s);
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) SELECT t, n FROM stage",
        );
        if (fail) throw new Error("boom");
      }, { prepare });
    const count = async () =>
      (await wh.query<{ N: number }>("SELECT count(*) AS N FROM OPERATIONAL.TBL_COMPANY"))[0].N;

    await assert.rejects(load(true), /boom/);
    assert.equal(await count(), 0);
    // Each staging statement commits on its own; the transaction's statements share one.
    assert.notEqual(staged[0], staged[1]);
    assert.equal(inside[0], inside[1]);

    let ran = false;
    await assert.rejects(
      wh.transaction(() => Promise.resolve(void (ran = true)), {
        prepare: () => Promise.reject(new Error("staging failed")),
      }),
      /staging failed/,
    );
    assert.equal(ran, false);

    await load(false);
    assert.equal(await count(), 1);
  });
});

Deno.test("a failing statement rolls the transaction back and names the SQL", async () => {
  await withTempWarehouse(async (wh) => {
    const err = await wh.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('AAAA', 'A Co')",
      );
      await s.execute("INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER) VALUES ('BBBB')");
    }, { label: "test insert" }).catch((e) => e);
    assert.ok(err instanceof WarehouseQueryError);
    assert.match(
      err.message,
      /^test insert: .*NOT NULL constraint failed: TBL_COMPANY\.COMPANY_NAME/,
    );
    assert.equal(err.sql, "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER) VALUES ('BBBB')");
    const [{ N }] = await wh.query<{ N: number }>(
      "SELECT count(*) AS N FROM OPERATIONAL.TBL_COMPANY",
    );
    assert.equal(N, 0);
  });
});

Deno.test("a statement's progress is polled while DuckDB runs it, in a transaction and a read", async () => {
  await withTempWarehouse(async (wh) => {
    // A scan with a costly expression: DuckDB runs it on its own threads and measures it, and
    // the event loop stays free to poll it meanwhile.
    const scan = "SELECT sum(hash(i, i::VARCHAR)) AS H FROM big";
    const check = (samples: StatementProgress[]) => {
      const inside = samples.filter((p) => p.percentage > 0 && p.percentage < 100);
      assert.ok(new Set(inside.map((p) => p.percentage)).size >= 3, JSON.stringify(samples));
      // (Not asserted: that the samples only grow. DuckDB's counts are estimates, revised while
      // it runs: a CI run once saw rows_processed go back between two polls.)
      // DuckDB's estimate, once it measures (a poll right at the start may see no estimate yet,
      // 0 of 0): the table's rows (plus the few of the aggregate's result).
      for (const p of inside) assert.equal(Math.round(p.totalRows / 1e6), 20);
      for (const p of samples) assert.ok(p.rowsProcessed <= p.totalRows);
    };
    // Committed first: DuckDB measures a scan by row groups, and a table written in the same
    // transaction (or a temporary one) is scanned as a single unit that never moves.
    await wh.transaction(async (s) => {
      await s.execute("CREATE TABLE big AS SELECT range AS i FROM range(20000000)");
    });
    const inTransaction: StatementProgress[] = [];
    await wh.transaction(async (s) => void await s.query(scan), {
      onProgress: (p) => inTransaction.push(p),
      progressIntervalMs: 10,
    });
    check(inTransaction);
    const inRead: StatementProgress[] = [];
    await wh.query(scan, [], { onProgress: (p) => inRead.push(p), progressIntervalMs: 10 });
    check(inRead);
  });
});

Deno.test("a progress callback that throws rolls the transaction back with its error", async () => {
  await withTempWarehouse(async (wh) => {
    await wh.transaction(async (s) => {
      await s.execute("CREATE TABLE big AS SELECT range AS i FROM range(20000000)");
    });
    const err = await wh.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('AAAA', 'A Co')",
      );
      await s.query("SELECT sum(hash(i, i::VARCHAR)) AS H FROM big");
    }, {
      progressIntervalMs: 5,
      onProgress: () => {
        throw new Error("progress display broke");
      },
    }).catch((e) => e);
    assert.ok(err instanceof Error);
    assert.equal(err.message, "progress display broke");
    const [{ N }] = await wh.query<{ N: number }>(
      "SELECT count(*) AS N FROM OPERATIONAL.TBL_COMPANY",
    );
    assert.equal(N, 0);
  });
});

Deno.test("insertRows appends typed rows, into all columns or a subset", async () => {
  await withTempWarehouse(async (wh) => {
    const changed = await wh.transaction(async (s) => {
      await s.insertRows(
        "OPERATIONAL.TBL_STREAM_OFFSET",
        ["CONSUMER_GROUP", "TOPIC", "PARTITION_ID", "NEXT_OFFSET", "UPDATED_AT"],
        [["g", "t", 0, 10, "2025-01-01T00:00:00Z"], ["g", "t", 1, 2n ** 40n, new Date(0)]],
      );
      await s.insertRows(
        "OPERATIONAL.TBL_STOCK_PRICE",
        ["TICKER", "TRADE_DATE", "DATA_SOURCE", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"],
        [["COMI", "2025-06-29", "BATCH_CSV", 80, 81.5, 79, 81, 1200]],
      );
      return await s.execute("UPDATE OPERATIONAL.TBL_STOCK_PRICE SET VOLUME = VOLUME + 1");
    });
    assert.equal(changed, 1);
    assert.deepEqual(
      await wh.query(
        "SELECT PARTITION_ID, NEXT_OFFSET, UPDATED_AT FROM OPERATIONAL.TBL_STREAM_OFFSET ORDER BY 1",
      ),
      [
        { PARTITION_ID: 0, NEXT_OFFSET: 10, UPDATED_AT: "2025-01-01T00:00:00.000Z" },
        { PARTITION_ID: 1, NEXT_OFFSET: 2 ** 40, UPDATED_AT: "1970-01-01T00:00:00.000Z" },
      ],
    );
    assert.deepEqual(
      await wh.query(
        "SELECT TICKER, TRADE_DATE, HIGH, VOLUME, CREATED_AT IS NOT NULL AS C " +
          "FROM OPERATIONAL.TBL_STOCK_PRICE",
      ),
      [{ TICKER: "COMI", TRADE_DATE: "2025-06-29", HIGH: 81.5, VOLUME: 1201, C: true }],
    );
  });
});

Deno.test("insertRows rejects a value of the wrong type and writes nothing", async () => {
  await withTempWarehouse(async (wh) => {
    await assert.rejects(
      wh.transaction((s) =>
        s.insertRows("OPERATIONAL.TBL_STREAM_OFFSET", [
          "CONSUMER_GROUP",
          "TOPIC",
          "PARTITION_ID",
          "NEXT_OFFSET",
          "UPDATED_AT",
        ], [["g", "t", 0, 1.5, new Date(0)]])
      ),
      /column NEXT_OFFSET: expected an integer, got 1.5/,
    );
    const [{ N }] = await wh.query<{ N: number }>(
      "SELECT count(*) AS N FROM OPERATIONAL.TBL_STREAM_OFFSET",
    );
    assert.equal(N, 0);
  });
});

Deno.test("concurrent transactions in one process both commit", async () => {
  await withTempWarehouse(async (wh) => {
    const one = (p: number) =>
      wh.transaction(async (s) => {
        const [{ N }] = await s.query<{ N: number }>(
          "SELECT count(*) AS N FROM OPERATIONAL.TBL_STREAM_OFFSET",
        );
        await new Promise((r) => setTimeout(r, 20));
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID, NEXT_OFFSET) VALUES ('g', 't', ?, ?)",
          [p, N],
        );
      });
    await Promise.all([one(0), one(1), one(2)]);
    const rows = await wh.query<{ NEXT_OFFSET: number }>(
      "SELECT NEXT_OFFSET FROM OPERATIONAL.TBL_STREAM_OFFSET ORDER BY NEXT_OFFSET",
    );
    // Serialised writers: each saw the rows committed before it.
    assert.deepEqual(rows.map((r) => r.NEXT_OFFSET), [0, 1, 2]);
  });
});

Deno.test("two processes writing to one DuckDB file at once both succeed", async () => {
  await withTempWarehouse(async (wh, path) => {
    const a = writer([path, "A", "40"]);
    const b = writer([path, "B", "40"]);
    // This process writes at the same time too.
    for (let i = 0; i < 20; i++) {
      await wh.transaction((s) =>
        s.execute(
          "INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID, NEXT_OFFSET) VALUES ('C', 'rows', ?, ?)",
          [i, i + 1],
        )
      );
    }
    const [ra, rb] = await Promise.all([a.output(), b.output()]);
    const dec = new TextDecoder();
    assert.equal(ra.code, 0, dec.decode(ra.stderr));
    assert.equal(rb.code, 0, dec.decode(rb.stderr));
    assert.equal(dec.decode(ra.stdout), "done 40\n");
    const rows = await wh.query<{ G: string; N: number; S: number }>(
      "SELECT CONSUMER_GROUP AS G, count(*) AS N, sum(NEXT_OFFSET) AS S " +
        "FROM OPERATIONAL.TBL_STREAM_OFFSET GROUP BY 1 ORDER BY 1",
    );
    assert.deepEqual(rows, [{ G: "A", N: 40, S: 820 }, { G: "B", N: 40, S: 820 }, {
      G: "C",
      N: 20,
      S: 210,
    }]);
  });
});

Deno.test("a writer waits for another process's long transaction, then commits", async () => {
  await withTempWarehouse(async (wh, path) => {
    const child = writer([path, "H", "0", "1500"]);
    const finish = await waitForLine(child, "ready");
    const t0 = performance.now();
    await wh.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_STREAM_OFFSET (CONSUMER_GROUP, TOPIC, PARTITION_ID, NEXT_OFFSET) VALUES ('W', 'after', 0, 1)",
      )
    );
    const waited = performance.now() - t0;
    await finish();
    const status = await child.status;
    child.stderr.cancel();
    assert.equal(status.code, 0);
    assert.ok(waited > 500, `the write should have waited for the lock (waited ${waited} ms)`);
    const rows = await wh.query(
      "SELECT CONSUMER_GROUP, TOPIC FROM OPERATIONAL.TBL_STREAM_OFFSET ORDER BY 1",
    );
    assert.deepEqual(rows, [
      { CONSUMER_GROUP: "H", TOPIC: "hold" },
      { CONSUMER_GROUP: "W", TOPIC: "after" },
    ]);
  });
});

Deno.test("a lock held longer than the lock timeout fails with WarehouseBusyError", async () => {
  const { dir, path } = await tempDb();
  const setup = await openWarehouse({ kind: "duckdb", path });
  await setup.close();
  const child = writer([path, "H", "0", "2000"]);
  const finish = await waitForLine(child, "ready");
  const wh = await DuckDBWarehouse.open(path, { lockTimeoutMs: 300, onWait: () => {} });
  try {
    const err = await wh.transaction(() => Promise.resolve(), { label: "impatient" }).catch((e) =>
      e
    );
    assert.ok(err instanceof WarehouseBusyError, String(err));
    // It names the process holding the lock, as DuckDB reports it.
    assert.ok(
      err.message.startsWith(
        `impatient: DuckDB file ${path} stayed locked by another process (PID ${child.pid}: `,
      ),
      err.message,
    );
    const ac = new AbortController();
    const waiting = wh.query("SELECT 1", [], { signal: ac.signal }).catch((e) => e);
    setTimeout(() => ac.abort(new Error("stop waiting")), 100);
    assert.match(String(await waiting), /stop waiting/);
  } finally {
    await finish();
    await child.status;
    child.stderr.cancel();
    await wh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an in-memory warehouse works as a local staging engine", async () => {
  const wh = await DuckDBWarehouse.open(":memory:");
  try {
    await wh.migrate();
    await wh.transaction((s) =>
      s.execute(
        "INSERT INTO OPERATIONAL.TBL_INDEX VALUES ('TEST_IDX', 'Test', 'EQUAL_WEIGHTED', 100, NULL, NULL, DEFAULT, DEFAULT)",
      )
    );
    assert.deepEqual(
      await wh.query("SELECT INDEX_CODE FROM OPERATIONAL.TBL_INDEX ORDER BY 1"),
      ["EGX100_EWI", "EGX30", "EGX70_EWI", "TEST_IDX"].map((c) => ({ INDEX_CODE: c })),
    );
  } finally {
    await wh.close();
  }
});

/**
 * Reloads for tickers listed since (lib/ingest/reload.ts), on a real DuckDB file and a landing
 * folder, through the library and the s3_check / batch_load job scripts: rows quarantined as
 * `unknown ticker X` load once X is listed, and nothing else of their file moves.
 */
import assert from "node:assert/strict";
import { pendingObjects, pendingWork, runBatch } from "../lib/ingest/batch.ts";
import { LocalLanding, olderLocalVersion } from "../lib/ingest/landing.ts";
import { listedSince } from "../lib/ingest/reload.ts";
import { withoutReloadClauses } from "../lib/ingest/load.ts";
import { SQL } from "../lib/ingest/sql_files.ts";
import { validateData } from "../lib/ingest/validate.ts";
import { openWarehouse, type Session, type Warehouse } from "../lib/warehouse/warehouse.ts";
import { runProjectJob } from "./support/processes.ts";
import { withTempWarehouse } from "./support/temp_warehouse.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SAMPLE = `${ROOT}data/sample`;

/**
 * tests/testdata/ingest/reload: prices.csv's line 2 is COMI's, updated by prices_fix.csv (loaded
 * after it); ZZZZ (lines 3-5) and NEWCO (7) are not listed; line 5 also has high < low, line 6
 * (COMI) no close. zzzz.csv is a company list of ZZZZ.
 */
const RELOAD = `${ROOT}tests/testdata/ingest/reload`;
const PRICES = Deno.readTextFileSync(`${RELOAD}/prices.csv`);
const FIX = Deno.readTextFileSync(`${RELOAD}/prices_fix.csv`);
const ZZZZ_LISTED = Deno.readTextFileSync(`${RELOAD}/zzzz.csv`);

async function landingDir(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "egx_reload_" });
  await Deno.mkdir(`${dir}/landing`);
  await Deno.copyFile(`${SAMPLE}/companies.csv`, `${dir}/landing/companies.csv`);
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/landing/${name}`, text);
  }
  return dir;
}

/**
 * `files` (and the sample company list) in a fresh landing folder, loaded once into a fresh
 * warehouse as of 2025-12-08 (`asOf`), then `fn`; the folder is removed after.
 */
async function afterFirstLoad(
  files: Record<string, string>,
  fn: (
    ctx: { wh: Warehouse; landing: LocalLanding; dir: string; asOf: Date },
  ) => Promise<void>,
): Promise<void> {
  const dir = await landingDir(files);
  const landing = new LocalLanding(`${dir}/landing`);
  const asOf = new Date("2025-12-08T13:00:00Z");
  try {
    await withTempWarehouse(async (wh) => {
      await runBatch(wh, landing, await pendingObjects(wh, landing), { progress: false, asOf });
      await fn({ wh, landing, dir, asOf });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The job as the runner starts it: its exact command and environment from jobs.yaml. */
const job = runProjectJob;

/** Run `fn` on the job's warehouse file, closed again after (the jobs open it themselves). */
async function inWarehouse<T>(path: string, fn: (wh: Warehouse) => Promise<T>): Promise<T> {
  const wh = await openWarehouse({ kind: "duckdb", path });
  try {
    return await fn(wh);
  } finally {
    await wh.close();
  }
}

const pricesOf = (wh: Warehouse) =>
  wh.query(
    "SELECT TICKER, TRADE_DATE, OPEN, HIGH, LOW, CLOSE, VOLUME, SOURCE_FILE " +
      "FROM OPERATIONAL.TBL_STOCK_PRICE ORDER BY TICKER, TRADE_DATE",
  );

async function quarantineOf(wh: Warehouse, key: string): Promise<[number, string][]> {
  const rows = await wh.query<{ L: number; R: string }>(
    "SELECT LINE_NUMBER AS L, REASON AS R FROM OPERATIONAL.TBL_QUARANTINE WHERE FILE_KEY = ? " +
      "ORDER BY 1",
    [key],
  );
  return rows.map((r) => [r.L, r.R]);
}

const logOf = (wh: Warehouse) =>
  wh.query(
    "SELECT FILE_KEY, STATUS, ROWS_READ, ROWS_LOADED, ROWS_QUARANTINED, STARTED_AT " +
      "FROM OPERATIONAL.TBL_LOAD_LOG ORDER BY FILE_KEY, ETAG",
  );

const price = (
  t: string,
  d: string,
  o: number,
  h: number,
  l: number,
  c: number,
  v: number,
  f: string,
) => ({ TICKER: t, TRADE_DATE: d, OPEN: o, HIGH: h, LOW: l, CLOSE: c, VOLUME: v, SOURCE_FILE: f });

Deno.test("rows of a ticker listed later load in the run that lists it, and only they", async () => {
  const dir = await landingDir({ "prices.csv": PRICES, "prices_fix.csv": FIX });
  const db = `${dir}/egx.duckdb`;
  const env = {
    EGX_WAREHOUSE: db,
    EGX_LANDING: `${dir}/landing`,
    EGX_AS_OF: "2025-12-08T13:00:00Z",
  };
  try {
    const first = await job("batch_load", env);
    assert.equal(first.code, 0, first.out + first.err);
    assert.match(
      first.out,
      /LOADED {2}prices\.csv \(daily_canonical\): 6 read, 1 loaded, 5 quarantined/,
    );
    const quarantined: [number, string][] = [
      [3, "unknown ticker ZZZZ"],
      [4, "unknown ticker ZZZZ"],
      [5, "high < low; unknown ticker ZZZZ"],
      [6, "missing close"],
      [7, "unknown ticker NEWCO"],
    ];
    const comi = [
      price("COMI", "2025-12-07", 10, 11, 9, 10.8, 1200, "prices_fix.csv"),
    ];
    await inWarehouse(db, async (wh) => {
      assert.deepEqual(await quarantineOf(wh, "prices.csv"), quarantined);
      assert.deepEqual(await pricesOf(wh), comi);
    });
    // Nothing is listed since: nothing to do.
    const idle = await job("s3_check", env);
    assert.equal(idle.code, 78, idle.out + idle.err);

    // A company list lists ZZZZ: the run that loads it also loads ZZZZ's rows of prices.csv,
    // and not its COMI row again (prices_fix.csv's values stay).
    await Deno.writeTextFile(`${dir}/landing/zzzz.csv`, ZZZZ_LISTED);
    const check = await job("s3_check", env);
    assert.equal(check.code, 0, check.out + check.err);
    assert.match(check.out, /^s3_check: 1 new or changed file\(s\) in .*\n {2}new {5}zzzz\.csv /);
    const second = await job("batch_load", env);
    assert.equal(second.code, 0, second.out + second.err);
    assert.match(
      second.out,
      /^batch_load: reloading prices\.csv: 3 quarantined row\(s\) of tickers listed since: ZZZZ$/m,
    );
    assert.match(second.out, /LOADED {2}zzzz\.csv \(companies\): 1 read, 1 loaded, 0 quarantined/);
    assert.match(
      second.out,
      /LOADED {2}prices\.csv \(daily_canonical\): 6 read, 3 loaded, 3 quarantined/,
    );
    const zzzz = [
      price("ZZZZ", "2025-12-07", 20, 21, 19, 20.5, 2000, "prices.csv"),
      price("ZZZZ", "2025-12-08", 20.5, 22, 20, 21.5, 3000, "prices.csv"),
    ];
    const loadLog = await inWarehouse(db, async (wh) => {
      assert.deepEqual(await pricesOf(wh), [...comi, ...zzzz]);
      // The quarantine is what the reload found: the other reasons stay, ZZZZ's are gone.
      assert.deepEqual(await quarantineOf(wh, "prices.csv"), [
        [5, "high < low"],
        [6, "missing close"],
        [7, "unknown ticker NEWCO"],
      ]);
      const report = await validateData(wh, { asOf: new Date("2025-12-08T13:00:00Z") });
      assert.ok(
        report.checks.some((c) => c.ok && c.name === "row counts reconcile per file"),
        report.text,
      );
      return await logOf(wh);
    });
    assert.deepEqual(
      loadLog.map((r) => [r.FILE_KEY, r.STATUS, r.ROWS_READ, r.ROWS_LOADED, r.ROWS_QUARANTINED]),
      [
        ["companies.csv", "LOADED", 223, 223, 0],
        ["prices.csv", "LOADED", 6, 3, 3],
        ["prices_fix.csv", "LOADED", 1, 1, 0],
        ["zzzz.csv", "LOADED", 1, 1, 0],
      ],
    );

    // A second run does nothing more.
    const again = await job("s3_check", env);
    assert.equal(again.code, 78, again.out + again.err);
    const noop = await job("batch_load", env);
    assert.equal(noop.code, 78, noop.out + noop.err);
    await inWarehouse(db, async (wh) => {
      assert.deepEqual(await logOf(wh), loadLog);
      assert.deepEqual(await pricesOf(wh), [...comi, ...zzzz]);
    });

    // NEWCO listed by other means (not a company list of the landing): s3_check reports the
    // reload as work, and batch_load does it.
    await inWarehouse(db, (wh) =>
      wh.transaction(async (s) => {
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('NEWCO', 'New Co')",
        );
      }));
    const work = await job("s3_check", env);
    assert.equal(work.code, 0, work.out + work.err);
    const size = Deno.statSync(`${dir}/landing/prices.csv`).size;
    assert.match(
      work.out,
      new RegExp(
        `^s3_check: 1 file\\(s\\) to load in ${dir}/landing: 0 new or changed, 1 to reload\\n` +
          ` {2}reload {2}prices\\.csv \\(etag \\S+, ${size} bytes\\): ` +
          "1 quarantined row\\(s\\) of tickers listed since: NEWCO\\n$",
      ),
    );
    const third = await job("batch_load", env);
    assert.equal(third.code, 0, third.out + third.err);
    assert.match(
      third.out,
      /LOADED {2}prices\.csv \(daily_canonical\): 6 read, 4 loaded, 2 quarantined/,
    );
    await inWarehouse(db, async (wh) => {
      assert.deepEqual(await pricesOf(wh), [
        ...comi,
        price("NEWCO", "2025-12-08", 5, 6, 4, 5.5, 500, "prices.csv"),
        ...zzzz,
      ]);
      assert.deepEqual(await quarantineOf(wh, "prices.csv"), [
        [5, "high < low"],
        [6, "missing close"],
      ]);
    });
    assert.equal((await job("s3_check", env)).code, 78);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file to reload that left the landing folder is named, and fails nothing", async () => {
  const dir = await landingDir({
    "prices.csv": PRICES,
    "kept.csv": PRICES.replace("NEWCO", "COMI"),
  });
  const env = {
    EGX_WAREHOUSE: `${dir}/egx.duckdb`,
    EGX_LANDING: `${dir}/landing`,
    EGX_AS_OF: "2025-12-08T13:00:00Z",
  };
  try {
    assert.equal((await job("batch_load", env)).code, 0);
    await Deno.remove(`${dir}/landing/prices.csv`);
    await Deno.writeTextFile(`${dir}/landing/zzzz.csv`, ZZZZ_LISTED);
    const load = await job("batch_load", env);
    assert.equal(load.code, 0, load.out + load.err);
    const gone = `cannot reload prices.csv: 3 quarantined row(s) of tickers listed since: ZZZZ, ` +
      `but it is no longer in ${dir}/landing (put it back to load them)`;
    assert.ok(load.out.includes(`batch_load: ${gone}\n`), load.out);
    assert.match(load.out, /LOADED {2}kept\.csv \(daily_canonical\): 6 read, /);
    const check = await job("s3_check", env);
    assert.equal(check.code, 78, check.out + check.err);
    assert.equal(
      check.out,
      `s3_check: ${gone}\ns3_check: nothing to do: no new or changed files in ${dir}/landing\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reload that fails leaves the version's load, rows and quarantine as they were", async () => {
  await afterFirstLoad({ "prices.csv": PRICES }, async ({ wh, landing, asOf }) => {
    assert.deepEqual(await listedSince(wh), new Map());
    await wh.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('ZZZZ', 'Zed')",
      );
    });
    const { pending, unreloadable } = await pendingWork(wh, landing);
    assert.deepEqual(unreloadable, []);
    assert.deepEqual(pending.map((p) => [p.key, p.change, p.reloadOf === p.etag, p.listed]), [
      [
        "prices.csv",
        "reload",
        true,
        { key: "prices.csv", etag: pending[0].etag, tickers: ["ZZZZ"], rows: 3 },
      ],
    ]);
    const snapshot = async () => ({
      prices: await pricesOf(wh),
      quarantine: await quarantineOf(wh, "prices.csv"),
      log: await logOf(wh),
    });
    const before = await snapshot();
    const failing: Warehouse = {
      kind: wh.kind,
      query: wh.query.bind(wh),
      migrate: wh.migrate.bind(wh),
      close: wh.close.bind(wh),
      transaction: (fn, opts) =>
        wh.transaction((s) => {
          const inject: Session = {
            query: s.query.bind(s),
            insertRows: s.insertRows.bind(s),
            execute: (sql, params) =>
              sql.includes("MERGE INTO OPERATIONAL.TBL_STOCK_PRICE")
                ? Promise.reject(new Error("injected failure"))
                : s.execute(sql, params),
          };
          return fn(inject);
        }, opts),
    };
    const [o] = await runBatch(failing, landing, pending, { progress: false, asOf });
    assert.equal(o.status, "FAILED");
    assert.match(
      o.error!,
      /injected failure.* \(a reload for tickers listed since: the earlier load of this version stays as it was, and the next run tries again\)$/s,
    );
    assert.deepEqual(await snapshot(), before);
    // Still pending; the next run loads it.
    const again = await pendingObjects(wh, landing);
    assert.deepEqual(again.map((p) => [p.key, p.change]), [["prices.csv", "reload"]]);
    const [loaded] = await runBatch(wh, landing, again, { progress: false, asOf });
    assert.deepEqual(
      [loaded.status, loaded.rowsRead, loaded.rowsLoaded, loaded.rowsQuarantined],
      ["LOADED", 6, 3, 3],
    );
    assert.deepEqual(await pendingObjects(wh, landing), []);
  });
});

Deno.test("a reload loads with new files of its format in one group, and index lists reload too", async () => {
  const dir = await landingDir({
    "prices.csv": PRICES,
    "prices_fix.csv": FIX,
    "index.csv": "index_code,ticker,effective_from\nEGX30,COMI,2025-01-01\nEGX30,ZZZZ,2025-06-01\n",
  });
  const landing = new LocalLanding(`${dir}/landing`);
  const asOf = new Date("2025-12-08T13:00:00Z");
  try {
    await withTempWarehouse(async (wh) => {
      await runBatch(wh, landing, await pendingObjects(wh, landing), { progress: false, asOf });
      assert.deepEqual(await quarantineOf(wh, "index.csv"), [[3, "unknown ticker ZZZZ"]]);
      await wh.transaction(async (s) => {
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('ZZZZ', 'Zed')",
        );
      });
      await Deno.writeTextFile(
        `${dir}/landing/other.csv`,
        "ticker,trade_date,open,high,low,close,volume\nABUK,2025-12-07,60,61,59,60.5,700\n",
      );
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => [p.key, p.change]), [
        ["index.csv", "reload"],
        ["other.csv", "new"],
        ["prices.csv", "reload"],
      ]);
      const out = await runBatch(wh, landing, pending, { progress: false, asOf });
      assert.deepEqual(
        out.map((o) => [o.key, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined]),
        // In load order: oldest first (other.csv was written after prices.csv), one group.
        [
          ["index.csv", "LOADED", 2, 2, 0],
          ["prices.csv", "LOADED", 6, 3, 3],
          ["other.csv", "LOADED", 1, 1, 0],
        ],
      );
      assert.deepEqual(await pricesOf(wh), [
        price("ABUK", "2025-12-07", 60, 61, 59, 60.5, 700, "other.csv"),
        price("COMI", "2025-12-07", 10, 11, 9, 10.8, 1200, "prices_fix.csv"),
        price("ZZZZ", "2025-12-07", 20, 21, 19, 20.5, 2000, "prices.csv"),
        price("ZZZZ", "2025-12-08", 20.5, 22, 20, 21.5, 3000, "prices.csv"),
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT INDEX_CODE AS I, TICKER AS T, EFFECTIVE_FROM AS F, SOURCE_FILE AS S " +
            "FROM OPERATIONAL.TBL_INDEX_MEMBERSHIP ORDER BY 2",
        ),
        [
          { I: "EGX30", T: "COMI", F: "2025-01-01", S: "index.csv" },
          { I: "EGX30", T: "ZZZZ", F: "2025-06-01", S: "index.csv" },
        ],
      );
      assert.deepEqual(await quarantineOf(wh, "index.csv"), []);
      assert.deepEqual(await pendingObjects(wh, landing), []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** prices.csv's ZZZZ 2025-12-08 row as a reload stores it; COMI's row as prices_fix.csv left it. */
const zzzzReloaded = price("ZZZZ", "2025-12-08", 20.5, 22, 20, 21.5, 3000, "prices.csv");
const comiFixed = price("COMI", "2025-12-07", 10, 11, 9, 10.8, 1200, "prices_fix.csv");

Deno.test("a raw value quoting 'unknown ticker' of a listed company reloads nothing: one reload when ZZZZ is listed, then nothing to do", async () => {
  // The reviewer's crafted line: COMI is listed (companies.csv), its open quotes the text.
  const crafted = "ticker,trade_date,open,high,low,close,volume\n" +
    'COMI,2025-12-07,"n/a; unknown ticker COMI; see note",11,9,10.5,1000\n' +
    "ZZZZ,2025-12-08,20.5,22,20,21.5,3000\n";
  const dir = await landingDir({ "crafted.csv": crafted });
  const db = `${dir}/egx.duckdb`;
  const env = {
    EGX_WAREHOUSE: db,
    EGX_LANDING: `${dir}/landing`,
    EGX_AS_OF: "2025-12-08T13:00:00Z",
  };
  try {
    const first = await job("batch_load", env);
    assert.equal(first.code, 0, first.out + first.err);
    await inWarehouse(db, async (wh) => {
      assert.deepEqual(await quarantineOf(wh, "crafted.csv"), [
        [2, 'unparsable open "n/a; unknown ticker COMI; see note"'],
        [3, "unknown ticker ZZZZ"],
      ]);
    });
    const idle = await job("s3_check", env);
    assert.equal(idle.code, 78, idle.out + idle.err);
    assert.equal((await job("batch_load", env)).code, 78);

    await Deno.writeTextFile(`${dir}/landing/zzzz.csv`, ZZZZ_LISTED);
    const second = await job("batch_load", env);
    assert.equal(second.code, 0, second.out + second.err);
    assert.match(
      second.out,
      /^batch_load: reloading crafted\.csv: 1 quarantined row\(s\) of tickers listed since: ZZZZ$/m,
    );
    assert.match(second.out, /LOADED {2}crafted\.csv \(daily_canonical\): 2 read, 1 loaded, 1/);
    const after = await inWarehouse(db, async (wh) => {
      assert.deepEqual(await quarantineOf(wh, "crafted.csv"), [
        [2, 'unparsable open "n/a; unknown ticker COMI; see note"'],
      ]);
      assert.deepEqual(
        await pricesOf(wh),
        [{ ...zzzzReloaded, SOURCE_FILE: "crafted.csv" }],
      );
      return await logOf(wh);
    });
    // Nothing more to do: s3_check says so, batch_load does not reload again.
    const check = await job("s3_check", env);
    assert.equal(check.code, 78, check.out + check.err);
    assert.match(check.out, /nothing to do/);
    const noop = await job("batch_load", env);
    assert.equal(noop.code, 78, noop.out + noop.err);
    assert.doesNotMatch(noop.out, /reloading/);
    await inWarehouse(db, async (wh) => assert.deepEqual(await logOf(wh), after));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a version recorded under the older local ETag spelling reloads its quarantined lines only, and its quarantine moves to the current spelling", async () => {
  await afterFirstLoad(
    { "prices.csv": PRICES, "prices_fix.csv": FIX },
    async ({ wh, landing, asOf }) => {
      // As the reviewer did: prices.csv's load and quarantine as an earlier release recorded
      // them (`<size>-<mtime>`), by a load that started after the file last changed.
      const [full] = (await landing.list()).filter((o) => o.key === "prices.csv");
      const older = olderLocalVersion(full.etag)!;
      const startedAt = new Date(older.unchangedSince);
      await wh.transaction(async (s) => {
        await s.execute(
          "UPDATE OPERATIONAL.TBL_LOAD_LOG SET ETAG = ?, STARTED_AT = ? WHERE FILE_KEY = 'prices.csv'",
          [older.etag, startedAt],
        );
        await s.execute(
          "UPDATE OPERATIONAL.TBL_QUARANTINE SET ETAG = ? WHERE FILE_KEY = 'prices.csv'",
          [older.etag],
        );
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME, CREATED_AT) VALUES (?, ?, ?)",
          ["ZZZZ", "Zed", new Date(startedAt.getTime() + 1000)],
        );
      });
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => [p.key, p.change, p.etag, p.reloadOf]), [
        ["prices.csv", "reload", full.etag, older.etag],
      ]);
      const before = await pricesOf(wh);
      // A failed reload is no FAILED row, under either spelling.
      const failing: Warehouse = {
        kind: wh.kind,
        query: wh.query.bind(wh),
        migrate: wh.migrate.bind(wh),
        close: wh.close.bind(wh),
        transaction: (fn, opts) =>
          wh.transaction((s) =>
            fn({
              query: s.query.bind(s),
              insertRows: s.insertRows.bind(s),
              execute: (sql, params) =>
                sql.includes("MERGE INTO OPERATIONAL.TBL_STOCK_PRICE")
                  ? Promise.reject(new Error("injected failure"))
                  : s.execute(sql, params),
            }), opts),
      };
      const [failed] = await runBatch(failing, landing, pending, { progress: false, asOf });
      assert.equal(failed.status, "FAILED");
      assert.match(failed.error!, /\(a reload for tickers listed since: /);
      assert.deepEqual(
        await wh.query(
          "SELECT ETAG AS E, STATUS AS S FROM OPERATIONAL.TBL_LOAD_LOG WHERE FILE_KEY = 'prices.csv'",
        ),
        [{ E: older.etag, S: "LOADED" }],
      );
      const [o] = await runBatch(wh, landing, await pendingObjects(wh, landing), {
        progress: false,
        asOf,
      });
      assert.deepEqual([o.key, o.etag, o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined], [
        "prices.csv",
        full.etag,
        "LOADED",
        6,
        3,
        3,
      ]);
      // Only the quarantined lines: COMI stays prices_fix.csv's.
      assert.deepEqual(before, [comiFixed]);
      assert.deepEqual(await pricesOf(wh), [
        comiFixed,
        price("ZZZZ", "2025-12-07", 20, 21, 19, 20.5, 2000, "prices.csv"),
        zzzzReloaded,
      ]);
      // The version is recorded once, under its current spelling, with the quarantine found.
      assert.deepEqual(
        await wh.query(
          "SELECT ETAG AS E, LINE_NUMBER AS L, REASON AS R FROM OPERATIONAL.TBL_QUARANTINE " +
            "WHERE FILE_KEY = 'prices.csv' ORDER BY 2",
        ),
        [
          { E: full.etag, L: 5, R: "high < low" },
          { E: full.etag, L: 6, R: "missing close" },
          { E: full.etag, L: 7, R: "unknown ticker NEWCO" },
        ],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT ETAG AS E, STATUS AS S, ROWS_QUARANTINED AS Q FROM OPERATIONAL.TBL_LOAD_LOG " +
            "WHERE FILE_KEY = 'prices.csv'",
        ),
        [{ E: full.etag, S: "LOADED", Q: 3 }],
      );
      const report = await validateData(wh, { asOf });
      assert.ok(
        report.checks.some((c) => c.ok && c.name === "row counts reconcile per file"),
        report.text,
      );
      assert.deepEqual(await pendingObjects(wh, landing), []);
    },
  );
});

/** zlater.csv: a newer value of ZZZZ's 2025-12-07 row than prices.csv's (close 99, not 20.5). */
const LATER = Deno.readTextFileSync(`${RELOAD}/zlater.csv`);
const zzzzLater = price("ZZZZ", "2025-12-07", 98, 100, 97, 99, 5000, "zlater.csv");

Deno.test("a reload is insert-only: a newer file's row loaded in the same run stays", async () => {
  const dir = await landingDir({ "prices.csv": PRICES, "prices_fix.csv": FIX });
  const db = `${dir}/egx.duckdb`;
  const env = {
    EGX_WAREHOUSE: db,
    EGX_LANDING: `${dir}/landing`,
    EGX_AS_OF: "2025-12-08T13:00:00Z",
  };
  try {
    assert.equal((await job("batch_load", env)).code, 0);
    // The reviewer's repro: the company list of ZZZZ lands with a newer file of ZZZZ's row.
    await Deno.writeTextFile(`${dir}/landing/zzzz.csv`, ZZZZ_LISTED);
    await Deno.writeTextFile(`${dir}/landing/zlater.csv`, LATER);
    const second = await job("batch_load", env);
    assert.equal(second.code, 0, second.out + second.err);
    assert.match(second.out, /LOADED {2}zlater\.csv \(daily_canonical\): 1 read, 1 loaded, 0/);
    assert.match(
      second.out,
      /LOADED {2}prices\.csv \(daily_canonical\): 6 read, 3 loaded, 3 quarantined/,
    );
    await inWarehouse(db, async (wh) => {
      // The reload inserted ZZZZ's 2025-12-08 row only: 2025-12-07 is zlater.csv's.
      assert.deepEqual(await pricesOf(wh), [comiFixed, zzzzLater, zzzzReloaded]);
      assert.deepEqual(await quarantineOf(wh, "prices.csv"), [
        [5, "high < low"],
        [6, "missing close"],
        [7, "unknown ticker NEWCO"],
      ]);
    });
    assert.equal((await job("s3_check", env)).code, 78);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reload is insert-only: a newer file's row loaded in a run between stays", async () => {
  await afterFirstLoad(
    { "prices.csv": PRICES, "prices_fix.csv": FIX },
    async ({ wh, landing, dir, asOf }) => {
      await Deno.writeTextFile(`${dir}/landing/zzzz.csv`, ZZZZ_LISTED);
      await Deno.writeTextFile(`${dir}/landing/zlater.csv`, LATER);
      // A run between loads the company list and the newer file, but not the reload (as when
      // the reload failed in it).
      const between = (await pendingObjects(wh, landing)).filter((p) => p.change !== "reload");
      assert.deepEqual(between.map((p) => [p.key, p.change]), [
        ["zlater.csv", "new"],
        ["zzzz.csv", "new"],
      ]);
      const mid = await runBatch(wh, landing, between, { progress: false, asOf });
      assert.deepEqual(mid.map((o) => [o.key, o.status, o.rowsLoaded]), [
        ["zzzz.csv", "LOADED", 1],
        ["zlater.csv", "LOADED", 1],
      ]);
      assert.deepEqual(await pricesOf(wh), [comiFixed, zzzzLater]);
      // The next run reloads prices.csv: its ZZZZ 2025-12-07 line finds zlater.csv's row and is
      // not stored; 2025-12-08 is new.
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => [p.key, p.change]), [["prices.csv", "reload"]]);
      const [o] = await runBatch(wh, landing, pending, { progress: false, asOf });
      assert.deepEqual([o.status, o.rowsRead, o.rowsLoaded, o.rowsQuarantined], [
        "LOADED",
        6,
        3,
        3,
      ]);
      assert.deepEqual(await pricesOf(wh), [comiFixed, zzzzLater, zzzzReloaded]);
      assert.deepEqual(await quarantineOf(wh, "prices.csv"), [
        [5, "high < low"],
        [6, "missing close"],
        [7, "unknown ticker NEWCO"],
      ]);
      assert.deepEqual(await pendingObjects(wh, landing), []);
    },
  );
});

Deno.test("a reload is insert-only for every format: financials, screener, index lists and one-minute bars keep newer rows", async () => {
  const dir = await landingDir({
    "fin.csv": "ticker,fiscal_year,fiscal_quarter,period_end,eps\n" +
      "ZZZZ,2025,1,2025-03-31,1.5\nZZZZ,2025,2,2025-06-30,2.5\n",
    "scr.csv": "ticker,snapshot_date,last_price\nZZZZ,2025-12-07,20\nZZZZ,2025-12-08,21\n",
    "idx.csv": "index_code,ticker,effective_from,weight\n" +
      "EGX30,ZZZZ,2025-01-01,0.1\nEGX30,ZZZZ,2025-06-01,0.2\n",
  });
  await Deno.mkdir(`${dir}/landing/bars_1m`);
  await Deno.writeTextFile(
    `${dir}/landing/bars_1m/ZZZZ.csv`,
    "datetime,open,high,low,close,volume\n" +
      "2025-12-07 10:00:00,20,21,19,20.5,100\n2025-12-07 10:01:00,20.5,21,20,20.8,200\n",
  );
  const landing = new LocalLanding(`${dir}/landing`);
  const asOf = new Date("2025-12-08T13:00:00Z");
  try {
    await withTempWarehouse(async (wh) => {
      await runBatch(wh, landing, await pendingObjects(wh, landing), { progress: false, asOf });
      await wh.transaction(async (s) => {
        await s.execute(
          "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME) VALUES ('ZZZZ', 'Zed')",
        );
      });
      // Newer files of the first key of each, loaded before the reloads.
      await Deno.writeTextFile(
        `${dir}/landing/fin2.csv`,
        "ticker,fiscal_year,fiscal_quarter,period_end,eps\nZZZZ,2025,1,2025-03-31,9.5\n",
      );
      await Deno.writeTextFile(
        `${dir}/landing/scr2.csv`,
        "ticker,snapshot_date,last_price\nZZZZ,2025-12-07,99\n",
      );
      await Deno.writeTextFile(
        `${dir}/landing/idx2.csv`,
        "index_code,ticker,effective_from,weight\nEGX30,ZZZZ,2025-01-01,0.9\n",
      );
      await Deno.mkdir(`${dir}/landing/later`);
      await Deno.writeTextFile(
        `${dir}/landing/later/ZZZZ.csv`,
        "datetime,open,high,low,close,volume\n2025-12-07 10:00:00,98,100,97,99,1000\n",
      );
      const pending = await pendingObjects(wh, landing);
      assert.deepEqual(pending.map((p) => [p.key, p.change]), [
        ["bars_1m/ZZZZ.csv", "reload"],
        ["fin.csv", "reload"],
        ["fin2.csv", "new"],
        ["idx.csv", "reload"],
        ["idx2.csv", "new"],
        ["later/ZZZZ.csv", "new"],
        ["scr.csv", "reload"],
        ["scr2.csv", "new"],
      ]);
      const between = await runBatch(wh, landing, pending.filter((p) => p.change === "new"), {
        progress: false,
        asOf,
      });
      assert.deepEqual(between.map((o) => o.status), ["LOADED", "LOADED", "LOADED", "LOADED"]);
      const reloads = await pendingObjects(wh, landing);
      assert.equal(reloads.length, 4);
      const out = await runBatch(wh, landing, reloads, { progress: false, asOf });
      assert.deepEqual(out.map((o) => [o.key, o.status, o.rowsLoaded, o.rowsQuarantined]), [
        ["idx.csv", "LOADED", 2, 0],
        ["fin.csv", "LOADED", 2, 0],
        ["scr.csv", "LOADED", 2, 0],
        ["bars_1m/ZZZZ.csv", "LOADED", 2, 0],
      ]);
      assert.deepEqual(
        await wh.query(
          "SELECT FISCAL_QUARTER AS Q, EPS AS E, SOURCE_FILE AS S FROM OPERATIONAL.TBL_FINANCIAL " +
            "WHERE TICKER = 'ZZZZ' ORDER BY 1",
        ),
        [{ Q: 1, E: 9.5, S: "fin2.csv" }, { Q: 2, E: 2.5, S: "fin.csv" }],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT SNAPSHOT_DATE AS D, LAST_PRICE AS P, SOURCE_FILE AS S " +
            "FROM OPERATIONAL.TBL_MARKET_STAT WHERE TICKER = 'ZZZZ' ORDER BY 1",
        ),
        [{ D: "2025-12-07", P: 99, S: "scr2.csv" }, { D: "2025-12-08", P: 21, S: "scr.csv" }],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT EFFECTIVE_FROM AS F, WEIGHT AS W, SOURCE_FILE AS S " +
            "FROM OPERATIONAL.TBL_INDEX_MEMBERSHIP WHERE TICKER = 'ZZZZ' ORDER BY 1",
        ),
        [{ F: "2025-01-01", W: 0.9, S: "idx2.csv" }, { F: "2025-06-01", W: 0.2, S: "idx.csv" }],
      );
      assert.deepEqual(
        await wh.query(
          "SELECT strftime(BAR_START, '%H:%M') AS B, CLOSE AS C, SOURCE_FILE AS S " +
            "FROM OPERATIONAL.TBL_INTRADAY_BAR WHERE TICKER = 'ZZZZ' ORDER BY 1",
        ),
        [
          { B: "10:00", C: 99, S: "later/ZZZZ.csv" },
          { B: "10:01", C: 20.8, S: "bars_1m/ZZZZ.csv" },
        ],
      );
      // The day is aggregated from the stored bars: the newer bar's open, the reloaded close.
      assert.deepEqual(
        await wh.query(
          "SELECT OPEN AS O, HIGH AS H, LOW AS L, CLOSE AS C, VOLUME AS V, SOURCE_FILE AS S " +
            "FROM OPERATIONAL.TBL_STOCK_PRICE WHERE TICKER = 'ZZZZ' AND DATA_SOURCE = 'BARS_1M'",
        ),
        [{ O: 98, H: 100, L: 20, C: 20.8, V: 1200, S: "bars_1m/ZZZZ.csv" }],
      );
      assert.deepEqual(await pendingObjects(wh, landing), []);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a company stored with the Cairo suffix before migration 008 reloads the files loaded before it; after 008 an old row does not", async () => {
  await afterFirstLoad({ "prices.csv": PRICES }, async ({ wh, landing, asOf }) => {
    assert.deepEqual((await quarantineOf(wh, "prices.csv")).map(([l]) => l), [3, 4, 5, 6, 7]);
    // As an older release left it: ZZZZ.CA created a day before the load, which took ZZZZ as
    // unknown (it compared tickers as written); 008 then stored it under its code, ZZZZ.
    await wh.transaction(async (s) => {
      await s.execute(
        "INSERT INTO OPERATIONAL.TBL_COMPANY (TICKER, COMPANY_NAME, CREATED_AT) " +
          "SELECT 'ZZZZ', 'Zed', MIN(STARTED_AT) - INTERVAL 1 DAY FROM OPERATIONAL.TBL_LOAD_LOG",
      );
    });
    // 008 applied when this warehouse was made, before the load: ZZZZ was known to it.
    assert.deepEqual(await listedSince(wh), new Map());
    // 008 applied after the load (an upgraded warehouse): the load could not know ZZZZ.
    await wh.transaction(async (s) => {
      await s.execute(
        "UPDATE OPERATIONAL.SCHEMA_MIGRATION SET APPLIED_AT = " +
          "(SELECT MAX(STARTED_AT) + INTERVAL 1 SECOND FROM OPERATIONAL.TBL_LOAD_LOG) " +
          "WHERE VERSION = 8",
      );
    });
    const pending = await pendingObjects(wh, landing);
    assert.deepEqual(pending.map((p) => [p.key, p.change, p.listed?.tickers, p.listed?.rows]), [
      ["prices.csv", "reload", ["ZZZZ"], 3],
    ]);
    await runBatch(wh, landing, pending, { progress: false, asOf });
    assert.deepEqual(
      (await pricesOf(wh)).filter((r) => r.TICKER === "ZZZZ").map((r) => r.TRADE_DATE),
      ["2025-12-07", "2025-12-08"],
    );
    // Reloaded after 008: not again.
    assert.deepEqual(await pendingObjects(wh, landing), []);
  });
});

Deno.test("a group without a reload runs the upserts without the reloads' insert-only conditions, and only those", () => {
  assert.equal(
    withoutReloadClauses(
      "WHERE a AND NOT (egx_reload_file(c.k) AND EXISTS (SELECT 1 FROM t WHERE (x) = y)) ORDER BY 1",
    ),
    "WHERE a  ORDER BY 1",
  );
  const upserts = Object.entries(SQL).filter(([name]) => name.endsWith("_upsert.sql"));
  assert.equal(upserts.length, 6);
  for (const [name, text] of upserts) {
    const stripped = withoutReloadClauses(text);
    const exists = (t: string) => (t.match(/\bEXISTS\b/g) ?? []).length;
    assert.ok(!stripped.includes("egx_reload_file("), name);
    assert.equal(exists(text) - exists(stripped), 1, `${name}: one condition removed`);
    assert.equal(text.length - stripped.length > 80, true, name);
  }
});

/**
 * Progress while a large file loads (issue 3: rows/s and ETA on a terminal, periodic log lines
 * otherwise): DuckDB's progress of reading the file is polled during the load, and batch_load's
 * lines move before the file finishes.
 */
import assert from "node:assert/strict";
import { pendingObjects, runBatch } from "../lib/ingest/batch.ts";
import { LocalLanding } from "../lib/ingest/landing.ts";
import { type GroupProgress, loadFiles } from "../lib/ingest/load.ts";
import { Progress } from "../lib/ingest/progress.ts";
import type { Warehouse } from "../lib/warehouse/warehouse.ts";
import { generateDailyCsv } from "./support/daily_csv.ts";
import { localFile, withTempWarehouse } from "./support/temp_warehouse.ts";

const ROWS = 1_000_000;
const COMPANIES = new URL("../data/sample/companies.csv", import.meta.url).pathname;

/** A landing folder holding one generated ROWS-row canonical daily CSV, removed after `fn`. */
async function withLargeFile(fn: (dir: string, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "egx_progress_" });
  try {
    await Deno.mkdir(`${dir}/landing`);
    const path = `${dir}/landing/daily_large.csv`;
    await generateDailyCsv(path, ROWS);
    await fn(dir, path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function loadCompanies(wh: Warehouse): Promise<void> {
  const [o] = await loadFiles(wh, [localFile(COMPANIES, "companies.csv")]);
  assert.equal(o.status, "LOADED", o.error);
}

Deno.test("a large file reports how much DuckDB has read while it reads, then the exact rows", async () => {
  await withLargeFile(async (_dir, path) => {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const events: GroupProgress[] = [];
      const [out] = await loadFiles(wh, [localFile(path, "daily_large.csv")], {
        onProgress: (p) => events.push(p),
        progressIntervalMs: 10,
      });
      assert.equal(out.status, "LOADED", out.error);
      assert.equal(out.rowsRead, ROWS);
      const bytes = Deno.statSync(path).size;
      const base = { group: 1, files: 1, bytes };
      assert.deepEqual(events[0], { ...base, read: 0, rows: 0, readDone: false });
      assert.deepEqual(events.at(-1), { ...base, read: 1, rows: ROWS, readDone: true });
      assert.equal(events.filter((e) => e.readDone).length, 1);
      // Polled while the read statement ran: a part read, growing, rows in proportion.
      const reading = events.slice(1, -1);
      assert.ok(
        reading.filter((e) => e.read > 0 && e.read < 1).length >= 2,
        JSON.stringify(events),
      );
      for (const [i, e] of reading.entries()) {
        assert.deepEqual({ group: e.group, files: e.files, bytes: e.bytes }, base);
        if (i > 0) {
          assert.ok(e.read > reading[i - 1].read || e.rows > reading[i - 1].rows);
          assert.ok(e.read >= reading[i - 1].read && e.rows >= reading[i - 1].rows);
        }
        // DuckDB's estimate of the rows read: within half of the rows in that share of the bytes.
        assert.ok(Math.abs(e.rows - e.read * ROWS) <= 0.5 * e.read * ROWS, JSON.stringify(e));
      }
    });
  });
});

const LINE = /^batch_load: 0\/1 files, (~?)([\d,]+) rows, ([\d,]+) rows\/s, ETA (\d+ s|\?)\n$/;

Deno.test("batch_load logs a progress line every interval while one large file loads", async () => {
  await withLargeFile(async (dir) => {
    await withTempWarehouse(async (wh) => {
      await loadCompanies(wh);
      const landing = new LocalLanding(`${dir}/landing`);
      const lines: { at: number; text: string }[] = [];
      // The clock Progress reads: each line is written at the time it was computed for.
      let clock = 0;
      const now = () => (clock = performance.now());
      const t0 = now();
      const [out] = await runBatch(wh, landing, await pendingObjects(wh, landing), {
        tmpDir: `${dir}/tmp`,
        progress: {
          tty: false,
          intervalMs: 100,
          pollMs: 10,
          write: (text) => lines.push({ at: clock, text }),
          now,
        },
      });
      const secs = (now() - t0) / 1000;
      assert.equal(out.rowsRead, ROWS);
      // The file finished (a line when due) and the final line.
      while (lines.at(-1)?.text.startsWith("batch_load: 1/1 files")) {
        const last = lines.pop()!;
        assert.match(last.text, /^batch_load: 1\/1 files, 1,000,000 rows, [\d,]+ rows\/s, done\n$/);
      }
      // Lines while the file loaded, at least 100 ms apart.
      assert.ok(lines.length >= 3, lines.map((l) => l.text).join(""));
      const parsed = lines.map(({ at, text }, i) => {
        const m = LINE.exec(text);
        assert.ok(m, text);
        if (i > 0) assert.ok(at - lines[i - 1].at >= 100, `${at - lines[i - 1].at} ms apart`);
        const num = (s: string) => Number(s.replaceAll(",", ""));
        return {
          at,
          estimated: m[1] === "~",
          rows: num(m[2]),
          rate: num(m[3]),
          eta: m[4] === "?" ? null : Number(m[4].split(" ")[0]),
        };
      });
      // Rows grow: DuckDB's estimate (~) while it reads, then the exact count read.
      const firstExact = parsed.findIndex((p) => !p.estimated && p.rows > 0);
      assert.ok(firstExact >= 0);
      for (const [i, p] of parsed.entries()) {
        if (i === 0) continue;
        const prev = parsed[i - 1];
        if (i !== firstExact) assert.ok(p.rows >= prev.rows, `line ${i}`);
        if (i > firstExact) assert.equal(p.rows, ROWS);
        // rows/s: the rows over the time since batch_load started (which was after t0).
        assert.ok(p.rate >= p.rows / ((p.at - t0) / 1000) - 1, JSON.stringify(p));
      }
      assert.equal(parsed.at(-1)!.rows, ROWS);
      // An ETA once anything is read, plausible, counting down after the read (the validation
      // and upsert report no progress: the pace of the read carries the estimate).
      for (const p of parsed.filter((p) => p.rows > 0)) {
        assert.ok(p.eta !== null && p.eta >= 1 && p.eta <= 10 * secs + 1, JSON.stringify(p));
      }
      assert.ok(parsed.at(-1)!.eta! <= parsed[firstExact].eta!);
    });
  });
});

Deno.test("progress within a group: estimated rows while reading, then an ETA at the read's pace", () => {
  let t = 0;
  const out: string[] = [];
  const p = new Progress("batch_load", 2, 1200, {
    tty: true,
    write: (s) => out.push(s),
    now: () => t,
  });
  const group = { group: 1, files: 1, bytes: 600 };
  p.group({ ...group, read: 0, rows: 0, readDone: false });
  t = 1000;
  p.group({ ...group, read: 0.5, rows: 50_000, readDone: false });
  t = 2000;
  p.group({ ...group, read: 1, rows: 100_000, readDone: true });
  // Read: a third of the group's bytes counts as done (200 of 1200 bytes in 2 s).
  assert.deepEqual(out, [
    "\rbatch_load: 0/2 files, 0 rows, 0 rows/s, ETA ?\x1b[K",
    "\rbatch_load: 0/2 files, ~50,000 rows, 50,000 rows/s, ETA 11 s\x1b[K",
    "\rbatch_load: 0/2 files, 100,000 rows, 50,000 rows/s, ETA 10 s\x1b[K",
  ]);
  // After the read the group goes on at the read's pace (2 s per third: 400 bytes at 4 s)...
  t = 4000;
  assert.equal(p.line(), "batch_load: 0/2 files, 100,000 rows, 25,000 rows/s, ETA 8 s");
  // ... and stays at 95 % while it takes longer than that.
  t = 19_000;
  assert.equal(p.line(), "batch_load: 0/2 files, 100,000 rows, 5,263 rows/s, ETA 21 s");
  t = 20_000;
  p.advance(1, 600, 100_000);
  assert.equal(out.at(-1), "\rbatch_load: 1/2 files, 100,000 rows, 5,000 rows/s, ETA 20 s\x1b[K");
  // The next group starts from its own beginning.
  p.group({ ...group, group: 2, read: 0, rows: 0, readDone: false });
  assert.equal(out.at(-1), "\rbatch_load: 1/2 files, 100,000 rows, 5,000 rows/s, ETA 20 s\x1b[K");
  t = 21_000;
  p.group({ ...group, group: 2, read: 0.3, rows: 30_000, readDone: false });
  assert.equal(out.at(-1), "\rbatch_load: 1/2 files, ~130,000 rows, 6,190 rows/s, ETA 18 s\x1b[K");
  p.finish();
  assert.equal(out.at(-1), "\rbatch_load: 1/2 files, 100,000 rows, 4,762 rows/s, ETA 21 s\x1b[K\n");

  // Not on a terminal, a group's progress prints nothing by itself (the timer prints when due).
  const logged: string[] = [];
  t = 0;
  const q = new Progress("batch_load", 1, 600, {
    tty: false,
    intervalMs: 10_000,
    write: (s) => logged.push(s),
    now: () => t,
  });
  q.group({ ...group, read: 0.5, rows: 50_000, readDone: false });
  assert.deepEqual(logged, []);
  // A load shorter than the interval: only the final line.
  t = 4000;
  q.advance(1, 600, 100_000);
  q.finish();
  assert.deepEqual(logged, ["batch_load: 1/1 files, 100,000 rows, 25,000 rows/s, done\n"]);
  // A line due when the last file finished: not printed again by finish.
  const due: string[] = [];
  t = 0;
  const r = new Progress("batch_load", 1, 600, {
    tty: false,
    intervalMs: 10_000,
    write: (s) => due.push(s),
    now: () => t,
  });
  t = 12_000;
  r.advance(1, 600, 100_000);
  r.finish();
  assert.deepEqual(due, ["batch_load: 1/1 files, 100,000 rows, 8,333 rows/s, done\n"]);
});

Deno.test("a small file done first gives no ETA until a hundredth of the bytes or a read says the pace", () => {
  let t = 0;
  const out: string[] = [];
  // The bundled company list (13 KB) before a 47 MB daily file: by the small file's pace alone
  // the ETA read 657 s for a load that took 2.6 s.
  const p = new Progress("batch_load", 2, 13_063 + 47_121_702, {
    tty: true,
    write: (s) => out.push(s),
    now: () => t,
  });
  t = 180;
  p.advance(1, 13_063, 223);
  assert.equal(out.at(-1), "\rbatch_load: 1/2 files, 223 rows, 1,239 rows/s, ETA ?\x1b[K");
  t = 700;
  const big = { group: 2, files: 1, bytes: 47_121_702 };
  p.group({ ...big, read: 0.3, rows: 300_000, readDone: false });
  assert.equal(
    out.at(-1),
    "\rbatch_load: 1/2 files, ~300,223 rows, 428,890 rows/s, ETA 7 s\x1b[K",
  );
  // Finished files that are a hundredth of the bytes are pace enough.
  const q = new Progress("batch_load", 3, 10_000, {
    tty: true,
    write: (s) => out.push(s),
    now: () => t,
  });
  t = 1000;
  q.advance(1, 99, 10);
  assert.match(out.at(-1)!, /ETA \?/);
  q.advance(1, 1, 1);
  // 100 of 10,000 bytes in 0.3 s: 9,900 bytes left take 29.7 s.
  assert.ok(out.at(-1)!.endsWith(", ETA 30 s\x1b[K"), out.at(-1));
});

/**
 * A batch load's own temporary folder (lib/ingest/run_folder.ts): what a killed run left is
 * removed by the next one, a live run's folder never, through the library and the batch_load job.
 */
import assert from "node:assert/strict";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { openRunFolder, removeDeadRuns } from "../lib/ingest/run_folder.ts";
import { processEnded, projectJob, waitForEnd } from "./support/processes.ts";
import { s3TestClient, s3TestEnv } from "./support/s3_server.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const HOLD = `${ROOT}tests/testdata/ingest/hold_run_folder.ts`;

/** A process holding a run folder under `tmpDir` (hold_run_folder.ts), and that folder. */
async function holder(tmpDir: string): Promise<{ child: Deno.ChildProcess; path: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", HOLD, tmpDir],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`hold_run_folder.ts ended: ${out}`);
    out += value;
  }
  reader.releaseLock();
  return { child, path: out.trim() };
}

/** A holder killed with SIGKILL: its folder (with its download) is left behind. */
async function deadRun(tmpDir: string): Promise<string> {
  const { child, path } = await holder(tmpDir);
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel().catch(() => {});
  assert.ok(processEnded(child.pid));
  return path;
}

const entries = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
const name = (path: string) => path.slice(path.lastIndexOf("/") + 1);

Deno.test("a run folder of a killed run is removed; a live run's is kept, its download with it", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "egx_runs_" });
  const live = await holder(tmp);
  try {
    const dead = await deadRun(tmp);
    assert.match(name(dead), /^batch_load-\d+-/);
    assert.match(name(live.path), new RegExp(`^batch_load-${live.child.pid}-`));
    assert.deepEqual(entries(`${dead}`), ["download.csv"]);
    // Not a run folder: never touched.
    await Deno.mkdir(`${tmp}/s3_old`);
    await Deno.writeTextFile(`${tmp}/egx_quotes_old.csv`, "x\n");

    const run = await openRunFolder(tmp);
    assert.deepEqual(run.removed, [dead]);
    assert.match(name(run.path), new RegExp(`^batch_load-${Deno.pid}-`));
    assert.deepEqual(
      entries(tmp),
      [name(live.path), name(run.path), "egx_quotes_old.csv", "s3_old"].sort(),
    );
    assert.deepEqual(entries(live.path), ["download.csv"]);
    // Two runs of one process do not take each other for dead either (each holds its own lock).
    const other = await openRunFolder(tmp);
    assert.deepEqual(other.removed, []);
    assert.deepEqual(await removeDeadRuns(tmp), []);
    await other.close();
    await run.close();
    assert.deepEqual(entries(tmp), [name(live.path), "egx_quotes_old.csv", "s3_old"].sort());

    // Once the live run is killed too, its folder goes with the next sweep.
    live.child.kill("SIGKILL");
    await live.child.status;
    assert.deepEqual(await removeDeadRuns(tmp), [live.path]);
    assert.deepEqual(entries(tmp), ["egx_quotes_old.csv", "s3_old"]);
  } finally {
    if (!processEnded(live.child.pid)) live.child.kill("SIGKILL");
    await live.child.status;
    await live.child.stdout.cancel().catch(() => {});
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("removeDeadRuns on a folder that does not exist finds nothing and creates nothing", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "egx_runs_none_" });
  try {
    assert.deepEqual(await removeDeadRuns(`${tmp}/var/tmp`), []);
    assert.deepEqual(entries(tmp), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a run folder that cannot be made names the temporary folder", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "egx_runs_bad_" });
  try {
    await Deno.writeTextFile(`${tmp}/file`, "");
    await assert.rejects(
      () => openRunFolder(`${tmp}/file/tmp`),
      (e: Error) => {
        assert.match(
          e.message,
          new RegExp(
            `^cannot make a run folder in ${tmp}/file/tmp \\(the temporary folder, --tmp-dir\\): `,
          ),
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("batch_load removes a killed run's folder at start, also with nothing to load, and keeps a live run's", async () => {
  const bucket = `egx-${crypto.randomUUID().slice(0, 8)}`;
  await (await s3TestClient()).send(new CreateBucketCommand({ Bucket: bucket }));
  // The job may write under var/ only (jobs.yaml): a folder of its own there.
  const rel = `var/tmp/egx_test_${crypto.randomUUID().slice(0, 8)}`;
  const tmp = `${ROOT}${rel}`;
  const dir = await Deno.makeTempDir({ prefix: "egx_runs_job_" });
  await Deno.mkdir(tmp, { recursive: true });
  const live = await holder(tmp);
  try {
    const dead = await deadRun(tmp);
    const env = { ...(await s3TestEnv(bucket)), EGX_WAREHOUSE: `${dir}/egx.duckdb` };
    const res = await (await projectJob("batch_load", env, ["--tmp-dir", rel])).output();
    const out = new TextDecoder().decode(res.stdout);
    assert.equal(res.code, 78, out + new TextDecoder().decode(res.stderr));
    assert.equal(
      out,
      `batch_load: removed ${rel}/${name(dead)}, left by a run that is no longer running\n` +
        `batch_load: nothing to do: no .csv files at all in s3://${bucket}/ (EGX_LANDING)\n`,
    );
    assert.deepEqual(entries(tmp), [name(live.path)]);
    assert.deepEqual(entries(live.path), ["download.csv"]);
  } finally {
    live.child.kill("SIGKILL");
    await live.child.status;
    await live.child.stdout.cancel().catch(() => {});
    assert.ok(await waitForEnd(live.child.pid));
    await Deno.remove(tmp, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The batch branch of the pipeline: what is new in the landing store (s3_check) and loading it
 * (batch_load). Both compute the same difference between the landing store and the warehouse's
 * load log, so batch_load needs nothing handed over from s3_check and two runs cannot disagree
 * about a file: a file is pending until the most recent LOADED row of its key is for its ETag.
 */
import type { Warehouse } from "../warehouse/warehouse.ts";
import type { FetchedFile, Landing } from "./landing.ts";
import { type LandingObject, loadFiles, type LoadOutcome, recordFailure } from "./load.ts";
import { Progress, type ProgressOptions } from "./progress.ts";

export interface PendingObject extends LandingObject {
  /** `new`: the key was never loaded; `changed`: its most recent load was of another ETag. */
  change: "new" | "changed";
}

/**
 * Landing objects whose current version is not the one their key's most recent successful load
 * read: what the warehouse holds of a key comes from that load. An older load of the same version
 * does not count: an object put back to content loaded before (the same content has the same S3
 * ETag) loads again over the later version's rows. A version recorded by an earlier release in
 * another spelling (Landing.olderVersion: a local file's `<size>-<mtime>`) counts as that load's
 * when the load started after the object's last change.
 */
export async function pendingObjects(
  wh: Warehouse,
  landing: Landing,
  opts: { signal?: AbortSignal } = {},
): Promise<PendingObject[]> {
  const objects = await landing.list(opts.signal);
  const rows = await wh.query<{ K: string; E: string; S: string }>(
    "SELECT FILE_KEY AS K, ETAG AS E, STARTED_AT AS S FROM OPERATIONAL.TBL_LOAD_LOG " +
      "WHERE STATUS = 'LOADED'",
    [],
    { signal: opts.signal, label: "s3_check" },
  );
  // Per key: the ETag of its most recent load and when that load started, epoch ms.
  const latest = new Map<string, { etag: string; at: number }>();
  for (const r of rows) {
    const at = Date.parse(r.S);
    const seen = latest.get(r.K);
    if (!seen || at > seen.at) latest.set(r.K, { etag: r.E, at });
  }
  const out: PendingObject[] = [];
  for (const o of objects) {
    const last = latest.get(o.key);
    if (!last) out.push({ ...o, change: "new" });
    else if (last.etag !== o.etag) {
      const older = landing.olderVersion?.(o);
      if (older?.etag !== last.etag || !(last.at >= older.unchangedSince)) {
        out.push({ ...o, change: "changed" });
      }
    }
  }
  return out;
}

export interface BatchOptions {
  runId?: string;
  signal?: AbortSignal;
  /** Where S3 downloads go while they load (default var/tmp). */
  tmpDir?: string;
  progress?: ProgressOptions | false;
  /** "Now" for the checks (LoadOptions.asOf; default: the real clock). */
  asOf?: Date;
}

/**
 * Load every pending object; returns one outcome per object (failures included). An object that
 * cannot be downloaded is recorded FAILED in the load log (its outcome comes first) and the others
 * are loaded all the same.
 */
export async function runBatch(
  wh: Warehouse,
  landing: Landing,
  pending: readonly PendingObject[],
  opts: BatchOptions = {},
): Promise<LoadOutcome[]> {
  const tmpDir = opts.tmpDir ?? "var/tmp";
  const progress = opts.progress === false ? null : new Progress(
    "batch_load",
    pending.length,
    pending.reduce((a, p) => a + p.size, 0),
    opts.progress,
  );
  const fetched: FetchedFile[] = [];
  const unfetched: LoadOutcome[] = [];
  try {
    for (const p of pending) {
      opts.signal?.throwIfAborted();
      try {
        fetched.push(await landing.fetch(p, tmpDir, opts.signal));
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        // An object that cannot be read (archived to Glacier, access denied...) fails alone and
        // stays pending; the others load as usual.
        const message = e instanceof Error ? e.message : String(e);
        const reason = message.includes(p.key) ? message : `${p.key}: cannot fetch: ${message}`;
        unfetched.push(await recordFailure(wh, p, null, reason, { runId: opts.runId }));
        progress?.advance(1, p.size, 0);
      }
    }
    const sizes = new Map(fetched.map((f) => [f.key, f.size]));
    return unfetched.concat(
      await loadFiles(wh, fetched, {
        runId: opts.runId,
        signal: opts.signal,
        tmpDir,
        asOf: opts.asOf,
        onProgress: progress ? (p) => progress.group(p) : undefined,
        progressIntervalMs: opts.progress ? opts.progress.pollMs : undefined,
        onLoaded: (o) =>
          progress?.advance(
            o.length,
            o.reduce((a, x) => a + (sizes.get(x.key) ?? 0), 0),
            o.reduce((a, x) => a + x.rowsRead, 0),
          ),
      }),
    );
  } finally {
    progress?.finish();
    for (const f of fetched) await f.release();
  }
}

/**
 * A readable summary of a batch, one line per file. A failure's message that already starts with
 * the file's key (e.g. an unknown format) does not get it twice.
 */
export function describeOutcomes(outcomes: readonly LoadOutcome[]): string {
  return outcomes.map((o) =>
    o.status === "LOADED"
      ? `  LOADED  ${o.key} (${o.format}): ${o.rowsRead} read, ${o.rowsLoaded} loaded, ` +
        `${o.rowsQuarantined} quarantined`
      : `  FAILED  ${o.error?.startsWith(`${o.key}: `) ? o.error : `${o.key}: ${o.error}`}`
  ).join("\n");
}

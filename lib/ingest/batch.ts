/**
 * The batch branch of the pipeline: what is new in the landing store (s3_check) and loading it
 * (batch_load). Both compute the same difference between the landing store and the warehouse's
 * load log, so batch_load needs nothing handed over from s3_check and two runs cannot disagree
 * about a file: a file is pending until the most recent LOADED row of its key is for its ETag,
 * or while that load's quarantine names tickers listed since (a reload, reload.ts).
 *
 * batch_load fetches an S3 backlog one group at a time (runBatch): only the files that load
 * together are on disk at once, in a folder of the run's own (run_folder.ts) that the next run
 * removes should this one be killed.
 */
import type { Warehouse } from "../warehouse/warehouse.ts";
import { detectFormat } from "./formats.ts";
import type { FetchedFile, Landing } from "./landing.ts";
import {
  type Detection,
  type LandingObject,
  loadFiles,
  loadGroups,
  type LoadOutcome,
  recordFailure,
} from "./load.ts";
import { Progress, type ProgressOptions } from "./progress.ts";
import { type ListedSince, listedSince, versionId } from "./reload.ts";
import { openRunFolder } from "./run_folder.ts";

export interface PendingObject extends LandingObject {
  /**
   * `new`: the key was never loaded; `changed`: its most recent load was of another ETag;
   * `reload`: its most recent load (of this version, recorded as `reloadOf`: this ETag or its
   * older spelling) quarantined rows of tickers listed since that load started (`listed`,
   * reload.ts).
   */
  change: "new" | "changed" | "reload";
  listed?: ListedSince;
}

/**
 * What is pending (pendingObjects), and the file versions whose quarantine names tickers listed
 * since but that can no longer be loaded again: their key is not in the landing store any more.
 */
export interface PendingWork {
  pending: PendingObject[];
  unreloadable: ListedSince[];
  /** How many .csv files the landing store holds. */
  listed: number;
}

/**
 * Why a job has nothing to load (its "nothing to do" reason): a landing store without any .csv
 * file says so, as a mistyped EGX_LANDING prefix or folder looks the same.
 */
export function nothingPending(work: PendingWork, where: string): string {
  return work.listed === 0
    ? `no .csv files at all in ${where} (EGX_LANDING)`
    : `no new or changed files in ${where}`;
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
  return (await pendingWork(wh, landing, opts)).pending;
}

/**
 * pendingObjects, and the versions that should be loaded again for tickers listed since but
 * whose file is gone from the landing store (PendingWork.unreloadable).
 */
export async function pendingWork(
  wh: Warehouse,
  landing: Landing,
  opts: { signal?: AbortSignal } = {},
): Promise<PendingWork> {
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
  const listed = await listedSince(wh, opts);
  const out: PendingObject[] = [];
  for (const o of objects) {
    const last = latest.get(o.key);
    if (!last) out.push({ ...o, change: "new" });
    else if (last.etag !== o.etag) {
      const older = landing.olderVersion?.(o);
      if (older?.etag !== last.etag || !(last.at >= older.unchangedSince)) {
        out.push({ ...o, change: "changed" });
        continue;
      }
    }
    // Loaded as it is now (under this version, or its older spelling): load it again if that
    // load quarantined rows of tickers listed since.
    const relisted = last && listed.get(versionId(o.key, last.etag));
    if (relisted) out.push({ ...o, change: "reload", reloadOf: last.etag, listed: relisted });
  }
  const landed = new Set(objects.map((o) => o.key));
  const unreloadable = [...listed.values()].filter((l) =>
    !landed.has(l.key) && latest.get(l.key)?.etag === l.etag
  );
  return { pending: out, unreloadable, listed: objects.length };
}

export interface BatchOptions {
  runId?: string;
  signal?: AbortSignal;
  /**
   * Where S3 downloads and screened copies go while they load (default var/tmp): a folder of this
   * run's own in it (run_folder.ts), removed at the end; folders dead runs left are removed first.
   */
  tmpDir?: string;
  progress?: ProgressOptions | false;
  /** "Now" for the checks (LoadOptions.asOf; default: the real clock). */
  asOf?: Date;
  /** Most files loaded (and so downloaded) together (LoadOptions.maxGroupFiles, default 64). */
  maxGroupFiles?: number;
}

/** Headers read at once (each at most HEADER_BYTES, in memory). */
const HEADER_READS = 8;

/**
 * Load every pending object; returns one outcome per object (failures included), in load order.
 *
 * Downloads are bounded: every object's header is read first (its first line, a ranged GET on
 * S3: nothing on disk), which decides its format and so the load order and groups (loadGroups,
 * as loadFiles would decide them); then group after group, its objects are downloaded, loaded and
 * removed before the next group's are fetched. At most one group's downloads (one file, or up to
 * maxGroupFiles of one format and header that load in one transaction) are on disk at a time.
 *
 * An object that cannot be read (its header: its outcome comes before the loads; or its download,
 * when its group loads: archived, access denied, cut short, replaced since its header was read)
 * is recorded FAILED in the load log and the others are loaded all the same.
 */
export async function runBatch(
  wh: Warehouse,
  landing: Landing,
  pending: readonly PendingObject[],
  opts: BatchOptions = {},
): Promise<LoadOutcome[]> {
  const run = await openRunFolder(opts.tmpDir ?? "var/tmp");
  const progress = opts.progress === false ? null : new Progress(
    "batch_load",
    pending.length,
    pending.reduce((a, p) => a + p.size, 0),
    opts.progress,
  );
  const outcomes: LoadOutcome[] = [];
  // An object that cannot be read (archived to Glacier, access denied...) fails alone and stays
  // pending; the others load as usual.
  const unreadable = async (p: LandingObject, format: string | null, e: unknown) => {
    if (opts.signal?.aborted) throw e;
    const message = e instanceof Error ? e.message : String(e);
    const reason = message.includes(p.key) ? message : `${p.key}: cannot fetch: ${message}`;
    outcomes.push(await recordFailure(wh, p, format, reason, { runId: opts.runId }));
    progress?.advance(1, p.size, 0);
  };
  try {
    const headers = await mapBounded(
      pending,
      HEADER_READS,
      (p) =>
        landing.readHeader(p, opts.signal).then(
          (h) => ({ ok: true as const, h }),
          (e) => ({ ok: false as const, e }),
        ),
    );
    const detections: Detection<LandingObject>[] = [];
    for (const [i, p] of pending.entries()) {
      const read = headers[i];
      if (!read.ok) {
        await unreadable(p, null, read.e);
        continue;
      }
      // The version whose header was read is the one fetched and recorded. A reload stays one
      // while that is the version listed (p.etag; its earlier load may be recorded under an older
      // spelling, p.reloadOf: pendingWork) and until it is read (load.ts, currentVersions).
      const obj: LandingObject = {
        key: p.key,
        etag: read.h.etag,
        size: read.h.size,
        modified: read.h.modified ?? p.modified,
      };
      if (p.reloadOf !== undefined && p.etag === read.h.etag) obj.reloadOf = p.reloadOf;
      try {
        detections.push({
          file: obj,
          header: read.h.header,
          detected: detectFormat(p.key, read.h.header),
        });
      } catch (e) {
        // As loadFiles records a file of no known format.
        outcomes.push(await recordFailure(wh, obj, null, e, { runId: opts.runId }));
        progress?.advance(1, obj.size, 0);
      }
    }
    for (const group of loadGroups(detections, opts.maxGroupFiles)) {
      opts.signal?.throwIfAborted();
      const fetched: FetchedFile[] = [];
      try {
        for (const { file, detected } of group) {
          opts.signal?.throwIfAborted();
          try {
            fetched.push(await landing.fetch(file, run.path, opts.signal));
          } catch (e) {
            await unreadable(file, detected.spec.id, e);
          }
        }
        if (fetched.length === 0) continue;
        const sizes = new Map(fetched.map((f) => [f.key, f.size]));
        // The group's files have one format and header: loadFiles loads them as one group.
        outcomes.push(
          ...await loadFiles(wh, fetched, {
            runId: opts.runId,
            signal: opts.signal,
            tmpDir: run.path,
            asOf: opts.asOf,
            maxGroupFiles: opts.maxGroupFiles,
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
        for (const f of fetched) await f.release();
      }
    }
    return outcomes;
  } finally {
    progress?.finish();
    await run.close();
  }
}

/** `fn` over `items`, at most `limit` at a time; results in the items' order. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
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

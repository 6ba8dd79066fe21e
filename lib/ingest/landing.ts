/**
 * The landing store: a local folder (the embedded default, holding the bundled sample) or an S3
 * bucket/prefix on AWS S3 or any S3-API server (custom endpoint, path-style addressing).
 *
 * Objects are identified by key and ETag: an S3 object's ETag (it changes with the content); for a
 * local file, its version (localFileVersion): size, modification time, change time and inode, cheap
 * to read and changed by every rewrite, also one that keeps the size and sets the old modification
 * time back (`cp -p`, `rsync -t`, `touch -d`).
 * Only `.csv` objects are candidates for loading; other files (licences, notes) are ignored.
 */
import { ConfigError, type LandingConfig } from "../config/config.ts";
import type { LandingObject, LocalFile } from "./load.ts";

export interface Landing {
  /** Where it is, for messages (never with credentials). */
  readonly where: string;
  /** Every .csv object, sorted by key (compareKeys), with its last modification if known. */
  list(signal?: AbortSignal): Promise<LandingObject[]>;
  /**
   * The object's first line (its header; at most HEADER_BYTES are read, never the whole object)
   * and the version and size it is of: what decides its format, its place in the load order and
   * its group before anything is downloaded (batch.ts).
   */
  readHeader(obj: LandingObject, signal?: AbortSignal): Promise<ObjectHeader>;
  /**
   * A local file with the object's content: the file itself for a folder (read in place, at its
   * version then: LocalFile.current), a download (streamed to disk, never held in memory) under
   * `tmpDir` for S3, of version `obj.etag` only: an object replaced since its header was read
   * fails to fetch (ObjectChangedError). `release` removes a download.
   */
  fetch(obj: LandingObject, tmpDir: string, signal?: AbortSignal): Promise<FetchedFile>;
  /**
   * The version `obj` was recorded as by an earlier release, if the store's versions were spelled
   * otherwise then, and the instant (epoch ms) from which the object is known to be unchanged: a
   * load of that older version that started at or after it read the object's current content.
   */
  olderVersion?(obj: LandingObject): { etag: string; unchangedSince: number } | undefined;
}

/** A landing object as a local file; `release` removes it when it is a download. */
export type FetchedFile = LocalFile & { release(): Promise<void> };

/**
 * An object's first line, and the version (etag), size and last modification (epoch ms, when the
 * store tells it: LandingObject.modified) it was read from.
 */
export interface ObjectHeader {
  header: string;
  etag: string;
  size: number;
  modified?: number;
}

/** The most of an object read for its header (as loadFiles reads a local file's). */
export const HEADER_BYTES = 65536;

/** The first line of `bytes` (the start of a file), without its line break. */
export function firstLine(bytes: Uint8Array): string {
  // Decoded up to the line break only: a slice of the decoded 64 KiB would keep all of it alive
  // for as long as the header is held (a backlog's headers are held for the whole run).
  const head = bytes.subarray(0, HEADER_BYTES);
  const nl = head.indexOf(0x0a);
  return new TextDecoder().decode(nl === -1 ? head : head.subarray(0, nl)).replace(/\r$/, "");
}

/**
 * The object changed after its header was read: it is not loaded (its format and group were
 * decided on the other version) and stays pending, so the next load reads it again.
 */
export class ObjectChangedError extends Error {
  override name = "ObjectChangedError";
}

/** Only .csv objects are candidates for loading. */
export const isCsv = (key: string) => key.toLowerCase().endsWith(".csv");

/**
 * Key order: by Unicode code point, as S3 lists keys (UTF-8 bytes) and `ls` lists a folder in the
 * C locale, so `prices.csv` comes before `prices_fix.csv` (a locale's collation, localeCompare,
 * puts `_` before `.`). JavaScript's `<` compares UTF-16 units, which puts U+E000-U+FFFF after
 * the code points beyond U+FFFF (surrogate pairs, 0xD800-0xDFFF): `lift` moves those pairs above.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x !== y) return lift(x) - lift(y);
  }
  return a.length - b.length;
}

const lift = (unit: number) =>
  unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit;

/**
 * A local file's version (its ETag), size and modification time (LandingObject.modified): the
 * version is `<size>-<mtime ms>-<ctime s>-<inode>`.
 * - Size and modification time: what changes on an ordinary rewrite.
 * - Change time (ctime): set by the system on every write or change of the file's metadata (never
 *   by a user), so a rewrite that keeps the size and sets the modification time back (`cp -p`,
 *   `rsync -t`, `touch -d`) still shows. Whole seconds: all Deno reports on Linux (its ctime has
 *   no milliseconds), and kept so should it ever report more, lest every file look changed once.
 *   A chmod, a hard link made or removed, or a rename of the file itself also moves it: the file
 *   is then loaded once more, which changes no row, except keys a later file loaded over (README,
 *   "A folder file's version").
 * - Inode: a file replaced by another (`rsync -t` and editors write a new file and rename it over
 *   the old) is another inode even within the same second.
 * Reading a file changes none of them, so an untouched file keeps its version.
 * Left out: a rewrite in place (same inode) with the same size and modification time, made in the
 * same clock second as the file's previous change (ctime), is not seen.
 */
export async function localFileVersion(
  path: string,
): Promise<{ etag: string; size: number; modified: number }> {
  const st = await Deno.stat(path);
  const ctime = Math.floor((st.ctime?.getTime() ?? 0) / 1000);
  const mtime = st.mtime?.getTime() ?? 0;
  return { etag: `${st.size}-${mtime}-${ctime}-${st.ino ?? 0}`, size: st.size, modified: mtime };
}

const LOCAL_VERSION = /^(\d+-\d+)-(\d+)-\d+$/;

/**
 * A local file's version as releases before the change time and inode were part of it recorded it
 * (`<size>-<mtime ms>`), and when the file last changed (the end of its ctime second). A load of
 * that older version that started after then read the current content, so the file need not be
 * loaded again (every loaded file would be, once, after an upgrade); one changed since (its ctime
 * later than that load) is loaded, and recorded under its full version from then on.
 */
export function olderLocalVersion(
  etag: string,
): { etag: string; unchangedSince: number } | undefined {
  const m = LOCAL_VERSION.exec(etag);
  return m ? { etag: m[1], unchangedSince: (Number(m[2]) + 1) * 1000 } : undefined;
}

export class LocalLanding implements Landing {
  constructor(readonly dir: string) {}

  get where(): string {
    return this.dir;
  }

  async list(signal?: AbortSignal): Promise<LandingObject[]> {
    const out: LandingObject[] = [];
    // Symbolic links are followed (a landing folder of links to files kept elsewhere); a folder
    // reached again through a link is not walked twice, and a dangling link lands nothing.
    const walked = new Set<string>();
    const walk = async (rel: string) => {
      signal?.throwIfAborted();
      const abs = rel ? `${this.dir}/${rel}` : this.dir;
      const real = await Deno.realPath(abs);
      if (walked.has(real)) return;
      walked.add(real);
      for await (const e of Deno.readDir(abs)) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        let { isDirectory, isFile } = e;
        if (e.isSymlink) {
          try {
            ({ isDirectory, isFile } = await Deno.stat(`${this.dir}/${key}`));
          } catch (err) {
            if (err instanceof Deno.errors.NotFound) continue; // dangling
            throw err;
          }
        }
        if (isDirectory) await walk(key);
        else if (isFile && isCsv(key)) {
          out.push({ key, ...await localFileVersion(`${this.dir}/${key}`) });
        }
      }
    };
    try {
      await walk("");
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        // Its message says it all: no "(cause: NotFound: ... realpath ...)" after it.
        throw new ConfigError(`landing folder ${this.dir} does not exist (EGX_LANDING)`);
      }
      throw e;
    }
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async readHeader(obj: LandingObject): Promise<ObjectHeader> {
    const path = `${this.dir}/${obj.key}`;
    const f = await Deno.open(path, { read: true });
    try {
      const buf = new Uint8Array(HEADER_BYTES);
      const n = await f.read(buf) ?? 0;
      return { header: firstLine(buf.subarray(0, n)), ...await localFileVersion(path) };
    } finally {
      f.close();
    }
  }

  fetch(obj: LandingObject): Promise<FetchedFile> {
    const path = `${this.dir}/${obj.key}`;
    return Promise.resolve({
      ...obj,
      path,
      // The file itself is read: it can be rewritten after the listing, or while it is read.
      current: () => localFileVersion(path),
      release: () => Promise.resolve(),
    });
  }

  olderVersion(obj: LandingObject): { etag: string; unchangedSince: number } | undefined {
    return olderLocalVersion(obj.etag);
  }
}

/** The configured landing store (the S3 client is loaded only for an S3 landing). */
export async function openLanding(config: LandingConfig): Promise<Landing> {
  if (config.kind !== "s3") return new LocalLanding(config.dir);
  const { S3Landing } = await import("./landing_s3.ts");
  return new S3Landing(config);
}

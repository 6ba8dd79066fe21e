/**
 * The landing store: a local folder (the embedded default, holding the bundled sample) or an S3
 * bucket/prefix on AWS S3 or any S3-API server (custom endpoint, path-style addressing).
 *
 * Objects are identified by key and ETag: an S3 object's ETag; for a local file, its size and
 * modification time (`<size>-<mtime ms>`, cheap and changes whenever the file is rewritten).
 * Only `.csv` objects are candidates for loading; other files (licences, notes) are ignored.
 */
import type { LandingConfig } from "../config/config.ts";
import type { LandingObject, LocalFile } from "./load.ts";

export interface Landing {
  /** Where it is, for messages (never with credentials). */
  readonly where: string;
  /** Every .csv object, sorted by key. */
  list(signal?: AbortSignal): Promise<LandingObject[]>;
  /**
   * A local file with the object's content: the file itself for a folder, a download (streamed
   * to disk, never held in memory) under `tmpDir` for S3. `release` removes a download.
   */
  fetch(obj: LandingObject, tmpDir: string, signal?: AbortSignal): Promise<FetchedFile>;
}

/** A landing object as a local file; `release` removes it when it is a download. */
export type FetchedFile = LocalFile & { release(): Promise<void> };

/** Only .csv objects are candidates for loading. */
export const isCsv = (key: string) => key.toLowerCase().endsWith(".csv");

/** A local file's version: its ETag (`<size>-<mtime ms>`) and size. */
async function fileVersion(path: string): Promise<{ etag: string; size: number }> {
  const st = await Deno.stat(path);
  return { etag: `${st.size}-${st.mtime?.getTime() ?? 0}`, size: st.size };
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
          out.push({ key, ...await fileVersion(`${this.dir}/${key}`) });
        }
      }
    };
    try {
      await walk("");
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(`landing folder ${this.dir} does not exist (EGX_LANDING)`, { cause: e });
      }
      throw e;
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  fetch(obj: LandingObject): Promise<FetchedFile> {
    const path = `${this.dir}/${obj.key}`;
    return Promise.resolve({
      ...obj,
      path,
      // The file itself is read: it can be rewritten after the listing, or while it is read.
      current: () => fileVersion(path),
      release: () => Promise.resolve(),
    });
  }
}

/** The configured landing store (the S3 client is loaded only for an S3 landing). */
export async function openLanding(config: LandingConfig): Promise<Landing> {
  if (config.kind !== "s3") return new LocalLanding(config.dir);
  const { S3Landing } = await import("./landing_s3.ts");
  return new S3Landing(config);
}

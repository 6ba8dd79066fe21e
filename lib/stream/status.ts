/**
 * Status files: the producer and consumer each rewrite `<statusDir>/<name>.json` (atomically:
 * write a temporary file, then rename) after their work and on a heartbeat timer, so that
 * `health_check`, a separate process, can tell whether they are alive and what they did.
 */

export type StatusName = "producer" | "consumer";

/** A status document as written: any JSON object with `pid` and `updatedAt`. */
export interface StatusDoc {
  pid: number;
  updatedAt: string;
  [k: string]: unknown;
}

function statusPath(dir: string, name: StatusName): string {
  return `${dir.replace(/\/$/, "")}/${name}.json`;
}

/** Write a status document atomically (never a half-written file for the reader). */
export function writeStatus(dir: string, name: StatusName, doc: StatusDoc): void {
  Deno.mkdirSync(dir, { recursive: true });
  const path = statusPath(dir, name);
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(doc, null, 2) + "\n");
  Deno.renameSync(tmp, path);
}

/** Read a status document, or undefined when there is none (never written). */
export async function readStatus(dir: string, name: StatusName): Promise<StatusDoc | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(statusPath(dir, name));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  return JSON.parse(text) as StatusDoc;
}

/**
 * Keep a status file fresh: `update(doc)` writes `doc` now, and every `everyMs` the latest
 * document is written again with a new `updatedAt`, until `stop()` (which writes it once more).
 */
export function statusWriter(
  dir: string,
  name: StatusName,
  everyMs = 10_000,
): { update(doc: { pid: number }): void; stop(): void } {
  let current: { pid: number } | undefined;
  const write = () => {
    if (current) writeStatus(dir, name, { ...current, updatedAt: new Date().toISOString() });
  };
  const timer = setInterval(write, everyMs);
  return {
    update(doc) {
      current = doc;
      write();
    },
    stop() {
      clearInterval(timer);
      write();
    },
  };
}

/**
 * A DuckDB warehouse file held by another process, as a long batch load holds it: the server's
 * queries then wait for the lock and fail with WarehouseBusyError.
 *
 *   await using holder = await holdWarehouse(path, { before: "UPDATE ..." });
 *   ... // the file is held
 *   await holder.release();
 *
 * `before` is committed and the file closed first (its data version changes), then the file is
 * opened again and held, without a write, until `release` (the version stays as it is).
 * Run as a script (by `holdWarehouse`): deno run ... busy_warehouse.ts PATH [SQL]; it prints
 * "holding" once it holds the file and lets go when its stdin closes.
 */
import { openWarehouse } from "../../lib/warehouse/warehouse.ts";

export interface HeldWarehouse {
  /** Let go of the file and wait for the holder to exit (exit code 0 asserted). */
  release(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function holdWarehouse(
  path: string,
  opts: { before?: string } = {},
): Promise<HeldWarehouse> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      new URL(import.meta.url).pathname,
      path,
      ...(opts.before ? [opts.before] : []),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await stdin.close();
    await lines.cancel();
    const status = await child.status;
    if (status.code !== 0) throw new Error(`the warehouse holder exited ${status.code}`);
  };
  let out = "";
  while (!out.includes("holding\n")) {
    const { value, done } = await lines.read();
    if (done) {
      await release();
      throw new Error(`the warehouse holder ended before holding the file: ${out}`);
    }
    out += value;
  }
  return { release, [Symbol.asyncDispose]: release };
}

if (import.meta.main) {
  const [path, before] = Deno.args;
  if (before) {
    const writer = await openWarehouse({ kind: "duckdb", path }, { migrate: false, lingerMs: 0 });
    await writer.transaction((s) => s.execute(before));
    await writer.close();
  }
  const wh = await openWarehouse({ kind: "duckdb", path }, { migrate: false, lingerMs: 0 });
  try {
    await wh.transaction(async (s) => {
      await s.query("SELECT 1");
      console.log("holding");
      for await (const _ of Deno.stdin.readable) { /* until the test closes stdin */ }
    });
  } finally {
    await wh.close();
  }
}

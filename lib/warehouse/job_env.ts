/**
 * `process.env` as a job's sandbox has it, for npm packages loaded after this module.
 *
 * The runner starts a job with `--allow-env=<its declared names>` in an environment cleared to
 * those names. npm packages read `process.env` freely, and there every other read throws
 * NotCapable: snowflake-sdk's dependencies test `"CI" in process.env` and list every variable
 * (debug's `DEBUG_*` options) as they load, so no job could use Snowflake. Here a granted name
 * reads its value, any other reads as unset (which it is: the environment holds only the
 * declared names), a listing gives what was set here, and writes stay in this process's view.
 * With --allow-env for every name (tests, `deno task` tools) nothing changes.
 */
import process from "node:process";

function granted(name: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  } catch {
    return false; // not a variable name
  }
}

if (Deno.permissions.querySync({ name: "env" }).state !== "granted") {
  const real = process.env;
  const written = new Map<string, string>();
  const deleted = new Set<string>();
  const read = (k: string | symbol): string | undefined =>
    typeof k !== "string" || deleted.has(k)
      ? undefined
      : written.has(k)
      ? written.get(k)
      : granted(k)
      ? real[k]
      : undefined;
  process.env = new Proxy({} as Record<string, string>, {
    get: (_t, k) => read(k),
    has: (_t, k) => read(k) !== undefined,
    set: (_t, k, v) => {
      if (typeof k === "string") {
        written.set(k, String(v));
        deleted.delete(k);
      }
      return true;
    },
    deleteProperty: (_t, k) => {
      if (typeof k === "string") {
        written.delete(k);
        deleted.add(k);
      }
      return true;
    },
    ownKeys: () => [...written.keys()],
    getOwnPropertyDescriptor: (_t, k) => {
      const value = read(k);
      return value === undefined
        ? undefined
        : { value, enumerable: true, configurable: true, writable: true };
    },
  });
}

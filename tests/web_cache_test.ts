/**
 * The server's result cache (lib/web/result_cache.ts): one computation per key and data version
 * however many requests ask at once, a new version recomputes, failures are not kept, and a busy
 * warehouse can be answered with the previous version's value.
 */
import assert from "node:assert/strict";
import { type Cached, ResultCache } from "../lib/web/result_cache.ts";

const fresh = (value: string): Cached<string> => ({ value, stale: false });

/** A computation that counts its calls and resolves when told to. */
function counted(value: string) {
  let calls = 0;
  const gate = Promise.withResolvers<void>();
  return {
    get calls() {
      return calls;
    },
    release: () => gate.resolve(),
    compute: async () => {
      calls++;
      await gate.promise;
      return value;
    },
  };
}

Deno.test("concurrent requests for one key and version share one computation", async () => {
  const cache = new ResultCache<string>();
  const c = counted("snapshot");
  const waiting = Array.from({ length: 50 }, () => cache.get("k", "v1", c.compute));
  c.release();
  assert.deepEqual(await Promise.all(waiting), Array(50).fill(fresh("snapshot")));
  assert.equal(c.calls, 1);
  assert.deepEqual(await cache.get("k", "v1", () => Promise.resolve("other")), fresh("snapshot"));
});

Deno.test("a new data version computes again and replaces the old value", async () => {
  const cache = new ResultCache<string>();
  assert.deepEqual(await cache.get("k", "v1", () => Promise.resolve("old")), fresh("old"));
  assert.deepEqual(await cache.get("k", "v2", () => Promise.resolve("new")), fresh("new"));
  assert.deepEqual(await cache.get("k", "v2", () => Promise.resolve("unused")), fresh("new"));
});

Deno.test("a failed computation is not cached: the next request tries again", async () => {
  const cache = new ResultCache<string>();
  await assert.rejects(cache.get("k", "v1", () => Promise.reject(new Error("locked"))), /locked/);
  assert.deepEqual(await cache.get("k", "v1", () => Promise.resolve("fine")), fresh("fine"));
});

const busy = (e: unknown) => e instanceof Error && e.message === "busy";

Deno.test("with staleOnError a failure answers with the previous version's value", async () => {
  const cache = new ResultCache<string>();
  await cache.get("k", "v1", () => Promise.resolve("v1 value"));
  const stale = await cache.get("k", "v2", () => Promise.reject(new Error("busy")), {
    staleOnError: busy,
  });
  assert.deepEqual(stale, { value: "v1 value", stale: true });
  // Other errors are reported, and the old value stays for the next busy moment.
  await assert.rejects(
    cache.get("k", "v2", () => Promise.reject(new Error("syntax")), { staleOnError: busy }),
    /syntax/,
  );
  assert.deepEqual(await cache.get("k", "v1", () => Promise.resolve("unused")), fresh("v1 value"));
  // Without an older value there is nothing to fall back on.
  await assert.rejects(
    cache.get("new", "v2", () => Promise.reject(new Error("busy")), { staleOnError: busy }),
    /busy/,
  );
});

Deno.test("every request waiting for a computation that fails gets the stale value", async () => {
  const cache = new ResultCache<string>();
  await cache.get("k", "v1", () => Promise.resolve("v1 value"));
  const gate = Promise.withResolvers<void>();
  const failing = async () => {
    await gate.promise;
    throw new Error("busy");
  };
  const first = cache.get("k", "v2", failing, { staleOnError: busy });
  const joined = cache.get("k", "v2", () => Promise.resolve("unused"), { staleOnError: busy });
  // A third version asked meanwhile falls back past the failed v2 to v1 as well.
  const later = cache.get("k", "v3", failing, { staleOnError: busy });
  gate.resolve();
  assert.deepEqual(await Promise.all([first, joined, later]), [
    { value: "v1 value", stale: true },
    { value: "v1 value", stale: true },
    { value: "v1 value", stale: true },
  ]);
  // The failures are not kept: v1 is still there, and v2 is computed when asked again.
  assert.deepEqual(await cache.get("k", "v1", () => Promise.resolve("unused")), fresh("v1 value"));
  assert.deepEqual(
    await cache.get("k", "v2", () => Promise.resolve("v2 value")),
    fresh("v2 value"),
  );
});

Deno.test("the least recently used key is evicted beyond maxEntries", async () => {
  const cache = new ResultCache<string>({ maxEntries: 2 });
  await cache.get("a", "v", () => Promise.resolve("a1"));
  await cache.get("b", "v", () => Promise.resolve("b1"));
  await cache.get("a", "v", () => Promise.resolve("unused")); // a is now the most recent
  await cache.get("c", "v", () => Promise.resolve("c1")); // evicts b
  assert.deepEqual(await cache.get("a", "v", () => Promise.resolve("a2")), fresh("a1"));
  assert.deepEqual(await cache.get("b", "v", () => Promise.resolve("b2")), fresh("b2"));
});

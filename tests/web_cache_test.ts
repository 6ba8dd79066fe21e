/**
 * The server's result cache (lib/web/result_cache.ts): one computation per key and data version
 * however many requests ask at once, a new version recomputes, failures are not kept, and a busy
 * warehouse can be answered with the previous version's value.
 */
import assert from "node:assert/strict";
import { ResultCache } from "../lib/web/result_cache.ts";

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
  assert.deepEqual(await Promise.all(waiting), Array(50).fill("snapshot"));
  assert.equal(c.calls, 1);
  assert.equal(await cache.get("k", "v1", () => Promise.resolve("other")), "snapshot");
});

Deno.test("a new data version computes again and replaces the old value", async () => {
  const cache = new ResultCache<string>();
  assert.equal(await cache.get("k", "v1", () => Promise.resolve("old")), "old");
  assert.equal(await cache.get("k", "v2", () => Promise.resolve("new")), "new");
  assert.equal(await cache.get("k", "v2", () => Promise.resolve("unused")), "new");
});

Deno.test("a failed computation is not cached: the next request tries again", async () => {
  const cache = new ResultCache<string>();
  await assert.rejects(cache.get("k", "v1", () => Promise.reject(new Error("locked"))), /locked/);
  assert.equal(await cache.get("k", "v1", () => Promise.resolve("fine")), "fine");
});

Deno.test("with staleOnError a failure answers with the previous version's value", async () => {
  const cache = new ResultCache<string>();
  const busy = (e: unknown) => e instanceof Error && e.message === "busy";
  await cache.get("k", "v1", () => Promise.resolve("v1 value"));
  const stale = await cache.get("k", "v2", () => Promise.reject(new Error("busy")), {
    staleOnError: busy,
  });
  assert.equal(stale, "v1 value");
  // Other errors are reported, and the old value stays for the next busy moment.
  await assert.rejects(
    cache.get("k", "v2", () => Promise.reject(new Error("syntax")), { staleOnError: busy }),
    /syntax/,
  );
  assert.equal(await cache.get("k", "v1", () => Promise.resolve("unused")), "v1 value");
  // Without an older value there is nothing to fall back on.
  await assert.rejects(
    cache.get("new", "v2", () => Promise.reject(new Error("busy")), { staleOnError: busy }),
    /busy/,
  );
});

Deno.test("the least recently used key is evicted beyond maxEntries", async () => {
  const cache = new ResultCache<string>({ maxEntries: 2 });
  await cache.get("a", "v", () => Promise.resolve("a1"));
  await cache.get("b", "v", () => Promise.resolve("b1"));
  await cache.get("a", "v", () => Promise.resolve("unused")); // a is now the most recent
  await cache.get("c", "v", () => Promise.resolve("c1")); // evicts b
  assert.equal(await cache.get("a", "v", () => Promise.resolve("a2")), "a1");
  assert.equal(await cache.get("b", "v", () => Promise.resolve("b2")), "b2");
});

/**
 * Test job: starts a grandchild the only way a job can (native code: `--allow-ffi` bypasses
 * every other permission, and a job never gets `--allow-run`), writes the grandchild's pid,
 * then hangs until the runner stops it.
 *
 *   deno run --allow-ffi --allow-write tests/testdata/runner/jobs/spawn_via_ffi.ts <pidfile>
 */
if (import.meta.main) {
  const pidfile = Deno.args[0];
  const libc = Deno.dlopen("libc.so.6", { system: { parameters: ["buffer"], result: "i32" } });
  // sh puts `sleep` in the background and exits: sleep stays in the job's process group.
  const cmd = `sleep 300 & echo $! > '${pidfile}'\0`;
  libc.symbols.system(new TextEncoder().encode(cmd));
  setInterval(() => {}, 1000);
}

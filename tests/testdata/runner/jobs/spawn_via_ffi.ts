/**
 * Test job: starts a grandchild the only way a job can (native code: `--allow-ffi` bypasses
 * every other permission, and a job never gets `--allow-run`), writes the grandchild's pid,
 * then hangs until the runner stops it (with `--exit`: exits 0 at once, leaving the grandchild
 * behind). With `--ignore-term` the grandchild ignores SIGTERM, so it outlives the job's own
 * process until SIGKILL.
 *
 *   deno run --allow-ffi --allow-write tests/testdata/runner/jobs/spawn_via_ffi.ts <pidfile> \
 *     [--ignore-term] [--exit]
 */
if (import.meta.main) {
  const pidfile = Deno.args[0];
  const libc = Deno.dlopen("libc.so.6", { system: { parameters: ["buffer"], result: "i32" } });
  // sh puts `sleep` in the background and exits: sleep stays in the job's process group.
  const sleep = Deno.args.includes("--ignore-term")
    ? `sh -c 'trap "" TERM; exec sleep 300'`
    : "sleep 300";
  const cmd = `${sleep} & echo $! > '${pidfile}'\0`;
  libc.symbols.system(new TextEncoder().encode(cmd));
  if (Deno.args.includes("--exit")) Deno.exit(0);
  setInterval(() => {}, 1000);
}

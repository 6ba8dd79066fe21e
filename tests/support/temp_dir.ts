/**
 * Temporary folders for tests, removed when the test that made them ends, passed or failed (a
 * Deno.test.afterEach hook, registered for the test file that imports this module). A test that
 * starts processes writing into its folder waits for them to end before it returns.
 */
const made: string[] = [];

Deno.test.afterEach(() => {
  for (const dir of made.splice(0)) {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
});

/** A new folder in the system's temporary folder, named `prefix...`, removed after this test. */
export function testTempDir(prefix: string): string {
  const dir = Deno.makeTempDirSync({ prefix });
  made.push(dir);
  return dir;
}

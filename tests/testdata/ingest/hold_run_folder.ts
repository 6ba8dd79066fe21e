/**
 * Holds a batch load's run folder (lib/ingest/run_folder.ts) with a download in it, as a
 * batch_load busy loading does, until it is killed (with SIGKILL, its folder stays behind, as a
 * killed batch_load's does).
 *
 *   deno run --allow-read --allow-write hold_run_folder.ts TMP_DIR
 *
 * Prints the run folder's path once it holds it.
 */
import { openRunFolder } from "../../../lib/ingest/run_folder.ts";

if (import.meta.main) {
  const run = await openRunFolder(Deno.args[0]);
  await Deno.writeTextFile(`${run.path}/download.csv`, "ticker,trade_date\n");
  console.log(run.path);
  setInterval(() => {}, 60_000); // until killed
}

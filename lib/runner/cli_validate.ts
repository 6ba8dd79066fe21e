/**
 * `deno task validate [--manifest PATH]`: check the manifest (and nothing else runs).
 * Prints every problem as `jobs.yaml:LINE:COL message`, exit 2 when there is any, else 0.
 *
 *   deno run --allow-read --allow-env lib/runner/cli_validate.ts [--manifest jobs.yaml]
 *
 * Other checks (e.g. the models' YAML) plug in by appending to CHECKS.
 */
import { parseArgs } from "node:util";
import { loadManifest, ManifestError } from "./manifest.ts";

const HELP = `Usage: deno task validate [--manifest PATH]

Checks jobs.yaml strictly (keys, ids, dependencies, cycles, cron, time zones, scripts,
permission entries) and reports every problem as FILE:LINE:COL message. Runs nothing.
Exit codes: 0 valid, 2 problems found.`;

/** A check returns its summary line, or throws an error whose message lists the problems. */
export type Check = (opts: { manifest: string }) => string | Promise<string>;

export const CHECKS: Check[] = [
  ({ manifest }) => {
    const m = loadManifest(manifest);
    const scheduled = [...m.pipelines.values()].filter((p) => p.schedule).length;
    return `${manifest}: ok (${m.jobs.size} jobs, ${m.pipelines.size} pipelines, ${scheduled} scheduled)`;
  },
];

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      manifest: { type: "string", default: "jobs.yaml" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let problems = 0;
  for (const check of CHECKS) {
    try {
      console.log(await check({ manifest: values.manifest }));
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
      console.error(e.message);
      console.error(`${e.findings.length} problem(s) in ${e.file}`);
      problems += e.findings.length;
    }
  }
  return problems > 0 ? 2 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`validate: ${(e as Error).name}: ${(e as Error).message}`);
    Deno.exit(2);
  }
}

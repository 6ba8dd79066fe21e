/**
 * `deno task validate [--manifest PATH] [--models DIR]`: check the manifest and the models (and
 * nothing runs). Prints every problem as `FILE:LINE:COL message`, exit 2 when there is any.
 *
 *   deno run --allow-read --allow-env lib/runner/cli_validate.ts [--manifest jobs.yaml]
 *
 * Other checks plug in by appending to CHECKS.
 */
import { parseArgs } from "./args.ts";
import { loadConfig } from "../config/config.ts";
import { ProjectError } from "../models/errors.ts";
import { checkModels } from "../models/validate.ts";
import { loadManifest, ManifestError } from "./manifest.ts";

const HELP = `Usage: deno task validate [--manifest PATH] [--models DIR]

Checks jobs.yaml strictly (keys, ids, dependencies, cycles, cron, time zones, scripts,
permission entries) and the SQL models (files, refs, sources, cycles, tests, compilation for
DuckDB), and reports every problem as FILE:LINE:COL message. Runs nothing.
Exit codes: 0 valid, 2 problems found.`;

export interface CheckOptions {
  manifest: string;
  /** The models project folder (holds models/); "" skips the models check. */
  modelsRoot: string;
}

/** A check returns its summary line, or throws an error whose message lists the problems. */
export type Check = (opts: CheckOptions) => string | Promise<string>;

export const CHECKS: Check[] = [
  ({ manifest }) => {
    const m = loadManifest(manifest);
    const scheduled = [...m.pipelines.values()].filter((p) => p.schedule).length;
    return `${manifest}: ok (${m.jobs.size} jobs, ${m.pipelines.size} pipelines, ${scheduled} scheduled)`;
  },
  ({ modelsRoot }) => modelsRoot === "" ? "" : checkModels(modelsRoot, loadConfig().asOf),
];

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      manifest: { type: "string", default: "jobs.yaml" },
      models: { type: "string", default: "." },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let problems = 0;
  const opts = { manifest: values.manifest, modelsRoot: values.models };
  for (const check of CHECKS) {
    try {
      const summary = await check(opts);
      if (summary) console.log(summary);
    } catch (e) {
      if (e instanceof ManifestError) {
        console.error(e.message);
        console.error(`${e.findings.length} problem(s) in ${e.file}`);
        problems += e.findings.length;
      } else if (e instanceof ProjectError) {
        for (const f of e.findings) console.error(f.message);
        console.error(`${e.findings.length} problem(s) in the models`);
        problems += e.findings.length;
      } else throw e;
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

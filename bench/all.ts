/**
 * `deno task bench [name...]`: run every `bench/*_bench.ts` (or the named ones, e.g. `runner`)
 * one after another, each in its own process so one benchmark's warm caches and leftovers do not
 * colour the next. Each benchmark prints its own figures and the ratios its issue asks for.
 *
 *   deno run --allow-read=bench --allow-run bench/all.ts [name...] [-- options for each]
 */
import { parseArgs } from "node:util";

const HELP = `Usage: deno task bench [name...] [-- option...]

Runs bench/<name>_bench.ts for each name (default: all of them), printing each one's figures.
Options after -- go to each benchmark, e.g. deno task bench runner -- --rounds 9; a benchmark's
own options: deno task bench <name> -- --help.`;

async function main(): Promise<number> {
  const split = Deno.args.indexOf("--");
  const passed = split < 0 ? [] : Deno.args.slice(split + 1);
  let parsed;
  try {
    parsed = parseArgs({
      args: split < 0 ? Deno.args : Deno.args.slice(0, split),
      options: { help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
  } catch (e) {
    console.error(
      `${(e as Error).message.split(".")[0]}: a benchmark's options go after --, ` +
        "e.g. deno task bench runner -- --rounds 9",
    );
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const dir = new URL(".", import.meta.url);
  const available = [...Deno.readDirSync(dir)]
    .map((e) => e.name)
    .filter((n) => n.endsWith("_bench.ts"))
    .map((n) => n.slice(0, -"_bench.ts".length))
    .sort();
  const wanted = positionals.length > 0 ? positionals : available;
  const unknown = wanted.filter((n) => !available.includes(n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(", ")}; have: ${available.join(", ")}`);
    return 2;
  }
  let failed = 0;
  for (const name of wanted) {
    console.log(`\n=== bench ${name} ===`);
    const file = new URL(`${name}_bench.ts`, dir).pathname;
    const status = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", file, ...passed],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    if (!status.success) {
      console.error(`bench ${name} failed (exit ${status.code})`);
      failed++;
    }
  }
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());

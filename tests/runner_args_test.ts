import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { parseArgs } from "../lib/runner/args.ts";

const OPTIONS = {
  "dry-run": { type: "boolean" },
  only: { type: "string" },
  manifest: { type: "string", default: "jobs.yaml" },
  help: { type: "boolean", short: "h" },
} as const;

const parse = (args: string[]) => parseArgs({ args, options: OPTIONS, allowPositionals: true });

Deno.test("options: values, =values, short aliases, defaults, positionals and --", () => {
  assertEquals(parse(["full", "--only", "a,b", "--dry-run"]), {
    values: { only: "a,b", "dry-run": true, manifest: "jobs.yaml" },
    positionals: ["full"],
  });
  assertEquals(parse(["--manifest=x.yaml", "-h", "--", "--not-an-option", "p"]), {
    values: { manifest: "x.yaml", help: true },
    positionals: ["--not-an-option", "p"],
  });
  assertEquals(parse(["--only=", "p"]).values.only, "");
  // A negative number is the option's value (for its own check to refuse), not a short option.
  assertEquals(parse(["--only", "-1", "p"]), {
    values: { only: "-1", manifest: "jobs.yaml" },
    positionals: ["p"],
  });
  assertEquals(parse(["--only", "-0.5"]).values.only, "-0.5");
});

Deno.test("bad options are errors with node's codes, naming the option", () => {
  const code = (args: string[], allowPositionals = true) => {
    try {
      parseArgs({ args, options: OPTIONS, allowPositionals });
    } catch (e) {
      return [(e as { code: string }).code, (e as Error).message];
    }
    throw new Error("no error");
  };
  assertEquals(code(["--bogus"]), ["ERR_PARSE_ARGS_UNKNOWN_OPTION", "Unknown option '--bogus'"]);
  assertEquals(code(["-x"]), ["ERR_PARSE_ARGS_UNKNOWN_OPTION", "Unknown option '-x'"]);
  assertEquals(code(["--only"]), [
    "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
    "Option '--only <value>' argument missing",
  ]);
  assertEquals(code(["--only", "--dry-run"]), [
    "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
    "Option '--only <value>' argument missing",
  ]);
  assertEquals(code(["--dry-run=yes"]), [
    "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
    "Option '--dry-run' does not take an argument",
  ]);
  assertEquals(code(["p"], false), [
    "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL",
    "Unexpected argument 'p'. This command does not take positional arguments",
  ]);
  throws(() => parse(["--toString"]), /Unknown option '--toString'/);
});

Deno.test("a single-dash word is a group of short options, as in node: never a positional", () => {
  const code = (args: string[]) => {
    try {
      return parse(args);
    } catch (e) {
      return [(e as { code: string }).code, (e as Error).message];
    }
  };
  assertEquals(code(["full", "-dry-run"]), [
    "ERR_PARSE_ARGS_UNKNOWN_OPTION",
    "Unknown option '-d'",
  ]);
  assertEquals(code(["-hh", "p"]), {
    values: { help: true, manifest: "jobs.yaml" },
    positionals: ["p"],
  });
  assertEquals(code(["-", "p"]), { values: { manifest: "jobs.yaml" }, positionals: ["-", "p"] });
  const last = {
    last: { type: "string", short: "n" },
    all: { type: "boolean", short: "a" },
  } as const;
  assertEquals(parseArgs({ args: ["-an5"], options: last }).values, { all: true, last: "5" });
});

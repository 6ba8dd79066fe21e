/**
 * Headless Chromium for browser tests, driven by playwright-core (no bundled browser download:
 * the Debian `chromium` package at /usr/bin/chromium). When the binary is missing and the
 * process runs as root, it is installed with apt-get (once); otherwise the error says how.
 *
 *   const b = await launchBrowser();
 *   try { const page = await b.context.newPage(); ... } finally { await b.close(); }
 */
import { chromium } from "playwright-core";
import type { BrowserContext } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Flags for a quiet, offline, sandbox-free headless run (containers have no user namespaces). */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}): ${err}`);
  }
}

let installing: Promise<void> | undefined;

/** Make sure /usr/bin/chromium exists, installing the Debian package when running as root. */
export function ensureChromium(): Promise<void> {
  if (exists(CHROMIUM)) return Promise.resolve();
  installing ??= (async () => {
    if (Deno.uid() !== 0) {
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium package ` +
          "(sudo apt-get update && sudo apt-get install -y chromium), then rerun the tests",
      );
    }
    console.error("browser tests: installing chromium with apt-get (first run only)...");
    await run("apt-get", ["update"]);
    await run("apt-get", ["install", "-y", "chromium"]);
    if (!exists(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is absent`);
  })();
  return installing;
}

export interface LaunchedBrowser {
  /** A persistent context on a fresh profile directory (removed by `close`). */
  context: BrowserContext;
  /** Close the browser and remove its profile directory. */
  close(): Promise<void>;
}

/** Start a fresh headless Chromium with its own temporary profile. */
export async function launchBrowser(): Promise<LaunchedBrowser> {
  await ensureChromium();
  const profile = await Deno.makeTempDir({ prefix: "egx-chromium-" });
  // launchPersistentContext passes --user-data-dir=<profile> (plain launch() refuses the flag).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1366, height: 768 },
    timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

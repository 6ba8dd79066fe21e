/**
 * Read one-minute bar files (`<TICKER>.csv`, header `datetime,open,high,low,close,volume`,
 * `datetime` naive UTC like `2025-07-20 07:22:00`), as bundled in data/sample/bars_1m.
 */

export interface MinuteBar {
  ticker: string;
  /** Bar start, epoch ms UTC. */
  t: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/** The bundled bars (data/sample/bars_1m in this checkout, whatever the working directory). */
export const BUNDLED_BARS_DIR = new URL("../../../data/sample/bars_1m", import.meta.url).pathname;

const HEADER = "datetime,open,high,low,close,volume";

/** Parse one file's text. Errors name the file and line. */
function parseBarsCsv(ticker: string, text: string, file = `${ticker}.csv`): MinuteBar[] {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.replace(/^\uFEFF/, "").trim() !== HEADER) {
    throw new SyntaxError(`${file}:1: expected header "${HEADER}"`);
  }
  const out: MinuteBar[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const f = line.split(",");
    const t = Date.parse(f[0]?.replace(" ", "T") + "Z");
    const nums = f.slice(1).map(Number);
    if (f.length !== 6 || Number.isNaN(t) || nums.some((n) => !Number.isFinite(n))) {
      throw new SyntaxError(`${file}:${i + 1}: malformed bar ${JSON.stringify(line)}`);
    }
    out.push({
      ticker,
      t,
      open: nums[0],
      high: nums[1],
      low: nums[2],
      close: nums[3],
      volume: nums[4],
    });
  }
  return out;
}

/** A bar file's name: `<TICKER>.csv`. */
const BAR_FILE = /^([A-Z][A-Z0-9]*)\.csv$/;

/** Tickers with a `<TICKER>.csv` file in `dir`, sorted. */
async function barTickers(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = BAR_FILE.exec(e.name);
    if (e.isFile && m) out.push(m[1]);
  }
  return out.sort();
}

/** Whether `dir` holds at least one bar file (Deno.readDirSync's errors pass through). */
export function hasBarFiles(dir: string): boolean {
  for (const e of Deno.readDirSync(dir)) if (e.isFile && BAR_FILE.test(e.name)) return true;
  return false;
}

/** Read the bars of `tickers` (default: all files) from `dir`, ordered by time then ticker. */
export async function readBars(
  dir: string,
  opts: { tickers?: readonly string[] } = {},
): Promise<MinuteBar[]> {
  const tickers = opts.tickers ?? await barTickers(dir);
  const all: MinuteBar[] = [];
  for (const ticker of tickers) {
    const file = `${dir.replace(/\/$/, "")}/${ticker}.csv`;
    for (const b of parseBarsCsv(ticker, await Deno.readTextFile(file), file)) all.push(b);
  }
  return all.sort((a, b) => a.t - b.t || (a.ticker < b.ticker ? -1 : a.ticker > b.ticker ? 1 : 0));
}

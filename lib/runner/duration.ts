/**
 * Durations in the manifest: an integer and a unit, `500ms`, `30s`, `5m`, `2h`, `1d`.
 * Units are never implied: a bare number is an error (is `30` seconds or minutes?).
 */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds for a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  return m ? Number(m[1]) * UNITS[m[2]] : undefined;
}

/** Short human form: 850ms, 12.3s, 4m05s, 2h10m. */
export function formatDuration(ms: number): string {
  // The unit is chosen on the rounded value: 999.6 ms is "1.0s", 59.96 s is "1m00s" (it was
  // "1000ms" and "60.0s").
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  if (Math.round(ms / 100) < 600) return `${(Math.round(ms / 100) / 10).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

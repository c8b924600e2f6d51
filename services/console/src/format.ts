/** How the console writes numbers, times and durations. */

export const count = (n: number) => String(Math.round(n));
export const megabytes = (bytes: number) => `${Math.round(bytes / 1_048_576)} MB`;
export const perSecond = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)}/s`;
export const milliseconds = (seconds: number) => `${(seconds * 1000).toFixed(seconds < 0.01 ? 1 : 0)} ms`;

/** `2026-12-07 18:00:00 UTC`. */
export function when(timestamp: string): string {
  return `${timestamp.replace('T', ' ').replace(/(\.\d+)?Z$/, '')} UTC`;
}

/** A duration in its largest unit: `45 s`, `12 min`, `3 h`. */
export function age(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** How long ago an instant was, from `now`. */
export const since = (timestamp: string, now: string) =>
  age((Date.parse(now) - Date.parse(timestamp)) / 1000);

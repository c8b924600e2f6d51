/** Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, largest first. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  /** µs on the machine's monotonic clock; sample i was taken at startTime + timeDeltas[0] + … + timeDeltas[i]. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time per function over the whole profile or, given a span (µs, the same clock), over the samples taken
 * within it; shares are of the samples counted.
 */
export function topFunctions(
  profile: CpuProfile,
  limit = 15,
  span?: { fromMicros: number; toMicros: number },
): { function: string; selfMs: number; selfShare: number }[] {
  const names = new Map(
    profile.nodes.map((n) => {
      const file = n.callFrame.url
        .replace(/^file:\/\//, '')
        .replace(/^.*\/node_modules\//, '')
        .replace(/^.*\/work\/main\//, '');
      const name = n.callFrame.functionName || '(anonymous)';
      return [n.id, file ? `${name} ${file}:${n.callFrame.lineNumber + 1}` : name];
    }),
  );
  const self = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const micros = profile.timeDeltas[i] ?? 0;
    at += micros;
    if (span && (at < span.fromMicros || at > span.toMicros)) return;
    total += micros;
    const name = names.get(id) ?? '(unknown)';
    self.set(name, (self.get(name) ?? 0) + micros);
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([fn, micros]) => ({
      function: fn,
      selfMs: Math.round(micros / 1000),
      selfShare: total > 0 ? micros / total : 0,
    }));
}

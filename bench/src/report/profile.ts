/** Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, largest first. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export function topFunctions(
  profile: CpuProfile,
  limit = 15,
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
  profile.samples.forEach((id, i) => {
    const micros = profile.timeDeltas[i] ?? 0;
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

/**
 * The chart of a run, hand-written SVG: one group of bars per scenario, one bar per server, each bar the
 * server's cost per unit of work relative to the most expensive server of its group (so groups with different
 * units share one axis). The absolute figure is written above each bar.
 */
import { SERVER_NAMES, type ServerName } from '../servers/types.js';
import { HEADLINES } from './headlines.js';
import { escapeXml } from '../load/splitter.js';
import { figure, type RunResult } from './types.js';

export const COLOURS: Record<ServerName, string> = {
  irsp: '#2b6cb0',
  prosody: '#dd6b20',
  ejabberd: '#38a169',
};

const BAR = 26;
const GAP = 30;
const PLOT_HEIGHT = 220;
const TOP = 60;
const LEFT = 50;

export function renderSvg(run: RunResult): string {
  const groups = HEADLINES.map((h) => ({
    headline: h,
    bars: SERVER_NAMES.map((server) => ({
      server,
      value: figure(run, server, h.scenario, h.metric, h.variant),
    }))
      .filter((b): b is { server: ServerName; value: number } => b.value !== null)
      .map((b) => ({ ...b, value: b.value * h.scale })),
  })).filter((g) => g.bars.length > 0);
  const parts: string[] = [];
  let x = LEFT;
  for (const { headline, bars } of groups) {
    const max = Math.max(...bars.map((b) => b.value));
    const start = x;
    for (const bar of bars) {
      const height = max > 0 ? Math.max(1, (bar.value / max) * PLOT_HEIGHT) : 1;
      const y = TOP + PLOT_HEIGHT - height;
      parts.push(
        `<rect x="${x}" y="${y.toFixed(1)}" width="${BAR}" height="${height.toFixed(1)}" fill="${COLOURS[bar.server]}"/>`,
        `<text x="${x + BAR / 2}" y="${(y - 4).toFixed(1)}" font-size="10" text-anchor="middle">${formatValue(bar.value)}</text>`,
      );
      x += BAR;
    }
    const middle = (start + x) / 2;
    parts.push(
      `<text x="${middle}" y="${TOP + PLOT_HEIGHT + 16}" font-size="11" text-anchor="middle">${escapeXml(headline.label)}</text>`,
      `<text x="${middle}" y="${TOP + PLOT_HEIGHT + 30}" font-size="9" fill="#555" text-anchor="middle">${escapeXml(headline.unit)}</text>`,
    );
    x += GAP + 40;
  }
  const width = Math.max(x + LEFT, 400);
  const legend = SERVER_NAMES.map(
    (server, i) =>
      `<rect x="${LEFT + i * 190}" y="34" width="12" height="12" fill="${COLOURS[server]}"/>` +
      `<text x="${LEFT + i * 190 + 16}" y="44" font-size="11">${server}${run.versions[server] ? ` ${escapeXml(run.versions[server])}` : ''}</text>`,
  );
  const height = TOP + PLOT_HEIGHT + 50;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="20" font-size="14" font-weight="bold">Server cost per unit of work, ${escapeXml(run.date)} (lower is better; bars relative to the highest of each group)</text>`,
    ...legend,
    `<line x1="${LEFT - 10}" y1="${TOP + PLOT_HEIGHT}" x2="${width - LEFT}" y2="${TOP + PLOT_HEIGHT}" stroke="#333"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

export function formatValue(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toPrecision(2);
}

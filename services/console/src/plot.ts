/**
 * Small line plots drawn as inline SVG: one line per series over the sampled time span (up to the last hour), the
 * largest value on the y axis, gaps where a service did not answer. No chart library: a few lines plot this.
 */
import { h, svg } from './dom.js';

export interface Line {
  name: string;
  values: readonly (number | null)[];
}

/** Colour-blind-safe palette (Okabe–Ito), in order of lines. */
const COLOURS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000'];

const WIDTH = 320;
const HEIGHT = 110;
const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

/** A line's points as SVG path commands, a new segment after each gap. */
function path(
  values: readonly (number | null)[],
  x: (i: number) => number,
  y: (v: number) => number,
): string {
  let d = '';
  let drawing = false;
  values.forEach((value, i) => {
    if (value === null) {
      drawing = false;
      return;
    }
    d += `${drawing ? 'L' : 'M'}${x(i).toFixed(1)},${y(value).toFixed(1)}`;
    drawing = true;
  });
  return d;
}

/** How long ago the first sample was, as the axis says it. */
function span(at: readonly string[]): string {
  if (at.length < 2) return 'now';
  const seconds = (Date.parse(at[at.length - 1]!) - Date.parse(at[0]!)) / 1000;
  return seconds >= 90 ? `−${Math.round(seconds / 60)} min` : `−${Math.round(seconds)} s`;
}

export function linePlot(options: {
  title: string;
  at: readonly string[];
  lines: readonly Line[];
  format: (value: number) => string;
}): HTMLElement {
  const { at, lines, format } = options;
  const all = lines.flatMap((l) => l.values.filter((v): v is number => v !== null));
  const max = Math.max(0, ...all);
  const top = max > 0 ? max * 1.1 : 1;
  const n = Math.max(2, at.length);
  const x = (i: number) => PAD.left + (i / (n - 1)) * (WIDTH - PAD.left - PAD.right);
  const y = (v: number) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': options.title, class: 'plot' },
    svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: 'axis' }),
    svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(max), y2: y(max), class: 'grid' }),
    svg('text', { x: PAD.left - 4, y: y(max) + 4, class: 'tick', 'text-anchor': 'end' }, format(max)),
    svg('text', { x: PAD.left - 4, y: y(0) + 4, class: 'tick', 'text-anchor': 'end' }, format(0)),
    svg('text', { x: PAD.left, y: HEIGHT - 4, class: 'tick' }, span(at)),
    svg('text', { x: WIDTH - PAD.right, y: HEIGHT - 4, class: 'tick', 'text-anchor': 'end' }, 'now'),
    ...lines.map((line, i) =>
      svg('path', { d: path(line.values, x, y), class: 'line', stroke: COLOURS[i % COLOURS.length]! }),
    ),
  );
  const legend = h(
    'ul',
    { class: 'legend' },
    ...lines.map((line, i) => {
      const last = [...line.values].reverse().find((v) => v !== null);
      const swatch = h('span', { class: 'swatch' });
      swatch.style.background = COLOURS[i % COLOURS.length]!;
      return h(
        'li',
        {},
        swatch,
        `${line.name} `,
        h('strong', {}, last === undefined || last === null ? '–' : format(last)),
      );
    }),
  );
  return h('figure', { class: 'chart' }, h('figcaption', {}, options.title), chart, legend);
}

/** A trend without axes, for a table cell. */
export function sparkline(values: readonly (number | null)[], label: string): SVGElement {
  const w = 120;
  const hgt = 24;
  const max = Math.max(1, ...values.filter((v): v is number => v !== null));
  const n = Math.max(2, values.length);
  return svg(
    'svg',
    { viewBox: `0 0 ${w} ${hgt}`, class: 'sparkline', role: 'img', 'aria-label': label },
    svg('path', {
      d: path(
        values,
        (i) => 1 + (i / (n - 1)) * (w - 2),
        (v) => hgt - 2 - (v / max) * (hgt - 4),
      ),
      class: 'line',
    }),
  );
}

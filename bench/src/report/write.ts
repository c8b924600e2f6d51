/** Writes a run's three files next to each other: <base>.json, <base>.md (which shows <base>.svg), <base>.svg. */
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { renderMarkdown } from './markdown.js';
import { renderSvg } from './svg.js';
import type { RunResult } from './types.js';

export async function writeReports(base: string, run: RunResult): Promise<void> {
  await writeFile(`${base}.json`, `${JSON.stringify(run, null, 2)}\n`);
  await writeFile(`${base}.svg`, renderSvg(run));
  await writeFile(`${base}.md`, renderMarkdown(run, `${basename(base)}.svg`));
}

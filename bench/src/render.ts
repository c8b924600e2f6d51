/** `node bench/dist/render.js bench/results/<date>.json`: renders the Markdown and SVG of a run again. */
import { readFile } from 'node:fs/promises';
import { writeReports } from './report/write.js';
import type { RunResult } from './report/types.js';

const file = process.argv[2];
if (!file?.endsWith('.json')) throw new Error('usage: render.js <results>.json');
await writeReports(file.slice(0, -'.json'.length), JSON.parse(await readFile(file, 'utf8')) as RunResult);

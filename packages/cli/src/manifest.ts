/**
 * The manifest `pnpm start` writes (`.irsp/manifest.json`): where every server is and the credentials a client
 * needs. Only what the command uses is read; anything else in the file is left alone.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { CliError, EXIT } from './exit.js';

const credential = z.object({ appid: z.string(), token: z.string() });

export const manifestSchema = z.object({
  caCert: z.string(),
  operator: z.object({ name: z.string(), password: z.string() }).optional(),
  accountServer: z.object({ url: z.string().url() }),
  autonomousSystems: z.array(
    z.object({
      domain: z.string(),
      messageServers: z.array(z.object({ id: z.string(), url: z.string().url() })),
      applicationServers: z.array(
        z.object({ name: z.string(), url: z.string().url(), credentials: credential }),
      ),
    }),
  ),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const DEFAULT_MANIFEST = '.irsp/manifest.json';

/** The manifest and the CA certificate it names (a relative path is taken from the working directory). */
export async function loadManifest(path: string, cwd: string): Promise<{ manifest: Manifest; ca: string }> {
  const file = isAbsolute(path) ? path : resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new CliError(
      EXIT.usage,
      `no manifest at ${file} (start the IRSP with \`pnpm start\`, or give --manifest)`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(EXIT.usage, `${file} is not JSON`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliError(EXIT.usage, `${file}: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const caFile = isAbsolute(parsed.data.caCert) ? parsed.data.caCert : resolve(cwd, parsed.data.caCert);
  try {
    return { manifest: parsed.data, ca: await readFile(caFile, 'utf8') };
  } catch {
    throw new CliError(EXIT.usage, `no CA certificate at ${caFile} (named by ${file})`);
  }
}

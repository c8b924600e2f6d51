/** `pnpm start`'s generated topology: valid, and everything it makes kept under its state directory. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTopology } from '@irsp/config';
import { parse } from 'yaml';
import { defaultTopologyYaml } from '../services/all-in-one/src/default-topology.js';
import { ensureTopologyFile } from '../services/all-in-one/src/start.js';
import { tempDir } from './support/irsp.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir('irsp-state-');
});
afterAll(async () => {
  await dir?.remove();
});

describe('the default topology', () => {
  it('keeps the CA and the databases in .irsp by default', () => {
    const operator = { name: 'admin', passwordHash: 'scram-sha-256$4096$c2FsdA==$c3RvcmVk$c2VydmVy' };
    const topology = parseTopology(parse(defaultTopologyYaml(operator)), {});
    expect(topology.operators).toEqual([operator]);
    expect(topology.tls).toMatchObject({ mode: 'local', dir: '.irsp/tls' });
    expect(topology.database.dataDir).toBe('.irsp/data');
  });

  it('IRSP_STATE_DIR moves them with irsp.yaml: ensureTopologyFile writes one whose paths are under it', async () => {
    const stateDir = join(dir.path, 'elsewhere');
    const file = await ensureTopologyFile(stateDir);
    expect(file).toBe(join(stateDir, 'irsp.yaml'));
    const topology = parseTopology(parse(await readFile(file, 'utf8')), {});
    expect(topology.tls).toMatchObject({ mode: 'local', dir: join(stateDir, 'tls') });
    expect(topology.database.dataDir).toBe(join(stateDir, 'data'));
    // The operator it made: the password beside the topology (mode 0600), only its hash in it.
    const operator = JSON.parse(await readFile(join(stateDir, 'operator.json'), 'utf8')) as {
      name: string;
      password: string;
    };
    expect(topology.operators.map((o) => o.name)).toEqual([operator.name]);
    expect(await readFile(file, 'utf8')).not.toContain(operator.password);
  });
});

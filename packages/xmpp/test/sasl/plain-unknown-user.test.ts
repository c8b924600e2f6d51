import * as credentials from '@irsp/credentials';

import { describe, expect, it, vi } from 'vitest';
import { plainMechanism } from '../../src/sasl/index.js';
import { outcome, tableLookup, utf8 } from './helpers.js';

// Record the calls to verifyScramPassword while keeping the real implementation.
vi.mock('@irsp/credentials', async (importOriginal) => {
  const original = await importOriginal<typeof credentials>();
  return { ...original, verifyScramPassword: vi.fn(original.verifyScramPassword) };
});

describe('PLAIN for unknown users', () => {
  it('runs one PBKDF2 of the default cost, as for a wrong password', async () => {
    const verify = vi.mocked(credentials.verifyScramPassword);
    const known = await credentials.scramCredential('pencil', 'sha256');
    const mechanism = plainMechanism(tableLookup({ user: known }));

    verify.mockClear();
    expect(outcome(await mechanism.start().step(utf8('\0user\0wrong')))).toBe('not-authorized');
    expect(verify.mock.calls).toEqual([['wrong', known, 'sha256']]);

    verify.mockClear();
    expect(outcome(await mechanism.start().step(utf8('\0nobody\0wrong')))).toBe('not-authorized');
    expect(verify).toHaveBeenCalledTimes(1);
    const [password, dummy, hash] = verify.mock.calls[0] ?? [];
    expect([password, hash, dummy?.iterations]).toEqual(['wrong', 'sha256', credentials.SCRAM_ITERATIONS]);
    expect(Buffer.from(dummy?.salt ?? '', 'base64')).toHaveLength(16);
    expect(Buffer.from(dummy?.storedKey ?? '', 'base64')).toHaveLength(32);
  });
});

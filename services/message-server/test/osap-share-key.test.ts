/** The OSAP share key a device account's code gives (decision 0020), and the codes and accounts that give none. */
import { describe, expect, it } from 'vitest';
import { shareKey } from '@irsp/osap';
import { NO_SHARE_KEY, deriveShareKey, deviceLocalOf } from '../src/osap/share-key.js';

describe('deriveShareKey', () => {
  it('is shareKey of the code and the local part after #, with the configured rounds', async () => {
    expect(await deriveShareKey('#cam-0001', 'ABCDEF', 1000)).toEqual({
      key: Buffer.from(shareKey('ABCDEF', 'cam-0001', { iterations: 1000 })),
      iterations: 1000,
    });
    expect(deviceLocalOf('cam-0001')).toBe('#cam-0001');
  });

  it('gives none for no code, a code or serial number OSAP cannot carry, or a user account', async () => {
    for (const [local, code] of [
      ['#cam-0001', undefined],
      ['#cam-0001', ''],
      ['#cam-0001', 'two words'],
      ['#cam-0001', 'x'.repeat(65)],
      ['#café', 'ABCDEF'],
      [`#${'s'.repeat(65)}`, 'ABCDEF'],
      ['#', 'ABCDEF'],
      ['alice', 'ABCDEF'],
    ] as const)
      expect(await deriveShareKey(local, code, 1000)).toEqual(NO_SHARE_KEY);
  });
});

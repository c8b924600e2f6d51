/** The bytes and vectors printed in docs/osap.md are what the code produces, so the documentation cannot drift. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OSAP_VERSION, buildAuthMessage, buildFrame, shareKey } from '../src/index.js';

const doc = readFileSync(new URL('../../../docs/osap.md', import.meta.url), 'utf8');
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
/** The first `…` span after the phrase, as hex without separators. */
const printedAfter = (phrase: string) => {
  const at = doc.indexOf(phrase);
  expect(at).toBeGreaterThanOrEqual(0);
  return /`([0-9a-f |]+)`/.exec(doc.slice(at))![1]!.replace(/[ |]/g, '');
};

describe('docs/osap.md', () => {
  it("prints Figure 4's request and Figure 5's first response as built", () => {
    const request = buildFrame({
      type: 'Authentication_ECDH_Req',
      controlFlag: 1,
      version: OSAP_VERSION,
      protocolType: 1,
      protocolGroup: [1, 2, 4, 8],
      serialNumber: 'SN1',
      transaction: Uint8Array.of(0xaa, 0xbb),
    });
    expect(printedAfter("Figure 4's request")).toBe(hex(request));
    const response = buildAuthMessage(new Uint8Array(16), {
      type: 'Authentication_ECDH_Rsp',
      protocolType: 2,
      protocolGroup: [2, 4, 8],
    });
    expect(printedAfter("Figure 5's first response")).toBe(hex(response));
  });

  it('prints the share key vectors the code computes', () => {
    expect(doc).toContain('`' + hex(shareKey('ABCDEF', 'DS-2CD2143G0-I20240101AAWR123456789')) + '`');
    const options = { iterations: 1000, salt: new TextEncoder().encode('irsp-osap'), keyLength: 32 };
    expect(doc).toContain(
      '`' + hex(shareKey('ABCDEF', 'DS-2CD2143G0-I20240101AAWR123456789', options)) + '`',
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { negotiate, readNegotiation, responseOffer, type ProtocolOffer } from '../src/index.js';
import { protocolGroup, protocolType } from './arbitraries.js';

const offer = fc.record({ protocolType, protocolGroup });

describe('negotiation (section 6, Figures 4–5)', () => {
  it('Figure 4, consistent: the LBS supports type 1 and selects the most secure member of (1,2,4,8)', () => {
    const device: ProtocolOffer = { protocolType: 1, protocolGroup: [1, 2, 4, 8] };
    const outcome = negotiate({ protocolType: 1, protocolGroup: [1, 2, 4, 8, 16] }, device);
    expect(outcome).toEqual({ consistent: true, protocolType: 1, selected: 8 });
    expect(responseOffer(outcome)).toEqual({ protocolType: 1, protocolGroup: [8] });
    expect(readNegotiation([device], device, responseOffer(outcome))).toEqual({
      consistent: true,
      selected: 8,
    });
  });

  it('Figure 5, inconsistent: the LBS answers its type 2 and group (2,4,8); the device retries with them', () => {
    const device: ProtocolOffer[] = [
      { protocolType: 1, protocolGroup: [1, 2, 4, 8] },
      { protocolType: 2, protocolGroup: [1, 2, 4, 8] },
    ];
    const lbs: ProtocolOffer = { protocolType: 2, protocolGroup: [2, 4, 8] };
    const first = negotiate(lbs, device[0]!);
    expect(first).toEqual({ consistent: false, protocolType: 2, protocolGroup: [2, 4, 8] });
    const read = readNegotiation(device, device[0]!, responseOffer(first));
    expect(read).toEqual({ consistent: false, retry: { protocolType: 2, protocolGroup: [2, 4, 8] } });
    const retry = read.consistent ? undefined : read.retry;
    expect(negotiate(lbs, retry!)).toEqual({ consistent: true, protocolType: 2, selected: 8 });
  });

  it('inconsistent with a device that supports nothing the LBS does: the device gives up', () => {
    const device: ProtocolOffer = { protocolType: 1, protocolGroup: [1, 2] };
    const outcome = negotiate({ protocolType: 1, protocolGroup: [4, 8] }, device);
    expect(outcome).toEqual({ consistent: false, protocolType: 1, protocolGroup: [4, 8] });
    expect(readNegotiation([device], device, responseOffer(outcome))).toEqual({
      consistent: false,
      retry: undefined,
    });
    const other = negotiate({ protocolType: 3, protocolGroup: [1] }, device);
    expect(readNegotiation([device], device, responseOffer(other))).toEqual({
      consistent: false,
      retry: undefined,
    });
  });

  it('device and LBS always read an outcome alike, and a retry always succeeds', () => {
    fc.assert(
      fc.property(offer, fc.array(offer, { minLength: 1, maxLength: 3 }), (lbs, device) => {
        const offered = device[0]!;
        const outcome = negotiate(lbs, offered);
        const read = readNegotiation(device, offered, responseOffer(outcome));
        expect(read.consistent).toBe(outcome.consistent);
        if (outcome.consistent) {
          expect(offered.protocolGroup).toContain(outcome.selected);
          expect(lbs.protocolGroup).toContain(outcome.selected);
          const shared = offered.protocolGroup.filter((m) => lbs.protocolGroup.includes(m));
          expect(outcome.selected).toBe(Math.max(...shared));
        } else if (!read.consistent && read.retry !== undefined) {
          expect(negotiate(lbs, read.retry).consistent).toBe(true);
        }
      }),
    );
  });
});

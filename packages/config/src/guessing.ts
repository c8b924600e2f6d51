/**
 * Limits on secret guessing (docs/decisions/0010-guessing-throttle.md): account passwords (XMPP SASL at the message
 * servers, the client account API at the account server) and device verification codes (bindings at the message
 * servers). The defaults are the decision's numbers; every one can be changed in the topology's `guessing` section.
 */
import { z } from 'zod';

const ms = z.number().int().min(0);
const count = z.number().int().min(1).max(1_000_000);

const backoffSchema = (d: { freeFailures: number }) =>
  z
    .object({
      /** Failures from one source (address, or requester for codes) that cost nothing. */
      freeFailures: z.number().int().min(0).default(d.freeFailures),
      /** The first wait after the free failures; each further failure doubles it. */
      baseDelayMs: ms.default(1_000),
      /** Longest wait of the back-off. */
      maxDelayMs: ms.default(60_000),
      /** A source with no failure for this long starts afresh. */
      forgetAfterMs: ms.default(15 * 60_000),
      /** Sources remembered per process (least recently failed forgotten first). */
      maxEntries: count.default(100_000),
    })
    .prefault({});

const limitsSchema = (d: {
  perPair: number;
  perTarget: number;
  perSource: number;
  knownForMs: number;
  maxKnownSources: number;
}) =>
  z
    .object({
      /** The sliding window every count below is over. */
      windowMs: z.number().int().min(1_000).default(3_600_000),
      /** Failures one source may make on one account or device per window. */
      perPair: count.default(d.perPair),
      /** Failures one account or device may take per window from sources not known to it. */
      perTarget: count.default(d.perTarget),
      /** Failures one source may make over all accounts or devices per window (sources known to the target excepted). */
      perSource: count.default(d.perSource),
      /** How long a successful login keeps its address known for the account (0: no known addresses). */
      knownForMs: ms.default(d.knownForMs),
      /** Only this many most recently successful addresses of an account count as known. */
      maxKnownSources: z.number().int().min(0).max(1_000).default(d.maxKnownSources),
    })
    .prefault({});

export const guessingSchema = z
  .object({
    /** Account passwords: SASL PLAIN and SCRAM (TCP, direct TLS, WebSocket) and the client account API. */
    passwords: z
      .object({
        backoff: backoffSchema({ freeFailures: 5 }),
        limits: limitsSchema({
          perPair: 10,
          perTarget: 50,
          perSource: 100,
          knownForMs: 30 * 24 * 3_600_000,
          maxKnownSources: 5,
        }),
      })
      .prefault({}),
    /** Device verification codes presented in a subscription request; the source is the requester's bare JID. */
    verifyCodes: z
      .object({
        backoff: backoffSchema({ freeFailures: 3 }),
        limits: limitsSchema({ perPair: 5, perTarget: 10, perSource: 20, knownForMs: 0, maxKnownSources: 0 }),
      })
      .prefault({}),
    /**
     * OSAP verification codes at the LBS (decision 0020), like passwords: the target is the device, the source its
     * address, and the address a device authenticated from stays known for it, so a guesser cannot lock it out.
     */
    osapCodes: z
      .object({
        backoff: backoffSchema({ freeFailures: 3 }),
        limits: limitsSchema({
          perPair: 5,
          perTarget: 10,
          perSource: 20,
          knownForMs: 30 * 24 * 3_600_000,
          maxKnownSources: 5,
        }),
      })
      .prefault({}),
  })
  .prefault({});

export type GuessingConfig = z.infer<typeof guessingSchema>;

/** The decision's numbers, for servers built without a topology file (tests, embedding). */
export const DEFAULT_GUESSING: GuessingConfig = guessingSchema.parse(undefined);

/**
 * OSAP device access (draft-wang-open-service-access-protocol-06; docs/osap.md, decision 0020): the load balancing
 * service (LBS) a message server runs as a listener of its own, and the device access service (DAS) instances it
 * sends devices to.
 */
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
/** A DAS address as a device dials it: what Get_AccessService_Rsp (F2) can carry. */
const dasHost = z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'a host name or IP address');
const GROUP_MEMBERS = [1, 2, 4, 8, 16, 32, 64, 128] as const;

export const dasInstanceSchema = z.object({
  host: dasHost,
  port: z.coerce.number().int().min(1).max(65535),
  /** Device connections it is meant to carry: the LBS sends a device where load ÷ capacity is lowest. */
  capacity: z.number().int().min(1).default(10_000),
  /** Taken out of rotation by the operator (no DAS reports its health yet: decision 0020). */
  enabled: z.boolean().default(true),
});
export type DasInstanceConfig = z.infer<typeof dasInstanceSchema>;

export const osapSchema = z
  .object({
    lbs: z
      .object({
        host: z.string().min(1).max(253).default('127.0.0.1'),
        /** TCP with direct TLS (the draft's Figure 1: "TCP+TLS"). */
        port,
        /** Time for the TLS handshake and each control message of the exchange (ms). */
        idleTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
        /**
         * The whole connection, from accept to F2 (ms): a device needs a few round trips, so a peer that drips
         * bytes to stay under the idle timeout does not hold a connection for long.
         */
        exchangeTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
      })
      .strict(),
    /** What this LBS negotiates (section 6, Figures 4–5): one protocol type and its group, one bit per member. */
    protocol: z
      .object({
        type: z.number().int().min(0).max(255).default(1),
        group: z
          .array(z.union(GROUP_MEMBERS.map((m) => z.literal(m))))
          .min(1)
          .refine((g) => g.every((m, i) => i === 0 || g[i - 1]! < m), 'members ascending, each once')
          .default([1, 2, 4, 8]),
      })
      .strict()
      .prefault({}),
    /**
     * PBKDF2 rounds of the share key. The message servers of an AS must agree; a change applies to codes set
     * afterwards (a device whose stored key has other rounds is refused until its code is set again).
     */
    shareKeyIterations: z.number().int().min(1).max(10_000_000).default(100_000),
    /** The DAS instances devices are sent to (section 7, F2). */
    das: z.array(dasInstanceSchema).min(1),
    /**
     * The DAS this message server runs (sections 8–9: MQTT over TLS, decision 0022); absent: none. Its address is
     * normally one of `das`, so that the LBS sends devices here.
     */
    dasListener: z
      .object({
        host: z.string().min(1).max(253).default('127.0.0.1'),
        /** MQTT with direct TLS (Figure 1: "MQTT", "TLS"); 8883 is MQTT's TLS port. */
        port,
        /**
         * The longest heartbeat interval a device may indicate (s): a CONNECT's keep alive of 0 or above it is
         * replaced by it, and a device silent for 1.5 times its interval is offline (MQTT 3.1.1 §3.1.2.10).
         */
        maxHeartbeatSeconds: z.number().int().min(1).max(65_535).default(60),
        /** Devices connected at once; a CONNECT beyond it is answered "server unavailable". */
        maxDevices: z.number().int().min(1).max(10_000_000).default(10_000),
        /** Time from accept to CONNECT, TLS handshake included (ms). */
        connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
        /**
         * The largest MQTT packet an authenticated device may send (bytes, fixed header included); a device that
         * announces a larger one is disconnected before it is read. The default takes an event of 65 536 characters
         * of four UTF-8 bytes each, sealed, on its topic.
         */
        maxPacketBytes: z
          .number()
          .int()
          .min(1024)
          .max(16_777_216)
          .default(288 * 1024),
        /** How long a requester waits for a device's operation result before a recipient-unavailable error (ms). */
        operationTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((osap, ctx) => {
    const seen = new Set<string>();
    osap.das.forEach((das, i) => {
      const key = `${das.host.toLowerCase()}:${das.port}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['das', i], message: 'duplicate DAS address' });
      seen.add(key);
    });
  });
export type OsapConfig = z.infer<typeof osapSchema>;

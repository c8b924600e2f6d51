/**
 * The smart-lock application, the RAS of ISO/IEC 14543-5-104 (clause 6.2; docs/smartlock.md): RACs (users) send it
 * requests as Message 8 and hear back through Message 12; BGWs (IRSP devices) relay sealed frames to and from their
 * BSLDs through Messages 13 and 9, and their being online comes as Messages 10/11. Lock factory records are imported
 * by the operator (`POST /smartlock/factory-records`).
 */
import { hashPassword } from '@irsp/credentials';
import { sendStatus } from '@irsp/http';
import { KEY_BYTES, lockIdSchema, nameSchema } from '@irsp/smartlock';
import { z } from 'zod';
import type { ApplicationFactory } from '../../application.js';
import { Answers } from './answers.js';
import { racRoutes } from './rac.js';
import { DEFAULT_SMARTLOCK_OPTIONS, Requests, type SmartlockOptions } from './requests.js';
import { ThirdParties } from './third-parties.js';
import { TpspRequests } from './tpsp-requests.js';

/** How often requests waiting for a lock are checked for their end, and grants for theirs. */
const SWEEP_MS = 1_000;

const factoryRecords = z.strictObject({
  records: z
    .array(
      z.strictObject({
        lockId: lockIdSchema,
        model: nameSchema,
        firmware: nameSchema,
        activationCode: z.string().regex(/^[A-Z0-9]{8,32}$/),
        keyId: z.number().int().min(0).max(255),
        key: z.string().regex(new RegExp(`^[0-9a-f]{${KEY_BYTES * 2}}$`)),
      }),
    )
    .min(1)
    .max(1000),
});

export function smartlock(options: Partial<SmartlockOptions> = {}): ApplicationFactory {
  return (ctx, config) => {
    const gatewayName = config.smartlock?.gateway;
    const thirdParties = new ThirdParties(
      ctx,
      ctx.framework.localServers.find((s) => s.name === gatewayName),
    );
    const requests = new Requests(ctx, { ...DEFAULT_SMARTLOCK_OPTIONS, ...options }, thirdParties);
    const answers = new Answers(ctx, requests, thirdParties);
    const tpspRequests = new TpspRequests(ctx, requests, thirdParties);
    let sweeper: NodeJS.Timeout | undefined;
    const sweep = async () => {
      try {
        const queued = await ctx.db.transaction(
          async (tx) => (await answers.expire(tx)) + (await requests.eraseEnded(tx)),
        );
        if (queued > 0) ctx.framework.sendsQueued();
      } catch (error) {
        ctx.logger.error({ err: error }, 'smart-lock requests not expired');
      }
    };
    return {
      name: 'smartlock',
      migrations: new URL('../../../migrations/smartlock/', import.meta.url),
      routes(app) {
        racRoutes(app, ctx);
        app.post(
          '/smartlock/factory-records',
          { config: { operation: 'smartlockFactoryRecords' } },
          async (request, reply) => {
            if (!ctx.isOperator(request.headers.authorization))
              return sendStatus(reply.header('www-authenticate', 'Basic realm="irsp"'), 401);
            const parsed = factoryRecords.safeParse(request.body);
            if (!parsed.success) return sendStatus(reply, 400);
            await ctx.db.transaction(async (tx) => {
              for (const r of parsed.data.records)
                await tx.query(
                  `INSERT INTO smartlock_factory_records (lock_id, model, firmware, activation_hash, key_id, key)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (lock_id) DO UPDATE SET model = EXCLUDED.model, firmware = EXCLUDED.firmware,
                   activation_hash = EXCLUDED.activation_hash, key_id = EXCLUDED.key_id, key = EXCLUDED.key`,
                  [
                    r.lockId,
                    r.model,
                    r.firmware,
                    await hashPassword(r.activationCode),
                    r.keyId,
                    Buffer.from(r.key, 'hex'),
                  ],
                );
            });
            return { imported: parsed.data.records.length };
          },
        );
      },
      async receive({ message, params }, tx) {
        switch (message.number) {
          case 8:
            return requests.handle(tx, params.userid!, params.data!);
          case 9:
            return answers.fromGateway(tx, params.deviceid!, params.data!);
          case 10:
          case 11:
            return answers.status(tx, params.deviceid!, message.number === 10);
          case 14:
            // Only the gateway is believed when it names the TPSP whose call this is (clause 6.6 through 8.8).
            if (params.thirdparty !== undefined && thirdParties.isGateway(params.appid))
              return tpspRequests.handle(tx, params.thirdparty, params.userid!, params.data!);
            if (params.thirdparty !== undefined)
              ctx.logger.warn(
                { from: params.appid },
                'a third party named by a server that is not the gateway',
              );
        }
      },
      async start() {
        sweeper = setInterval(() => void sweep(), SWEEP_MS);
      },
      async stop() {
        clearInterval(sweeper);
      },
    };
  };
}

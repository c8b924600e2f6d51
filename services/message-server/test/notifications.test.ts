/** Messages 10–11 go only to the application servers that ask for devices' status (clause 8.3.2). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApplicationServerConfig } from '@irsp/config';
import { loadMigrations, migrate, openTestDb, type Db } from '@irsp/store';
import { Notifications } from '../src/notifications.js';
import { Outbox } from '../src/outbox.js';
import { captureLogger } from '../../../test/support/irsp.js';

let db: Db;

const app = (name: string, deviceStatus: boolean): ApplicationServerConfig => ({
  name,
  url: `https://${name}.irsp.test`,
  listen: { host: '127.0.0.1', port: 0 },
  jid: `${name}.as1.irsp.test`,
  credentials: { appid: name, token: `${name}-token-0123456789` },
  deviceStatus,
  serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
});

beforeAll(async () => {
  db = await openTestDb('msnotify');
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
});

afterAll(async () => {
  await db?.close();
});

describe('Notifications', () => {
  it('queues Messages 10 and 11 for the application servers with deviceStatus, and uploads for the one addressed', async () => {
    const outbox = new Outbox(db, captureLogger().logger, () => Promise.reject(new Error('not started')));
    const notifications = new Notifications(db, outbox, [app('smartlock', true), app('billing', false)]);
    await notifications.deviceStatus('#lock1', true);
    await notifications.deviceStatus('#lock1', false);
    expect(await notifications.upload('billing.as1.irsp.test', '#lock1', 'meter 7')).toBe(true);
    expect(await notifications.upload('nobody.as1.irsp.test', '#lock1', 'x')).toBe(false);
    const rows = await db.query('SELECT target, operation, ordering_key, params FROM outbox ORDER BY id');
    expect(rows.rows).toEqual([
      {
        target: 'application-server:smartlock',
        operation: 'deviceOnline',
        ordering_key: 'smartlock:#lock1',
        params: { deviceid: '#lock1', type: 'online' },
      },
      {
        target: 'application-server:smartlock',
        operation: 'deviceOffline',
        ordering_key: 'smartlock:#lock1',
        params: { deviceid: '#lock1', type: 'offline' },
      },
      {
        target: 'application-server:billing',
        operation: 'deviceUpload',
        ordering_key: 'billing:#lock1',
        params: { deviceid: '#lock1', data: 'meter 7' },
      },
    ]);
  });
});

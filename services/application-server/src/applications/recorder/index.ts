/**
 * The recorder, the default application: it records every message its server receives (`GET /received`) and sends
 * Messages 12–15 on an operator's request, answering what the receiver answered (`POST /send`). Its table predates
 * the application seam and stays in the server's own migrations (001, 005).
 */
import type { ApplicationFactory } from '../../application.js';
import { receivedRoute } from './received-route.js';
import { record } from './received.js';
import { sendRoute } from './send-route.js';

export const recorder: ApplicationFactory = (ctx) => ({
  name: 'recorder',
  routes(app) {
    receivedRoute(app, ctx);
    sendRoute(app, ctx);
  },
  async receive({ message, params, delivery }, tx) {
    await record(tx, message.number, message.name, params, delivery);
  },
});

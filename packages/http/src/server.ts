/**
 * The Fastify shell every IRSP service is built in: HTTPS (TLS 1.2+), redacted logs, XML error bodies of
 * clause 8's shape for every failure, `/healthz`, `/readyz`, Prometheus `/metrics` and `/openapi.json`.
 */
import {
  LogController,
  fastify,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { STATUS_DETAILS, XML_CONTENT_TYPE, errorBody, type Status } from '@irsp/protocol';
import { deferredChildLogger, type Logger } from './logger.js';
import { REASON_HEADER, reasonText } from './reason.js';

export interface TlsOptions {
  cert: string;
  key: string;
  ca?: string;
}

export interface ServiceOptions {
  logger: Logger;
  /** HTTPS material; only `build…()` calls in unit tests that use `inject()` leave it out. */
  tls?: TlsOptions | undefined;
  /** Largest form body accepted (bytes). */
  bodyLimit?: number;
  /** Whether the service can do its work (database reachable…), for `/readyz`. */
  ready?: () => Promise<boolean>;
  /** The OpenAPI document of the service's interfaces. */
  openapi?: () => unknown;
  /** How often the count of requests served, by operation and status, is logged (info); 0 for never. */
  requestSummaryMs?: number;
  /** Time for a TLS handshake, and for a request's headers (default 10 s). */
  handshakeTimeoutMs?: number;
  /**
   * Whether an accepted socket may stay (a process-wide connection budget: the message server shares one with its
   * XMPP listeners); a socket refused is closed at once, before its TLS handshake.
   */
  admit?: (socket: Socket) => boolean;
}

export interface ServiceMetrics {
  registry: Registry;
  requests: Counter<'operation' | 'status'>;
  duration: Histogram<'operation'>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Operation name for metrics (a message or client API operation). */
    operation?: string;
  }
  interface FastifyInstance {
    metrics: ServiceMetrics;
  }
}

/**
 * Answers a status with clause 8's body; an error also with why, in `IRSP-Reason` and the request's log line (the
 * table's detail when the caller gives no reason).
 */
export function sendStatus(reply: FastifyReply, status: Status, reason?: string): FastifyReply {
  if (status === 200) return reply.code(200).header('content-type', XML_CONTENT_TYPE).send('');
  return reply
    .code(status)
    .header('content-type', XML_CONTENT_TYPE)
    .header(REASON_HEADER, reasonText(reason ?? STATUS_DETAILS[status]))
    .send(errorBody(status));
}

/**
 * Per-request lines where they tell something: a refusal or failure is logged at info (error for an exception)
 * with its method, redacted URL, status and time; a success only at debug. Successes are counted instead, in
 * `/metrics` and in the periodic summary below: at thousands of pushes a second, two JSON lines per request
 * cost more CPU than the push itself.
 */
class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const line = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else if (reply.statusCode >= 400)
      reply.log.info({ ...line, reason: reply.getHeader(REASON_HEADER) }, 'request completed');
    else reply.log.debug(line, 'request completed');
  }
}

/** Counts of requests served since the last summary line, by operation and status. */
function requestSummary(app: FastifyInstance, everyMs: number): (operation: string, status: number) => void {
  let served = new Map<string, number>();
  let since = Date.now();
  const flush = () => {
    if (served.size === 0) return;
    app.log.info(
      { served: Object.fromEntries(served), seconds: Math.round((Date.now() - since) / 1000) },
      'requests served',
    );
    served = new Map();
    since = Date.now();
  };
  const timer = everyMs > 0 ? setInterval(flush, everyMs).unref() : undefined;
  app.addHook('onClose', (_app, done) => {
    clearInterval(timer);
    flush();
    done();
  });
  return (operation, status) => {
    const key = `${operation} ${status}`;
    served.set(key, (served.get(key) ?? 0) + 1);
  };
}

function createMetrics(): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'irsp_requests_total',
      help: 'Requests served, by operation (message) and status code',
      labelNames: ['operation', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'irsp_request_duration_seconds',
      help: 'Time to answer a request, by operation (message)',
      labelNames: ['operation'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

/** One value of a gauge and its labels. */
export interface GaugeValue {
  labels: Record<string, string>;
  value: number;
}

/**
 * A gauge of what a service holds now (sessions, a backlog), read when `/metrics` is scraped rather than kept up to
 * date on every change: labels that no longer appear in a reading are dropped.
 */
export function gaugeOnScrape(
  app: FastifyInstance,
  options: { name: string; help: string; labelNames?: string[]; read: () => Promise<GaugeValue[]> },
): void {
  new Gauge({
    name: options.name,
    help: options.help,
    labelNames: options.labelNames ?? [],
    registers: [app.metrics.registry],
    async collect() {
      const values = await options.read();
      this.reset();
      for (const { labels, value } of values) this.set(labels, value);
    },
  });
}

/**
 * No socket is held by a client that never gets a request through: a failed or late TLS handshake ends the socket
 * (the headers' bound is in the server's options), and `admit` may refuse a socket before its handshake.
 */
function guardConnections(
  app: { server: HttpServer },
  admit: ((socket: Socket) => boolean) | undefined,
): void {
  const server = app.server;
  if (admit) {
    server.on('connection', (socket: Socket) => {
      if (!admit(socket)) socket.destroy();
    });
  }
  server.on('tlsClientError', (_error: Error, socket: Socket) => socket.destroy());
}

export function createService(options: ServiceOptions): FastifyInstance {
  // Node waits 120 s for a TLS handshake and only reports a timeout; the server below ends such a socket.
  const handshakeTimeout = options.handshakeTimeoutMs ?? 10_000;
  const app = fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    childLoggerFactory: deferredChildLogger,
    logController: new RequestLog(),
    ...(options.tls
      ? {
          https: {
            cert: options.tls.cert,
            key: options.tls.key,
            minVersion: 'TLSv1.2' as const,
            handshakeTimeout,
            // A request's headers within the same bound; Node checks on an interval of its own (30 s by default).
            headersTimeout: handshakeTimeout,
            connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(handshakeTimeout / 4))),
          },
        }
      : {}),
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    // HEAD on a message path would be answered as a GET without parameters: not an interface of ours.
    exposeHeadRoutes: false,
    forceCloseConnections: 'idle',
  });
  const metrics = createMetrics();
  app.decorate('metrics', metrics);
  guardConnections(app, options.admit);

  // Form bodies stay raw: the protocol package decodes them strictly (repeated parameters, bad encoding),
  // and bytes that are not UTF-8 are refused here rather than silently replaced.
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, utf8.decode(body as Buffer));
    } catch {
      done(Object.assign(new Error('form body is not UTF-8'), { statusCode: 400 }), undefined);
    }
  });

  const count = requestSummary(app as unknown as FastifyInstance, options.requestSummaryMs ?? 60_000);
  // A callback hook, not an async one: no promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    const operation = request.routeOptions.config.operation ?? 'other';
    metrics.requests.inc({ operation, status: String(reply.statusCode) });
    metrics.duration.observe({ operation }, reply.elapsedTime / 1000);
    count(operation, reply.statusCode);
    done();
  });

  app.setNotFoundHandler((_request, reply) => sendStatus(reply, 404, 'no such path'));
  app.setErrorHandler((error: { statusCode?: number; message?: string }, request, reply) => {
    const status = error.statusCode;
    if (status === 413) return sendStatus(reply, 413, 'body over the size limit');
    if (status === 415) return sendStatus(reply, 415, 'content type not accepted here');
    // Fastify's own 400s (and ours, e.g. a form body that is not UTF-8) say what was wrong with the body.
    if (status === 400) return sendStatus(reply, 400, error.message ?? 'unreadable body');
    // Never leak details of a 500: they stay in the log.
    request.log.error({ err: error }, 'request failed');
    return sendStatus(reply, 500);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = options.ready ? await options.ready().catch(() => false) : true;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  if (options.openapi) {
    const openapi = options.openapi;
    app.get('/openapi.json', async () => openapi());
  }
  // HTTPS and a pino Logger only change Fastify's generic parameters; services use the plain instance type.
  return app as unknown as FastifyInstance;
}

/**
 * The one logger factory of every service: pino JSON with secrets redacted. Secret parameters may arrive in
 * query strings (Messages 1–7 and 12–15 are GET-able), so request URLs are redacted too.
 */
import type { FastifyBaseLogger } from 'fastify';
import { pino, type Bindings, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger };

/** Parameters whose values never reach a log line. */
export const SECRET_PARAMETERS = ['password', 'newpassword', 'token', 'verifycode'] as const;
const SECRETS = new Set<string>(SECRET_PARAMETERS);

function decodeName(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return undefined;
  }
}

/** The URL with the value of every secret parameter replaced; a query that cannot be read is dropped whole. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const parts: string[] = [];
  for (const pair of url.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const name = decodeName(eq === -1 ? pair : pair.slice(0, eq));
    if (name === undefined) return `${url.slice(0, q)}?[REDACTED]`;
    parts.push(SECRETS.has(name) ? `${pair.slice(0, eq === -1 ? pair.length : eq)}=[REDACTED]` : pair);
  }
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

const redactPaths = SECRET_PARAMETERS.flatMap((name) => [name, `*.${name}`, `*.*.${name}`]);

export function createLogger(
  options: { name: string; level?: string },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: {
        paths: [...redactPaths, 'req.headers.authorization', 'req.headers.cookie'],
        censor: '[REDACTED]',
      },
      serializers: {
        req: (req: { method?: string; url?: string; ip?: string; socket?: { remoteAddress?: string } }) => ({
          method: req.method,
          url: req.url === undefined ? undefined : redactUrl(req.url),
          remoteAddress: req.ip ?? req.socket?.remoteAddress,
        }),
        err: pino.stdSerializers.err,
      },
    },
    destination,
  );
}

/**
 * A request's logger, made into a pino child (binding the request id) at its first line that the level lets
 * through. Fastify asks for one per request and most requests never log: serialising and redacting the
 * bindings of an eager child cost as much as parsing a push. It follows the parent's level until it is made.
 */
class DeferredChild implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger & { isLevelEnabled(level: string): boolean },
    private readonly bindings: Bindings,
  ) {}

  private made(): FastifyBaseLogger {
    return (this.#child ??= this.parent.child(this.bindings));
  }

  private log(level: Level, args: unknown[]): void {
    const logger = this.#child ?? (this.parent.isLevelEnabled(level) ? this.made() : undefined);
    (logger?.[level] as ((...a: unknown[]) => void) | undefined)?.apply(logger, args);
  }

  get level(): string {
    return (this.#child ?? this.parent).level;
  }

  set level(level: string) {
    this.made().level = level;
  }

  fatal(...args: unknown[]): void {
    this.log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.log('error', args);
  }
  warn(...args: unknown[]): void {
    this.log('warn', args);
  }
  info(...args: unknown[]): void {
    this.log('info', args);
  }
  debug(...args: unknown[]): void {
    this.log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.log('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: object): FastifyBaseLogger {
    return this.made().child(bindings, options);
  }
}

/** Fastify's `childLoggerFactory`: deferred children, unless the route sets its own level or serializers. */
export function deferredChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: object,
): FastifyBaseLogger {
  const parent = logger as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  if (Object.keys(options).length > 0 || typeof parent.isLevelEnabled !== 'function')
    return logger.child(bindings, options);
  return new DeferredChild(
    parent as FastifyBaseLogger & { isLevelEnabled(level: string): boolean },
    bindings,
  );
}

/**
 * The one logger factory of every service: pino JSON with secrets redacted. Secret parameters may arrive in
 * query strings (Messages 1–7 and 12–15 are GET-able), so request URLs are redacted too.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

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

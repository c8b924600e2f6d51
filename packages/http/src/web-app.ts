/**
 * Serving a web app built by Vite (the smart-lock RAC, the operator console): its `index.html` and hashed assets,
 * read once at start from the workspace package's `dist/`, under a strict CSP. Without a build the page answers 503
 * and says so.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

interface Asset {
  body: Buffer;
  type: string;
}

export interface WebApp {
  index: Buffer;
  assets: Map<string, Asset>;
}

/**
 * The built app of a workspace package (`pnpm build` runs its `vite build`), resolved from `from` (the caller's
 * `import.meta.url`); undefined when it is not built.
 */
export function loadWebApp(from: string, packageName: string): WebApp | undefined {
  try {
    const dist = join(dirname(createRequire(from).resolve(`${packageName}/package.json`)), 'dist');
    const index = readFileSync(join(dist, 'index.html'));
    const assets = new Map<string, Asset>();
    for (const name of readdirSync(join(dist, 'assets'))) {
      const type = CONTENT_TYPES[extname(name)];
      if (type) assets.set(name, { body: readFileSync(join(dist, 'assets', name)), type });
    }
    return { index, assets };
  } catch {
    return undefined;
  }
}

/** The CSP of our pages: nothing inline, nothing from elsewhere, connections only to `connect` (and the page's origin). */
export function webAppCsp(connect: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    ['connect-src', "'self'", ...connect].join(' '),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Headers of every answer of a page: its CSP, no sniffing, no referrer. */
export function secureWebReply(reply: FastifyReply, csp: string): FastifyReply {
  return reply
    .header('content-security-policy', csp)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
}

/**
 * Registers the page at `path` and its assets at `${assetsBase}/assets/:name` (Vite's `base`), with operations
 * `${operation}Page` and `${operation}Asset` for the metrics.
 */
export function serveWebApp(
  app: FastifyInstance,
  options: {
    webApp: WebApp | undefined;
    paths: readonly string[];
    assetsBase: string;
    csp: string;
    operation: string;
    notBuilt: string;
  },
): void {
  const { webApp, csp } = options;
  for (const path of options.paths) {
    app.get(path, { config: { operation: `${options.operation}Page` } }, async (_request, reply) => {
      if (!webApp)
        return secureWebReply(reply, csp).code(503).type('text/plain; charset=utf-8').send(options.notBuilt);
      return secureWebReply(reply, csp)
        .header('cache-control', 'no-cache')
        .type(CONTENT_TYPES['.html']!)
        .send(webApp.index);
    });
  }
  app.get<{ Params: { name: string } }>(
    `${options.assetsBase}/assets/:name`,
    { config: { operation: `${options.operation}Asset` } },
    async (request, reply) => {
      const asset = webApp?.assets.get(request.params.name);
      if (!asset)
        return secureWebReply(reply, csp).code(404).type('text/plain; charset=utf-8').send('Not found');
      // Vite names assets by their content's hash: a name never changes meaning.
      return secureWebReply(reply, csp)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .type(asset.type)
        .send(asset.body);
    },
  );
}

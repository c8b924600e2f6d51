// The console's build: plain TypeScript and DOM, bundled into dist/ (served by the account server at /console).
import { defaultClientConditions, defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  // The workspace's packages from their TypeScript sources, as the rest of the repository resolves them.
  resolve: { conditions: ['@irsp/source', ...defaultClientConditions] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Nothing inline: the page runs under a CSP without 'unsafe-inline'.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
});

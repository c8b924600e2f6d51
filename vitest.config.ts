import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['@irsp/source'] },
  ssr: { resolve: { conditions: ['@irsp/source'] } },
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'services/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      'bench/test/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

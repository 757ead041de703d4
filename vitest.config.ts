import { defineConfig } from 'vitest/config';

// Tests run against TypeScript sources; `npm test` builds dist/ and the plugins first
// because end-to-end tests spawn the real `siphon` binary and load the real .wasm files.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Suites that open sockets pick their own ports; keep files in parallel but bounded.
    maxWorkers: 2,
    minWorkers: 1,
  },
});

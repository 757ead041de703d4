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
    // core.workers (host/shards/): every node the suite starts without core.workers in its config
    // gets SIPHON_WORKERS shards. One unless the environment says otherwise, so the suite does not
    // depend on the machine's core count (the default is one shard per core on > 2 cores);
    // `npm test` then runs test/e2e and test/adversarial again with two (`npm run test:workers2`).
    env: { SIPHON_WORKERS: process.env.SIPHON_WORKERS ?? '1' },
  },
});

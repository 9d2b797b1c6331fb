import { defineConfig } from 'vitest/config';

// Two projects: fast pure/unit tests next to the code, and real-component suites under
// test/ that start BIRD, FRR and HAProxy in network namespaces. The integration suites
// run one file at a time: they are CPU- and timing-sensitive on 2-core machines.
export default defineConfig({
  test: {
    // Fails the run when it leaves a kernel route, a namespace, a daemon or a temp file behind.
    globalSetup: ['test/leak-check.global.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

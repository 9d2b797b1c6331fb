import { defineConfig } from 'vitest/config';

// Where a test lives says what it needs (the same rule is in the README's Developing section):
// - src/<folder>/x.test.ts (project "unit"): the code of that one folder, inside the test
//   process: pure functions, or the code against in-process stand-ins (the in-process API
//   server, testkit/). No root, no namespaces, no BIRD/FRR/HAProxy daemon, no kernel routes, no
//   built binaries, no timing measurements; a real tool may only check output (`bird -p` on a
//   golden file). These run in parallel.
// - test/x.test.ts (project "integration"): suites that need root or a real component, run the
//   built binaries, check shipped artefacts (daemonset/, Dockerfile, images) against the code,
//   drive code of several src/ folders together, or measure time. They run one file at a time:
//   they are CPU- and timing-sensitive on 2-core machines.
// - testkit/: test-only code shared by both (fakes, fixtures, helpers); never shipped in dist/src.
export default defineConfig({
  test: {
    // Fails the run when it leaves a kernel route, a namespace, a daemon or a temp file behind.
    globalSetup: ['test/leak-check.global.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'testkit/**/*.test.ts'],
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

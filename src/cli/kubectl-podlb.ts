#!/usr/bin/env node
// `kubectl podlb`: status, pools, approve/reject, explain. The commands live in src/cli/kubectl/.
import { runKubectlPodlb } from './kubectl/main.js';
import { errorMessage } from '../util/errors.js';

runKubectlPodlb(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
}).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`kubectl-podlb: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);

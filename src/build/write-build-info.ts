// Run by `npm run build` after tsc: records the commit and its date in dist/src/build-info.json
// for `podlb version`. PODLB_GIT_COMMIT / PODLB_BUILD_DATE (e.g. Docker build args) win over
// git, which a Docker build context usually lacks; without either, "unknown".
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const commit = process.env.PODLB_GIT_COMMIT || git(['rev-parse', 'HEAD']);
const date = process.env.PODLB_BUILD_DATE || git(['show', '-s', '--format=%cI', 'HEAD']);
const status = process.env.PODLB_GIT_COMMIT ? undefined : git(['status', '--porcelain', '--untracked-files=no']);
const info = {
  gitCommit: commit ?? 'unknown',
  gitTreeState: process.env.PODLB_GIT_TREE_STATE || (commit === undefined || process.env.PODLB_GIT_COMMIT ? 'unknown' : status ? 'dirty' : 'clean'),
  buildDate: date ?? 'unknown',
};
// Compiled: dist/src/build/write-build-info.js → dist/src/build-info.json, next to dist/src/version.js.
writeFileSync(new URL('../build-info.json', import.meta.url), `${JSON.stringify(info, null, 2)}\n`);
process.stdout.write(`build info: ${JSON.stringify(info)}\n`);

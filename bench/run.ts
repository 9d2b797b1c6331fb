// `npm run bench`: every performance figure podlb tracks, measured in one run on this machine and
// printed side by side. Each bench runs in a process of its own (bench/one.ts), one after the
// other, so none measures what an earlier one left in the heap.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ORDER = [
  'birdApply',
  'haproxyRuntime',
  'netlink',
  'poolApproval',
  'membersLatency',
  'membersLatencyInter1s',
  'burst',
  'rollout',
  'lbpoll',
  'octavia',
  'octaviaBatch',
  'datapath',
  'scaleApi',
];
// `npm run bench -- scale`: the figures of the 1,000-node issue in one run.
const GROUPS: Record<string, string[]> = { scale: ['scaleApi', 'lbpoll', 'burst', 'octaviaBatch', 'datapath'] };
const one = join(dirname(fileURLToPath(import.meta.url)), 'one.js');
const dir = mkdtempSync(join(tmpdir(), 'podlb-bench-'));
const results: Record<string, unknown> = {};
const failed: string[] = [];
const t0 = performance.now();
try {
  for (const name of (process.argv.length > 2 ? process.argv.slice(2) : ORDER).flatMap((n) => GROUPS[n] ?? [n])) {
    const out = join(dir, `${name}.json`);
    const r = spawnSync(process.execPath, [one, name], { stdio: 'inherit', env: { ...process.env, PODLB_BENCH_OUT: out }, timeout: 30 * 60_000 });
    if (r.status !== 0) {
      failed.push(name);
      continue;
    }
    results[name] = JSON.parse(readFileSync(out, 'utf8'));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\nbench finished in ${((performance.now() - t0) / 1000).toFixed(1)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`);
if (process.env.PODLB_BENCH_JSON) writeFileSync(process.env.PODLB_BENCH_JSON, JSON.stringify(results, null, 2));
if (failed.length) process.exitCode = 1;

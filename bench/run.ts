// `npm run bench`: every figure the issues ask for, measured in one run on this machine and
// printed side by side. Each bench also runs alone (node dist/bench/NAME.js).
import { benchBirdApply } from './bird-apply.js';
import { benchHaproxyRuntime } from './haproxy-runtime.js';
import { benchMembersLatency } from './members-latency.js';
import { benchNetlink } from './netlink.js';
import { benchOctavia } from './octavia.js';
import { benchBurst } from './burst.js';
import { benchRollout } from './rollout.js';
import { benchPoolApproval } from './pool-approval.js';

/** Prints a bench's figures: one row per measured quantity, p50/p99 side by side. */
function print(r: Record<string, unknown>): void {
  const rows: string[][] = [['figure', 'n', 'p50 ms', 'p99 ms', 'max ms']];
  const other: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (v && typeof v === 'object' && ('p50' in v || 'p50Ms' in v)) {
      const s = v as Record<string, number | undefined>;
      const f = (x: number | undefined): string => (x === undefined ? '' : x.toFixed(3));
      rows.push([k, String(s.n ?? ''), f(s.p50 ?? s.p50Ms), f(s.p99 ?? s.p99Ms), f(s.max ?? s.maxMs)]);
    } else other.push(`${k}: ${JSON.stringify(v)}`);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) console.log(`  ${row.map((cell, c) => cell.padEnd(w[c]!)).join('  ')}`);
  for (const o of other) console.log(`  ${o}`);
}

const results: Record<string, unknown> = {};
const t0 = performance.now();
console.log('== BIRD apply (render + configure check + configure) and session flaps at the FRR ToR ==');
results.birdApply = await benchBirdApply();
print(results.birdApply as Record<string, unknown>);
console.log('\n== HAProxy runtime API ==');
results.haproxyRuntime = await benchHaproxyRuntime();
print(results.haproxyRuntime as Record<string, unknown>);
console.log('\n== Netlink (issue 3): route dump vs spawning ip, route event latency ==');
results.netlink = await benchNetlink();
print(results.netlink as Record<string, unknown>);
console.log('\n== Pool approved → prefix in the ToR FIB, rejected → withdrawn (issue 3) ==');
results.poolApproval = await benchPoolApproval();
print(results.poolApproval as Record<string, unknown>);
console.log('\n== Member and readiness-gate latency in the lab (issue 2) ==');
results.membersLatency = await benchMembersLatency();
console.log('\n== 200 Pods ready at once (issue 4) ==');
results.burst = await benchBurst();
console.log('\n== Rolling update, with and without readiness gates (issue 4) ==');
results.rollout = await benchRollout();
console.log('\n== Octavia API calls per Pod lifecycle, against the in-process fake (issue 4) ==');
results.octavia = await benchOctavia();
print(results.octavia as Record<string, unknown>);
console.log(`\nbench finished in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
if (process.env.PODLB_BENCH_JSON) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(process.env.PODLB_BENCH_JSON, JSON.stringify(results, null, 2));
}

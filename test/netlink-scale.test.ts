// 10,000 routes in a namespace this suite creates: the dump is complete and equal to
// `ip -json route show`, and it never holds the event loop for long.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NetnsSandbox } from '../src/lab/netns.js';
import { BlackholeRoutes, PODLB_RT_PROTOCOL } from '../src/netlink/blackhole.js';
import { Netlink } from '../src/netlink/netlink.js';

const N = 10_000;
let sb: NetnsSandbox;
let ns: string;
let nl: Netlink;

beforeAll(async () => {
  sb = new NetnsSandbox();
  ns = await sb.addNetns('scale');
  const peer = await sb.addNetns('scalepeer');
  await sb.veth({ ns, ifname: 'eth0', addrs: ['10.1.0.1/24'] }, { ns: peer, ifname: 'eth0', addrs: ['10.1.0.2/24'] });
  const dir = sb.tempDir('nlscale');
  // Half via a gateway, half blackholes of another protocol, various metrics.
  const lines = Array.from({ length: N }, (_, i) => {
    const dst = `10.${100 + (i >> 8)}.${i & 255}.0/24`;
    return i % 2 ? `route add ${dst} via 10.1.0.2 metric ${i % 7}` : `route add blackhole ${dst} proto 12`;
  });
  writeFileSync(`${dir}/routes`, `${lines.join('\n')}\n`);
  await sb.exec(ns, 'ip', ['-batch', `${dir}/routes`], { timeoutMs: 60_000 });
  nl = Netlink.open({ netns: ns });
});

afterAll(async () => {
  nl?.close();
  await sb?.cleanup();
});

it(`dumps ${N} routes equal to ip -json route show, without blocking the event loop`, async () => {
  // Largest gap between event-loop turns while the dump runs.
  let maxGap = 0;
  let last = performance.now();
  let ticking = true;
  const tick = (): void => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const t0 = performance.now();
  const routes = await nl.dumpRoutes({ family: 4 });
  const ms = performance.now() - t0;
  ticking = false;

  const ip = JSON.parse(await sb.exec(ns, 'ip', ['-j', '-4', 'route', 'show'])) as { dst: string; gateway?: string; metric?: number; type?: string }[];
  const key = (dst: string, type: string, gw: string | undefined, metric: number): string => `${dst} ${type} ${gw ?? ''} ${metric}`;
  const ours = new Set(routes.map((r) => key(r.dst, r.type, r.gateway, r.priority ?? 0)));
  const theirs = new Set(ip.map((r) => key(r.dst.includes('/') ? r.dst : `${r.dst}/32`, r.type ?? 'unicast', r.gateway, r.metric ?? 0)));
  expect(routes.length).toBe(N + 1); // + the connected 10.1.0.0/24
  expect(ours.size).toBe(N + 1);
  expect([...ours].filter((k) => !theirs.has(k))).toEqual([]);
  expect(theirs.size).toBe(ours.size);
  console.log(
    `dump of ${routes.length} routes: ${ms.toFixed(1)} ms, ${nl.stats.yields} yields, longest slice ${nl.stats.maxSliceMs.toFixed(2)} ms, longest event-loop gap ${maxGap.toFixed(2)} ms`,
  );
  expect(maxGap).toBeLessThan(50);
});

it('converges 2,000 blackholes and back, never touching the 10,000 others', async () => {
  const bh = new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL });
  const want = Array.from({ length: 2000 }, (_, i) => `10.${200 + (i >> 8)}.${i & 255}.0/24`);
  const t0 = performance.now();
  expect((await bh.sync(want)).added).toHaveLength(2000);
  const addMs = performance.now() - t0;
  expect(await bh.sync(want)).toEqual({ added: [], removed: [], conflicts: [] });
  expect((await bh.sync([])).removed).toHaveLength(2000);
  expect((await nl.dumpRoutes({ family: 4 })).length).toBe(N + 1);
  console.log(`BlackholeRoutes.sync: 2000 adds in ${addMs.toFixed(0)} ms`);
});

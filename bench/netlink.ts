// Netlink binding costs on this machine, in a namespace holding 10,000 routes:
// - a dump through Netlink against spawning `ip -json route show` (and parsing its JSON);
// - the design the binding rejected: the same dump with each recv() on a koffi worker
//   thread (`.async`) instead of non-blocking recv + libuv poll;
// - the longest stretch the event loop was held during a dump;
// - event latency: `ip route add` (spawned) → subscription callback, and Netlink.addRoute
//   → callback (kernel to callback without the spawn).
// Needs root (namespaces). Runs alone: `node dist/bench/netlink.js` after `npm run build`.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import * as libc from '../native/libc.js';
import { NetnsSandbox } from '../src/lab/netns.js';
import { NLMSG_DONE, RTM_NEWROUTE } from '../src/netlink/constants.js';
import { splitMessages } from '../src/netlink/message.js';
import { Netlink } from '../src/netlink/netlink.js';
import { openSocketIn } from '../src/netlink/socket.js';
import { encodeRouteDump, parseRoute, type Route } from '../src/netlink/route.js';
import { summarize, timeEach, type Summary } from './stats.js';

const execFileP = promisify(execFile);
const ROUTES = 10_000;

/** CPU ms of this process (user + system, so the kernel's dump work in our recv counts) and of waited-for children. */
function cpuNow(): { self: number; children: number } {
  const u = process.cpuUsage();
  // /proc/self/stat fields 16 and 17: cutime, cstime in clock ticks (100 Hz).
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { self: (u.user + u.system) / 1000, children: (Number(f[13]) + Number(f[14])) * 10 };
}

/** CPU ms per call of `fn`, run n times: wall time is unreliable on a shared 2-core machine, CPU time much less so. */
async function cpuPerCall(n: number, fn: () => Promise<unknown>): Promise<number> {
  const a = cpuNow();
  for (let i = 0; i < n; i++) await fn();
  const b = cpuNow();
  return Number(((b.self - a.self + b.children - a.children) / n).toFixed(3));
}

/** The rejected design: a dump whose every recv() runs on a koffi worker thread. */
async function dumpWithWorkerRecv(fd: number, buf: Buffer): Promise<Route[]> {
  const req = encodeRouteDump(4, 1, 254);
  libc.sendto(fd, req, req.length, 0, libc.sockaddrNl(), 12);
  const out: Route[] = [];
  for (;;) {
    const n = await libc.recvOnWorker(fd, buf, buf.length, 0);
    if (n <= 0) throw new Error(`recv on worker: ${n}`);
    for (const m of splitMessages(buf.subarray(0, n))) {
      if (m.type === NLMSG_DONE) return out;
      if (m.type === RTM_NEWROUTE) {
        const r = parseRoute(m);
        if (r) out.push(r);
      }
    }
  }
}

/** Largest gap between event-loop turns while `fn` runs. */
async function maxLoopGap(fn: () => Promise<unknown>): Promise<number> {
  let maxGap = 0;
  let last = performance.now();
  let on = true;
  const tick = (): void => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    if (on) setImmediate(tick);
  };
  setImmediate(tick);
  await fn();
  on = false;
  return Number(maxGap.toFixed(3));
}

export async function benchNetlink(): Promise<Record<string, unknown>> {
  const sb = new NetnsSandbox();
  try {
    const ns = await sb.addNetns('nlbench');
    const peer = await sb.addNetns('nlbenchpeer');
    await sb.veth({ ns, ifname: 'eth0', addrs: ['10.1.0.1/24'] }, { ns: peer, ifname: 'eth0', addrs: ['10.1.0.2/24'] });
    const dir = sb.tempDir('nlbench');
    const lines = Array.from({ length: ROUTES }, (_, i) => `route add 10.${100 + (i >> 8)}.${i & 255}.0/24 via 10.1.0.2 metric ${i % 7}`);
    writeFileSync(`${dir}/routes`, `${lines.join('\n')}\n`);
    await sb.exec(ns, 'ip', ['-batch', `${dir}/routes`], { timeoutMs: 60_000 });

    const nl = Netlink.open({ netns: ns });
    let t = performance.now();
    const first = await nl.dumpRoutes({ family: 4 });
    const coldMs = performance.now() - t;
    if (first.length !== ROUTES + 1) throw new Error(`dumped ${first.length} routes, want ${ROUTES + 1}`);
    for (let i = 0; i < 5; i++) await nl.dumpRoutes({ family: 4 });
    const before = { ...nl.stats };
    const netlinkDump = await timeEach(100, () => nl.dumpRoutes({ family: 4 }));
    const per = (k: keyof typeof before): number => Number(((nl.stats[k] - before[k]) / 100).toFixed(1));
    const perDump = { recvCalls: per('recvCalls'), yields: per('yields'), pollWaits: per('pollWaits') };
    const loopGap = await maxLoopGap(async () => {
      for (let i = 0; i < 20; i++) await nl.dumpRoutes({ family: 4 });
    });

    const ipArgs = ['netns', 'exec', ns, 'ip', '-json', '-4', 'route', 'show'];
    await execFileP('ip', ipArgs, { maxBuffer: 64 << 20 });
    const ipSpawn = await timeEach(30, () => execFileP('ip', ipArgs, { maxBuffer: 64 << 20 }));
    const ipSpawnParse = await timeEach(30, async () => {
      const { stdout } = await execFileP('ip', ipArgs, { maxBuffer: 64 << 20 });
      return JSON.parse(stdout) as unknown[];
    });
    // `ip netns exec` itself costs a setns + exec; `ip -n NS` is the cheaper spawn.
    const ipN = await timeEach(30, () => execFileP('ip', ['-n', ns, '-json', '-4', 'route', 'show'], { maxBuffer: 64 << 20 }));
    const cpuNetlink = await cpuPerCall(50, () => nl.dumpRoutes({ family: 4 }));
    const cpuIp = await cpuPerCall(
      30,
      async () => JSON.parse((await execFileP('ip', ['-n', ns, '-json', '-4', 'route', 'show'], { maxBuffer: 64 << 20 })).stdout) as unknown,
    );

    const fd = openSocketIn(ns);
    const buf = Buffer.allocUnsafe(256 * 1024);
    let worker: number[] = [];
    try {
      for (let i = 0; i < 3; i++) await dumpWithWorkerRecv(fd, buf);
      worker = await timeEach(50, () => dumpWithWorkerRecv(fd, buf));
    } finally {
      libc.close(fd);
    }

    // Events.
    const seen = new Map<string, number>();
    const sub = nl.subscribe({ routes: true }, (ev) => {
      if (ev.kind === 'route' && ev.op === 'new') seen.set(ev.route.dst, performance.now());
    });
    const waitSeen = async (dst: string): Promise<number> => {
      const deadline = performance.now() + 5000;
      while (!seen.has(dst)) {
        if (performance.now() > deadline) throw new Error(`no event for ${dst}`);
        await new Promise((r) => setImmediate(r));
      }
      return seen.get(dst)!;
    };
    const ipToCb: number[] = [];
    for (let i = 0; i < 30; i++) {
      const dst = `10.250.${i}.0/24`;
      t = performance.now();
      await execFileP('ip', ['-n', ns, 'route', 'add', 'blackhole', dst]);
      ipToCb.push((await waitSeen(dst)) - t);
    }
    const addToCb: number[] = [];
    for (let i = 0; i < 200; i++) {
      const dst = `10.251.${i}.0/24`;
      t = performance.now();
      await nl.addRoute({ dst, type: 'blackhole', protocol: 201 });
      addToCb.push((await waitSeen(dst)) - t);
    }
    sub.close();
    const addRoute = await timeEach(200, async () => {
      await nl.replaceRoute({ dst: '10.252.0.0/24', type: 'blackhole', protocol: 201 });
    });
    nl.close();

    const nlS = summarize(netlinkDump);
    const ipS = summarize(ipSpawn);
    const ipPS = summarize(ipSpawnParse);
    return {
      routes: ROUTES + 1,
      netlinkDumpCold: { ms: Number(coldMs.toFixed(3)) },
      netlinkDump: nlS,
      ipJsonNetnsExecSpawn: ipS,
      ipJsonNetnsExecSpawnAndParse: ipPS,
      ipJsonDashNSpawn: summarize(ipN),
      workerThreadRecvDump: summarize(worker),
      speedupVsIpSpawnP50: Number((ipS.p50Ms / nlS.p50Ms).toFixed(1)),
      speedupVsIpSpawnAndParseP50: Number((ipPS.p50Ms / nlS.p50Ms).toFixed(1)),
      speedupVsIpSpawnP99: Number((ipS.p99Ms / nlS.p99Ms).toFixed(1)),
      cpuMsPerDump: { netlink: cpuNetlink, ipJsonSpawnAndParse: cpuIp, ratio: Number((cpuIp / cpuNetlink).toFixed(1)) },
      perDump,
      longestSliceMs: Number(nl.stats.maxSliceMs.toFixed(3)),
      longestEventLoopGapDuring20DumpsMs: loopGap,
      ipRouteAddToCallback: summarize(ipToCb),
      addRouteToCallback: summarize(addToCb),
      replaceRouteRoundTrip: summarize(addRoute),
    };
  } finally {
    await sb.cleanup();
  }
}

function print(r: Record<string, unknown>): void {
  const rows: string[][] = [['figure', 'n', 'p50 ms', 'p99 ms', 'max ms']];
  const other: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (v && typeof v === 'object' && 'p50Ms' in v) {
      const s = v as Summary;
      rows.push([k, String(s.n), s.p50Ms.toFixed(3), s.p99Ms.toFixed(3), s.maxMs.toFixed(3)]);
    } else other.push(`${k}: ${JSON.stringify(v)}`);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) console.log(`  ${row.map((cell, c) => cell.padEnd(w[c]!)).join('  ')}`);
  for (const o of other) console.log(`  ${o}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('== Netlink binding: 10,000-route dump vs ip -json, event latency ==');
  print(await benchNetlink());
}

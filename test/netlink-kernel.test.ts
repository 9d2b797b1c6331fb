// The netlink binding against the real kernel, in namespaces this suite creates: dumps equal
// what `ip -json route show` reports, route changes and their errors, default gateway, links,
// and that opening a socket in a namespace leaves the root namespace alone.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsSandbox, run, waitFor } from '../src/lab/netns.js';
import { ROUTE_TYPES } from '../src/netlink/constants.js';
import { NetlinkError } from '../src/netlink/errors.js';
import { Netlink } from '../src/netlink/netlink.js';
import type { Route } from '../src/netlink/route.js';

let sb: NetnsSandbox;
let ns: string;
let nl: Netlink;

interface IpRoute {
  dst: string;
  type?: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  prefsrc?: string;
  table?: string;
  nexthops?: { gateway?: string; dev?: string; weight?: number }[];
}

/** One comparable line per route, from iproute2's numeric JSON (`ip -N -j`), which omits defaults. */
function keyOfIp(r: IpRoute, family: 4 | 6): string {
  const host = family === 4 ? 32 : 128;
  const dst = r.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : r.dst.includes('/') ? r.dst : `${r.dst}/${host}`;
  const hops = (r.nexthops ?? []).map((h) => `${h.gateway ?? ''}@${h.dev ?? ''}*${h.weight ?? 1}`).sort();
  return [
    dst,
    ROUTE_TYPES[Number(r.type ?? 1)],
    `proto=${r.protocol ?? 3}`,
    `scope=${r.scope ?? 0}`,
    `metric=${r.metric ?? 0}`,
    `gw=${r.gateway ?? ''}`,
    `dev=${r.dev ?? ''}`,
    `src=${r.prefsrc ?? ''}`,
    `hops=${hops.join(',')}`,
  ].join(' ');
}

function keyOfRoute(r: Route, names: Map<number, string>): string {
  const hops = (r.multipath ?? []).map((h) => `${h.gateway ?? ''}@${names.get(h.oif) ?? ''}*${h.weight}`).sort();
  return [
    r.dst,
    r.type,
    `proto=${r.protocol}`,
    `scope=${r.scope}`,
    `metric=${r.priority ?? 0}`,
    `gw=${r.gateway ?? ''}`,
    `dev=${r.oif === undefined ? '' : names.get(r.oif)}`,
    `src=${r.prefsrc ?? ''}`,
    `hops=${hops.join(',')}`,
  ].join(' ');
}

async function ipRoutes(family: 4 | 6, extra: string[] = []): Promise<string[]> {
  const out = await sb.exec(ns, 'ip', ['-N', '-j', `-${family}`, 'route', 'show', ...extra]);
  return (JSON.parse(out) as IpRoute[]).map((r) => keyOfIp(r, family)).sort();
}

async function ourRoutes(family: 4 | 6, table?: number): Promise<string[]> {
  const names = new Map((await nl.links()).map((l) => [l.index, l.name]));
  return (await nl.dumpRoutes(table === undefined ? { family } : { family, table })).map((r) => keyOfRoute(r, names)).sort();
}

function rootRoutes(): string {
  return ['-4', '-6'].map((f) => execFileSync('ip', ['-j', f, 'route', 'show', 'table', 'all'], { encoding: 'utf8' })).join('\n');
}

beforeAll(async () => {
  sb = new NetnsSandbox();
  ns = await sb.addNetns('nl');
  const peer = await sb.addNetns('nlpeer');
  await sb.sysctl(ns, 'net.ipv6.conf.all.accept_dad', '0');
  await sb.veth({ ns, ifname: 'eth0', addrs: ['10.1.0.1/24', 'fd00:1::1/64'] }, { ns: peer, ifname: 'eth0', addrs: ['10.1.0.2/24', 'fd00:1::2/64'] });
  await sb.veth({ ns, ifname: 'eth1', addrs: ['10.2.0.1/24', 'fd00:2::1/64'] }, { ns: peer, ifname: 'eth1', addrs: ['10.2.0.2/24'] });
  const ip = (...args: string[]): Promise<string> => sb.exec(ns, 'ip', args);
  await ip('route', 'add', 'default', 'via', '10.1.0.2', 'metric', '100');
  await ip('route', 'add', 'default', 'via', '10.2.0.2', 'metric', '50');
  await ip('-6', 'route', 'add', 'default', 'via', 'fd00:1::2');
  await ip('route', 'add', 'blackhole', '10.244.0.0/16', 'proto', '12');
  await ip('route', 'add', '10.8.0.0/16', 'nexthop', 'via', '10.1.0.2', 'weight', '2', 'nexthop', 'via', '10.2.0.2');
  await ip('-6', 'route', 'add', 'fd88::/64', 'nexthop', 'via', 'fd00:1::2', 'nexthop', 'via', 'fd00:2::2', 'dev', 'eth1');
  await ip('route', 'add', '10.7.0.5', 'dev', 'eth0', 'src', '10.1.0.1', 'proto', 'static');
  await ip('route', 'add', '10.6.0.0/16', 'via', '10.1.0.2', 'table', '100');
  await ip('route', 'add', 'unreachable', '10.5.0.0/16', 'table', '1000');
  await ip('-6', 'route', 'add', 'blackhole', 'fd99::/48', 'proto', '186', 'metric', '77');
  nl = Netlink.open({ netns: ns });
});

afterAll(async () => {
  nl?.close();
  await sb?.cleanup();
});

describe('dumpRoutes', () => {
  it.each([4, 6] as const)('IPv%i main table equals `ip -json route show` as a set', async (family) => {
    const ours = await ourRoutes(family);
    expect(ours).toEqual(await ipRoutes(family));
    expect(ours.length).toBeGreaterThan(3);
  });

  it.each([
    [100, ['table', '100']],
    [1000, ['table', '1000']],
    [255, ['table', 'local']],
  ] as const)('table %i equals `ip route show table`', async (table, args) => {
    const ours = await ourRoutes(4, table);
    expect(ours).toEqual(await ipRoutes(4, [...args]));
    expect(ours.length).toBeGreaterThan(0);
  });

  it('returns no routes for a table that was never used (the kernel answers ENOENT)', async () => {
    expect(await nl.dumpRoutes({ table: 4242 })).toEqual([]);
    expect(await nl.dumpRoutes({ family: 6, table: 100 })).toEqual([]);
  });

  it('parses multipath next hops and table ids above 255', async () => {
    const all = await nl.dumpRoutes({ table: 'all' });
    const mp = all.find((r) => r.dst === '10.8.0.0/16');
    expect(mp?.multipath?.map((h) => [h.gateway, h.weight])).toEqual([
      ['10.1.0.2', 2],
      ['10.2.0.2', 1],
    ]);
    expect(all.find((r) => r.dst === '10.5.0.0/16')).toMatchObject({ table: 1000, type: 'unreachable' });
    expect(all.find((r) => r.dst === 'fd99::/48')).toMatchObject({ family: 6, type: 'blackhole', protocol: 186, priority: 77 });
  });
});

describe('route changes', () => {
  it('adds and deletes a blackhole route (IPv4 and IPv6) with protocol and metric', async () => {
    for (const dst of ['10.250.0.0/16', 'fd77:1::/64']) {
      await nl.addRoute({ dst, type: 'blackhole', protocol: 201, priority: 33 });
      const fam = dst.includes(':') ? '-6' : '-4';
      const shown = JSON.parse(await sb.exec(ns, 'ip', ['-N', '-j', fam, 'route', 'show', dst])) as IpRoute[];
      expect(shown).toMatchObject([{ type: '6', protocol: '201', metric: 33 }]);
      await nl.deleteRoute({ dst, type: 'blackhole', protocol: 201 });
      expect(JSON.parse(await sb.exec(ns, 'ip', ['-j', fam, 'route', 'show', dst]))).toEqual([]);
    }
  });

  it('adding an existing route fails with a typed EEXIST, deleting a missing one with ESRCH', async () => {
    await nl.addRoute({ dst: '10.251.0.0/16', type: 'blackhole' });
    const exists = await nl.addRoute({ dst: '10.251.0.0/16', type: 'blackhole' }).catch((e: unknown) => e);
    expect(exists).toBeInstanceOf(NetlinkError);
    expect(exists).toMatchObject({ errno: 17, errnoName: 'EEXIST', code: 'NETLINK_EEXIST', transient: false });
    await nl.deleteRoute({ dst: '10.251.0.0/16' });
    const missing = await nl.deleteRoute({ dst: '10.251.0.0/16' }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ errno: 3, errnoName: 'ESRCH', code: 'NETLINK_ESRCH' });
    const missing6 = await nl.deleteRoute({ dst: 'fd77:2::/64' }).catch((e: unknown) => e);
    expect(missing6).toMatchObject({ errnoName: 'ESRCH' });
  });

  it('carries the kernel extended-ack message', async () => {
    const err = (await nl.addRoute({ dst: '10.252.0.0/16', gateway: '192.0.2.1' }).catch((e: unknown) => e)) as NetlinkError;
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err.errnoName).toBe('ENETUNREACH');
    expect(err.kernelMessage).toMatch(/gateway/i);
  });

  it('replaceRoute turns a blackhole into a unicast route and back, without EEXIST', async () => {
    await nl.replaceRoute({ dst: '10.253.0.0/16', type: 'blackhole', protocol: 201 });
    await nl.replaceRoute({ dst: '10.253.0.0/16', gateway: '10.1.0.2', protocol: 201 });
    let r = (await nl.dumpRoutes({ family: 4 })).filter((x) => x.dst === '10.253.0.0/16');
    expect(r).toMatchObject([{ type: 'unicast', gateway: '10.1.0.2', protocol: 201 }]);
    await nl.replaceRoute({ dst: '10.253.0.0/16', type: 'blackhole', protocol: 201 });
    r = (await nl.dumpRoutes({ family: 4 })).filter((x) => x.dst === '10.253.0.0/16');
    expect(r).toMatchObject([{ type: 'blackhole', protocol: 201 }]);
    await nl.deleteRoute({ dst: '10.253.0.0/16' });
  });

  it('keeps requests in order when many run at once', async () => {
    const dsts = Array.from({ length: 50 }, (_, i) => `10.254.${i}.0/24`);
    await Promise.all(dsts.map((dst) => nl.addRoute({ dst, type: 'blackhole', protocol: 201 })));
    const [dump] = await Promise.all([nl.dumpRoutes({ family: 4 }), ...dsts.map((dst) => nl.deleteRoute({ dst, protocol: 201 }))]);
    expect(dump.filter((r) => r.dst.startsWith('10.254.')).length).toBe(50);
    expect((await nl.dumpRoutes({ family: 4 })).filter((r) => r.dst.startsWith('10.254.'))).toEqual([]);
  });
});

describe('defaultGateway and links', () => {
  it('returns the lowest-metric default route with its interface', async () => {
    expect(await nl.defaultGateway(4)).toEqual({ gateway: '10.2.0.2', ifindex: expect.any(Number), ifname: 'eth1' });
    expect(await nl.defaultGateway(6)).toMatchObject({ gateway: 'fd00:1::2', ifname: 'eth0' });
  });

  it('returns undefined when there is none', async () => {
    const empty = await sb.addNetns('nlempty');
    const other = Netlink.open({ netns: empty });
    try {
      expect(await other.defaultGateway(4)).toBeUndefined();
      expect(await other.defaultGateway(6)).toBeUndefined();
    } finally {
      other.close();
    }
  });

  it('lists links like `ip -json link show`', async () => {
    const ip = JSON.parse(await sb.exec(ns, 'ip', ['-j', 'link', 'show'])) as {
      ifindex: number;
      ifname: string;
      operstate: string;
      mtu: number;
      address: string;
    }[];
    const ours = await nl.links();
    expect(ours.map((l) => [l.index, l.name, l.operstate.toUpperCase(), l.mtu, l.address])).toEqual(
      ip.map((l) => [l.ifindex, l.ifname, l.operstate, l.mtu, l.address]),
    );
    expect(ours.find((l) => l.name === 'eth0')).toMatchObject({ kind: 'veth', up: true, lowerUp: true, operstate: 'up' });
    expect(ours.find((l) => l.name === 'lo')).toMatchObject({ up: true, linkType: 772 });
  });
});

describe('namespaces', () => {
  it('opening, using and closing sockets in a namespace leaves the root namespace unchanged', async () => {
    const before = rootRoutes();
    const rootLinksBefore = execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' });
    const selfNs = execFileSync('readlink', [`/proc/${process.pid}/task/${process.pid}/ns/net`], { encoding: 'utf8' });
    for (let i = 0; i < 20; i++) {
      const n = Netlink.open({ netns: ns });
      await n.addRoute({ dst: `10.249.${i}.0/24`, type: 'blackhole', protocol: 201 });
      n.close();
    }
    expect(execFileSync('readlink', [`/proc/${process.pid}/task/${process.pid}/ns/net`], { encoding: 'utf8' })).toBe(selfNs);
    expect(rootRoutes()).toBe(before);
    expect(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })).toBe(rootLinksBefore);
    expect((await nl.dumpRoutes({ family: 4 })).filter((r) => r.dst.startsWith('10.249.')).length).toBe(20);
    for (let i = 0; i < 20; i++) await nl.deleteRoute({ dst: `10.249.${i}.0/24`, protocol: 201 });
  });

  it('fails with a typed error for a namespace that does not exist, and stays in its own', () => {
    const selfNs = execFileSync('readlink', ['/proc/thread-self/ns/net'], { encoding: 'utf8' });
    expect(() => Netlink.open({ netns: `${ns}-missing` })).toThrow(expect.objectContaining({ errnoName: 'ENOENT' }));
    expect(() => Netlink.open({ netns: '../etc' })).toThrow(NetlinkError);
    expect(execFileSync('readlink', ['/proc/thread-self/ns/net'], { encoding: 'utf8' })).toBe(selfNs);
  });

  it('accepts a /proc/PID/ns/net path', async () => {
    const sleeper = sb.spawn(ns, 'sleep', ['30']);
    const pid = await waitFor('a process in the namespace', async () => (await run('ip', ['netns', 'pids', ns])).trim().split(/\s+/).find(Boolean));
    const byPath = Netlink.open({ netns: `/proc/${pid}/ns/net` });
    try {
      expect((await byPath.links()).map((l) => l.name).sort()).toEqual(['eth0', 'eth1', 'lo']);
    } finally {
      byPath.close();
      sleeper.child.kill();
    }
  });

  it('rejects requests after close', async () => {
    const n = Netlink.open({ netns: ns });
    n.close();
    await expect(n.links()).rejects.toMatchObject({ errnoName: 'EBADF' });
  });
});

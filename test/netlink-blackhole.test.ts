// BlackholeRoutes against the real kernel, in a namespace this suite creates: converges
// podlb's blackholes (both families) to the wanted set, is idempotent, and never touches a
// route of another protocol or type, even one for the same prefix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsSandbox } from '../src/lab/netns.js';
import { BLACKHOLE_METRIC, BlackholeRoutes, PODLB_RT_PROTOCOL } from '../src/netlink/blackhole.js';
import { InvalidAddressError } from '../src/net/ip.js';
import { Netlink } from '../src/netlink/netlink.js';

let sb: NetnsSandbox;
let ns: string;
let nl: Netlink;

/** Every route in the namespace except podlb's, as `ip -N -j` prints them (table all, both families). */
async function othersRoutes(): Promise<string> {
  const all = await Promise.all(['-4', '-6'].map((f) => sb.exec(ns, 'ip', ['-N', '-j', f, 'route', 'show', 'table', 'all'])));
  return JSON.stringify(all.flatMap((o) => (JSON.parse(o) as { protocol?: string }[]).filter((r) => r.protocol !== String(PODLB_RT_PROTOCOL))));
}

async function ours(): Promise<string[]> {
  const out = await Promise.all(
    ['-4', '-6'].map((f) => sb.exec(ns, 'ip', ['-j', f, 'route', 'show', 'proto', String(PODLB_RT_PROTOCOL), 'type', 'blackhole'])),
  );
  return out.flatMap((o) => (JSON.parse(o) as { dst: string }[]).map((r) => r.dst)).sort();
}

beforeAll(async () => {
  sb = new NetnsSandbox();
  ns = await sb.addNetns('bh');
  const peer = await sb.addNetns('bhpeer');
  await sb.veth({ ns, ifname: 'eth0', addrs: ['10.1.0.1/24', 'fd00:1::1/64'] }, { ns: peer, ifname: 'eth0', addrs: ['10.1.0.2/24', 'fd00:1::2/64'] });
  const ip = (...a: string[]): Promise<string> => sb.exec(ns, 'ip', a);
  // Other owners' routes, some for the very prefixes podlb will want.
  await ip('route', 'add', 'blackhole', '10.244.9.0/24', 'proto', 'bird'); // someone else's blackhole
  await ip('route', 'add', '10.244.1.0/24', 'via', '10.1.0.2', 'proto', 'static'); // same prefix as one of ours
  await ip('route', 'add', 'blackhole', '10.244.2.0/24', 'proto', 'static', 'metric', String(BLACKHOLE_METRIC)); // same prefix AND metric
  await ip('-6', 'route', 'add', 'blackhole', 'fd10::/48', 'proto', '186');
  await ip('route', 'add', 'unreachable', '10.244.3.0/24', 'proto', String(PODLB_RT_PROTOCOL)); // our protocol, not a blackhole
  nl = Netlink.open({ netns: ns });
});

afterAll(async () => {
  nl?.close();
  await sb?.cleanup();
});

describe('BlackholeRoutes', () => {
  it('adds the wanted prefixes of both families, leaves everyone else alone, and is idempotent', async () => {
    const before = await othersRoutes();
    const bh = new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL });
    const r1 = await bh.sync(['10.244.1.0/24', '10.244.9.0/24', 'fd20:1::/64', '10.244.4.0/24']);
    expect(r1).toEqual({ added: ['10.244.1.0/24', '10.244.9.0/24', 'fd20:1::/64', '10.244.4.0/24'], removed: [], conflicts: [] });
    expect(await ours()).toEqual(['10.244.1.0/24', '10.244.4.0/24', '10.244.9.0/24', 'fd20:1::/64']);
    expect(await othersRoutes()).toBe(before);
    // The real route to 10.244.1.0/24 still wins: ours sits at a far higher metric.
    const got = JSON.parse(await sb.exec(ns, 'ip', ['-j', 'route', 'get', '10.244.1.7'])) as { gateway?: string; type?: string }[];
    expect(got[0]).toMatchObject({ gateway: '10.1.0.2' });
    expect(await bh.sync(['10.244.1.0/24', '10.244.9.0/24', 'fd20:1::/64', '10.244.4.0/24'])).toEqual({ added: [], removed: [], conflicts: [] });
  });

  it('removes only its own extra routes', async () => {
    const before = await othersRoutes();
    const bh = new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL });
    const r = await bh.sync(['fd20:2::/64']);
    expect(r.removed.sort()).toEqual(['10.244.1.0/24', '10.244.4.0/24', '10.244.9.0/24', 'fd20:1::/64']);
    expect(r.added).toEqual(['fd20:2::/64']);
    expect(await ours()).toEqual(['fd20:2::/64']);
    expect(await othersRoutes()).toBe(before);
    expect(await bh.sync([])).toEqual({ added: [], removed: ['fd20:2::/64'], conflicts: [] });
    expect(await ours()).toEqual([]);
    expect(await othersRoutes()).toBe(before);
  });

  it('reports a prefix it cannot own without replacing the other route', async () => {
    const before = await othersRoutes();
    const bh = new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL });
    expect(await bh.sync(['10.244.2.0/24'])).toEqual({ added: [], removed: [], conflicts: ['10.244.2.0/24'] });
    expect(await othersRoutes()).toBe(before);
    expect(await bh.sync([])).toEqual({ added: [], removed: [], conflicts: [] });
  });

  it('rejects invalid prefixes and protocols before changing anything', async () => {
    const bh = new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL });
    await bh.sync(['10.244.5.0/24']);
    await expect(bh.sync(['10.244.6.1/24'])).rejects.toBeInstanceOf(InvalidAddressError);
    await expect(bh.sync(['banana'])).rejects.toBeInstanceOf(InvalidAddressError);
    expect(await ours()).toEqual(['10.244.5.0/24']);
    expect(() => new BlackholeRoutes(nl, { protocol: 2 })).toThrow(/kernel/);
    expect(() => new BlackholeRoutes(nl, { protocol: 256 })).toThrow(/5\.\.255/);
    await bh.sync([]);
  });

  it('serializes concurrent syncs: the last call wins', async () => {
    const bh = new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL });
    const sets = [['10.244.7.0/24'], ['10.244.8.0/24', 'fd20:3::/64'], ['10.244.7.0/24', 'fd20:4::/64']];
    await Promise.all(sets.map((s) => bh.sync(s)));
    expect(await ours()).toEqual(['10.244.7.0/24', 'fd20:4::/64']);
    await bh.sync([]);
  });

  it('works in another table', async () => {
    const bh = new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL, table: 1234 });
    expect((await bh.sync(['10.244.10.0/24'])).added).toEqual(['10.244.10.0/24']);
    expect(JSON.parse(await sb.exec(ns, 'ip', ['-j', 'route', 'show', 'table', '1234']))).toMatchObject([{ type: 'blackhole', dst: '10.244.10.0/24' }]);
    expect(await ours()).toEqual([]); // main table untouched
    expect((await bh.sync([])).removed).toEqual(['10.244.10.0/24']);
  });
});

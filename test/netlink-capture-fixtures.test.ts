// Captures the real kernel replies that src/netlink/codec.test.ts parses
// (src/netlink/fixtures/*.hex, one received datagram per line). Skipped unless UPDATE_FIXTURES=1:
//   UPDATE_FIXTURES=1 npx vitest run test/netlink-capture-fixtures.test.ts
// The namespace is built the same way every time, so a recapture should only differ where
// the kernel's output format did.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { release } from 'node:os';
import { it } from 'vitest';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { Netlink } from '../src/netlink/netlink.js';

const OUT = join(import.meta.dirname, '../src/netlink/fixtures');

function save(name: string, what: string, datagrams: Buffer[]): void {
  const header = [`# ${what}`, `# captured from Linux ${release()} in a test namespace by test/netlink-capture-fixtures.test.ts`];
  writeFileSync(join(OUT, `${name}.hex`), `${[...header, ...datagrams.map((d) => d.toString('hex'))].join('\n')}\n`);
}

it.runIf(process.env.UPDATE_FIXTURES === '1')('captures rtnetlink replies from a namespace', async () => {
  mkdirSync(OUT, { recursive: true });
  const sb = new NetnsSandbox();
  try {
    const ns = await sb.addNetns('cap');
    const peer = await sb.addNetns('cappeer');
    await sb.sysctl(ns, 'net.ipv6.conf.all.accept_dad', '0');
    await sb.veth({ ns, ifname: 'eth0', addrs: ['10.1.0.1/24', 'fd00:1::1/64'] }, { ns: peer, ifname: 'eth0', addrs: ['10.1.0.2/24', 'fd00:1::2/64'] });
    await sb.veth({ ns, ifname: 'eth1', addrs: ['10.2.0.1/24', 'fd00:2::1/64'] }, { ns: peer, ifname: 'eth1', addrs: ['10.2.0.2/24'] });
    const ip = (...a: string[]): Promise<string> => sb.exec(ns, 'ip', a);
    await ip('link', 'set', 'eth0', 'address', '02:00:00:00:00:01');
    await ip('link', 'set', 'eth1', 'address', '02:00:00:00:00:02');
    await ip('route', 'add', 'default', 'via', '10.1.0.2', 'metric', '100');
    await ip('route', 'add', 'blackhole', '10.244.1.0/24', 'proto', '201', 'metric', '4000000000');
    await ip('route', 'add', '10.8.0.0/16', 'nexthop', 'via', '10.1.0.2', 'weight', '2', 'nexthop', 'via', '10.2.0.2');
    await ip('route', 'add', '10.7.0.5', 'dev', 'eth0', 'src', '10.1.0.1', 'proto', 'static');
    await ip('route', 'add', 'unreachable', '10.5.0.0/16', 'table', '1000');
    await ip('-6', 'route', 'add', 'default', 'via', 'fd00:1::2');
    await ip('-6', 'route', 'add', 'blackhole', 'fd99::/48', 'proto', '201', 'metric', '77');
    await ip('-6', 'route', 'add', 'fd88::/64', 'nexthop', 'via', 'fd00:1::2', 'nexthop', 'via', 'fd00:2::2', 'dev', 'eth1');

    let got: Buffer[] = [];
    const nl = Netlink.open({ netns: ns, onDatagram: (b) => got.push(b) });
    const take = (): Buffer[] => {
      const out = got;
      got = [];
      return out;
    };
    await nl.dumpRoutes({ family: 4, table: 'all' });
    save('route-dump-ipv4-all', 'RTM_GETROUTE dump, AF_INET, all tables', take());
    await nl.dumpRoutes({ family: 6 });
    save('route-dump-ipv6-main', 'RTM_GETROUTE dump, AF_INET6, table main (strict check)', take());
    await nl.links();
    save('link-dump', 'RTM_GETLINK dump, IFLA_EXT_MASK skip stats', take());
    await nl.addRoute({ dst: '10.9.0.0/16', type: 'blackhole', protocol: 201 });
    save('ack', 'RTM_NEWROUTE blackhole 10.9.0.0/16: ACK (capped)', take());
    await nl.addRoute({ dst: '10.9.0.0/16', type: 'blackhole', protocol: 201 }).catch(() => undefined);
    save('error-eexist', 'RTM_NEWROUTE 10.9.0.0/16 again (NLM_F_EXCL): EEXIST', take());
    await nl.deleteRoute({ dst: '10.10.0.0/16' }).catch(() => undefined);
    save('error-esrch', 'RTM_DELROUTE 10.10.0.0/16 (absent): ESRCH', take());
    await nl.addRoute({ dst: '10.11.0.0/16', gateway: '192.0.2.1' }).catch(() => undefined);
    save('error-enetunreach', 'RTM_NEWROUTE 10.11.0.0/16 via 192.0.2.1 (no route to the gateway): ENETUNREACH with extended ack', take());

    const events: unknown[] = [];
    const sub = nl.subscribe({ routes: true, links: true }, (e) => events.push(e));
    await ip('route', 'add', 'blackhole', '10.12.0.0/16', 'proto', '201');
    await ip('route', 'del', '10.12.0.0/16');
    await ip('-6', 'route', 'add', 'fd77::/64', 'via', 'fd00:1::2', 'proto', '201');
    await ip('link', 'set', 'eth1', 'down');
    await waitFor('events', () => (events.length >= 4 ? true : undefined), 5000, 5);
    await new Promise((r) => setTimeout(r, 100));
    sub.close();
    save(
      'events',
      'RTNLGRP_IPV4_ROUTE|IPV6_ROUTE|LINK events: ip route add blackhole 10.12.0.0/16 proto 201; ip route del 10.12.0.0/16; ip -6 route add fd77::/64 via fd00:1::2 proto 201; ip link set eth1 down',
      take(),
    );
    nl.close();
  } finally {
    await sb.cleanup();
  }
});

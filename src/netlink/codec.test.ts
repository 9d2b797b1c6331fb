// The pure netlink codec: address text, framing, and route/link/error parsing of REAL kernel
// replies captured from a namespace (src/netlink/fixtures, see netlink-capture-fixtures.test.ts),
// plus the exact bytes of the requests podlb sends. No kernel needed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE } from './constants.js';
import { errnoName, NetlinkError, NetlinkParseError } from './errors.js';
import { addressBytes, formatAddress, formatIPv4Interned, formatIPv4PrefixAt, InvalidAddressError, prefixOrThrow } from '../net/ip.js';
import { encodeLinkDump, parseLink } from './link.js';
import { encodeAttr, encodeMessage, hasMessageAt, NlMsg, parseAttrs, parseDone, parseError, splitMessages } from './message.js';
import { encodeRouteDump, encodeRouteRequest, parseRoute } from './route.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

/** The messages of a captured fixture, in order, across its datagrams. */
function fixture(name: string): NlMsg[] {
  return readFileSync(join(FIXTURES, `${name}.hex`), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .flatMap((l) => splitMessages(Buffer.from(l, 'hex')));
}

const hex = (s: string): string => s.replace(/\s+/g, '');

describe('addresses', () => {
  it.each([
    ['0.0.0.0', '00000000'],
    ['10.244.1.0', '0af40100'],
    ['255.255.255.255', 'ffffffff'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['fe80::', 'fe800000000000000000000000000000'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:db8::1:0:0:1', '20010db8000000000001000000000001'], // two equal zero runs: the first is compressed
    ['2001:0:0:1::1', '20010000000000010000000000000001'], // the longer run wins
    ['2001:db8:0:1:1:1:1:1', '20010db8000000010001000100010001'], // a single zero word stays
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['::ffff:10.1.2.3', '00000000000000000000ffff0a010203'],
  ])('%s <-> %s', (text, bytes) => {
    expect(formatAddress(Buffer.from(bytes, 'hex'))).toBe(text);
    expect(addressBytes(text).toString('hex')).toBe(bytes);
  });

  it.each([
    ['2001:DB8:0000::0/32', '2001:db8::/32'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304/128'],
    ['fd00::1', 'fd00::1/128'],
    ['10.0.0.1', '10.0.0.1/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['::/0', '::/0'],
  ])('prefixOrThrow(%s) is %s', (input, want) => {
    const p = prefixOrThrow(input);
    expect(`${p.address}/${p.length}`).toBe(want);
  });

  it.each(['10.0.0.1/8', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', 'fd00::1/64', 'banana', '10.0.0/8', '::/129', '10.0.0.0/08x'])(
    'prefixOrThrow(%s) throws InvalidAddressError',
    (input) => {
      expect(() => prefixOrThrow(input)).toThrow(InvalidAddressError);
    },
  );
});

describe('cached IPv4 text (the dump hot path)', () => {
  // Seeded, so a failure names its input again on the next run.
  let seed = 0x2545f491;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) & 0xff;
  };
  const addrs = [
    [0, 0, 0, 0],
    [255, 255, 255, 255],
    [10, 244, 1, 0],
    [10, 244, 1, 1],
    [10, 245, 1, 1],
    ...Array.from({ length: 3000 }, () => [rnd(), rnd(), rnd(), rnd()]),
  ];

  it('interned next hops and prefix text equal the uncached text, also past the intern bound of 1,024', () => {
    for (const a of addrs) {
      const b = Buffer.from([9, ...a]);
      const view = new DataView(b.buffer, b.byteOffset, b.length);
      const want = formatAddress(Buffer.from(a));
      expect(formatIPv4Interned(b, view, 1)).toBe(want);
      expect(formatIPv4Interned(b, view, 1)).toBe(want);
      const len = a[0]! % 33;
      expect(formatIPv4PrefixAt(b, 1, len)).toBe(`${want}/${len}`);
    }
  });

  it('a route with an out-of-range prefix length still names it', () => {
    expect(formatIPv4PrefixAt(Buffer.from([10, 0, 0, 0]), 0, 200)).toBe('10.0.0.0/200');
  });
});

describe('NlMsg read in place', () => {
  it('one NlMsg walks a datagram to the same messages splitMessages returns', () => {
    const lines = readFileSync(join(FIXTURES, 'route-dump-ipv4-all.hex'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    for (const line of lines) {
      const d = Buffer.from(line, 'hex');
      const split = splitMessages(d).map((m) => [m.type, m.flags, m.seq, m.start, m.end, m.type === 24 ? parseRoute(m) : undefined]);
      const walked: unknown[] = [];
      const m = new NlMsg(d);
      for (let off = 0; hasMessageAt(d, off); ) {
        off = m.readAt(off);
        walked.push([m.type, m.flags, m.seq, m.start, m.end, m.type === 24 ? parseRoute(m) : undefined]);
      }
      expect(walked).toEqual(split);
      expect(walked.length).toBeGreaterThan(0);
    }
  });

  it('a partial header at the end of a datagram is a parse error', () => {
    const d = Buffer.concat([encodeMessage({ type: 3, flags: 2, seq: 1 }, Buffer.alloc(4)), Buffer.alloc(8)]);
    const m = new NlMsg(d);
    const next = m.readAt(0);
    expect(() => hasMessageAt(d, next)).toThrow(NetlinkParseError);
  });
});

describe('framing', () => {
  it('encodes a header and pads attributes to 4 bytes', () => {
    expect(encodeMessage({ type: 26, flags: 0x301, seq: 7 }, Buffer.from([1, 2])).toString('hex')).toBe(hex('12000000 1a00 0103 07000000 00000000 0102'));
    expect(encodeAttr(3, Buffer.from('eth0\0')).toString('hex')).toBe(hex('0900 0300 65746830 00 000000'));
  });

  it.each([
    ['length below the header', '0f000000 1800 0000 00000000 00000000'],
    ['length beyond the datagram', '20000000 1800 0000 00000000 00000000'],
  ])('splitMessages rejects a %s', (_, bytes) => {
    expect(() => splitMessages(Buffer.from(hex(bytes), 'hex'))).toThrow(NetlinkParseError);
  });

  it('parseAttrs rejects an attribute running past its message', () => {
    expect(() => parseAttrs(Buffer.from(hex('0800 0100 0a000000 0c00 0200 00'), 'hex'))).toThrow(NetlinkParseError);
    expect(() => parseAttrs(Buffer.from(hex('0200 0100'), 'hex'))).toThrow(NetlinkParseError);
  });

  it('every truncation of a captured datagram either parses or throws NetlinkParseError, never anything else', () => {
    const lines = readFileSync(join(FIXTURES, 'route-dump-ipv6-main.hex'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    const whole = Buffer.from(lines[0]!, 'hex');
    for (let cut = 0; cut < whole.length; cut++) {
      try {
        for (const m of splitMessages(whole.subarray(0, cut))) if (m.type === 24) parseRoute(m);
      } catch (err) {
        expect(err).toBeInstanceOf(NetlinkParseError);
      }
    }
  });
});

describe('captured route dumps', () => {
  it('IPv4, all tables: main, local and table 1000, multipath, blackhole, metrics', () => {
    const msgs = fixture('route-dump-ipv4-all');
    expect(msgs.at(-1)).toMatchObject({ type: 3 });
    expect(parseDone(msgs.at(-1)!)).toBe(0);
    const routes = msgs.filter((m) => m.type === 24).map(parseRoute);
    expect(routes).toHaveLength(14);
    expect(routes.every((r) => r?.family === 4 && r.tos === 0 && r.flags === 0)).toBe(true);
    expect(routes.slice(0, 7)).toEqual([
      { family: 4, dst: '10.5.0.0/16', type: 'unreachable', table: 1000, protocol: 3, scope: 0, tos: 0, flags: 0 },
      { family: 4, dst: '0.0.0.0/0', type: 'unicast', table: 254, protocol: 3, scope: 0, tos: 0, flags: 0, priority: 100, gateway: '10.1.0.2', oif: 2 },
      { family: 4, dst: '10.1.0.0/24', type: 'unicast', table: 254, protocol: 2, scope: 253, tos: 0, flags: 0, prefsrc: '10.1.0.1', oif: 2 },
      { family: 4, dst: '10.2.0.0/24', type: 'unicast', table: 254, protocol: 2, scope: 253, tos: 0, flags: 0, prefsrc: '10.2.0.1', oif: 3 },
      { family: 4, dst: '10.7.0.5/32', type: 'unicast', table: 254, protocol: 4, scope: 253, tos: 0, flags: 0, prefsrc: '10.1.0.1', oif: 2 },
      {
        family: 4,
        dst: '10.8.0.0/16',
        type: 'unicast',
        table: 254,
        protocol: 3,
        scope: 0,
        tos: 0,
        flags: 0,
        multipath: [
          { flags: 0, weight: 2, oif: 2, gateway: '10.1.0.2' },
          { flags: 0, weight: 1, oif: 3, gateway: '10.2.0.2' },
        ],
      },
      { family: 4, dst: '10.244.1.0/24', type: 'blackhole', table: 254, protocol: 201, scope: 0, tos: 0, flags: 0, priority: 4_000_000_000 },
    ]);
    expect(routes.slice(7).map((r) => [r?.dst, r?.type, r?.table, r?.scope])).toEqual([
      ['10.1.0.1/32', 'local', 255, 254],
      ['10.1.0.255/32', 'broadcast', 255, 253],
      ['10.2.0.1/32', 'local', 255, 254],
      ['10.2.0.255/32', 'broadcast', 255, 253],
      ['127.0.0.0/8', 'local', 255, 254],
      ['127.0.0.1/32', 'local', 255, 254],
      ['127.255.255.255/32', 'broadcast', 255, 253],
    ]);
  });

  it('IPv6, main table: multipath with per-hop gateways, blackhole via lo, default route', () => {
    const msgs = fixture('route-dump-ipv6-main');
    expect(msgs.at(-1)!.flags & 0x20).toBe(0x20); // NLM_F_DUMP_FILTERED: the kernel filtered by table
    const routes = msgs.filter((m) => m.type === 24).map(parseRoute);
    expect(routes.map((r) => [r?.dst, r?.type, r?.protocol, r?.priority, r?.gateway, r?.oif])).toEqual([
      ['fd00:1::/64', 'unicast', 2, 256, undefined, 2],
      ['fd00:2::/64', 'unicast', 2, 256, undefined, 3],
      ['fd88::/64', 'unicast', 3, 1024, undefined, undefined],
      ['fd99::/48', 'blackhole', 201, 77, undefined, 1],
      ['fe80::/64', 'unicast', 2, 256, undefined, 2],
      ['fe80::/64', 'unicast', 2, 256, undefined, 3],
      ['::/0', 'unicast', 3, 1024, 'fd00:1::2', 2],
    ]);
    expect(routes[2]?.multipath).toEqual([
      { flags: 0, weight: 1, oif: 2, gateway: 'fd00:1::2' },
      { flags: 0, weight: 1, oif: 3, gateway: 'fd00:2::2' },
    ]);
  });
});

describe('captured link dump', () => {
  it('names, kinds, operstate, MTU and addresses', () => {
    const links = fixture('link-dump')
      .filter((m) => m.type === 16)
      .map(parseLink);
    expect(links).toEqual([
      { index: 1, name: 'lo', linkType: 772, flags: 0x10049, up: true, lowerUp: true, operstate: 'unknown', mtu: 65536, address: '00:00:00:00:00:00' },
      {
        index: 2,
        name: 'eth0',
        linkType: 1,
        flags: 0x11043,
        up: true,
        lowerUp: true,
        operstate: 'up',
        mtu: 1500,
        address: '02:00:00:00:00:01',
        kind: 'veth',
        parent: 2,
      },
      {
        index: 3,
        name: 'eth1',
        linkType: 1,
        flags: 0x11043,
        up: true,
        lowerUp: true,
        operstate: 'up',
        mtu: 1500,
        address: '02:00:00:00:00:02',
        kind: 'veth',
        parent: 3,
      },
    ]);
  });
});

describe('captured ACKs and errors', () => {
  it.each([
    ['ack', 0, 24, undefined],
    ['error-eexist', 17, 24, undefined],
    ['error-esrch', 3, 25, undefined],
    ['error-enetunreach', 101, 24, 'Nexthop has invalid gateway'],
  ])('%s: errno %i for request type %i', (name, errno, requestType, message) => {
    const [m] = fixture(name);
    const e = parseError(m!);
    expect(e).toMatchObject({ errno, requestType });
    expect(e.message).toBe(message);
  });

  it('maps errno to a typed NetlinkError with a stable code', () => {
    const e = new NetlinkError('RTM_NEWROUTE 10.0.0.0/8', 17, 'File exists');
    expect(e).toMatchObject({ errno: 17, errnoName: 'EEXIST', code: 'NETLINK_EEXIST', transient: false, kernelMessage: 'File exists' });
    expect(new NetlinkError('x', 16)).toMatchObject({ errnoName: 'EBUSY', transient: true });
    expect([1, 3, 2, 19, 22, 101, 105].map(errnoName)).toEqual(['EPERM', 'ESRCH', 'ENOENT', 'ENODEV', 'EINVAL', 'ENETUNREACH', 'ENOBUFS']);
    expect(errnoName(4000)).toBe('E4000');
  });
});

describe('captured events', () => {
  it('route add/delete (both families) and link down, in order', () => {
    const msgs = fixture('events');
    const summary = msgs.map((m) =>
      m.type === 16
        ? ['link', parseLink(m).name, parseLink(m).operstate]
        : [m.type === 24 ? 'new' : 'del', parseRoute(m)?.dst, parseRoute(m)?.type, parseRoute(m)?.protocol],
    );
    expect(summary.slice(0, 4)).toEqual([
      ['new', '10.12.0.0/16', 'blackhole', 201],
      ['del', '10.12.0.0/16', 'blackhole', 201],
      ['new', 'fd77::/64', 'unicast', 201],
      ['link', 'eth1', 'down'],
    ]);
    // The kernel then withdraws eth1's IPv6 routes, the local table's included.
    expect(summary.slice(4).every((s) => s[0] === 'del')).toBe(true);
    expect(summary.slice(4).map((s) => s[1])).toContain('ff00::/8');
  });
});

describe('requests', () => {
  it('add blackhole: exact bytes, the same layout as the kernel own RTM_NEWROUTE event', () => {
    const req = encodeRouteRequest('new', { dst: '10.244.1.0/24', type: 'blackhole', protocol: 201, priority: 7 }, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, 1);
    expect(req.toString('hex')).toBe(
      hex(`34000000 1800 0506 01000000 00000000
           02 18 00 00 fe c9 00 06 00000000
           0800 0f00 fe000000
           0800 0100 0af40100
           0800 0600 07000000`),
    );
    const [event] = fixture('events');
    const back = parseRoute(splitMessages(req)[0]!);
    expect(back).toEqual({ ...parseRoute(event!), dst: '10.244.1.0/24', priority: 7 });
  });

  it('delete leaves protocol/type/metric as wildcards unless given, scope NOWHERE', () => {
    const req = encodeRouteRequest('del', { dst: 'fd00:7::/64' }, NLM_F_ACK, 9);
    const m = splitMessages(req)[0]!;
    expect([m.type, m.flags, m.seq]).toEqual([25, 5, 9]);
    expect(m.payload.subarray(0, 12).toString('hex')).toBe(hex('0a 40 00 00 fe 00 ff 00 00000000'));
    expect(parseRoute(m)).toMatchObject({ family: 6, dst: 'fd00:7::/64', table: 254, protocol: 0, scope: 255, type: 'unspec' });
    expect(parseRoute(m)?.priority).toBeUndefined();
  });

  it.each([
    [
      { dst: '10.0.0.0/8', gateway: '10.1.0.2' },
      { scope: 0, gateway: '10.1.0.2', type: 'unicast', protocol: 3 },
    ],
    [
      { dst: '10.0.0.0/8', oif: 4 },
      { scope: 253, oif: 4 },
    ],
    [
      { dst: '10.0.0.0/8', gateway: 'fe80::1', oif: 4 },
      { gateway: 'fe80::1', oif: 4 },
    ], // RTA_VIA
    [
      { dst: '10.0.0.0/8', type: 'blackhole' as const, table: 1000 },
      { table: 1000, type: 'blackhole' },
    ],
    [
      { dst: 'fd00::/8', prefsrc: 'fd00::1', gateway: 'fe80::1' },
      { prefsrc: 'fd00::1', gateway: 'fe80::1' },
    ],
  ])('round-trips %j', (spec, want) => {
    const flags = NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
    const m = splitMessages(encodeRouteRequest('new', spec, flags, 1))[0]!;
    expect(m.flags).toBe(flags | 1);
    expect(parseRoute(m)).toMatchObject(want);
  });

  it('rejects bad input before encoding', () => {
    expect(() => encodeRouteRequest('new', { dst: '10.0.0.1/8' }, 0, 1)).toThrow(InvalidAddressError);
    expect(() => encodeRouteRequest('new', { dst: '10.0.0.0/8', gateway: 'x' }, 0, 1)).toThrow(InvalidAddressError);
    expect(() => encodeRouteRequest('new', { dst: '10.0.0.0/8', table: 0 }, 0, 1)).toThrow(InvalidAddressError);
  });

  it('dump requests: route dump by table, link dump without statistics', () => {
    expect(encodeRouteDump(4, 3, 254).toString('hex')).toBe(hex('24000000 1a00 0103 03000000 00000000 02 00 00 00 fe 00 00 00 00000000 0800 0f00 fe000000'));
    expect(encodeRouteDump(6, 3).toString('hex')).toBe(hex('1c000000 1a00 0103 03000000 00000000 0a 00 00 00 00 00 00 00 00000000'));
    expect(encodeLinkDump(5).toString('hex')).toBe(hex('28000000 1200 0103 05000000 00000000 00 00 0000 00000000 00000000 00000000 0800 1d00 08000000'));
  });
});

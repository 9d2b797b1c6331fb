// RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE: struct rtmsg + rtattrs, both directions.
import {
  AF_INET,
  AF_INET6,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTA_VIA,
  RTMSG_LEN,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTNEXTHOP_LEN,
  ROUTE_TYPES,
  RTPROT_BOOT,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  type RouteType,
} from './constants.js';
import { NetlinkParseError } from './errors.js';
import {
  addressBytes,
  familyOf,
  formatAddressAt,
  formatIPv4Interned,
  formatIPv4PrefixAt,
  InvalidAddressError,
  prefixOrThrow,
  prefixSuffix,
  type Family,
} from '../net/ip.js';
import { encodeAttr, encodeMessage, parseAttrs, u32, type NlMsg } from './message.js';

export interface NextHop {
  /** Gateway address (RTA_GATEWAY, or RTA_VIA when its family differs from the route's). */
  gateway?: string;
  /** Output interface index (rtnh_ifindex); 0 when none. */
  oif: number;
  /** rtnh_hops + 1, as `ip route` prints it. */
  weight: number;
  /** RTNH_F_* bits (dead, onlink, linkdown...). */
  flags: number;
}

export interface Route {
  family: Family;
  /** Destination as a canonical CIDR: '10.0.0.0/24', '0.0.0.0/0', '::/0', '10.0.0.1/32'. */
  dst: string;
  type: RouteType;
  table: number;
  protocol: number;
  scope: number;
  /** rtm_tos (IPv4) / traffic class (IPv6). */
  tos: number;
  /** RTM_F_* bits. */
  flags: number;
  /** RTA_PRIORITY: the metric. Absent on IPv4 routes with metric 0. */
  priority?: number;
  gateway?: string;
  oif?: number;
  prefsrc?: string;
  /** RTA_MULTIPATH next hops; `gateway`/`oif` are then absent. */
  multipath?: NextHop[];
}

/** What to add, replace or delete. `dst` is a CIDR (a bare address means a host route). */
export interface RouteSpec {
  dst: string;
  /** Default 'unicast'. */
  type?: 'unicast' | 'blackhole';
  gateway?: string;
  oif?: number;
  prefsrc?: string;
  /** Default main (254). */
  table?: number;
  /** RTPROT_* number. Default on add/replace: 3 (boot, like `ip route add`); on delete: any. */
  protocol?: number;
  /** Metric. Default on add: 0 for IPv4, 1024 for IPv6 (the kernel's); on delete: any. */
  priority?: number;
  /** rtm_scope. Default: link for a unicast route without gateway, else universe (delete: any). */
  scope?: number;
}

export type RouteCommand = 'new' | 'del';

function familyNumber(f: Family): number {
  return f === 4 ? AF_INET : AF_INET6;
}

/**
 * The RTM_NEWROUTE / RTM_DELROUTE message for a spec. `nlFlags` adds NLM_F_CREATE/EXCL/
 * REPLACE/ACK. Fields left out of a delete spec stay wildcards (protocol 0, scope NOWHERE,
 * type UNSPEC, no metric), as `ip route del` does.
 */
export function encodeRouteRequest(cmd: RouteCommand, spec: RouteSpec, nlFlags: number, seq: number): Buffer {
  const dst = prefixOrThrow(spec.dst);
  const del = cmd === 'del';
  const type = spec.type ?? (del ? undefined : 'unicast');
  const table = spec.table ?? RT_TABLE_MAIN;
  if (!Number.isInteger(table) || table < 1 || table > 0xffffffff) throw new InvalidAddressError(spec.dst, `table ${table} out of range`);
  const hdr = Buffer.alloc(RTMSG_LEN);
  hdr.writeUInt8(familyNumber(dst.family), 0);
  hdr.writeUInt8(dst.length, 1);
  hdr.writeUInt8(table < 256 ? table : 0, 4);
  hdr.writeUInt8(spec.protocol ?? (del ? 0 : RTPROT_BOOT), 5);
  hdr.writeUInt8(spec.scope ?? (del ? RT_SCOPE_NOWHERE : type === 'unicast' && !spec.gateway ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE), 6);
  hdr.writeUInt8(type === undefined ? 0 : ROUTE_TYPES.indexOf(type), 7);
  const attrs: Buffer[] = [hdr, encodeAttr(RTA_TABLE, u32(table))];
  if (dst.length > 0) attrs.push(encodeAttr(RTA_DST, addressBytes(dst.address)));
  if (spec.gateway !== undefined) {
    const gwFamily = familyOf(spec.gateway);
    if (gwFamily === undefined) throw new InvalidAddressError(spec.gateway, 'gateway is not an address');
    if (gwFamily === dst.family) attrs.push(encodeAttr(RTA_GATEWAY, addressBytes(spec.gateway)));
    else {
      const via = Buffer.alloc(2);
      via.writeUInt16LE(familyNumber(gwFamily), 0);
      attrs.push(encodeAttr(RTA_VIA, Buffer.concat([via, addressBytes(spec.gateway)])));
    }
  }
  if (spec.oif !== undefined) attrs.push(encodeAttr(RTA_OIF, u32(spec.oif)));
  if (spec.prefsrc !== undefined) attrs.push(encodeAttr(RTA_PREFSRC, addressBytes(spec.prefsrc)));
  if (spec.priority !== undefined) attrs.push(encodeAttr(RTA_PRIORITY, u32(spec.priority)));
  return encodeMessage({ type: del ? RTM_DELROUTE : RTM_NEWROUTE, flags: NLM_F_REQUEST | nlFlags, seq }, Buffer.concat(attrs));
}

/**
 * A route dump request for one family. With NETLINK_GET_STRICT_CHK on the socket the kernel
 * then dumps only `table` (RTA_TABLE); without it the caller filters.
 */
export function encodeRouteDump(family: Family, seq: number, table?: number): Buffer {
  const hdr = Buffer.alloc(RTMSG_LEN);
  hdr.writeUInt8(familyNumber(family), 0);
  const parts: Buffer[] = [hdr];
  if (table !== undefined) {
    hdr.writeUInt8(table < 256 ? table : 0, 4);
    parts.push(encodeAttr(RTA_TABLE, u32(table)));
  }
  return encodeMessage({ type: RTM_GETROUTE, flags: NLM_F_REQUEST | NLM_F_DUMP, seq }, Buffer.concat(parts));
}

function addrOf(b: Buffer, family: Family, what: string): string {
  return addrAt(b, 0, b.length, family, what);
}

function addrAt(b: Buffer, off: number, len: number, family: Family, what: string): string {
  if (len !== (family === 4 ? 4 : 16)) throw new NetlinkParseError(`${what}: ${len} bytes for an IPv${family} address`);
  return formatAddressAt(b, off, len);
}

function u32At(v: DataView, off: number, len: number, what: string): number {
  if (len < 4) throw new NetlinkParseError(`${what}: ${len} bytes, want 4`);
  return v.getUint32(off, true);
}

/** A next hop or source address: IPv4 text is interned (thousands of routes share a few). */
function hopAt(b: Buffer, v: DataView, off: number, len: number, family: Family, what: string): string {
  if (family === 4 && len === 4) return formatIPv4Interned(b, v, off);
  return addrAt(b, off, len, family, what);
}

/** struct rtvia { __kernel_sa_family_t rtvia_family; __u8 rtvia_addr[]; } */
function parseVia(b: Buffer): string {
  if (b.length < 2) throw new NetlinkParseError(`RTA_VIA of ${b.length} bytes`);
  const fam = b.readUInt16LE(0);
  if (fam === AF_INET) return addrOf(b.subarray(2), 4, 'RTA_VIA');
  if (fam === AF_INET6) return addrOf(b.subarray(2), 6, 'RTA_VIA');
  throw new NetlinkParseError(`RTA_VIA family ${fam}`);
}

export function parseMultipath(b: Buffer, family: Family): NextHop[] {
  const out: NextHop[] = [];
  let off = 0;
  while (off + RTNEXTHOP_LEN <= b.length) {
    const len = b.readUInt16LE(off);
    if (len < RTNEXTHOP_LEN || off + len > b.length) throw new NetlinkParseError(`rtnexthop at ${off}: length ${len}`);
    const nh: NextHop = { flags: b.readUInt8(off + 2), weight: b.readUInt8(off + 3) + 1, oif: b.readInt32LE(off + 4) };
    for (const a of parseAttrs(b.subarray(off, off + len), RTNEXTHOP_LEN)) {
      if (a.type === RTA_GATEWAY) nh.gateway = addrOf(a.value, family, 'RTA_GATEWAY');
      else if (a.type === RTA_VIA) nh.gateway = parseVia(a.value);
    }
    out.push(nh);
    off += (len + 3) & ~3;
  }
  return out;
}

/**
 * A Route from an RTM_NEWROUTE/RTM_DELROUTE message, or undefined for families podlb does
 * not handle (MPLS, multicast routing tables). Nothing in the result refers to `msg`'s bytes.
 */
export function parseRoute(msg: NlMsg): Route | undefined {
  if (msg.type !== RTM_NEWROUTE && msg.type !== RTM_DELROUTE) throw new NetlinkParseError(`parseRoute on message type ${msg.type}`);
  const p = msg.bytes;
  const v = msg.view;
  const s = msg.start;
  const end = msg.end;
  if (end - s < RTMSG_LEN) throw new NetlinkParseError(`rtmsg of ${end - s} bytes`);
  const af = p[s]!;
  const family: Family | undefined = af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
  if (!family) return undefined;
  const dstLen = p[s + 1]!;
  const typeNum = p[s + 7]!;
  const route: Route = {
    family,
    dst: '',
    type: ROUTE_TYPES[typeNum] ?? (String(typeNum) as RouteType),
    table: p[s + 4]!,
    protocol: p[s + 5]!,
    scope: p[s + 6]!,
    tos: p[s + 3]!,
    flags: v.getUint32(s + 8, true),
  };
  let dstAt = -1;
  // Attributes walked in place (no per-attribute Buffer): this loop runs 10,000 times per large dump.
  for (let off = s + RTMSG_LEN; off + 4 <= end; ) {
    const alen = v.getUint16(off, true);
    if (alen < 4 || off + alen > end) throw new NetlinkParseError(`rtattr at ${off - s}: length ${alen} does not fit the ${end - off} bytes left`);
    const at = off + 4;
    const vlen = alen - 4;
    switch (v.getUint16(off + 2, true) & 0x3fff) {
      case RTA_DST:
        if (vlen !== (family === 4 ? 4 : 16)) throw new NetlinkParseError(`RTA_DST: ${vlen} bytes for an IPv${family} address`);
        dstAt = at;
        break;
      case RTA_GATEWAY:
        route.gateway = hopAt(p, v, at, vlen, family, 'RTA_GATEWAY');
        break;
      case RTA_VIA:
        route.gateway = parseVia(p.subarray(at, at + vlen));
        break;
      case RTA_OIF:
        route.oif = u32At(v, at, vlen, 'RTA_OIF');
        break;
      case RTA_PRIORITY:
        route.priority = u32At(v, at, vlen, 'RTA_PRIORITY');
        break;
      case RTA_TABLE:
        route.table = u32At(v, at, vlen, 'RTA_TABLE');
        break;
      case RTA_PREFSRC:
        route.prefsrc = hopAt(p, v, at, vlen, family, 'RTA_PREFSRC');
        break;
      case RTA_MULTIPATH:
        route.multipath = parseMultipath(p.subarray(at, at + vlen), family);
        break;
    }
    off += (alen + 3) & ~3;
  }
  if (dstAt < 0) route.dst = family === 4 ? `0.0.0.0${prefixSuffix(dstLen)}` : `::${prefixSuffix(dstLen)}`;
  else if (family === 4) route.dst = formatIPv4PrefixAt(p, dstAt, dstLen);
  else route.dst = `${formatAddressAt(p, dstAt, 16)}${prefixSuffix(dstLen)}`;
  return route;
}

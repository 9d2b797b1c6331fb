// RTM_NEWLINK / RTM_DELLINK / RTM_GETLINK: struct ifinfomsg + IFLA_* attributes (read side).
import {
  AF_UNSPEC,
  IFF_LOWER_UP,
  IFF_UP,
  IFINFOMSG_LEN,
  IFLA_ADDRESS,
  IFLA_EXT_MASK,
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_OPERSTATE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  OPER_STATES,
  RTEXT_FILTER_SKIP_STATS,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
  type OperState,
} from './constants.js';
import { NetlinkParseError } from './errors.js';
import { encodeAttr, encodeMessage, parseAttrs, readString, readU32, u32, type NlMsg } from './message.js';

export interface Link {
  index: number;
  name: string;
  /** ARPHRD_* (1 ether, 772 loopback). */
  linkType: number;
  /** IFF_* bits. */
  flags: number;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** IFF_LOWER_UP: carrier. */
  lowerUp: boolean;
  operstate: OperState;
  mtu?: number;
  /** Hardware address, lower-case hex pairs joined by ':'. */
  address?: string;
  /** IFLA_LINKINFO/IFLA_INFO_KIND: 'veth', 'bridge', 'vxlan'... */
  kind?: string;
  master?: number;
  /** IFLA_LINK: the peer/parent ifindex (possibly in another namespace). */
  parent?: number;
}

/** Dump every link, statistics left out (they are most of a link message and podlb never reads them). */
export function encodeLinkDump(seq: number): Buffer {
  const hdr = Buffer.alloc(IFINFOMSG_LEN);
  hdr.writeUInt8(AF_UNSPEC, 0);
  return encodeMessage(
    { type: RTM_GETLINK, flags: NLM_F_REQUEST | NLM_F_DUMP, seq },
    Buffer.concat([hdr, encodeAttr(IFLA_EXT_MASK, u32(RTEXT_FILTER_SKIP_STATS))]),
  );
}

export function parseLink(msg: NlMsg): Link {
  if (msg.type !== RTM_NEWLINK && msg.type !== RTM_DELLINK) throw new NetlinkParseError(`parseLink on message type ${msg.type}`);
  const p = msg.payload;
  if (p.length < IFINFOMSG_LEN) throw new NetlinkParseError(`ifinfomsg of ${p.length} bytes`);
  const flags = p.readUInt32LE(8);
  const link: Link = {
    index: p.readInt32LE(4),
    name: '',
    linkType: p.readUInt16LE(2),
    flags,
    up: (flags & IFF_UP) !== 0,
    lowerUp: (flags & IFF_LOWER_UP) !== 0,
    operstate: 'unknown',
  };
  for (const a of parseAttrs(p, IFINFOMSG_LEN)) {
    switch (a.type) {
      case IFLA_IFNAME:
        link.name = readString(a.value);
        break;
      case IFLA_MTU:
        link.mtu = readU32(a.value, 'IFLA_MTU');
        break;
      case IFLA_OPERSTATE:
        link.operstate = OPER_STATES[a.value.readUInt8(0)] ?? 'unknown';
        break;
      case IFLA_ADDRESS:
        link.address = [...a.value].map((x) => x.toString(16).padStart(2, '0')).join(':');
        break;
      case IFLA_MASTER:
        link.master = readU32(a.value, 'IFLA_MASTER');
        break;
      case IFLA_LINK:
        link.parent = readU32(a.value, 'IFLA_LINK');
        break;
      case IFLA_LINKINFO:
        for (const i of parseAttrs(a.value)) if (i.type === IFLA_INFO_KIND) link.kind = readString(i.value);
        break;
    }
  }
  return link;
}

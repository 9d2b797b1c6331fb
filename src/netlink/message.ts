// Netlink framing: nlmsghdr, rtattr TLVs, NLMSG_ERROR/ACK and NLMSG_DONE. Pure functions over
// Buffers in host byte order (little-endian on every machine podlb runs on; checked below).
import { endianness } from 'node:os';
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
} from './constants.js';
import { NetlinkParseError } from './errors.js';

if (endianness() !== 'LE') throw new Error('src/netlink assumes a little-endian host (netlink uses host byte order)');

/**
 * One message of a datagram. `payload` (the bytes after the 16-byte header) is a view made
 * on first use; hot parsers read `bytes` from `start` to `end` instead, so a 10,000-route
 * dump does not allocate 10,000 Buffer views. Both refer to the receive buffer: copy
 * anything kept beyond the next recv.
 */
export class NlMsg {
  #payload: Buffer | undefined;
  constructor(
    readonly type: number,
    readonly flags: number,
    readonly seq: number,
    readonly pid: number,
    /** The whole datagram. */
    readonly bytes: Buffer,
    /** Payload bounds within `bytes`. */
    readonly start: number,
    readonly end: number,
  ) {}

  get payload(): Buffer {
    return (this.#payload ??= this.bytes.subarray(this.start, this.end));
  }
}

export const align4 = (n: number): number => (n + 3) & ~3;

export function encodeMessage(h: { type: number; flags: number; seq: number; pid?: number }, payload: Buffer): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + payload.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(h.type, 4);
  out.writeUInt16LE(h.flags, 6);
  out.writeUInt32LE(h.seq >>> 0, 8);
  out.writeUInt32LE(h.pid ?? 0, 12);
  payload.copy(out, NLMSG_HDRLEN);
  return out;
}

/** Splits one datagram into its messages; every length is checked against what is there. */
export function splitMessages(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new NetlinkParseError(`nlmsghdr at ${off}: length ${len} does not fit the ${buf.length - off} bytes left`);
    }
    out.push(new NlMsg(buf.readUInt16LE(off + 4), buf.readUInt16LE(off + 6), buf.readUInt32LE(off + 8), buf.readUInt32LE(off + 12), buf, off + NLMSG_HDRLEN, off + len));
    off += align4(len);
  }
  if (off < buf.length && buf.length - off >= 4) throw new NetlinkParseError(`${buf.length - off} trailing bytes after the last message`);
  return out;
}

export interface Attr {
  /** Type without the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits. */
  type: number;
  value: Buffer;
}

/** rtattr/nlattr TLVs from `offset` to the end of `buf`. */
export function parseAttrs(buf: Buffer, offset = 0): Attr[] {
  const out: Attr[] = [];
  let off = offset;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) throw new NetlinkParseError(`rtattr at ${off}: length ${len} does not fit the ${buf.length - off} bytes left`);
    out.push({ type: buf.readUInt16LE(off + 2) & 0x3fff, value: buf.subarray(off + 4, off + len) });
    off += align4(len);
  }
  return out;
}

export function encodeAttr(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(align4(4 + value.length));
  out.writeUInt16LE(4 + value.length, 0);
  out.writeUInt16LE(type, 2);
  value.copy(out, 4);
  return out;
}

export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0, 0);
  return b;
}

export function readU32(attr: Buffer, what: string): number {
  if (attr.length < 4) throw new NetlinkParseError(`${what}: ${attr.length} bytes, want 4`);
  return attr.readUInt32LE(0);
}

/** A NUL-terminated string attribute. */
export function readString(attr: Buffer): string {
  const nul = attr.indexOf(0);
  return attr.toString('utf8', 0, nul < 0 ? attr.length : nul);
}

export interface NlError {
  /** 0 for an ACK, else the positive errno. */
  errno: number;
  /** Sequence number and type of the request this answers. */
  requestSeq: number;
  requestType: number;
  /** Extended ack: the kernel's explanation, and the offset of the offending attribute. */
  message?: string;
  offset?: number;
}

/** struct nlmsgerr { int error; struct nlmsghdr msg; } [+ request payload unless CAPPED] [+ TLVs if ACK_TLVS]. */
export function parseError(msg: NlMsg): NlError {
  if (msg.type !== NLMSG_ERROR) throw new NetlinkParseError(`parseError on message type ${msg.type}`);
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw new NetlinkParseError(`NLMSG_ERROR of ${p.length} bytes`);
  const out: NlError = { errno: -p.readInt32LE(0) || 0, requestType: p.readUInt16LE(8), requestSeq: p.readUInt32LE(12) };
  if (msg.flags & NLM_F_ACK_TLVS) {
    const reqLen = p.readUInt32LE(4);
    const tlvAt = 4 + (msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(reqLen));
    for (const a of parseAttrs(p, Math.min(tlvAt, p.length))) {
      if (a.type === NLMSGERR_ATTR_MSG) out.message = readString(a.value);
      else if (a.type === NLMSGERR_ATTR_OFFS && a.value.length >= 4) out.offset = a.value.readUInt32LE(0);
    }
  }
  return out;
}

/** NLMSG_DONE carries an int: 0, or a negative errno when the dump itself failed. */
export function parseDone(msg: NlMsg): number {
  if (msg.type !== NLMSG_DONE) throw new NetlinkParseError(`parseDone on message type ${msg.type}`);
  return msg.payload.length >= 4 ? -msg.payload.readInt32LE(0) || 0 : 0;
}

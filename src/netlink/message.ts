// Netlink framing: nlmsghdr, rtattr TLVs, NLMSG_ERROR/ACK and NLMSG_DONE. Pure functions over
// Buffers in host byte order (little-endian on every machine podlb runs on; checked below).
import { endianness } from 'node:os';
import { NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS } from './constants.js';
import { NetlinkParseError } from './errors.js';

if (endianness() !== 'LE') throw new Error('src/netlink assumes a little-endian host (netlink uses host byte order)');

/**
 * One message of a datagram, read in place: `bytes` is the datagram and the payload lies
 * from `start` to `end`. Integers are read through `view` (a DataView on the datagram),
 * several times cheaper than Buffer.readUInt32LE. The request loop reuses one NlMsg for every
 * message of a datagram (see `readAt`), so a 10,000-route dump allocates no object per
 * message: a parser must take what it needs before the next message is read, and nothing may
 * keep an NlMsg or its `payload` beyond the next recv.
 */
export class NlMsg {
  type = 0;
  flags = 0;
  seq = 0;
  pid = 0;
  start = 0;
  end = 0;
  readonly view: DataView;

  constructor(
    /** The whole datagram. */
    readonly bytes: Buffer,
    view?: DataView,
  ) {
    this.view = view ?? new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  get payload(): Buffer {
    return this.bytes.subarray(this.start, this.end);
  }

  /** Reads the header at `off` into this message, every length checked; returns where the next message starts. */
  readAt(off: number): number {
    const v = this.view;
    const len = v.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > this.bytes.length) {
      throw new NetlinkParseError(`nlmsghdr at ${off}: length ${len} does not fit the ${this.bytes.length - off} bytes left`);
    }
    this.type = v.getUint16(off + 4, true);
    this.flags = v.getUint16(off + 6, true);
    this.seq = v.getUint32(off + 8, true);
    this.pid = v.getUint32(off + 12, true);
    this.start = off + NLMSG_HDRLEN;
    this.end = off + len;
    return off + align4(len);
  }
}

/** Whether another message header starts at `off`; throws on a partial one (a truncated datagram). */
export function hasMessageAt(buf: Buffer, off: number): boolean {
  if (off + NLMSG_HDRLEN <= buf.length) return true;
  if (off < buf.length && buf.length - off >= 4) throw new NetlinkParseError(`${buf.length - off} trailing bytes after the last message`);
  return false;
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

/** Splits one datagram into its messages, each its own NlMsg (for events and tests; dumps read in place). */
export function splitMessages(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  for (let off = 0; hasMessageAt(buf, off); ) {
    const m = new NlMsg(buf, view);
    off = m.readAt(off);
    out.push(m);
  }
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

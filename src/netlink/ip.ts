// Address and prefix conversions between text and the raw bytes netlink carries.
// IPv6 text follows RFC 5952 (what iproute2 prints), so dumps compare equal to `ip -json`.
import { isIPv4, isIPv6 } from 'node:net';
import { PodlbError } from '../util/errors.js';
import { formatV6Words } from '../util/ipv6-text.js';

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** Network address, host bits zero, canonical text. */
  address: string;
  length: number;
}

export class InvalidAddressError extends PodlbError {
  constructor(readonly input: string, problem: string) {
    super('NETLINK_INVALID_ADDRESS', `${JSON.stringify(input)}: ${problem}`);
  }
}

export function familyOf(address: string): Family | undefined {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  return undefined;
}

/** Raw bytes (4 or 16) of an IPv4 or IPv6 address in text form. */
export function addressBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address)) throw new InvalidAddressError(address, 'not an IPv4 or IPv6 address');
  let text = address;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    text = text.slice(0, -v4[1]!.length) + '0:0'; // placeholder groups, replaced below
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const hs = head ? head.split(':') : [];
  const rs = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - rs.length).fill('0'), ...rs];
  const words = groups.map((g) => parseInt(g, 16));
  if (tail.length) words.splice(6, 2, ...tail);
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** Text of a raw address: 4 bytes → dotted quad, 16 bytes → RFC 5952 IPv6. */
export function formatAddress(b: Buffer | Uint8Array): string {
  return formatAddressAt(b, 0, b.length);
}

const OCTETS = Array.from({ length: 256 }, (_, i) => String(i));

/** formatAddress of the `len` bytes at `off` in `b`, without slicing (the dump hot path). */
export function formatAddressAt(b: Buffer | Uint8Array, off: number, len: number): string {
  if (len === 4) return `${OCTETS[b[off]!]}.${OCTETS[b[off + 1]!]}.${OCTETS[b[off + 2]!]}.${OCTETS[b[off + 3]!]}`;
  if (len !== 16) throw new InvalidAddressError(Buffer.from(b.subarray(off, off + len)).toString('hex'), `address of ${len} bytes`);
  const w: number[] = [];
  for (let i = off; i < off + 16; i += 2) w.push((b[i]! << 8) | b[i + 1]!);
  // IPv4-mapped (::ffff:a.b.c.d) keeps the dotted tail, as inet_ntop does.
  if (w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff) return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  return formatV6Words(w);
}

// The dump hot path formats two IPv4 addresses per route. Next hops and preferred sources
// repeat across thousands of routes, so their text is interned (also saving the memory of
// 10,000 equal strings); destinations differ, but share their first two octets with their
// neighbours, so that half of the text is cached. Both caches are bounded.
const INTERN_MAX = 1024;
const interned = new Map<number, string>();
const firstTwoOctets: (string | undefined)[] = new Array<string | undefined>(65536);
const PREFIX_SUFFIX = Array.from({ length: 129 }, (_, i) => `/${i}`);

/** Text of the IPv4 address at `off`, shared with earlier calls for the same address. */
export function formatIPv4Interned(b: Buffer, view: DataView, off: number): string {
  const key = view.getUint32(off, true);
  let text = interned.get(key);
  if (text === undefined) {
    text = `${OCTETS[b[off]!]}.${OCTETS[b[off + 1]!]}.${OCTETS[b[off + 2]!]}.${OCTETS[b[off + 3]!]}`;
    if (interned.size < INTERN_MAX) interned.set(key, text);
  }
  return text;
}

/** `a.b.c.d/len` for the IPv4 address at `off` (len 0..32). */
export function formatIPv4PrefixAt(b: Buffer, off: number, length: number): string {
  const k = (b[off]! << 8) | b[off + 1]!;
  const head = (firstTwoOctets[k] ??= `${OCTETS[b[off]!]}.${OCTETS[b[off + 1]!]}.`);
  return head + OCTETS[b[off + 2]!]! + '.' + OCTETS[b[off + 3]!]! + prefixSuffix(length);
}

/** `/len` for a prefix length 0..128, preallocated. */
export function prefixSuffix(length: number): string {
  return PREFIX_SUFFIX[length] ?? `/${length}`;
}

/**
 * Parses `addr/len` (or a bare address: a host prefix). Throws InvalidAddressError for junk and
 * for prefixes with host bits set (the kernel refuses those; silently masking would install a
 * route nobody asked for).
 */
export function parsePrefix(input: string): Prefix {
  const slash = input.indexOf('/');
  const addr = slash < 0 ? input : input.slice(0, slash);
  const family = familyOf(addr);
  if (!family) throw new InvalidAddressError(input, 'not an IPv4 or IPv6 prefix');
  const max = family === 4 ? 32 : 128;
  const lenText = slash < 0 ? String(max) : input.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) throw new InvalidAddressError(input, `prefix length must be 0..${max}`);
  const length = Number(lenText);
  const bytes = addressBytes(addr);
  const masked = maskBytes(bytes, length);
  if (!masked.equals(bytes)) throw new InvalidAddressError(input, `host bits set (network is ${formatAddress(masked)}/${length})`);
  return { family, address: formatAddress(bytes), length };
}

export function formatPrefix(p: Prefix): string {
  return `${p.address}/${p.length}`;
}

export function maskBytes(bytes: Buffer, length: number): Buffer {
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, length - i * 8));
    out[i] = out[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

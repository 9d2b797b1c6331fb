// IP addresses and prefixes: the one place that turns text (from objects, flags, netlink
// requests) into typed values, and raw netlink bytes into text. A parsed value carries one
// canonical text (IPv4 dotted quad; IPv6 RFC 5952: lower case, longest zero run compressed,
// always hexadecimal words), branded so that only these parsers can produce it: bird.conf is
// rendered from branded text only.
//
// No IP library: `ip-num` was used for two calls (IPv6 validation and parsing). Node's own
// `net.isIPv6` accepts exactly the same strings (compared on 200,000 random strings over the
// IPv6 alphabet), and turning the eight words into a bigint is the few lines of addressBytes
// below, which netlink needed anyway. One dependency less to audit and ship.
import { isIPv4, isIPv6 } from 'node:net';
import { PodlbError } from '../util/errors.js';

export type Family = 4 | 6;

/** Canonical address text, made only by parseIp / formatAddr. */
export type AddrText = string & { readonly __brand: 'AddrText' };
/** Canonical `network/len` text, made only by parsePrefix / hostPrefix. */
export type PrefixText = string & { readonly __brand: 'PrefixText' };

export interface IpAddr {
  readonly family: Family;
  readonly text: AddrText;
  readonly value: bigint;
}

export interface IpPrefix {
  readonly family: Family;
  readonly text: PrefixText;
  /** The network address's canonical text (host bits zero). */
  readonly address: AddrText;
  readonly network: bigint;
  readonly length: number;
}

export class InvalidAddressError extends PodlbError {
  constructor(
    readonly input: string,
    problem: string,
  ) {
    super('NETLINK_INVALID_ADDRESS', `${JSON.stringify(input)}: ${problem}`);
  }
}

export const maxLength = (family: Family): number => (family === 4 ? 32 : 128);

// RFC 5952 text of an IPv6 address given as eight 16-bit words: lower-case hex, the longest
// run of two or more zero words (the first one on ties) written as '::'.
function formatV6Words(w: readonly number[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = w.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function formatV4(value: bigint): string {
  return [24, 16, 8, 0].map((s) => Number((value >> BigInt(s)) & 0xffn)).join('.');
}

function formatV6(value: bigint): string {
  const words: number[] = [];
  for (let i = 7; i >= 0; i--) words.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  return formatV6Words(words);
}

export function formatAddr(family: Family, value: bigint): AddrText {
  return (family === 4 ? formatV4(value) : formatV6(value)) as AddrText;
}

export function familyOf(address: string): Family | undefined {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  return undefined;
}

/** The eight 16-bit words of an IPv6 literal that net.isIPv6 accepted (an IPv4 tail included). */
function v6Words(text: string): number[] {
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    text = `${text.slice(0, -v4[1]!.length)}0:0`; // placeholder groups, replaced below
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const hs = head ? head.split(':') : [];
  const rs = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - rs.length).fill('0'), ...rs];
  const words = groups.map((g) => parseInt(g, 16));
  if (tail.length) words.splice(6, 2, ...tail);
  return words;
}

const V4_TEXT = /^\d{1,3}(\.\d{1,3}){3}$/;
const V6_TEXT = /^[0-9A-Fa-f:.]{2,45}$/;
const V4_OCTET = /^(0|[1-9]\d{0,2})$/;

/** Parses an IPv4 or IPv6 address literal (no zone, no prefix). Undefined when invalid. */
export function parseIp(raw: unknown): IpAddr | undefined {
  if (typeof raw !== 'string') return undefined;
  if (V4_TEXT.test(raw)) {
    // Dotted quad by hand (hot path: 10,000 Pod IPs per plan): octets 0-255, no leading zeros.
    let v = 0n;
    for (const part of raw.split('.')) {
      if (!V4_OCTET.test(part) || Number(part) > 255) return undefined;
      v = (v << 8n) | BigInt(part);
    }
    return { family: 4, text: formatV4(v) as AddrText, value: v };
  }
  if (raw.includes(':') && V6_TEXT.test(raw) && isIPv6(raw)) {
    let v = 0n;
    for (const w of v6Words(raw)) v = (v << 16n) | BigInt(w);
    return { family: 6, text: formatV6(v) as AddrText, value: v };
  }
  return undefined;
}

export type PrefixResult = { ok: true; prefix: IpPrefix } | { ok: false; reason: string };

/** The /32 or /128 of one address. */
export function hostPrefix(ip: IpAddr): IpPrefix {
  const length = maxLength(ip.family);
  return { family: ip.family, text: `${ip.text}/${length}` as PrefixText, address: ip.text, network: ip.value, length };
}

/**
 * Parses `network/len`. Host bits set (10.244.1.5/24) are refused rather than silently
 * masked: the object most likely says something other than what its author meant (and the
 * kernel refuses such a route). `bareAddress`: an address without `/len` is its host prefix.
 */
export function parsePrefix(raw: unknown, opts: { bareAddress?: boolean } = {}): PrefixResult {
  if (typeof raw !== 'string') return { ok: false, reason: 'must be a string in CIDR notation' };
  if (opts.bareAddress && !raw.includes('/')) {
    const ip = parseIp(raw);
    return ip ? { ok: true, prefix: hostPrefix(ip) } : { ok: false, reason: `${JSON.stringify(raw.slice(0, 60))}: invalid address` };
  }
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(raw);
  if (!m) return { ok: false, reason: `${JSON.stringify(raw.slice(0, 60))} is not in CIDR notation (address/length)` };
  const addr = parseIp(m[1]);
  if (!addr) return { ok: false, reason: `${JSON.stringify(raw.slice(0, 60))}: invalid address` };
  const length = Number(m[2]);
  const max = maxLength(addr.family);
  if (length > max || (m[2]!.length > 1 && m[2]!.startsWith('0'))) return { ok: false, reason: `${JSON.stringify(raw)}: prefix length must be 0-${max}` };
  const network = addr.value & ~((1n << BigInt(max - length)) - 1n);
  if (network !== addr.value) {
    return { ok: false, reason: `${JSON.stringify(raw)} has host bits set (did you mean ${formatAddr(addr.family, network)}/${length}?)` };
  }
  return { ok: true, prefix: { family: addr.family, network, length, address: addr.text, text: `${addr.text}/${length}` as PrefixText } };
}

/** parsePrefix with bare addresses as host prefixes, throwing InvalidAddressError (the netlink encoders' contract). */
export function prefixOrThrow(input: string): IpPrefix {
  const r = parsePrefix(input, { bareAddress: true });
  if (!r.ok) throw new InvalidAddressError(input, r.reason);
  return r.prefix;
}

function lastAddr(p: IpPrefix): bigint {
  return p.network + (1n << BigInt(maxLength(p.family) - p.length)) - 1n;
}

/** `inner` lies within (or equals) `outer`. */
export function prefixInside(inner: IpPrefix, outer: IpPrefix): boolean {
  return inner.family === outer.family && inner.length >= outer.length && inner.network >= outer.network && lastAddr(inner) <= lastAddr(outer);
}

export function comparePrefix(a: IpPrefix, b: IpPrefix): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.network !== b.network) return a.network < b.network ? -1 : 1;
  return a.length - b.length;
}

export function compareAddr(a: IpAddr, b: IpAddr): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

export function isLinkLocal(a: IpAddr): boolean {
  return a.family === 6 ? a.value >> 118n === 0x3fan : a.value >> 16n === 0xa9fen;
}

// ---- raw bytes, as netlink carries them ----

/** Raw bytes (4 or 16) of an IPv4 or IPv6 address in text form. */
export function addressBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address)) throw new InvalidAddressError(address, 'not an IPv4 or IPv6 address');
  const out = Buffer.alloc(16);
  for (const [i, w] of v6Words(address).entries()) out.writeUInt16BE(w, i * 2);
  return out;
}

/**
 * Text of a raw address: 4 bytes → dotted quad, 16 bytes → RFC 5952 IPv6, as iproute2 prints
 * it (so dumps compare equal to `ip -json`). Differs from the canonical text only for
 * IPv4-mapped addresses, whose dotted tail inet_ntop keeps; kernelPrefixText bridges the two.
 */
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
  if (w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff) return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  return formatV6Words(w);
}

/** A prefix's text as the kernel's dumps show it (see formatAddress). */
export function kernelPrefixText(p: IpPrefix): string {
  return `${formatAddress(addressBytes(p.address))}/${p.length}`;
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
  let head = firstTwoOctets[k];
  if (head === undefined) {
    head = `${OCTETS[b[off]!]}.${OCTETS[b[off + 1]!]}.`;
    firstTwoOctets[k] = head;
  }
  return `${head}${OCTETS[b[off + 2]!]}.${OCTETS[b[off + 3]!]}${prefixSuffix(length)}`;
}

/** `/len` for a prefix length 0..128, preallocated. */
export function prefixSuffix(length: number): string {
  return PREFIX_SUFFIX[length] ?? `/${length}`;
}

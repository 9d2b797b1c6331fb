// IP addresses and prefixes parsed with ip-num into typed values and re-serialised in one
// canonical text form (IPv4 dotted quad; IPv6 RFC 5952: lower case, longest zero run
// compressed). Raw strings from objects never go further than these parsers.
import { IPv6, Validator } from 'ip-num';
import { formatV6Words } from '../util/ipv6-text.js';

export type Family = 4 | 6;

export interface IpAddr {
  readonly family: Family;
  /** Canonical text. */
  readonly text: string;
  readonly value: bigint;
}

export interface IpPrefix {
  readonly family: Family;
  /** Canonical `network/len` text. */
  readonly text: string;
  readonly network: bigint;
  readonly length: number;
}

function formatV6(value: bigint): string {
  const words: number[] = [];
  for (let i = 7; i >= 0; i--) words.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  return formatV6Words(words);
}

function formatV4(value: bigint): string {
  return [24, 16, 8, 0].map((s) => Number((value >> BigInt(s)) & 0xffn)).join('.');
}

export function formatAddr(family: Family, value: bigint): string {
  return family === 4 ? formatV4(value) : formatV6(value);
}

const V4_TEXT = /^\d{1,3}(\.\d{1,3}){3}$/;
const V6_TEXT = /^[0-9A-Fa-f:.]{2,45}$/;
const V4_OCTET = /^(0|[1-9]\d{0,2})$/;

/** Parses an IPv4 or IPv6 address literal (no zone, no prefix). Undefined when invalid. */
export function parseIp(raw: unknown): IpAddr | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    if (V4_TEXT.test(raw)) {
      // Dotted quad by hand (hot path: 10,000 Pod IPs per plan): octets 0-255, no leading zeros.
      let v = 0n;
      for (const part of raw.split('.')) {
        if (!V4_OCTET.test(part) || Number(part) > 255) return undefined;
        v = (v << 8n) | BigInt(part);
      }
      return { family: 4, text: formatV4(v), value: v };
    }
    if (raw.includes(':') && V6_TEXT.test(raw)) {
      if (!Validator.isValidIPv6String(raw)[0]) return undefined;
      const v = IPv6.fromString(raw).getValue();
      return { family: 6, text: formatV6(v), value: v };
    }
  } catch {
    return undefined;
  }
  return undefined;
}

export type PrefixResult = { ok: true; prefix: IpPrefix } | { ok: false; reason: string };

/**
 * Parses `network/len`. Host bits set (10.244.1.5/24) are refused rather than silently
 * masked: the object most likely says something other than what its author meant.
 */
export function parsePrefix(raw: unknown): PrefixResult {
  if (typeof raw !== 'string') return { ok: false, reason: 'must be a string in CIDR notation' };
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(raw);
  if (!m) return { ok: false, reason: `${JSON.stringify(raw.slice(0, 60))} is not in CIDR notation (address/length)` };
  const addr = parseIp(m[1]);
  if (!addr) return { ok: false, reason: `${JSON.stringify(raw.slice(0, 60))}: invalid address` };
  const length = Number(m[2]);
  const max = addr.family === 4 ? 32 : 128;
  if (length > max || (m[2]!.length > 1 && m[2]!.startsWith('0'))) return { ok: false, reason: `${JSON.stringify(raw)}: prefix length must be 0-${max}` };
  const network = addr.value & ~((1n << BigInt(max - length)) - 1n);
  if (network !== addr.value) {
    return { ok: false, reason: `${JSON.stringify(raw)} has host bits set (did you mean ${formatAddr(addr.family, network)}/${length}?)` };
  }
  return { ok: true, prefix: { family: addr.family, network, length, text: `${addr.text}/${length}` } };
}

function lastAddr(p: IpPrefix): bigint {
  const bits = BigInt((p.family === 4 ? 32 : 128) - p.length);
  return p.network + (1n << bits) - 1n;
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

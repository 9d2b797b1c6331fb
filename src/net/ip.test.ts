import { describe, expect, it } from 'vitest';
import {
  addressBytes,
  comparePrefix,
  formatAddress,
  hostPrefix,
  isLinkLocal,
  kernelPrefixText,
  parseIp,
  parsePrefix,
  prefixInside,
  prefixOrThrow,
  InvalidAddressError,
} from './ip.js';

describe('parseIp', () => {
  it.each<[string, string | undefined, bigint?]>([
    ['10.244.1.9', '10.244.1.9', 0x0af40109n],
    ['0.0.0.0', '0.0.0.0', 0n],
    ['255.255.255.255', '255.255.255.255', 0xffffffffn],
    ['10.244.01.9', undefined],
    ['10.244.1.256', undefined],
    ['10.244.1', undefined],
    ['FD00:0244:0000::0001', 'fd00:244::1', 0xfd000244000000000000000000000001n],
    ['::', '::', 0n],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8', 0x00010002000300040005000600070008n],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:10.244.1.1', '::ffff:af4:101', 0xffff0af40101n],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['fe80::1%eth0', undefined],
    ['1::2::3', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['12345::', undefined],
    [' 10.0.0.1', undefined],
  ])('%s', (raw, text, value) => {
    const ip = parseIp(raw);
    expect(ip?.text).toBe(text);
    if (value !== undefined) expect(ip?.value).toBe(value);
    // The canonical text parses to itself, and to the bytes netlink sends.
    if (ip) {
      expect(parseIp(ip.text)).toEqual(ip);
      expect(BigInt(`0x${addressBytes(ip.text).toString('hex')}`)).toBe(ip.value);
    }
  });

  it('refuses what is not a string', () => {
    for (const raw of [undefined, null, 10, {}, ['10.0.0.1']]) expect(parseIp(raw)).toBeUndefined();
  });
});

describe('parsePrefix', () => {
  it.each<[string, string | RegExp]>([
    ['10.244.0.0/16', '10.244.0.0/16'],
    ['FD00:244::/56', 'fd00:244::/56'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['10.244.1.5/16', /host bits set \(did you mean 10\.244\.0\.0\/16\?\)/],
    ['10.244.0.0/33', /prefix length must be 0-32/],
    ['10.244.0.0/016', /prefix length/],
    ['10.244.0.0', /not in CIDR notation/],
    ['10.244.0.0/16 ]; include "x"', /not in CIDR notation/],
  ])('%s', (raw, want) => {
    const r = parsePrefix(raw);
    if (typeof want === 'string') expect(r.ok && r.prefix.text).toBe(want);
    else expect(!r.ok && r.reason).toMatch(want);
  });

  it('takes a bare address as its host prefix only when asked', () => {
    expect(parsePrefix('fd00::1', { bareAddress: true })).toMatchObject({ ok: true, prefix: { text: 'fd00::1/128', length: 128 } });
    expect(parsePrefix('fd00::1').ok).toBe(false);
    expect(() => prefixOrThrow('fd00::1/64')).toThrow(InvalidAddressError);
  });

  it('compares and nests prefixes', () => {
    const p = (t: string) => prefixOrThrow(t);
    expect(prefixInside(p('10.244.1.0/24'), p('10.244.0.0/16'))).toBe(true);
    expect(prefixInside(p('10.244.0.0/16'), p('10.244.1.0/24'))).toBe(false);
    expect(prefixInside(p('fd00::/64'), p('10.0.0.0/8'))).toBe(false);
    expect(
      ['fd00::/8', '10.0.0.0/16', '10.0.0.0/8', '9.0.0.0/8']
        .map(p)
        .sort(comparePrefix)
        .map((x) => x.text),
    ).toEqual(['9.0.0.0/8', '10.0.0.0/8', '10.0.0.0/16', 'fd00::/8']);
    expect(hostPrefix(parseIp('10.0.0.1')!).text).toBe('10.0.0.1/32');
    expect(isLinkLocal(parseIp('169.254.0.1')!)).toBe(true);
    expect(isLinkLocal(parseIp('fe80::1')!)).toBe(true);
    expect(isLinkLocal(parseIp('fd00::1')!)).toBe(false);
  });

  it("writes an IPv4-mapped prefix as the kernel's dumps do (dotted tail), elsewhere the canonical text", () => {
    expect(kernelPrefixText(prefixOrThrow('::ffff:10.0.0.0/104'))).toBe('::ffff:10.0.0.0/104');
    expect(prefixOrThrow('::ffff:10.0.0.0/104').text).toBe('::ffff:a00:0/104');
    expect(kernelPrefixText(prefixOrThrow('10.244.0.0/16'))).toBe('10.244.0.0/16');
    expect(formatAddress(addressBytes('fd00::1'))).toBe('fd00::1');
  });
});

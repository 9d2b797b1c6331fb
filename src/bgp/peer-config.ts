// One BGPPeer parsed into typed session settings, node independent. Three groups, each with
// its first problem: the session's own fields, BFD, and the password (from its Secret). The
// agent needs all three; Calico mode renders neither BFD nor the password from podlb's side,
// so it looks at the session group only. `peerAddress: Gateway` is resolved per node
// (peers.ts): it is the node's default gateway.
import type { BGPPeer, Secret } from '../api/types.js';
import { problem, type ObjectRef, type Problem } from '../api/problem.js';
import type { ParsedSelector } from '../util/label-selector.js';
import { formatAddr, isLinkLocal, parseIp, type IpAddr } from '../net/ip.js';
import { birdPassword, MAX_PASSWORD_BYTES, protocolName, type BirdPassword, type BirdSymbol } from './bird-values.js';
import { isInt, isMap, nameOf, parseSelector, ref, safeDisplay } from './parse-util.js';

/** Where a passwordSecretRef without namespace points: podlb's own namespace. */
export const DEFAULT_SECRET_NAMESPACE = 'podlb-system';
export const DEFAULT_HOLD_TIME = 90;
export const DEFAULT_BFD_INTERVAL_MS = 300;
export const DEFAULT_BFD_MULTIPLIER = 3;

export interface PeerSettings {
  /** undefined for `peerAddress: Gateway` (resolved per node). */
  readonly address: IpAddr | undefined;
  readonly localAsn: number;
  readonly peerAsn: number;
  /** 0 disables hold/keepalive; otherwise 3..65535. */
  readonly holdTime: number;
  /** undefined when holdTime is 0 (BIRD then sends none). */
  readonly keepaliveTime?: number;
  readonly gracefulRestart: { readonly enabled: boolean; readonly restartTime?: number };
  readonly multihop?: number;
  readonly sourceAddress?: IpAddr;
}

export interface PeerConfig {
  readonly name: string;
  readonly obj: ObjectRef;
  readonly protocol: BirdSymbol;
  /** undefined when spec.nodeSelector does not parse (selectorProblem says why). */
  readonly selector: ParsedSelector | undefined;
  readonly selectorProblem?: Problem;
  /** `peerAddress: Gateway`: which of the node's default gateways, in order of preference. */
  readonly gateway?: readonly ('v4' | 'v6')[];
  /** Exactly one of settings and sessionProblem. */
  readonly settings?: PeerSettings;
  readonly sessionProblem?: Problem;
  /** BFD for this session; undefined = off. One interval for min rx and min tx. */
  readonly bfd?: { readonly intervalMs: number; readonly multiplier: number };
  readonly bfdProblem?: Problem;
  readonly password?: BirdPassword;
  readonly passwordProblem?: Problem;
}

/** A problem that keeps a BGPPeer's session from being configured. */
export function peerProblem(obj: ObjectRef, field: string, msg: string, reason = 'InvalidPeer', severity: Problem['severity'] = 'Warning'): Problem {
  return problem(obj, field, reason, `BGPPeer ${obj.name}: ${field}: ${msg}; the session is not configured`, severity);
}

type Result<T> = { ok: true; value: T } | { ok: false; problem: Problem };

/**
 * Why `a` cannot be the address of a BGP neighbour (or the local end of a session), as a
 * message naming the fix and a reason; undefined when it can. BIRD refuses `::` for the whole
 * configuration ("Neighbor must be configured"), and takes the others silently to a session
 * that can never come up (0.0.0.0, loopback, multicast, broadcast and the reserved 240/4 are
 * no unicast neighbour; a link-local neighbour needs an interface podlb does not configure).
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) would run an IPv6 session to an IPv4 neighbour through the
 * kernel's mapping: written by mistake for the IPv4 address, so it is refused with that fix.
 * Documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are
 * accepted: they are real unicast addresses in labs and tests, and BIRD peers with them.
 */
export function unusablePeerAddress(a: IpAddr): { reason: string; why: string } | undefined {
  const bad = (why: string, reason = 'InvalidPeerAddress') => ({ reason, why: `${a.text} ${why}` });
  if (isLinkLocal(a))
    return bad('is link-local, which needs an interface: not supported yet (use a global or unique-local address of the neighbour)', 'PeerAddressNotSupported');
  if (a.family === 4) {
    const first = Number(a.value >> 24n);
    if (first === 0)
      return bad(`is ${a.value === 0n ? 'the unspecified address' : 'in 0.0.0.0/8 ("this network")'}, not a neighbour: set the neighbour's own IPv4 address`);
    if (first === 127) return bad("is a loopback address, this node itself: set the neighbour's address");
    if (first >= 224 && first < 240) return bad("is a multicast address: BGP needs the neighbour's unicast address");
    if (a.value === 0xffffffffn) return bad("is the broadcast address: BGP needs the neighbour's unicast address");
    if (first >= 240) return bad("is in the reserved range 240.0.0.0/4: set the neighbour's unicast address");
    return undefined;
  }
  if (a.value === 0n)
    return bad("is the unspecified address, not a neighbour (BIRD refuses the whole configuration with it): set the neighbour's own IPv6 address");
  if (a.value === 1n) return bad("is the loopback address, this node itself: set the neighbour's address");
  if (a.value >> 120n === 0xffn) return bad("is a multicast address: BGP needs the neighbour's unicast address");
  if (a.value >> 32n === 0xffffn) return bad(`is an IPv4-mapped IPv6 address: write the IPv4 address ${formatAddr(4, a.value & 0xffffffffn)} itself`);
  return undefined;
}

function asn(raw: unknown): number | undefined {
  return isInt(raw) && raw >= 1 && raw <= 4294967295 ? raw : undefined;
}

function parseSession(spec: BGPPeer['spec'], obj: ObjectRef, viaGateway: boolean): Result<PeerSettings> {
  const fail = (field: string, msg: string, reason?: string): Result<PeerSettings> => ({ ok: false, problem: peerProblem(obj, field, msg, reason) });
  let address: IpAddr | undefined;
  if (!viaGateway) {
    address = parseIp(spec.peerAddress);
    if (!address) return fail('spec.peerAddress', `${safeDisplay(spec.peerAddress)} is not an IP address (or Gateway)`);
    const unusable = unusablePeerAddress(address);
    if (unusable) return fail('spec.peerAddress', unusable.why, unusable.reason);
  }
  const peerAsn = asn(spec.peerASN);
  if (peerAsn === undefined) return fail('spec.peerASN', `${safeDisplay(spec.peerASN)} must be an integer 1-4294967295`);
  const localAsn = asn(spec.localASN);
  if (localAsn === undefined) return fail('spec.localASN', `${safeDisplay(spec.localASN)} must be an integer 1-4294967295`);

  const hold = spec.holdTimeSeconds ?? DEFAULT_HOLD_TIME;
  if (!isInt(hold) || (hold !== 0 && (hold < 3 || hold > 65535)))
    return fail('spec.holdTimeSeconds', `${safeDisplay(hold)} must be 0 (no hold timer) or an integer 3-65535`);
  let keepalive: number | undefined;
  if (spec.keepaliveSeconds !== undefined) {
    const k = spec.keepaliveSeconds;
    if (hold === 0) {
      if (k !== 0) return fail('spec.keepaliveSeconds', `must be 0 or unset when holdTimeSeconds is 0`);
    } else if (!isInt(k) || k < 1 || k >= hold) {
      return fail('spec.keepaliveSeconds', `${safeDisplay(k)} must be an integer 1..holdTimeSeconds-1 (${hold - 1})`);
    } else keepalive = k;
  } else if (hold !== 0) keepalive = Math.max(1, Math.floor(hold / 3));

  const gr = spec.gracefulRestart;
  let gracefulRestart: PeerSettings['gracefulRestart'] = { enabled: true };
  if (gr !== undefined) {
    if (typeof gr !== 'object' || gr === null) return fail('spec.gracefulRestart', 'must be an object {enabled, restartTimeSeconds}');
    if (gr.enabled !== undefined && typeof gr.enabled !== 'boolean') return fail('spec.gracefulRestart.enabled', 'must be true or false');
    const enabled = gr.enabled ?? true;
    let restartTime: number | undefined;
    if (gr.restartTimeSeconds !== undefined) {
      if (!isInt(gr.restartTimeSeconds) || gr.restartTimeSeconds < 1 || gr.restartTimeSeconds > 4095) {
        return fail(
          'spec.gracefulRestart.restartTimeSeconds',
          `${safeDisplay(gr.restartTimeSeconds)} must be an integer 1-4095 (12 bits in the BGP capability)`,
        );
      }
      restartTime = gr.restartTimeSeconds;
    }
    gracefulRestart = enabled && restartTime !== undefined ? { enabled, restartTime } : { enabled };
  }

  let multihop: number | undefined;
  if (spec.ebgpMultihop !== undefined) {
    if (!isInt(spec.ebgpMultihop) || spec.ebgpMultihop < 1 || spec.ebgpMultihop > 255)
      return fail('spec.ebgpMultihop', `${safeDisplay(spec.ebgpMultihop)} must be an integer 1-255`);
    multihop = spec.ebgpMultihop;
  }
  let sourceAddress: IpAddr | undefined;
  if (spec.sourceAddress !== undefined) {
    sourceAddress = parseIp(spec.sourceAddress);
    if (!sourceAddress) return fail('spec.sourceAddress', `${safeDisplay(spec.sourceAddress)} is not an IP address`);
    // The same ranges cannot be this node's end of a session either (`::` would mean "any": leave the field out).
    const unusable = unusablePeerAddress(sourceAddress);
    if (unusable) return fail('spec.sourceAddress', unusable.why.replace(/neighbour's/g, "node's"), unusable.reason);
    // A Gateway peer takes the gateway of sourceAddress's family, so only fixed addresses can differ.
    if (address && sourceAddress.family !== address.family)
      return fail('spec.sourceAddress', `${sourceAddress.text} is IPv${sourceAddress.family} but peerAddress is IPv${address.family}`);
  }
  const settings: PeerSettings = {
    address,
    localAsn,
    peerAsn,
    holdTime: hold,
    ...(keepalive !== undefined ? { keepaliveTime: keepalive } : {}),
    gracefulRestart,
    ...(multihop !== undefined ? { multihop } : {}),
    ...(sourceAddress !== undefined ? { sourceAddress } : {}),
  };
  return { ok: true, value: settings };
}

function parseBfd(spec: BGPPeer['spec'], obj: ObjectRef, s: PeerSettings | undefined): Result<PeerConfig['bfd']> {
  const fail = (field: string, msg: string): Result<PeerConfig['bfd']> => ({ ok: false, problem: peerProblem(obj, field, msg) });
  if (spec.bfd === undefined) return { ok: true, value: undefined };
  const b = spec.bfd;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return fail('spec.bfd', 'must be an object {enabled, minIntervalMilliseconds, multiplier}');
  if (b.enabled !== undefined && typeof b.enabled !== 'boolean') return fail('spec.bfd.enabled', 'must be true or false');
  if (b.minIntervalMilliseconds !== undefined && (!isInt(b.minIntervalMilliseconds) || b.minIntervalMilliseconds < 1 || b.minIntervalMilliseconds > 60000)) {
    return fail('spec.bfd.minIntervalMilliseconds', `${safeDisplay(b.minIntervalMilliseconds)} must be an integer 1-60000`);
  }
  if (b.multiplier !== undefined && (!isInt(b.multiplier) || b.multiplier < 1 || b.multiplier > 255))
    return fail('spec.bfd.multiplier', `${safeDisplay(b.multiplier)} must be an integer 1-255`);
  // A bfd object without `enabled` means BFD on: nobody writes intervals to keep it off.
  if (b.enabled === false) return { ok: true, value: undefined };
  // BIRD refuses the whole file otherwise ("Multihop BGP with BFD requires specified local
  // address"), which would stall every session on the node: found by test/bgp-fuzz.test.ts.
  // iBGP (localASN = peerASN) is multihop in BIRD unless told otherwise. Such a session
  // runs multihop BFD (RFC 5883, UDP 4784): the ToR must be configured for multihop BFD too.
  if (s && (s.multihop !== undefined || s.localAsn === s.peerAsn) && s.sourceAddress === undefined) {
    return fail(
      'spec.bfd',
      `BFD on a ${s.multihop !== undefined ? 'ebgpMultihop' : 'iBGP (multihop)'} session needs spec.sourceAddress (BIRD must know the local address of a multihop BFD session)`,
    );
  }
  return { ok: true, value: { intervalMs: b.minIntervalMilliseconds ?? DEFAULT_BFD_INTERVAL_MS, multiplier: b.multiplier ?? DEFAULT_BFD_MULTIPLIER } };
}

function secretValue(secrets: readonly Secret[], ns: string, name: string, key: string): { value?: Buffer; missing?: string } {
  const s = secrets.find((x) => isMap(x) && isMap(x.metadata) && x.metadata.name === name && (x.metadata.namespace ?? '') === ns);
  if (!s) return { missing: `Secret ${ns}/${name} not found` };
  const b64 = isMap(s.data) ? s.data[key] : undefined;
  if (typeof b64 === 'string') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return { missing: `Secret ${ns}/${name} key ${key} is not valid base64` };
    return { value: Buffer.from(b64, 'base64') };
  }
  const plain = isMap(s.stringData) ? s.stringData[key] : undefined;
  if (typeof plain === 'string') return { value: Buffer.from(plain, 'utf8') };
  return { missing: `Secret ${ns}/${name} has no key ${key}` };
}

function parsePassword(spec: BGPPeer['spec'], obj: ObjectRef, secrets: readonly Secret[]): Result<BirdPassword | undefined> {
  const psr = spec.passwordSecretRef;
  if (psr === undefined) return { ok: true, value: undefined };
  const f = 'spec.passwordSecretRef';
  const fail = (msg: string, reason?: string): Result<BirdPassword | undefined> => ({ ok: false, problem: peerProblem(obj, f, msg, reason) });
  if (
    typeof psr !== 'object' ||
    psr === null ||
    typeof psr.name !== 'string' ||
    typeof psr.key !== 'string' ||
    (psr.namespace !== undefined && typeof psr.namespace !== 'string')
  ) {
    return fail('must be {namespace, name, key} with string values');
  }
  const ns = psr.namespace ?? DEFAULT_SECRET_NAMESPACE;
  const { value, missing } = secretValue(secrets, ns, psr.name, psr.key);
  if (!value) return fail(`${missing} (the session is configured once it exists)`, 'PasswordSecretNotFound');
  // Never echo the value: only what is wrong with it.
  const where = `the password in Secret ${ns}/${psr.name} key ${psr.key}`;
  const r = birdPassword(value);
  if (r.ok) return { ok: true, value: r.password };
  if (r.why === 'empty') return fail(`${where} is empty`, 'InvalidPassword');
  if (r.why === 'tooLong') return fail(`${where} is ${value.length} bytes; TCP-MD5 allows at most ${MAX_PASSWORD_BYTES}`, 'InvalidPassword');
  return fail(`${where} contains a character podlb cannot place in bird.conf safely (only printable ASCII without " and \\ is accepted)`, 'InvalidPassword');
}

export function parsePeer(p: BGPPeer, secrets: readonly Secret[]): PeerConfig {
  const name = nameOf(p);
  const obj = ref('BGPPeer', name);
  const spec = (isMap(p.spec) ? p.spec : {}) as BGPPeer['spec'];
  const sel = parseSelector(spec.nodeSelector, obj, 'InvalidPeer');
  const viaGateway = spec.peerAddress === 'Gateway';
  // The family of sourceAddress decides when set; else IPv4 first (the router id is IPv4).
  const src = viaGateway ? parseIp(spec.sourceAddress) : undefined;
  const session = parseSession(spec, obj, viaGateway);
  const settings = session.ok ? session.value : undefined;
  const bfd = parseBfd(spec, obj, settings);
  const password = parsePassword(spec, obj, secrets);
  return {
    name,
    obj,
    protocol: protocolName(name),
    selector: sel.selector,
    ...(sel.error ? { selectorProblem: sel.problem } : {}),
    ...(viaGateway ? { gateway: src?.family === 6 ? ['v6'] : src?.family === 4 ? ['v4'] : ['v4', 'v6'] } : {}),
    ...(session.ok ? { settings: session.value } : { sessionProblem: session.problem }),
    ...(bfd.ok ? (bfd.value ? { bfd: bfd.value } : {}) : { bfdProblem: bfd.problem }),
    ...(password.ok ? (password.value !== undefined ? { password: password.value } : {}) : { passwordProblem: password.problem }),
  };
}

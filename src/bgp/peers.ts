// Which parsed BGPPeers become BIRD sessions on one node: the ones whose selector matches the
// node, with `Gateway` resolved to the node's default gateway, one session per peer address
// and per protocol name. Pure: no I/O, no clock.
import { problem, type Problem } from '../api/problem.js';
import { selectorMatches } from '../util/label-selector.js';
import { parseIp, type AddrText, type Family, type IpAddr } from '../net/ip.js';
import type { BirdPassword, BirdSymbol } from './bird-values.js';
import type { NodeConfig } from './config.js';
import { peerProblem, unusablePeerAddress, type PeerConfig } from './peer-config.js';
import { safeDisplay } from './parse-util.js';

export interface BirdPeerModel {
  /** BGPPeer name, for status mapping only; never rendered. */
  readonly peer: string;
  readonly protocol: BirdSymbol;
  readonly family: Family;
  readonly address: AddrText;
  readonly localAsn: number;
  readonly peerAsn: number;
  /** 0 disables hold/keepalive; otherwise 3..65535. */
  readonly holdTime: number;
  /** undefined when holdTime is 0 (BIRD then sends none). */
  readonly keepaliveTime?: number;
  readonly gracefulRestart: { readonly enabled: boolean; readonly restartTime?: number };
  readonly password?: BirdPassword;
  readonly multihop?: number;
  readonly sourceAddress?: AddrText;
  /** BFD for this session; undefined = off. One interval for min rx and min tx. */
  readonly bfd?: { readonly intervalMs: number; readonly multiplier: number };
  /** peerAddress was `Gateway`: `address` is the node's default gateway of that family. */
  readonly viaGateway?: true;
}

/**
 * The node's default gateways, found via netlink (main table, default route's gateway).
 * undefined means "not looked up" (GatewayNotFound).
 */
export type DefaultGateways = { v4?: string; v6?: string } | undefined;

type Resolved = { ok: true; address: IpAddr } | { ok: false; problem: Problem };

function resolveGateway(p: PeerConfig, order: readonly ('v4' | 'v6')[], gateway: DefaultGateways): Resolved {
  const fail = (msg: string, reason: string): Resolved => ({ ok: false, problem: peerProblem(p.obj, 'spec.peerAddress', msg, reason) });
  if (typeof gateway !== 'object' || gateway === null || Array.isArray(gateway))
    return fail(`Gateway: the node's default gateway is not known (yet); the agent looks it up via netlink`, 'GatewayNotFound');
  const key = order.find((k) => gateway[k] !== undefined);
  if (key === undefined)
    return fail(`Gateway: node has no ${order.map((k) => (k === 'v4' ? 'IPv4' : 'IPv6')).join(' or ')} default gateway`, 'GatewayNotFound');
  const family = key === 'v4' ? 4 : 6;
  const address = parseIp(gateway[key]);
  if (!address || address.family !== family)
    return fail(`Gateway: the node's default gateway ${safeDisplay(gateway[key])} is not an IPv${family} address`, 'GatewayNotFound');
  const unusable = unusablePeerAddress(address);
  if (unusable) return fail(`Gateway: the node's default gateway ${unusable.why}`, unusable.reason);
  return { ok: true, address };
}

/** One peer's session on a node whose default gateways are `gateway`, or the first problem. */
export function peerModel(p: PeerConfig, gateway: DefaultGateways): { ok: true; peer: BirdPeerModel } | { ok: false; problem: Problem } {
  // The gateway is looked at first: without it nothing else about the session matters yet.
  let address: IpAddr | undefined;
  if (p.gateway) {
    const r = resolveGateway(p, p.gateway, gateway);
    if (!r.ok) return r;
    address = r.address;
  }
  const first = p.sessionProblem ?? p.bfdProblem ?? p.passwordProblem;
  if (first || !p.settings) return { ok: false, problem: first ?? peerProblem(p.obj, 'spec', 'not parsed') };
  const s = p.settings;
  address ??= s.address!;
  const peer: BirdPeerModel = {
    peer: p.name,
    protocol: p.protocol,
    family: address.family,
    address: address.text,
    localAsn: s.localAsn,
    peerAsn: s.peerAsn,
    holdTime: s.holdTime,
    ...(s.keepaliveTime !== undefined ? { keepaliveTime: s.keepaliveTime } : {}),
    gracefulRestart: s.gracefulRestart,
    ...(p.password !== undefined ? { password: p.password } : {}),
    ...(s.multihop !== undefined ? { multihop: s.multihop } : {}),
    ...(s.sourceAddress !== undefined ? { sourceAddress: s.sourceAddress.text } : {}),
    ...(p.bfd !== undefined ? { bfd: p.bfd } : {}),
    ...(p.gateway ? { viaGateway: true as const } : {}),
  };
  return { ok: true, peer };
}

/**
 * The sessions of `node`, sorted by protocol name, and the problems of the peers that select
 * it (plus every peer whose selector does not parse). No router id: no sessions at all.
 */
export function planPeers(peers: readonly PeerConfig[], node: NodeConfig, gateway: DefaultGateways): { peers: BirdPeerModel[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const out: BirdPeerModel[] = [];
  const byAddress = new Map<string, string>();
  const byProtocol = new Map<string, string>();
  for (const p of peers) {
    if (p.selectorProblem) problems.push(p.selectorProblem);
    if (!p.selector || !selectorMatches(p.selector, node.labels)) continue;
    if (!node.routerId) continue;
    const r = peerModel(p, gateway);
    if (!r.ok) {
      problems.push(r.problem);
      continue;
    }
    const dup = byAddress.get(r.peer.address);
    if (dup !== undefined) {
      problems.push(
        problem(
          p.obj,
          'spec.peerAddress',
          'DuplicatePeer',
          `BGPPeer ${p.name}: BGPPeer ${dup} already peers with ${r.peer.address} from node ${node.name}; this one is not configured`,
        ),
      );
      continue;
    }
    if (byProtocol.has(r.peer.protocol)) {
      problems.push(
        problem(
          p.obj,
          'metadata.name',
          'InvalidPeer',
          `BGPPeer ${p.name}: its BIRD protocol name collides with BGPPeer ${byProtocol.get(r.peer.protocol)}; rename one`,
        ),
      );
      continue;
    }
    byAddress.set(r.peer.address, p.name);
    byProtocol.set(r.peer.protocol, p.name);
    out.push(r.peer);
  }
  out.sort((a, b) => (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));
  return { peers: out, problems };
}

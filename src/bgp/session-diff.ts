// Which configuration changes restart a BGP session, so the agent can say so before applying
// (design §5.3: prefix, filter and BFD changes are soft, timers and passwords are not).
import type { BirdSymbol } from './bird-values.js';
import type { BirdPeerModel } from './peers.js';

export interface SessionReset {
  peer: string;
  protocol: BirdSymbol;
  /** Fields whose change makes BIRD restart the session, e.g. `holdTime`, `password`. */
  fields: string[];
}

/**
 * What restarts a session on `configure`, measured with BIRD 2.0.12 and FRR 8.4 by
 * test/bgp-session-reset.test.ts (one field changed at a time, FRR's established transitions
 * watched): every option of the BGP protocol itself restarts it (BIRD compares the protocol
 * config as a whole), so address, ASNs, hold and keepalive time, password, multihop, source
 * address and graceful restart (on/off and time) do. Export filter and static route changes
 * (prefixes, communities) do not. BFD is updated in place by BIRD: turning it on or changing
 * its intervals keeps the session; turning it off does restart it in practice, from the
 * ToR's side: BIRD stops its BFD session, the ToR (still configured for BFD) declares it down
 * after its detection time and drops the BGP session, so `bfd` is reported for on -> off.
 */
const RESETTING_FIELDS = ['address', 'family', 'localAsn', 'peerAsn', 'holdTime', 'keepaliveTime', 'password', 'multihop', 'sourceAddress'] as const;

/**
 * Peers present in both models whose change restarts the BGP session in BIRD, for a log line
 * and an Event before applying. Names fields only, never values (passwords).
 */
export function sessionResettingChanges(
  before: { readonly peers: readonly BirdPeerModel[] },
  after: { readonly peers: readonly BirdPeerModel[] },
): SessionReset[] {
  const old = new Map(before.peers.map((p) => [p.protocol, p]));
  const out: SessionReset[] = [];
  for (const p of after.peers) {
    const o = old.get(p.protocol);
    if (!o) continue;
    const fields: string[] = RESETTING_FIELDS.filter((f) => o[f] !== p[f]);
    if (o.gracefulRestart.enabled !== p.gracefulRestart.enabled || o.gracefulRestart.restartTime !== p.gracefulRestart.restartTime)
      fields.push('gracefulRestart');
    if (o.bfd !== undefined && p.bfd === undefined) fields.push('bfd');
    if (fields.length > 0) out.push({ peer: p.peer, protocol: p.protocol, fields });
  }
  return out;
}

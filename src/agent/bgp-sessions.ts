// BGP session state for status and metrics: `show protocols all`, matched to the peers that
// select this node. Sessions that are not Established yet are read often, so status (and the
// lab) sees a session come up within half a second; settled ones at the status interval.
// BGP sessions never decide Pod readiness (design §5.5).
import type { Logger } from 'pino';
import type { BgpSessionStatus } from '../api/types.js';
import type { BirdControl } from '../bgp/bird-control.js';
import { birdTimeToRfc3339 } from '../bgp/bird-protocols.js';
import { parseConfig, parseNode } from '../bgp/config.js';
import { type BirdPeerModel, planPeers } from '../bgp/peers.js';
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import { errorCode } from '../util/errors.js';
import type { AgentMetrics } from './metrics.js';
import type { NodeStatusContribution } from './node-status.js';
import type { AgentSnapshot } from './snapshot.js';
import { bgpReadyCondition } from './status.js';

export interface BgpSessionsOptions {
  nodeName: string;
  control: BirdControl;
  /** Why BIRD is unreachable (the config reconciler knows): then it is not asked. */
  birdError: () => string | undefined;
  /** Sessions BIRD runs on a held password although their objects do not plan now (hold-down.ts). */
  heldPeers?: () => readonly BirdPeerModel[];
  statusIntervalMs: number;
  log: Logger;
  metrics: AgentMetrics;
}

export class BgpSessionsReconciler implements Reconciler<AgentSnapshot, NodeStatusContribution> {
  readonly name = 'bgpStatus';
  readonly #o: BgpSessionsOptions;
  #sessions: BgpSessionStatus[] = [];
  #readAt = 0;

  constructor(o: BgpSessionsOptions) {
    this.#o = o;
  }

  async reconcile(s: AgentSnapshot, now: number): Promise<ReconcileResult<NodeStatusContribution>> {
    const settled = this.#sessions.length > 0 && this.#sessions.every((x) => x.state === 'Established');
    const every = settled ? this.#o.statusIntervalMs : Math.min(500, this.#o.statusIntervalMs);
    if (now - this.#readAt >= every && !this.#o.birdError()) {
      this.#readAt = now;
      await this.#read(s, now);
    }
    return { nextWakeAt: this.#readAt + every, status: this.#status() };
  }

  async #read(s: AgentSnapshot, now: number): Promise<void> {
    try {
      const protocols = await this.#o.control.showProtocolsAll();
      // The sessions bird.conf holds: this node's peers, none while it has no router id, and those kept on a held password.
      const node = parseNode(s.node ?? { metadata: { name: this.#o.nodeName } });
      const planned = node.routerId ? planPeers(parseConfig({ pools: [], peers: s.peers, secrets: s.secrets }).peers, node, s.gateway).peers : [];
      const peers = [...planned, ...(this.#o.heldPeers?.() ?? []).filter((h) => !planned.some((p) => p.protocol === h.protocol))];
      const byProto = new Map(protocols.map((p) => [p.name, p]));
      this.#o.metrics.bgpSessionUp.reset();
      this.#sessions = peers.map((peer) => {
        const p = byProto.get(peer.protocol);
        const since = p?.since ? birdTimeToRfc3339(p.since, new Date(now)) : undefined;
        return {
          peer: peer.peer,
          protocol: peer.protocol,
          peerAddress: peer.address,
          state: p?.bgpState ?? (p ? p.state : 'NotConfigured'),
          ...(since ? { since } : {}),
          ...(p?.routesExported !== undefined ? { routesExported: p.routesExported } : {}),
          ...(p?.lastError ? { lastError: p.lastError } : {}),
        };
      });
      for (const x of this.#sessions) this.#o.metrics.bgpSessionUp.set({ peer: x.peer }, x.state === 'Established' ? 1 : 0);
    } catch (err) {
      // The last sessions read stay in status; the next read is at the usual cadence.
      this.#o.metrics.reconcileErrors.inc({ component: 'bgpStatus', code: errorCode(err) });
      this.#o.log.warn({ err }, 'could not read BGP sessions');
    }
  }

  #status(): NodeStatusContribution {
    return { fields: { bgp: { sessions: this.#sessions } }, conditions: [bgpReadyCondition(this.#sessions, this.#o.birdError())] };
  }
}

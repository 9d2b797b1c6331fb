// Garbage collection of members whose node is gone (design §2, leader only). Each agent removes
// its own members; a node that disappears (deleted, never coming back) leaves its members in
// every load balancer. The controller finds them by the node encoded in the member name
// (naming.ts) and removes them one by one, only after the Node has been absent for a grace
// period (a node re-registering under the same name keeps its members), and only with
// per-member removes: never a backend-wide change, never another podlb member.
import type { Logger } from 'pino';
import type { LoadBalancerClass, Service } from '../api/types.js';
import type { EventToRecord } from '../kube/events.js';
import { parseMemberName } from '../lb/naming.js';
import type { LbInstance } from '../lb/provider.js';
import { classRef, isOptedIn, parseLbClass, parseServiceBinding, type LbClassModel } from '../members/binding.js';
import { errorMessage } from '../util/errors.js';

export const MEMBER_PREFIX = 'podlb_';

export interface FoundMember {
  className: string;
  instance: string;
  backend: string;
  name: string;
  node: string;
}

/** Why nothing (or something) was collected: decisions explain themselves. */
export type GcSkipReason = 'nodesNotSynced' | 'noNodesKnown';

export interface GcPlan {
  remove: FoundMember[];
  /** Members of absent nodes still inside the grace period. */
  waiting: FoundMember[];
  /** Node name -> first time (ms) this controller saw it absent while it had members. */
  absentSince: Map<string, number>;
  /** When the earliest waiting member becomes removable. */
  nextAt?: number;
}

/**
 * Pure. `absentSince` is the previous plan's map; a node that is present again is forgotten,
 * so a re-registered node starts a fresh grace period if it disappears later.
 */
export function planMemberGc(o: {
  members: readonly FoundMember[];
  nodes: ReadonlySet<string>;
  absentSince: ReadonlyMap<string, number>;
  now: number;
  graceMs: number;
}): GcPlan {
  const absentSince = new Map<string, number>();
  const remove: FoundMember[] = [];
  const waiting: FoundMember[] = [];
  let nextAt: number | undefined;
  for (const m of o.members) {
    if (o.nodes.has(m.node)) continue;
    const since = absentSince.get(m.node) ?? o.absentSince.get(m.node) ?? o.now;
    absentSince.set(m.node, since);
    if (o.now - since >= o.graceMs) remove.push(m);
    else {
      waiting.push(m);
      nextAt = Math.min(nextAt ?? Infinity, since + o.graceMs);
    }
  }
  return { remove, waiting, absentSince, ...(nextAt !== undefined ? { nextAt } : {}) };
}

/** Backends each class's opted-in Services name (the agent's own binding parser). */
export function backendsByClass(services: readonly Service[], classes: ReadonlyMap<string, LbClassModel>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const svc of services) {
    if (!isOptedIn(svc)) continue;
    const { result } = parseServiceBinding(svc, classes);
    if (result.kind !== 'bound') continue;
    const set = out.get(result.binding.className) ?? new Set<string>();
    for (const p of result.binding.ports) set.add(p.backend);
    out.set(result.binding.className, set);
  }
  return out;
}

export interface GcSnapshot {
  classes: readonly LoadBalancerClass[];
  services: readonly Service[];
  nodes: ReadonlySet<string>;
  nodesSynced: boolean;
}

export interface GcReport {
  skipped?: GcSkipReason;
  scanned: number;
  removed: FoundMember[];
  waiting: FoundMember[];
  errors: { className: string; instance: string; backend?: string; member?: string; error: string }[];
  nextAt?: number;
}

export interface MemberGcOptions {
  makeInstance: (address: string) => LbInstance;
  /** A Node must have been absent this long before its members go (default 2 min). */
  graceMs?: number;
  log: Logger;
  record: (ev: EventToRecord) => void;
}

export class MemberGc {
  readonly #o: Required<MemberGcOptions>;
  #absentSince = new Map<string, number>();
  /** Backends seen per class, kept after their Service goes (its members may still be there). */
  readonly #seenBackends = new Map<string, Set<string>>();
  readonly #instances = new Map<string, LbInstance>();

  constructor(opts: MemberGcOptions) {
    this.#o = { graceMs: 120_000, ...opts };
  }

  /** `stillAllowed` is asked before every remove: a replica that lost leadership mid-pass stops. */
  async run(snap: GcSnapshot, now: number, stillAllowed: () => boolean = () => true): Promise<GcReport> {
    const report: GcReport = { scanned: 0, removed: [], waiting: [], errors: [] };
    // An empty or unsynced Node cache would make every member look orphaned.
    if (!snap.nodesSynced) return { ...report, skipped: 'nodesNotSynced' };
    if (snap.nodes.size === 0) return { ...report, skipped: 'noNodesKnown' };

    const models = new Map<string, LbClassModel>();
    for (const c of snap.classes) {
      const { model } = parseLbClass(c);
      if (model) models.set(model.name, model);
    }
    for (const [cls, backends] of backendsByClass(snap.services, models)) {
      const seen = this.#seenBackends.get(cls) ?? new Set<string>();
      for (const b of backends) seen.add(b);
      this.#seenBackends.set(cls, seen);
    }

    const found: FoundMember[] = [];
    const wanted = new Set<string>();
    for (const model of models.values()) {
      // Octavia instances are no runtime-API addresses; podlb-owned pools are emptied of a gone
      // node's members by the batch writer (octavia-batch.ts), since its Pods are gone too.
      if (model.provider !== 'haproxy') continue;
      const backends = [...(this.#seenBackends.get(model.name) ?? [])].sort();
      if (backends.length === 0) continue;
      for (const address of model.instances) {
        wanted.add(address);
        const lb = this.#instance(address);
        try {
          const listing = await lb.listMembers(backends, MEMBER_PREFIX);
          for (const m of listing.members) {
            const parsed = parseMemberName(m.name);
            if (!parsed) continue; // not a name podlb makes: never ours to touch
            report.scanned += 1;
            found.push({ className: model.name, instance: address, backend: m.backend, name: m.name, node: parsed.node });
          }
        } catch (err) {
          report.errors.push({ className: model.name, instance: address, error: errorMessage(err) });
        }
      }
    }
    for (const [address, lb] of this.#instances) {
      if (wanted.has(address)) continue;
      this.#instances.delete(address);
      await lb.close().catch(() => undefined);
    }

    const plan = planMemberGc({ members: found, nodes: snap.nodes, absentSince: this.#absentSince, now, graceMs: this.#o.graceMs });
    // An instance that failed to list keeps its nodes' clocks running rather than resetting them.
    for (const [node, since] of this.#absentSince)
      if (!plan.absentSince.has(node) && !snap.nodes.has(node) && report.errors.length > 0) plan.absentSince.set(node, since);
    this.#absentSince = plan.absentSince;
    report.waiting = plan.waiting;
    if (plan.nextAt !== undefined) report.nextAt = plan.nextAt;

    for (const m of plan.remove) {
      if (!stillAllowed()) break;
      const since = plan.absentSince.get(m.node)!;
      try {
        await this.#instance(m.instance).removeMember(m.backend, m.name);
        report.removed.push(m);
        this.#o.log.info({ class: m.className, instance: m.instance, backend: m.backend, member: m.name, node: m.node }, 'removed member of a gone node');
        this.#o.record({
          object: classRef(m.className),
          type: 'Normal',
          reason: 'OrphanMemberRemoved',
          message: `Removed member ${m.name} from backend ${m.backend} on ${m.instance}: Node ${m.node} has not existed for ${Math.round((now - since) / 1000)}s`,
        });
      } catch (err) {
        report.errors.push({ className: m.className, instance: m.instance, backend: m.backend, member: m.name, error: errorMessage(err) });
        this.#o.record({
          object: classRef(m.className),
          type: 'Warning',
          reason: 'OrphanMemberRemovalFailed',
          message: `Could not remove member ${m.name} of gone Node ${m.node} from backend ${m.backend} on ${m.instance}: ${errorMessage(err)}`,
        });
      }
    }
    return report;
  }

  #instance(address: string): LbInstance {
    let lb = this.#instances.get(address);
    if (!lb) {
      lb = this.#o.makeInstance(address);
      this.#instances.set(address, lb);
    }
    return lb;
  }

  /** Forget timers (leadership lost: the next leader starts its own grace periods). */
  reset(): void {
    this.#absentSince = new Map();
  }

  async close(): Promise<void> {
    const all = [...this.#instances.values()];
    this.#instances.clear();
    await Promise.all(all.map((lb) => lb.close().catch(() => undefined)));
  }
}

// What the controller's leader wants in each podlb-owned Octavia pool: pure, from the cluster
// snapshot, the pool's current members and the drain clocks the writer keeps.
//
// Why the leader plans itself rather than reading what the agents report in PodLBNode status:
// - a batch update sets the pool to exactly the list it is given, so the list must be whole.
//   `status.lb.members` is cut at MAX_STATUS_MEMBERS per node (`truncated`), leaves out a
//   member kept only while registered, and names no address, port or class for a member not
//   registered yet: a list built from it would delete what it does not show;
// - status is only as fresh as the agent's last write, and stays as it was when the agent or
//   its node is down, while the Pods it lists may be long gone;
// - status is written by each node's agent: a full-pool write taken from it would let one
//   node's credentials decide other nodes' members and bypass the class's tenancy rules.
// So the leader runs the agents' own pure planner (members/plan.ts, with binding.ts and
// tenancy.ts: same Pod-IP check, same tenancy, same gated-only-by-us and drain rules) once
// per node, on that node's Pods and endpoints, and the agents' own diff (members/diff.ts) per
// node against the pool as Octavia lists it. The agents keep reading their members' health and
// flipping gates; they just no longer write into these pools.
import type { EndpointSlice, LoadBalancerClass, Pod, Service } from '../api/types.js';
import { ANNOTATION_LOAD_BALANCER, LABEL_SERVICE_NAME } from '../api/types.js';
import { parseMemberName } from '../lb/naming.js';
import type { ObservedMember } from '../lb/provider.js';
import type { PoolChanges, PoolMemberRecord } from '../lb/octavia-batch.js';
import { octaviaMemberAdmin, octaviaMemberDetail, octaviaMemberHealth } from '../lb/octavia-health.js';
import { isOptedIn } from '../members/binding.js';
import { diffMembers, type DrainWait, type MemberAction } from '../members/diff.js';
import { memberKey, planMembers, podIps, type DesiredMember } from '../members/plan.js';

export interface BatchPlanSnapshot {
  pods: readonly Pod[];
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  /** The classes that name this load balancer. */
  classes: readonly LoadBalancerClass[];
}

export interface ClusterDesired {
  /** Node → the members its agent would plan for these classes. */
  members: Map<string, DesiredMember[]>;
  /** Node → its Pods' IPs (a member whose Pod is gone is removed without draining). */
  podIps: Map<string, Set<string>>;
}

/**
 * The members every node's agent would plan for `classes`. Each node's planner sees only that
 * node's Pods and endpoints (slices cut per node), so a pass costs about one walk over the
 * endpoints, not one per node.
 */
export function planClusterMembers(snap: BatchPlanSnapshot): ClusterDesired {
  const classNames = new Set(snap.classes.map((c) => c.metadata.name ?? ''));
  const services = snap.services.filter((s) => isOptedIn(s) && classNames.has((s.metadata.annotations?.[ANNOTATION_LOAD_BALANCER] ?? '').trim()));
  const serviceKeys = new Set(services.map((s) => `${s.metadata.namespace ?? 'default'}/${s.metadata.name ?? ''}`));
  const podsByNode = new Map<string, Pod[]>();
  const ipsByNode = new Map<string, Set<string>>();
  for (const p of snap.pods) {
    const node = p.spec.nodeName;
    if (!node) continue;
    podsByNode.set(node, [...(podsByNode.get(node) ?? []), p]);
    const ips = ipsByNode.get(node) ?? new Set<string>();
    for (const ip of podIps(p)) ips.add(ip);
    ipsByNode.set(node, ips);
  }
  const slicesByNode = new Map<string, Map<EndpointSlice, EndpointSlice['endpoints']>>();
  for (const s of snap.endpointSlices) {
    const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
    if (!svc || !serviceKeys.has(`${s.metadata.namespace ?? 'default'}/${svc}`)) continue;
    for (const ep of s.endpoints ?? []) {
      if (!ep.nodeName) continue;
      const bySlice = slicesByNode.get(ep.nodeName) ?? new Map<EndpointSlice, EndpointSlice['endpoints']>();
      bySlice.set(s, [...(bySlice.get(s) ?? []), ep]);
      slicesByNode.set(ep.nodeName, bySlice);
    }
  }
  const members = new Map<string, DesiredMember[]>();
  for (const [nodeName, bySlice] of slicesByNode) {
    const slices = [...bySlice].map(([s, endpoints]) => ({ ...s, endpoints }));
    const here = new Set(slices.map((s) => `${s.metadata.namespace ?? 'default'}/${s.metadata.labels?.[LABEL_SERVICE_NAME]}`));
    const plan = planMembers({
      nodeName,
      pods: podsByNode.get(nodeName) ?? [],
      services: services.filter((s) => here.has(`${s.metadata.namespace ?? 'default'}/${s.metadata.name ?? ''}`)),
      endpointSlices: slices,
      classes: snap.classes,
    });
    if (plan.members.length > 0) members.set(nodeName, plan.members);
  }
  return { members, podIps: ipsByNode };
}

export interface PoolPlanInput {
  pool: { id: string; name: string };
  /** Services may name the pool by name only when no other pool of the load balancer has it. */
  nameIsUnique: boolean;
  desired: ClusterDesired;
  /** The pool's podlb members by node (octavia-batch.ts splitByOwner). */
  current: ReadonlyMap<string, readonly PoolMemberRecord[]>;
  /** By memberKey(pool.id, name): when each member began draining, as the writer recorded it. */
  drainingSince: ReadonlyMap<string, number>;
  lastDesired: ReadonlyMap<string, DesiredMember>;
  now: number;
}

export interface PoolPlan {
  changes: PoolChanges;
  actions: MemberAction[];
  waits: DrainWait[];
  /** Desired members of this pool, keyed by memberKey(pool.id, name). */
  desired: DesiredMember[];
}

function observedOf(poolId: string, m: PoolMemberRecord): ObservedMember {
  return {
    backend: poolId,
    name: m.name,
    address: m.address,
    port: m.protocol_port,
    admin: octaviaMemberAdmin(m),
    // The leader writes members and never flips gates: whether a check has completed (the
    // agents' settle rule) decides nothing here.
    health: octaviaMemberHealth(m, true),
    detail: octaviaMemberDetail(m),
  };
}

/** Per node, the agents' diff between its desired members of this pool and the pool's; folded into one change set. */
export function planPool(o: PoolPlanInput): PoolPlan {
  const { pool } = o;
  const names = new Set([pool.id, ...(o.nameIsUnique && pool.name ? [pool.name] : [])]);
  const nodes = new Set([...o.desired.members.keys(), ...o.current.keys()]);
  const actions: MemberAction[] = [];
  const waits: DrainWait[] = [];
  const desiredAll: DesiredMember[] = [];
  for (const node of [...nodes].sort()) {
    const desired = (o.desired.members.get(node) ?? []).filter((m) => names.has(m.backend)).map((m) => ({ ...m, backend: pool.id }));
    const observed = new Map((o.current.get(node) ?? []).map((m) => [memberKey(pool.id, m.name), observedOf(pool.id, m)]));
    const diff = diffMembers({
      desired,
      observed,
      missingBackends: new Set(),
      livePodIps: o.desired.podIps.get(node) ?? new Set(),
      drainingSince: o.drainingSince,
      lastDesired: o.lastDesired,
      now: o.now,
    });
    actions.push(...diff.actions);
    waits.push(...diff.waits);
    desiredAll.push(...desired);
  }
  const remove = new Set<string>();
  const weight = new Map<string, number>();
  const add: PoolChanges['add'][number][] = [];
  for (const a of actions) {
    if (a.kind === 'remove') remove.add(a.member.name);
    else if (a.kind === 'drain' || a.kind === 'hold') weight.set(a.member.name, 0);
    else if (a.kind === 'enable') weight.set(a.member.name, 1);
    else {
      const node = parseMemberName(a.desired.name)?.node ?? '';
      // A warming member joins at weight 0: health-checked, no traffic until its Pod's gate is True.
      add.push({ node, name: a.desired.name, address: a.desired.address, port: a.desired.port, weight: a.desired.state === 'warming' ? 0 : 1 });
    }
  }
  return { changes: { remove, weight, add }, actions, waits, desired: desiredAll };
}

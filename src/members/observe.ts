// What one load-balancer instance holds of this node's members, at a cost that grows with this
// node's pending members and not with the backends (design §4.5): with 1,000 agents, a full
// listing per agent per poll is 1,000 listings of every backend.
//
// The model: a listing of a backend gives every member of this node in it; from then on the
// reconciler's own acknowledged writes keep the model true (only this node's agent writes
// members with its prefix). So a run asks the instance only about the members whose health it
// waits for, and lists again only what it cannot know otherwise:
// - a backend it has not listed yet (first contact, a new backend in the plan);
// - everything after a failed call (a write may or may not have happened), after the
//   instance's process identity changed (a restart drops every dynamic server), or when an
//   asked member or backend is unexpectedly gone.
// The identity is checked every IDENTITY_CHECK_MS (jittered) inside a poll's round trip, or
// alone when nothing is pending: one small command.
//
// Providers without targeted reads (`readMembers`) are listed in full every run.
import type { LbInstance, MemberQuery, ObservedMember } from '../lb/provider.js';
import { jitter } from '../util/backoff.js';
import { isLive, memberKey, type DesiredMember } from './plan.js';

/** How often a restart of the load balancer is looked for when nothing else asks it anything. */
export const IDENTITY_CHECK_MS = 10_000;

/** Per instance: the model of this node's members and what it rests on. */
export interface Observation {
  /** Backends in which we have seen or put our members: GC needs them listed once. */
  backends: Set<string>;
  missingBackends: string[];
  /** This node's members on the instance, by memberKey. */
  lastObserved: Map<string, ObservedMember>;
  /** Backends the controller's leader writes in batch (Octavia pools tagged podlb-owned): observed here, never written. */
  batchBackends: Set<string>;
  /** Backends whose members of this node `lastObserved` holds completely. */
  known: Set<string>;
  identity?: string;
  identityDueAt: number;
}

export function newObservation(): Observation {
  return { backends: new Set(), missingBackends: [], batchBackends: new Set(), lastObserved: new Map(), known: new Set(), identityDueAt: 0 };
}

/** Why a run lists rather than asks, for logs; undefined when it only asks. */
export type ListReason = 'noTargetedReads' | 'firstContact' | 'newBackend' | 'identityChanged' | 'memberVanished';

export interface ObserveResult {
  /** A fresh map: the caller's writes of this run update it. */
  observed: Map<string, ObservedMember>;
  listed?: ListReason;
  /** Commands' worth of asking: the members asked about this run. */
  asked: number;
}

/**
 * Members whose health this node waits for on the instance: the only ones a poll asks about.
 * Warming members are among them, in the same read: pre-registration adds no call.
 */
export function membersToAsk(desired: readonly DesiredMember[], model: ReadonlyMap<string, ObservedMember>): MemberQuery[] {
  const ask: MemberQuery[] = [];
  for (const m of desired) {
    if (!isLive(m)) continue;
    const o = model.get(memberKey(m.backend, m.name));
    if (o && (o.health === 'pending' || o.health === 'unhealthy')) ask.push({ backend: m.backend, name: m.name, withHealthCheck: m.healthCheck !== undefined });
  }
  return ask;
}

export async function observe(
  inst: LbInstance,
  st: Observation,
  desired: readonly DesiredMember[],
  prefix: string,
  now: number,
  random: () => number,
): Promise<ObserveResult> {
  for (const m of desired) st.backends.add(m.backend);
  // No backend holds or will hold a member of this node: nothing to ask, list or watch for a
  // restart. Every node sees every class, so this is what most nodes cost most instances.
  // Providers without targeted reads keep their call: for Octavia it is where a class's
  // credentials are checked (and refused) even before a member is planned.
  if (st.backends.size === 0 && inst.readMembers) return { observed: new Map(), asked: 0 };
  const list = async (backends: readonly string[], reason: ListReason): Promise<ObserveResult> => {
    const listing = await inst.listMembers(backends, prefix);
    const listed = new Set(backends);
    const observed = new Map([...st.lastObserved].filter(([, o]) => !listed.has(o.backend)));
    for (const o of listing.members) if (o.name.startsWith(prefix)) observed.set(memberKey(o.backend, o.name), o);
    for (const b of backends) st.known.add(b);
    st.missingBackends = [...st.missingBackends.filter((b) => !listed.has(b)), ...listing.missingBackends];
    st.batchBackends = new Set([...[...st.batchBackends].filter((b) => !listed.has(b)), ...(listing.batchBackends ?? [])]);
    // Another process than the one the other known backends were listed on: they are void.
    if (listing.identity !== undefined && st.identity !== undefined && listing.identity !== st.identity && backends.length < st.backends.size) {
      st.identity = listing.identity;
      st.known.clear();
      return list([...st.backends], 'identityChanged');
    }
    st.identity = listing.identity;
    st.identityDueAt = now + jitter(IDENTITY_CHECK_MS, [0.8, 1], random);
    return settle(st, desired, observed, reason, 0);
  };

  if (!inst.readMembers) return list([...st.backends], 'noTargetedReads');
  if (st.known.size === 0) return list([...st.backends], 'firstContact');

  const ask = membersToAsk(desired, st.lastObserved);
  const withIdentity = now >= st.identityDueAt;
  const observed = new Map(st.lastObserved);
  if (ask.length > 0 || withIdentity) {
    const reading = await inst.readMembers(ask, { identity: withIdentity });
    if (reading.identity !== undefined) {
      if (reading.identity !== st.identity) {
        st.known.clear();
        return list([...st.backends], 'identityChanged');
      }
      st.identityDueAt = now + jitter(IDENTITY_CHECK_MS, [0.8, 1], random);
    }
    const got = new Map(reading.members.map((o) => [memberKey(o.backend, o.name), o]));
    // Our own member gone without our doing, or its backend: the model is wrong, start over.
    if (reading.missingBackends.length > 0 || ask.some((q) => !got.has(memberKey(q.backend, q.name)))) {
      st.known.clear();
      return list([...st.backends], 'memberVanished');
    }
    for (const [k, o] of got) observed.set(k, o);
  }
  const fresh = [...st.backends].filter((b) => !st.known.has(b));
  if (fresh.length > 0) {
    st.lastObserved = observed;
    return list(fresh, 'newBackend');
  }
  return settle(st, desired, observed, undefined, ask.length);
}

function settle(
  st: Observation,
  desired: readonly DesiredMember[],
  observed: Map<string, ObservedMember>,
  listed: ListReason | undefined,
  asked: number,
): ObserveResult {
  st.lastObserved = observed;
  // A backend neither desired nor holding a member of ours needs no further look.
  for (const b of st.missingBackends) {
    if (desired.some((m) => m.backend === b)) continue;
    st.backends.delete(b);
    st.known.delete(b);
  }
  return { observed, asked, ...(listed ? { listed } : {}) };
}

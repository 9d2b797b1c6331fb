// What one load-balancer instance must do to hold this node's desired members: a pure
// function from desired and observed members (plus what earlier runs remember of drains) to
// an ordered list of per-member actions. No I/O, no clock: `now` is a parameter, so every
// transition is a table row in diff.test.ts. The executor (execute.ts) applies the actions.
//
// Order: removes, drains, holds, enables, repairs, adds. Removing first frees names and addresses that a new
// member of the same Pod IP may take; within a kind the input order is kept.
import type { ObservedMember } from '../lb/provider.js';
import { DEFAULT_DRAIN_SECONDS } from './binding.js';
import type { MemberView } from './gates.js';
import { isLive, memberKey, type DesiredMember } from './plan.js';

export type RemoveReason = 'podGone' | 'drainWindowEnded';

export type MemberAction =
  /** `desired`: the member's last desired view (for its Pod's Event), when it is still known. */
  | { kind: 'remove'; key: string; member: ObservedMember; reason: RemoveReason; drainSeconds: number; desired?: DesiredMember }
  /** No new connections from now; removed after `drainSeconds` or when the Pod is gone. */
  | { kind: 'drain'; key: string; member: ObservedMember; drainSeconds: number; desired?: DesiredMember }
  /**
   * A warming member taking traffic (its Pod's containers restarted): back to no traffic,
   * still health-checked, and no drain window: it stays until its Pod goes.
   */
  | { kind: 'hold'; key: string; member: ObservedMember }
  /** Drained (or in maintenance) yet wanted again: the Pod's readiness flapped back, or its gate turned True. */
  | { kind: 'enable'; key: string; member: ObservedMember }
  /** The LB failed to program it (`failed`): remove it and add it again. */
  | { kind: 'repair'; key: string; member: ObservedMember; desired: DesiredMember }
  | { kind: 'add'; key: string; desired: DesiredMember };

export type MemberActionKind = MemberAction['kind'];

/** A member left draining in this run. */
export interface DrainWait {
  key: string;
  /** When the drain began: remembered, or now for a member adopted mid-drain after a restart. */
  since: number;
  /** When its window ends: the reconciler must run again then. */
  until: number;
}

export interface MemberDiffInput {
  /** This instance's class's desired members. */
  desired: readonly DesiredMember[];
  /** This node's own members on the instance, by memberKey, in listing order. */
  observed: ReadonlyMap<string, ObservedMember>;
  /** Backends that do not exist on the instance. */
  missingBackends: ReadonlySet<string>;
  /** Every Pod IP on this node: a member whose Pod is gone is removed without draining. */
  livePodIps: ReadonlySet<string>;
  /** When each member of this instance began draining, as earlier runs recorded it. */
  drainingSince: ReadonlyMap<string, number>;
  /** The last desired view of each member, for those that vanished from the plan. */
  lastDesired: ReadonlyMap<string, DesiredMember>;
  /** Failed members repaired before: not again before this time (backoff). */
  repairNotBefore?: ReadonlyMap<string, number>;
  now: number;
}

export interface MemberDiff {
  actions: MemberAction[];
  waits: DrainWait[];
  /** Active members not added because their backend does not exist on the instance. */
  missingBackend: DesiredMember[];
  /** Failed members whose next repair is held back until `at`. */
  repairWaits: { key: string; at: number }[];
}

const ORDER: readonly MemberActionKind[] = ['remove', 'drain', 'hold', 'enable', 'repair', 'add'];

export function diffMembers(input: MemberDiffInput): MemberDiff {
  const { observed, livePodIps, now } = input;
  const desiredByKey = new Map(input.desired.map((m) => [memberKey(m.backend, m.name), m]));
  const actions: MemberAction[] = [];
  const waits: DrainWait[] = [];
  const missingBackend: DesiredMember[] = [];
  const repairWaits: { key: string; at: number }[] = [];

  // Observed members that should not take traffic: drain, then remove when the window ends or the Pod is gone.
  for (const [key, member] of observed) {
    const want = desiredByKey.get(key);
    if (want && isLive(want)) continue;
    const desired = want ?? input.lastDesired.get(key);
    const drainSeconds = desired?.drainSeconds ?? DEFAULT_DRAIN_SECONDS;
    const podGone = !livePodIps.has(member.address);
    const ctx = desired ? { desired } : {};
    if (member.admin === 'ready' && !podGone && drainSeconds > 0) {
      actions.push({ kind: 'drain', key, member, drainSeconds, ...ctx });
      continue;
    }
    const since = input.drainingSince.get(key) ?? now;
    const until = since + drainSeconds * 1000;
    if (podGone || now >= until || drainSeconds === 0) {
      actions.push({ kind: 'remove', key, member, reason: podGone ? 'podGone' : 'drainWindowEnded', drainSeconds, ...ctx });
    } else {
      waits.push({ key, since, until });
    }
  }

  // Members of live Pods: re-enable a drained one that should take traffic, hold a warming one
  // that takes it, add a missing one (a warming one is added taking none).
  for (const [key, m] of desiredByKey) {
    if (!isLive(m)) continue;
    const member = observed.get(key);
    if (member?.failed) {
      const at = input.repairNotBefore?.get(key) ?? now;
      if (now >= at) actions.push({ kind: 'repair', key, member, desired: m });
      else repairWaits.push({ key, at });
    } else if (member) {
      if (m.state === 'warming') {
        if (member.admin !== 'drain') actions.push({ kind: 'hold', key, member });
      } else if (member.admin !== 'ready') actions.push({ kind: 'enable', key, member });
    } else if (m.keepOnly) {
      // not ready by its own readiness: kept if registered, never added
    } else if (input.missingBackends.has(m.backend)) {
      missingBackend.push(m);
    } else {
      actions.push({ kind: 'add', key, desired: m });
    }
  }
  // Stable sort: within a kind, listing order (removes, drains) or plan order (enables, adds).
  actions.sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  return { actions, waits, missingBackend, repairWaits };
}

function healthView(o: ObservedMember): MemberView {
  return { registered: true, healthy: o.health === 'healthy', unchecked: o.health === 'unchecked' };
}

/**
 * What one instance says of each desired member once a run's actions were applied:
 * `observed` without the members removed, `added` the keys whose add succeeded.
 */
export function instanceViews(
  desired: readonly DesiredMember[],
  observed: ReadonlyMap<string, ObservedMember>,
  added: ReadonlySet<string>,
): Map<string, MemberView> {
  const views = new Map<string, MemberView>();
  for (const m of desired) {
    const key = memberKey(m.backend, m.name);
    const o = observed.get(key);
    if (isLive(m) && o) views.set(key, healthView(o));
    else if (isLive(m) && added.has(key)) views.set(key, { registered: true, healthy: false });
    // A member already draining is still registered for the purpose of counts.
    else if (m.state === 'draining' && o) views.set(key, { registered: true, healthy: false });
  }
  return views;
}

/**
 * The views of an instance that could not be read or written this run: what it said last,
 * so a blip does not flip gates or counts, and the adds it did acknowledge.
 */
export function lastKnownViews(
  desired: readonly DesiredMember[],
  lastObserved: ReadonlyMap<string, ObservedMember>,
  added: ReadonlySet<string>,
): Map<string, MemberView> {
  const views = new Map<string, MemberView>();
  for (const m of desired) {
    const key = memberKey(m.backend, m.name);
    const o = lastObserved.get(key);
    if (o) views.set(key, healthView(o));
    else if (added.has(key)) views.set(key, { registered: true, healthy: false });
  }
  return views;
}

/**
 * The diff without what the controller's leader writes in batch (design §4.2): no action and no
 * drain clock of ours in those backends. Their members still count once the pool lists them.
 */
export function withoutBatchWrites(diff: MemberDiff, batchBackends: ReadonlySet<string>): MemberDiff {
  if (batchBackends.size === 0) return diff;
  const backendOf = (a: MemberAction): string => (a.kind === 'add' ? a.desired.backend : a.member.backend);
  return {
    actions: diff.actions.filter((a) => !batchBackends.has(backendOf(a))),
    waits: diff.waits.filter((w) => !batchBackends.has(w.key.slice(0, w.key.indexOf('/')))),
    missingBackend: diff.missingBackend,
    repairWaits: diff.repairWaits.filter((w) => !batchBackends.has(w.key.slice(0, w.key.indexOf('/')))),
  };
}

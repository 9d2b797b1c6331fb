// Applies a member diff to one load-balancer instance and says what happened to each action.
// No decisions here beyond the provider's concurrency: the diff decided what to do.
//
// A failed remove, drain or enable, or an add that failed for a reason retrying can fix
// (PodlbError.transient), stops the run: the instance is unreachable or refusing, and the
// reconciler backs off. An add refused for good (a bad member, a conflicting name) is
// reported and the other actions go on.
import type { LbInstance, MemberSpec } from '../lb/provider.js';
import { PodlbError } from '../util/errors.js';
import type { MemberAction } from './diff.js';

export type AddAction = Extract<MemberAction, { kind: 'add' }>;

export interface ExecutionReport {
  /** Actions the instance acknowledged, in the order they were applied. */
  done: MemberAction[];
  /** Adds refused for a reason retrying cannot fix. */
  refused: { action: AddAction; err: unknown }[];
  /** The error that stopped the run; actions after it were not applied. */
  failed?: unknown;
}

export interface MemberExecutor {
  execute(inst: LbInstance, actions: readonly MemberAction[]): Promise<ExecutionReport>;
}

async function apply(inst: LbInstance, a: MemberAction): Promise<void> {
  switch (a.kind) {
    case 'remove':
      return inst.removeMember(a.member.backend, a.member.name);
    case 'drain':
    case 'hold':
      return inst.drainMember(a.member.backend, a.member.name, a.member);
    case 'enable':
      return inst.enableMember(a.member.backend, a.member.name, a.member);
    case 'repair':
      await inst.removeMember(a.member.backend, a.member.name);
      return inst.addMember(memberSpec(a.desired));
    case 'add':
      return inst.addMember(memberSpec(a.desired));
  }
}

function memberSpec(m: AddAction['desired']): MemberSpec {
  return {
    backend: m.backend,
    name: m.name,
    address: m.address,
    port: m.port,
    ...(m.healthCheck ? { healthCheck: m.healthCheck } : {}),
    ...(m.state === 'warming' ? { warm: true as const } : {}),
  };
}

function stopsTheRun(a: MemberAction, err: unknown): boolean {
  return a.kind !== 'add' || (err instanceof PodlbError && err.transient);
}

/** One action at a time, stopping at the first failure that stops the run. */
async function inSequence(inst: LbInstance, actions: readonly MemberAction[], report: ExecutionReport): Promise<void> {
  for (const a of actions) {
    try {
      await apply(inst, a);
      report.done.push(a);
    } catch (err) {
      if (stopsTheRun(a, err)) {
        report.failed = err;
        return;
      }
      report.refused.push({ action: a as AddAction, err });
    }
  }
}

/**
 * HAProxy runtime API: removes, drains, holds and enables one after the other, then every add at
 * once (each add is a look and one pipelined line; the runtime client queues them on its
 * connection, so a burst of new Pods costs no waiting per Pod). An add that fails does not
 * hold back the others; every acknowledged add is reported even when another one failed.
 */
export const haproxyExecutor: MemberExecutor = {
  async execute(inst, actions) {
    const report: ExecutionReport = { done: [], refused: [] };
    const adds = actions.filter((a): a is AddAction => a.kind === 'add');
    await inSequence(
      inst,
      actions.filter((a) => a.kind !== 'add'),
      report,
    );
    if (report.failed !== undefined) return report;
    const results = await Promise.allSettled(adds.map(async (a) => apply(inst, a)));
    results.forEach((r, i) => {
      const a = adds[i]!;
      if (r.status === 'fulfilled') report.done.push(a);
      else if (stopsTheRun(a, r.reason)) report.failed ??= r.reason;
      else report.refused.push({ action: a, err: r.reason });
    });
    return report;
  },
};

/**
 * Octavia: every write locks the whole load balancer (PENDING_UPDATE) until the amphora is
 * done, so writes go one at a time, and the first transient failure (the LB locked by someone
 * else, the API away) ends the run instead of queueing more writes behind it.
 */
export const octaviaExecutor: MemberExecutor = {
  async execute(inst, actions) {
    const report: ExecutionReport = { done: [], refused: [] };
    await inSequence(inst, actions, report);
    return report;
  },
};

export const executors: Readonly<Record<'haproxy' | 'octavia', MemberExecutor>> = { haproxy: haproxyExecutor, octavia: octaviaExecutor };

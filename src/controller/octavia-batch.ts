// The leader's Octavia batch writer (design §4.2): one writer per load balancer sets the whole
// member list of each podlb-owned pool (tag `podlb-owned`, octavia-tags.ts) in one batch update,
// so N Pods cost one PENDING_UPDATE lock cycle instead of N, and agents never contend for it.
//
// A pass, per load balancer named by an Octavia class:
//   1. plan every node's members from the cluster (octavia-batch-plan.ts explains why not from
//      the agents' status); nothing is read from Octavia when the plan, the Pod IPs and the
//      drain clocks are as they were after the last read, and no write is outstanding;
//   2. GET the load balancer: PENDING_* → come back in `pollMs` (never queue writes behind a lock);
//   3. list its pools; for each pool tagged `podlb-owned` (a pool without the tag is never
//      written), list ALL its members; one that podlb did not make means the tag is wrong: the
//      pool is left alone and a Warning says so (a podlb-owned pool holds only podlb members);
//   4. diff per node with the agents' own diff, build the body with every field set
//      (octavia-batch.ts: omitted fields are reset by Octavia), skip it when it changes nothing
//      (a batch listing existing members locks the load balancer even if nothing changes) and
//      repairs nothing (a wanted member in provisioning ERROR is reprogrammed by being listed;
//      repeated repairs back off as the agents' do, members/repairs.ts), and
//      send ONE batch update, to the first pool that needs one after the last written (the LB
//      is locked after it: the next pool waits for the next pass);
//   5. a 409 "immutable" (someone else locked it) is not retried with the same body: the next
//      pass, once ACTIVE, plans again and sends the whole set, with everything that changed.
import type { Logger } from 'pino';
import type { EndpointSlice, LoadBalancerClass, Pod, Secret, Service } from '../api/types.js';
import type { EventToRecord } from '../kube/events.js';
import { batchBody, batchChanges, batchNeeded, splitByOwner } from '../lb/octavia-batch.js';
import { OctaviaBatchClient } from '../lb/octavia-batch-client.js';
import { OctaviaClient, type OctaviaClientOptions } from '../lb/octavia-client.js';
import { resolveOctaviaCredentials, type OctaviaTrust } from '../lb/octavia-credentials.js';
import { isPodlbOwnedPool, octaviaInstanceId } from '../lb/octavia-tags.js';
import { classRef, parseLbClass, type LbClassModel } from '../members/binding.js';
import { memberKey, type DesiredMember } from '../members/plan.js';
import { MemberRepairs, REPAIR_BACKOFF } from '../members/repairs.js';
import { backoff } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import { planClusterMembers, planPool, type ClusterDesired, type PoolPlan } from './octavia-batch-plan.js';

export interface OctaviaBatchSnapshot {
  classes: readonly LoadBalancerClass[];
  services: readonly Service[];
  pods: readonly Pod[];
  endpointSlices: readonly EndpointSlice[];
  secret: (name: string, namespace: string) => Secret | undefined;
  /** Every cache above has listed: an empty cache would read as "no members wanted". */
  synced: boolean;
}

export interface PoolBatchReport {
  pool: string;
  /** written: one batch update sent; inSync: nothing to change; foreignMembers: left alone. */
  result: 'written' | 'inSync' | 'foreignMembers' | 'waiting';
  create?: number;
  update?: number;
  delete?: number;
  /** Wanted members in provisioning ERROR the batch lists again (they are reprogrammed). */
  repair?: number;
}

export interface LoadBalancerBatchReport {
  id: string;
  state: 'unchanged' | 'coalescing' | 'pending' | 'locked' | 'read' | 'written' | 'error' | 'backingOff';
  pools: PoolBatchReport[];
  error?: string;
}

export interface OctaviaBatchReport {
  skipped?: 'notSynced';
  loadBalancers: LoadBalancerBatchReport[];
  /** Batch updates sent in this pass. */
  writes: number;
  nextAt?: number;
}

export interface OctaviaBatchOptions {
  log: Logger;
  record: (ev: EventToRecord) => void;
  /** Where credentials may be sent besides a Secret's own auth_url (the agent's --octavia-auth-url). */
  trust?: OctaviaTrust;
  /** How often a locked (PENDING_*) load balancer is looked at again, and a write is read back. Default 500 ms. */
  pollMs?: number;
  /** Re-read the pools this often even when nothing changed here (someone else's edits). Default 60 s. */
  resyncMs?: number;
  /**
   * A burst (a rollout's Pods turning ready) reaches the caches as a trickle of events: write
   * once the plan has been quiet this long (default 200 ms), but never later than
   * `maxCoalesceMs` (default 1 s) after its first change. Cheap next to a 1-5 s lock cycle.
   */
  coalesceMs?: number;
  maxCoalesceMs?: number;
  /** Extra client options (tests: timeouts); credentials and URL come from the class. */
  clientOptions?: Partial<OctaviaClientOptions>;
  random?: () => number;
}

interface LbState {
  credentialsKey: string;
  api: OctaviaBatchClient;
  drains: Map<string, number>;
  lastDesired: Map<string, DesiredMember>;
  /** The plan as of the last read that found nothing to write; undefined: read next pass. */
  settledPlan?: string;
  settledAt: number;
  /** The plan seen last, when it last changed, and when the burst of changes began. */
  seenPlan?: string;
  changedAt: number;
  burstSince?: number;
  /** Earliest drain window end among the members left draining. */
  dueAt?: number;
  failures: number;
  retryAt: number;
  /** Index of the pool written last: the next write starts after it, so no pool starves. */
  lastPool: number;
  reported: Set<string>;
}

const PENDING = /^PENDING_/;
/** A pool left alone for foreign members is read again this soon (bounded by resyncMs). */
const BLOCKED_RETRY_MS = 5_000;

export class OctaviaBatchWriter {
  readonly #o: Required<Omit<OctaviaBatchOptions, 'trust' | 'clientOptions'>> & Pick<OctaviaBatchOptions, 'trust' | 'clientOptions'>;
  readonly #lbs = new Map<string, LbState>();
  /** By load balancer id: members repaired so far, so one that keeps failing waits longer each time. */
  #repairs: MemberRepairs;

  constructor(o: OctaviaBatchOptions) {
    this.#o = { pollMs: 500, resyncMs: 60_000, coalesceMs: 200, maxCoalesceMs: 1_000, random: Math.random, ...o };
    this.#repairs = new MemberRepairs(REPAIR_BACKOFF, this.#o.random);
  }

  async run(snap: OctaviaBatchSnapshot, now: number, stillLeading: () => boolean): Promise<OctaviaBatchReport> {
    const report: OctaviaBatchReport = { loadBalancers: [], writes: 0 };
    if (!snap.synced) return { ...report, skipped: 'notSynced' };
    const wake = (t: number): void => {
      report.nextAt = Math.min(report.nextAt ?? Infinity, t);
    };
    const byLb = new Map<string, { models: LbClassModel[]; raw: LoadBalancerClass[] }>();
    for (const c of [...snap.classes].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))) {
      if (c.spec?.provider !== 'octavia') continue;
      const { model } = parseLbClass(c);
      // A class that does not parse may be the one that names these members: leave its LB alone.
      const raw = c.spec.octavia;
      const id =
        model?.instances[0] ?? (typeof raw?.loadBalancerID === 'string' ? octaviaInstanceId(raw.loadBalancerID, raw.region) : `invalid:${c.metadata.name}`);
      const entry = byLb.get(id) ?? { models: [], raw: [] };
      if (model) entry.models.push(model);
      entry.raw.push(c);
      byLb.set(id, entry);
    }
    for (const [id, { models, raw }] of byLb) {
      if (models.length !== raw.length || models.length === 0) continue;
      const r: LoadBalancerBatchReport = { id, state: 'unchanged', pools: [] };
      report.loadBalancers.push(r);
      const st = this.#state(id, models, snap, r);
      if (!st) continue;
      if (now < st.retryAt) {
        r.state = 'backingOff';
        wake(st.retryAt);
        continue;
      }
      try {
        const wrote = await this.#pass(st, raw, snap, now, stillLeading, r, wake);
        if (wrote) report.writes += 1;
        st.failures = 0;
      } catch (err) {
        st.failures += 1;
        st.retryAt = now + backoff(st.failures, { baseMs: this.#o.pollMs, maxMs: 60_000 }, this.#o.random);
        st.settledPlan = undefined;
        r.state = 'error';
        r.error = errorMessage(err);
        wake(st.retryAt);
        this.#o.log.warn({ err, loadBalancer: id, failures: st.failures }, 'Octavia batch pass failed');
        if (st.failures === 1)
          this.#o.record({
            object: classRef(models[0]!.name),
            type: 'Warning',
            reason: 'BatchUpdateFailed',
            message: `Load balancer ${id}: ${r.error}; retrying with backoff, members are kept as they are`.slice(0, 1024),
          });
      }
    }
    for (const id of this.#lbs.keys()) if (!byLb.has(id)) this.#lbs.delete(id);
    return report;
  }

  /** Forget drain clocks and plans (leadership lost: the next leader starts its own). */
  reset(): void {
    this.#lbs.clear();
    this.#repairs = new MemberRepairs(REPAIR_BACKOFF, this.#o.random);
  }

  #state(id: string, models: LbClassModel[], snap: OctaviaBatchSnapshot, r: LoadBalancerBatchReport): LbState | undefined {
    // The first class (by name) whose credentials resolve writes for the load balancer.
    let why = 'no class names usable credentials';
    for (const m of models) {
      const cfg = m.octavia!;
      const secret = snap.secret(cfg.credentialsSecret.name, cfg.credentialsSecret.namespace);
      const resolved = resolveOctaviaCredentials(cfg, secret, this.#o.trust ?? { authURLs: [] });
      if (!resolved.ok) {
        why = resolved.why;
        continue;
      }
      const key = JSON.stringify([cfg.authURL, cfg.region ?? '', secret?.metadata.resourceVersion ?? '']);
      const prev = this.#lbs.get(id);
      if (prev?.credentialsKey === key) return prev;
      const client = new OctaviaClient({
        ...this.#o.clientOptions,
        authURL: cfg.authURL,
        ...(cfg.region ? { region: cfg.region } : {}),
        ...(resolved.cloud.interface ? { interface: resolved.cloud.interface } : {}),
        credentials: resolved.cloud.credentials,
      });
      const st: LbState = {
        credentialsKey: key,
        api: new OctaviaBatchClient(client, cfg.loadBalancerID),
        drains: prev?.drains ?? new Map(),
        lastDesired: prev?.lastDesired ?? new Map(),
        settledAt: 0,
        changedAt: 0,
        failures: 0,
        retryAt: 0,
        lastPool: -1,
        reported: prev?.reported ?? new Set(),
      };
      this.#lbs.set(id, st);
      return st;
    }
    r.state = 'error';
    r.error = why;
    return undefined;
  }

  /** One look at the load balancer and at most one batch update. Returns whether one was sent. */
  async #pass(
    st: LbState,
    classes: LoadBalancerClass[],
    snap: OctaviaBatchSnapshot,
    now: number,
    stillLeading: () => boolean,
    r: LoadBalancerBatchReport,
    wake: (t: number) => void,
  ): Promise<boolean> {
    const desired = planClusterMembers({ pods: snap.pods, services: snap.services, endpointSlices: snap.endpointSlices, classes });
    const planKey = fingerprint(desired);
    const due = st.dueAt !== undefined && now >= st.dueAt;
    if (st.settledPlan === planKey && !due && now - st.settledAt < this.#o.resyncMs) {
      wake(Math.min(st.dueAt ?? Infinity, st.settledAt + this.#o.resyncMs));
      return false;
    }
    if (planKey !== st.seenPlan) {
      st.seenPlan = planKey;
      st.changedAt = now;
      st.burstSince ??= now;
    }
    const quietAt = Math.min(st.changedAt + this.#o.coalesceMs, (st.burstSince ?? now) + this.#o.maxCoalesceMs);
    if (st.burstSince !== undefined && now < quietAt) {
      r.state = 'coalescing';
      wake(quietAt);
      return false;
    }
    st.burstSince = undefined;
    const status = await st.api.provisioningStatus();
    if (PENDING.test(status)) {
      r.state = 'pending';
      wake(now + this.#o.pollMs);
      return false;
    }
    if (status !== 'ACTIVE') throw new Error(`load balancer is ${status}: Octavia refuses changes until an operator fixes or fails it over`);
    const pools = await st.api.pools();
    const nameCount = new Map<string, number>();
    for (const p of pools) nameCount.set(p.name, (nameCount.get(p.name) ?? 0) + 1);
    const owned = pools.filter((p) => isPodlbOwnedPool(p.tags)).sort((a, b) => a.id.localeCompare(b.id));
    const desiredKeys = new Set<string>();
    const observedKeys = new Set<string>();
    let dueAt: number | undefined;
    let blocked = false;
    let write: { index: number; pool: string; body: ReturnType<typeof batchBody>; plan: PoolPlan; report: PoolBatchReport } | undefined;
    const repairNotBefore = this.#repairs.notBefore(r.id);
    for (const [index, pool] of owned.entries()) {
      const all = await st.api.members(pool.id);
      const { byNode, foreign } = splitByOwner(all);
      for (const list of byNode.values()) for (const m of list) observedKeys.add(memberKey(pool.id, m.name));
      this.#repairs.observed(
        r.id,
        new Map([...byNode.values()].flat().map((m) => [memberKey(pool.id, m.name), { failed: m.provisioning_status === 'ERROR' }])),
      );
      if (foreign.length > 0) {
        // Only the operator can fix it, in Octavia, where no watch tells us: look again soon.
        blocked = true;
        r.pools.push({ pool: pool.name || pool.id, result: 'foreignMembers' });
        this.#reportOnce(st, `foreign|${pool.id}`, classes[0]!, {
          type: 'Warning',
          reason: 'OwnedPoolHasForeignMembers',
          message: `Pool ${pool.name || pool.id} is tagged podlb-owned but holds ${foreign.length} member(s) podlb did not make (e.g. ${JSON.stringify(foreign[0]!.name)} ${foreign[0]!.address}:${foreign[0]!.protocol_port}); a batch update would delete them, so podlb does not write this pool: remove the tag or those members`,
        });
        continue;
      }
      st.reported.delete(`foreign|${pool.id}`);
      const plan = planPool({
        pool,
        nameIsUnique: nameCount.get(pool.name) === 1,
        desired,
        current: byNode,
        drainingSince: st.drains,
        lastDesired: st.lastDesired,
        repairNotBefore,
        now,
      });
      for (const m of plan.desired) {
        const k = memberKey(pool.id, m.name);
        desiredKeys.add(k);
        st.lastDesired.set(k, m);
      }
      for (const w of plan.waits) {
        st.drains.set(w.key, w.since);
        dueAt = Math.min(dueAt ?? Infinity, w.until);
      }
      for (const w of plan.repairWaits) dueAt = Math.min(dueAt ?? Infinity, w.at);
      const body = batchBody(byNode, plan.changes);
      const diff = batchChanges(all, body);
      if (!batchNeeded(diff) && plan.repairs.length === 0) {
        r.pools.push({ pool: pool.name || pool.id, result: 'inSync' });
        continue;
      }
      const poolReport: PoolBatchReport = {
        pool: pool.name || pool.id,
        result: 'waiting',
        ...diff,
        ...(plan.repairs.length > 0 ? { repair: plan.repairs.length } : {}),
      };
      r.pools.push(poolReport);
      // Round robin: the first pool after the one written last.
      if (!write || (write.index <= st.lastPool && index > st.lastPool)) write = { index, pool: pool.id, body, plan, report: poolReport };
    }
    for (const k of st.lastDesired.keys()) if (!desiredKeys.has(k) && !observedKeys.has(k)) st.lastDesired.delete(k);
    for (const k of st.drains.keys()) if (!observedKeys.has(k)) st.drains.delete(k);
    st.dueAt = dueAt;
    if (dueAt !== undefined) wake(dueAt);
    if (!write) {
      r.state = 'read';
      st.settledPlan = planKey;
      st.settledAt = blocked ? now - this.#o.resyncMs + Math.min(BLOCKED_RETRY_MS, this.#o.resyncMs) : now;
      wake(st.settledAt + this.#o.resyncMs);
      return false;
    }
    if (!stillLeading()) return false;
    st.settledPlan = undefined;
    const sent = await st.api.replaceMembers(write.pool, write.body);
    wake(now + this.#o.pollMs);
    if (sent === 'locked') {
      r.state = 'locked';
      return false;
    }
    r.state = 'written';
    st.lastPool = write.index;
    write.report.result = 'written';
    for (const a of write.plan.actions) if (a.kind === 'drain') st.drains.set(a.key, now);
    for (const a of write.plan.actions) if (a.kind === 'remove' || a.kind === 'enable') st.drains.delete(a.key);
    const repairs = write.plan.repairs.map((a) => ({ a, n: this.#repairs.repaired(r.id, a.key, now) }));
    for (const { a, n } of repairs)
      this.#o.log.warn({ loadBalancer: r.id, member: a.member.name, detail: a.member.detail, repairs: n }, 'member Octavia failed to program: listed again');
    // One Event per batch, on the class: the controller may write Events only in `default`
    // (daemonset/controller.yaml), and a failed batch leaves every member it listed in ERROR.
    const first = repairs[0];
    if (first)
      this.#o.record({
        object: classRef(classes[0]!.metadata.name ?? ''),
        type: 'Warning',
        reason: 'MemberRepaired',
        message:
          `${r.id} failed to program ${repairs.length} member(s) of pool ${write.report.pool} (e.g. ${first.a.member.address}:${first.a.member.port}, ${first.a.member.detail}); the batch update lists them again (repair ${Math.max(...repairs.map((x) => x.n))})`.slice(
            0,
            1024,
          ),
      });
    this.#o.log.info({ loadBalancer: r.id, poolId: write.pool, members: write.body.length, ...write.report }, 'batch member update sent');
    return true;
  }

  #reportOnce(st: LbState, key: string, cls: LoadBalancerClass, ev: Omit<EventToRecord, 'object'>): void {
    if (st.reported.has(key)) return;
    st.reported.add(key);
    this.#o.record({ object: classRef(cls.metadata.name ?? ''), ...ev });
  }
}

/** What the plan depends on: members wanted per node and each node's Pod IPs. */
function fingerprint(d: ClusterDesired): string {
  const members = [...d.members]
    .map(([node, ms]) => [node, ms.map((m) => `${m.backend}|${m.name}|${m.state}|${m.keepOnly ? 1 : 0}|${m.drainSeconds}`).sort()] as const)
    .sort((a, b) => a[0].localeCompare(b[0]));
  const ips = [...d.podIps].map(([node, s]) => [node, [...s].sort()] as const).sort((a, b) => a[0].localeCompare(b[0]));
  return JSON.stringify([members, ips]);
}

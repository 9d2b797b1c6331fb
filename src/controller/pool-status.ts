// PodAddressPool status (design §3, leader only): conditions `Approved` and `Advertised`, and
// `status.advertisedNodes`. A pure planner turns the whole snapshot (pools, Nodes, PodLBNodes)
// into the status each pool should have; a thin writer merge-patches `podaddresspools/status`
// only where it differs, and records an Event per condition transition.
//
// "Advertised" is what the agents report, not what they should do: a node counts for a pool
// when a prefix in its PodLBNode's `status.bgp.advertisedPrefixes` is attributed to the pool by
// the BGP model's rule (compareClaims: the most specific containing pool CIDR, then the name),
// among the approved, valid pools that select that node. Pool validation is the BGP
// configuration's own (parsePool), so the status and the agent never disagree on it.
import type { Logger } from 'pino';
import { API_VERSION, type Condition, type Node, type PodAddressPool, type PodLBNode } from '../api/types.js';
import type { ObjectRef } from '../api/problem.js';
import { transitionTime } from '../api/conditions.js';
import { compareClaims, prefixRemainder } from '../bgp/advertisement.js';
import { parsePool, type PoolConfig } from '../bgp/config.js';
import { parsePrefix, prefixInside, type IpPrefix } from '../net/ip.js';
import type { KubeClient } from '../kube/client.js';
import { isConflict, isNotFound } from '../kube/client.js';
import type { EventToRecord } from '../kube/events.js';
import { selectorMatches } from '../util/label-selector.js';
import { errorMessage } from '../util/errors.js';

export const CONDITION_APPROVED = 'Approved';
export const CONDITION_ADVERTISED = 'Advertised';

export type ApprovedReason = 'Approved' | 'ApprovalStale' | 'Pending' | 'Rejected' | 'Invalid';
export type AdvertisedReason = 'Advertised' | 'NotApproved' | 'Invalid' | 'NoNodeSelected' | 'Overlapping' | 'NotAdvertised';

export interface PoolStatus {
  conditions: Condition[];
  advertisedNodes: number;
}

export interface PoolStatusPlan {
  name: string;
  /** The complete status to write (our two conditions plus any foreign ones, untouched). */
  status: PoolStatus;
  /** false: the pool already has exactly this status; nothing is written. */
  changed: boolean;
  /** One per condition whose (status, reason) changed. */
  events: EventToRecord[];
  /** Of the object the plan was made from: the write is conditional on it. */
  resourceVersion?: string;
}

export interface PoolStatusInput {
  pools: readonly PodAddressPool[];
  nodes: readonly Node[];
  podlbNodes: readonly PodLBNode[];
  now: number;
}

/** A pool as parsed by the BGP configuration, with the object it came from (status, metadata). */
interface PoolModel extends PoolConfig {
  pool: PodAddressPool;
  /** Why the pool cannot be advertised as written (field: message); empty when valid. */
  invalid: string[];
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const poolRef = (p: PodAddressPool): ObjectRef => ({
  apiVersion: API_VERSION,
  kind: 'PodAddressPool',
  name: p.metadata.name ?? '<unnamed>',
  ...(p.metadata.uid ? { uid: p.metadata.uid } : {}),
});
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const withoutSubject = (message: string) => message.replace(/^PodAddressPool [^:]*: /, '');

/** What parseConfig finds wrong with a pool, independent of approval and of any node. */
function invalidity(c: PoolConfig): string[] {
  return [
    ...(c.selectorProblem ? [`${c.selectorProblem.field}: ${withoutSubject(c.selectorProblem.message)}`] : []),
    ...c.problems.map((p) => withoutSubject(p.message)),
  ];
}

/** The BGP configuration's validation of one pool, independent of approval and of any node. */
export function poolValidationProblems(pool: PodAddressPool): string[] {
  return invalidity(parsePool(pool));
}

function modelOf(pool: PodAddressPool): PoolModel {
  const c = parsePool(pool);
  return { ...c, name: pool.metadata.name ?? '<unnamed>', pool, invalid: invalidity(c) };
}

/** The pool's most specific CIDR that contains `prefix`. */
function containing(p: PoolModel, prefix: IpPrefix): IpPrefix | undefined {
  let best: IpPrefix | undefined;
  for (const c of p.cidrs) if (prefixInside(prefix, c) && (!best || c.length > best.length)) best = c;
  return best;
}

const isHostRoute = (p: IpPrefix) => p.length === (p.family === 4 ? 32 : 128);

/**
 * The pool a node's advertised prefix belongs to, as the BGP model decides it: among approved,
 * valid pools selecting the node whose mode could have produced it (a host route: PodIPs pools
 * first; an aggregate: NodeCIDR pools), the most specific containing CIDR, then the pool name.
 */
export function attributePrefix(prefix: IpPrefix, candidates: readonly PoolModel[]): string | undefined {
  const claimsOf = (mode: PoolModel['mode']) =>
    candidates.flatMap((p) => {
      if (p.mode !== mode) return [];
      const cidr = containing(p, prefix);
      return cidr ? [{ pool: { name: p.name }, cidr }] : [];
    });
  let claims = isHostRoute(prefix) ? claimsOf('PodIPs') : [];
  if (claims.length === 0) claims = claimsOf('NodeCIDR');
  claims.sort(compareClaims);
  return claims[0]?.pool.name;
}

/**
 * The approved pool that owns every address of `p` that another approved pool also lists, when
 * nothing of `p` is left to it (its CIDRs are wholly covered by winners: an identical CIDR of
 * an earlier-named pool, or more specific CIDRs of other pools). undefined when `p` keeps a part.
 */
function shadowedBy(p: PoolModel, approved: readonly PoolModel[]): string[] | undefined {
  const winners = new Set<string>();
  for (const c of p.cidrs) {
    const won: IpPrefix[] = [];
    for (const q of approved) {
      if (q === p) continue;
      for (const qc of q.cidrs) {
        if (!prefixInside(qc, c)) continue;
        // qc inside c: q owns qc when its CIDR is more specific, or identical and q's name is earlier.
        if (compareClaims({ pool: q, cidr: qc }, { pool: p, cidr: c }) < 0) {
          won.push(qc);
          winners.add(q.name);
        }
      }
    }
    if (prefixRemainder(c, won).length > 0) return undefined;
  }
  return winners.size > 0 ? [...winners].sort(byName) : undefined;
}

/** Overlapping approved pools whose CIDRs contain or equal some CIDR of `p` (for messages). */
function overlapsOf(p: PoolModel, approved: readonly PoolModel[]): string[] {
  const out: string[] = [];
  for (const q of approved) {
    if (q === p) continue;
    if (p.cidrs.some((a) => q.cidrs.some((b) => prefixInside(a, b) || prefixInside(b, a)))) out.push(q.name);
  }
  return out.sort(byName);
}

type Desired = { type: string; status: Condition['status']; reason: string; message: string };

function approvedCondition(m: PoolModel): Desired {
  const a = isMap(m.pool.spec?.approval) ? m.pool.spec.approval : {};
  const who = a.by ? ` by ${a.by}` : '';
  const why = a.reason ? `: ${a.reason}` : '';
  if (m.invalid.length > 0)
    return {
      type: CONDITION_APPROVED,
      status: 'False',
      reason: 'Invalid',
      message: `The pool is invalid and is never advertised, whatever its approval: ${m.invalid.join('; ')}`,
    };
  if (m.state === 'Approved') return { type: CONDITION_APPROVED, status: 'True', reason: 'Approved', message: `Approved${who}${why}` };
  if (m.approvalProblem) return { type: CONDITION_APPROVED, status: 'False', reason: 'ApprovalStale', message: m.approvalProblem.message };
  if (m.state === 'Rejected') return { type: CONDITION_APPROVED, status: 'False', reason: 'Rejected', message: `Rejected${who}${why}` };
  return {
    type: CONDITION_APPROVED,
    status: 'False',
    reason: 'Pending',
    message: `Waiting for the network team's approval (spec.approval.state: Approved)${who || why ? `; last decision${who}${why}` : ''}`,
  };
}

export function planPoolStatuses(input: PoolStatusInput): PoolStatusPlan[] {
  const models = [...input.pools].map(modelOf).sort((a, b) => byName(a.name, b.name));
  const approved = models.filter((m) => m.state === 'Approved' && m.invalid.length === 0);
  const labelsOf = new Map<string, Record<string, string>>();
  for (const n of input.nodes) if (n.metadata?.name) labelsOf.set(n.metadata.name, isMap(n.metadata.labels) ? n.metadata.labels : {});

  // Which nodes advertise each pool: every advertised prefix attributed to exactly one pool.
  const advertisers = new Map<string, Set<string>>();
  for (const lbn of input.podlbNodes) {
    const node = lbn.metadata?.name;
    if (!node) continue;
    const labels = labelsOf.get(node);
    // A PodLBNode whose Node is gone still says what its agent advertised last; its selection is unknown, so every approved pool may claim.
    const candidates = labels === undefined ? approved : approved.filter((p) => selectorMatches(p.selector!, labels));
    const listed: unknown = lbn.status?.bgp?.advertisedPrefixes;
    for (const raw of Array.isArray(listed) ? listed : []) {
      const r = parsePrefix(raw);
      if (!r.ok) continue;
      const owner = attributePrefix(r.prefix, candidates);
      if (owner === undefined) continue;
      const set = advertisers.get(owner) ?? new Set<string>();
      set.add(node);
      advertisers.set(owner, set);
    }
  }

  const ts = new Date(input.now).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return models.map((m) => {
    const nodes = m.state === 'Approved' && m.invalid.length === 0 ? (advertisers.get(m.name)?.size ?? 0) : 0;
    const approvedC = approvedCondition(m);
    let advertisedC: Desired;
    if (m.invalid.length > 0)
      advertisedC = {
        type: CONDITION_ADVERTISED,
        status: 'False',
        reason: 'Invalid',
        message: 'Not advertised: the pool is invalid (see the Approved condition)',
      };
    else if (m.state !== 'Approved')
      advertisedC = {
        type: CONDITION_ADVERTISED,
        status: 'False',
        reason: 'NotApproved',
        message: `Not advertised: the pool is ${m.state === 'ApprovalStale' ? 'not the content that was approved (see the Approved condition)' : m.state}`,
      };
    else {
      const selected = input.nodes.filter((n) => selectorMatches(m.selector!, isMap(n.metadata?.labels) ? n.metadata.labels : {})).length;
      const overlaps = overlapsOf(m, approved);
      const note =
        overlaps.length > 0
          ? `; it overlaps PodAddressPool ${overlaps.join(', ')}: a prefix inside both is advertised once, for the pool with the most specific CIDR containing it (then the earlier name)`
          : '';
      if (nodes > 0)
        advertisedC = {
          type: CONDITION_ADVERTISED,
          status: 'True',
          reason: 'Advertised',
          message: `${plural(nodes, 'node advertises', 'nodes advertise')} it (of ${plural(selected, 'selected node')})${note}`,
        };
      else if (selected === 0)
        advertisedC = {
          type: CONDITION_ADVERTISED,
          status: 'False',
          reason: 'NoNodeSelected',
          message: `No Node matches spec.nodeSelector${input.nodes.length === 0 ? ' (no Nodes exist)' : ` (of ${plural(input.nodes.length, 'Node')})`}`,
        };
      else {
        const shadow = shadowedBy(m, approved);
        advertisedC = shadow
          ? {
              type: CONDITION_ADVERTISED,
              status: 'False',
              reason: 'Overlapping',
              message: `Every CIDR of the pool lies inside approved PodAddressPool ${shadow.join(', ')}, which own${shadow.length === 1 ? 's' : ''} those addresses (the most specific pool CIDR wins, then the earlier name): nothing is advertised as this pool's`,
            }
          : {
              type: CONDITION_ADVERTISED,
              status: 'False',
              reason: 'NotAdvertised',
              message: `None of the ${plural(selected, 'selected node')} advertises a prefix of it yet (${m.mode === 'NodeCIDR' ? 'advertise: NodeCIDR needs a Node podCIDR inside the pool' : 'advertise: PodIPs needs opted-in Pods with IPs inside the pool'})${note}`,
            };
      }
    }

    const old: Condition[] = Array.isArray(m.pool.status?.conditions) ? m.pool.status.conditions : [];
    const generation = m.pool.metadata.generation;
    const events: EventToRecord[] = [];
    const ours = [approvedC, advertisedC].map((d): Condition => {
      const prev = old.find((c) => c.type === d.type);
      const c: Condition = {
        type: d.type,
        status: d.status,
        reason: d.reason,
        message: d.message,
        lastTransitionTime: transitionTime(old, d.type, d.status, ts),
        ...(generation !== undefined ? { observedGeneration: generation } : {}),
      };
      if (!prev || prev.status !== d.status || prev.reason !== d.reason) {
        const ev = transitionEvent(poolRef(m.pool), d);
        if (ev) events.push(ev);
      }
      return c;
    });
    const conditions = [...ours, ...old.filter((c) => c.type !== CONDITION_APPROVED && c.type !== CONDITION_ADVERTISED)];
    const status: PoolStatus = { conditions, advertisedNodes: nodes };
    const changed = !sameStatus(m.pool.status, status);
    return {
      name: m.name,
      status,
      changed,
      events: changed ? events : [],
      ...(m.pool.metadata.resourceVersion ? { resourceVersion: m.pool.metadata.resourceVersion } : {}),
    };
  });
}

const EVENT_REASON: Record<string, [reason: string, type: EventToRecord['type']] | undefined> = {
  'Approved/Approved': ['PoolApproved', 'Normal'],
  'Approved/Pending': ['PoolPending', 'Normal'],
  'Approved/Rejected': ['PoolRejected', 'Normal'],
  'Approved/ApprovalStale': ['ApprovalStale', 'Warning'],
  'Approved/Invalid': ['InvalidPool', 'Warning'],
  'Advertised/Advertised': ['PoolAdvertised', 'Normal'],
  'Advertised/NoNodeSelected': ['PoolSelectsNoNode', 'Warning'],
  'Advertised/Overlapping': ['OverlappingPool', 'Warning'],
  'Advertised/NotAdvertised': ['PoolNotAdvertised', 'Normal'],
  // NotApproved and Invalid repeat what the Approved transition already said.
};

function transitionEvent(object: ObjectRef, d: Desired): EventToRecord | undefined {
  const r = EVENT_REASON[`${d.type}/${d.reason}`];
  return r ? { object, type: r[1], reason: r[0], message: `${d.type}=${d.status} (${d.reason}): ${d.message}` } : undefined;
}

function sameStatus(current: PodAddressPool['status'], want: PoolStatus): boolean {
  if (!current || current.advertisedNodes !== want.advertisedNodes) return false;
  const have = Array.isArray(current.conditions) ? current.conditions : [];
  if (have.length !== want.conditions.length) return false;
  // By type, not by position: the API server may return the list in another order.
  return want.conditions.every((w) => {
    const h = have.find((c) => c.type === w.type);
    return (
      h !== undefined &&
      h.type === w.type &&
      h.status === w.status &&
      h.reason === w.reason &&
      h.message === w.message &&
      h.lastTransitionTime === w.lastTransitionTime &&
      h.observedGeneration === w.observedGeneration
    );
  });
}

// ---- the writer ----

export interface PoolStatusSnapshot {
  pools: readonly PodAddressPool[];
  nodes: readonly Node[];
  podlbNodes: readonly PodLBNode[];
  /** All three caches have listed: an empty Node or PodLBNode cache would report NoNodeSelected / 0 nodes everywhere. */
  synced: boolean;
}

export interface PoolStatusReport {
  skipped?: 'notSynced';
  written: string[];
  unchanged: number;
  /** Pools whose write lost a race (409) or vanished (404): the next pass sees the new object. */
  stale: string[];
  errors: { pool: string; error: string }[];
}

export interface PoolStatusWriterOptions {
  client: Pick<KubeClient, 'patch'>;
  log: Logger;
  record: (ev: EventToRecord) => void;
}

export class PoolStatusWriter {
  readonly #o: PoolStatusWriterOptions;

  constructor(opts: PoolStatusWriterOptions) {
    this.#o = opts;
  }

  /** `stillAllowed` is asked before every write: a replica that lost leadership mid-pass stops. */
  async run(snap: PoolStatusSnapshot, now: number, stillAllowed: () => boolean = () => true): Promise<PoolStatusReport> {
    const report: PoolStatusReport = { written: [], unchanged: 0, stale: [], errors: [] };
    if (!snap.synced) return { ...report, skipped: 'notSynced' };
    for (const plan of planPoolStatuses({ pools: snap.pools, nodes: snap.nodes, podlbNodes: snap.podlbNodes, now })) {
      if (!plan.changed) {
        report.unchanged += 1;
        continue;
      }
      if (!stillAllowed()) break;
      try {
        // Merge patch on the status subresource; conditions are replaced as a whole list (ours
        // plus foreign ones as read), so the write is conditional on the resourceVersion read.
        await this.#o.client.patch(
          `/apis/${API_VERSION}/podaddresspools/${encodeURIComponent(plan.name)}/status`,
          { metadata: plan.resourceVersion ? { resourceVersion: plan.resourceVersion } : {}, status: plan.status },
          'merge',
        );
        report.written.push(plan.name);
        for (const ev of plan.events) this.#o.record(ev);
        this.#o.log.info(
          { pool: plan.name, advertisedNodes: plan.status.advertisedNodes, conditions: plan.status.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`) },
          'pool status written',
        );
      } catch (err) {
        if (isConflict(err) || isNotFound(err)) report.stale.push(plan.name);
        else {
          report.errors.push({ pool: plan.name, error: errorMessage(err) });
          this.#o.log.warn({ pool: plan.name, err }, 'pool status write failed');
        }
      }
    }
    return report;
  }
}

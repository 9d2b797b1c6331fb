// Keeps the Calico BGPPeers and BGPFilters podlb rendered equal to renderCalico's output (leader
// only, level-triggered). Ownership: podlb creates, updates and deletes only objects that carry
// both the label app.kubernetes.io/managed-by=podlb and the podlb.io/owner annotation; a
// Calico object with a name podlb wants but without both is someone else's and is never
// touched (a Problem says so, and the podlb peer is not rendered rather than pointed at a
// filter podlb does not control). Order matters for safety: filters are written before the
// peers that name them, and peers are deleted before their filters, so no Calico BGPPeer ever
// references a missing filter (which Calico would treat as "no filter": export everything).
import { problem, type Problem } from '../../api/problem.js';
import type { KubeClient } from '../../kube/client.js';
import { isNotFound } from '../../kube/client.js';
import { errorMessage } from '../../util/errors.js';
import {
  CALICO_API_VERSION,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  OWNER_ANNOTATION,
  type CalicoBGPFilter,
  type CalicoBGPPeer,
  type CalicoObject,
  type CalicoRender,
} from './render.js';

export type CalicoKind = 'BGPPeer' | 'BGPFilter';
export const CALICO_PLURAL: Record<CalicoKind, string> = { BGPPeer: 'bgppeers', BGPFilter: 'bgpfilters' };

/** What the API server holds (only the fields we read). */
export interface CalicoCurrent {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  spec?: unknown;
  [k: string]: unknown;
}

export function isOwnedByPodlb(o: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } }): boolean {
  return o.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY && typeof o.metadata?.annotations?.[OWNER_ANNOTATION] === 'string';
}

export type CalicoAction =
  | { op: 'create'; kind: CalicoKind; desired: CalicoObject }
  | { op: 'update'; kind: CalicoKind; desired: CalicoObject; current: CalicoCurrent }
  | { op: 'delete'; kind: CalicoKind; name: string };

export interface CalicoSyncPlan {
  /** In apply order: filter create/update, peer create/update, peer delete, filter delete. */
  actions: CalicoAction[];
  problems: Problem[];
  /** Desired objects that match what is there (no-op writes skipped). */
  unchanged: number;
}

/** Key order independent JSON, for "is it already like this". */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Equal when the spec is identical and podlb's label and annotation are in place (other labels are left alone). */
export function isUpToDate(desired: CalicoObject, current: CalicoCurrent): boolean {
  if (canonical(desired.spec) !== canonical(current.spec ?? {})) return false;
  for (const [k, v] of Object.entries(desired.metadata.labels)) if (current.metadata.labels?.[k] !== v) return false;
  for (const [k, v] of Object.entries(desired.metadata.annotations)) if (current.metadata.annotations?.[k] !== v) return false;
  return true;
}

/** Pure: the render and what the API server holds -> the writes, in a safe order. */
export function planCalicoSync(render: CalicoRender, current: { peers: readonly CalicoCurrent[]; filters: readonly CalicoCurrent[] }): CalicoSyncPlan {
  const problems: Problem[] = [];
  const curPeers = new Map(current.peers.map((o) => [o.metadata.name ?? '', o]));
  const curFilters = new Map(current.filters.map((o) => [o.metadata.name ?? '', o]));
  const foreign = (o: CalicoCurrent | undefined) => o !== undefined && !isOwnedByPodlb(o);

  // A desired pair blocked by a foreign object of either kind is dropped as a whole.
  const blocked = new Set<string>();
  for (const p of render.peers) {
    const name = p.metadata.name;
    const fp = foreign(curPeers.get(name));
    const ff = foreign(curFilters.get(name));
    if (!fp && !ff) continue;
    blocked.add(name);
    const owner = p.metadata.annotations[OWNER_ANNOTATION]!.split('/')[1] ?? name;
    const siblings = render.peers.filter((q) => q !== p && q.metadata.annotations[OWNER_ANNOTATION] === p.metadata.annotations[OWNER_ANNOTATION]).length;
    const renders =
      siblings === 0
        ? 'renders nothing for this peer'
        : `does not render the Calico BGPPeer and BGPFilter ${name} (the nodes of that pool-selector partition get no session from this peer; its other ${siblings} partition(s) are rendered)`;
    problems.push(
      problem(
        { apiVersion: 'podlb.io/v1alpha1', kind: 'BGPPeer', name: owner },
        'metadata.name',
        'CalicoNameConflict',
        `BGPPeer ${owner}: a Calico ${fp ? 'BGPPeer' : 'BGPFilter'} named ${name} exists that podlb did not create (no ${MANAGED_BY_LABEL}=${MANAGED_BY} label and ${OWNER_ANNOTATION} annotation); podlb leaves it alone and ${renders}: rename the podlb BGPPeer or remove the Calico object`,
      ),
    );
  }

  const writes = (kind: CalicoKind, desired: readonly CalicoObject[], cur: Map<string, CalicoCurrent>) => {
    const out: CalicoAction[] = [];
    let same = 0;
    for (const d of desired) {
      if (blocked.has(d.metadata.name)) continue;
      const c = cur.get(d.metadata.name);
      if (!c) out.push({ op: 'create', kind, desired: d });
      else if (!isUpToDate(d, c)) out.push({ op: 'update', kind, desired: d, current: c });
      else same += 1;
    }
    return { out, same };
  };
  const deletes = (kind: CalicoKind, desired: readonly CalicoObject[], cur: Map<string, CalicoCurrent>): CalicoAction[] => {
    const want = new Set(desired.filter((d) => !blocked.has(d.metadata.name)).map((d) => d.metadata.name));
    return [...cur.values()]
      .filter((c) => isOwnedByPodlb(c) && !want.has(c.metadata.name ?? ''))
      .map((c) => c.metadata.name ?? '')
      .sort()
      .map((name) => ({ op: 'delete' as const, kind, name }));
  };
  const f = writes('BGPFilter', render.filters, curFilters);
  const p = writes('BGPPeer', render.peers, curPeers);
  return {
    actions: [...f.out, ...p.out, ...deletes('BGPPeer', render.peers, curPeers), ...deletes('BGPFilter', render.filters, curFilters)],
    problems,
    unchanged: f.same + p.same,
  };
}

export interface CalicoApplyResult {
  created: string[];
  updated: string[];
  deleted: string[];
  errors: { action: string; error: string }[];
}

const path = (kind: CalicoKind, name?: string) => `/apis/${CALICO_API_VERSION}/${CALICO_PLURAL[kind]}${name ? `/${encodeURIComponent(name)}` : ''}`;
const label = (a: CalicoAction) => `${a.op} ${a.kind} ${a.op === 'delete' ? a.name : a.desired.metadata.name}`;

/**
 * Applies the plan in order. A failed filter write stops the peers that name it (the peer
 * would reference an old or missing filter); other failures are reported and retried on the
 * next pass. `stillAllowed` is asked before every write (a replica that lost the lease stops).
 */
export async function applyCalicoSync(client: KubeClient, plan: CalicoSyncPlan, stillAllowed: () => boolean = () => true): Promise<CalicoApplyResult> {
  const res: CalicoApplyResult = { created: [], updated: [], deleted: [], errors: [] };
  const failedFilters = new Set<string>();
  for (const a of plan.actions) {
    if (!stillAllowed()) break;
    const name = a.op === 'delete' ? a.name : a.desired.metadata.name;
    if (a.kind === 'BGPPeer' && a.op !== 'delete' && (a.desired as CalicoBGPPeer).spec.filters.some((f) => failedFilters.has(f))) {
      res.errors.push({ action: label(a), error: 'skipped: its BGPFilter could not be written' });
      continue;
    }
    if (a.kind === 'BGPFilter' && a.op === 'delete' && res.errors.some((e) => e.action === `delete BGPPeer ${name}`)) continue;
    try {
      if (a.op === 'create') {
        await client.create(path(a.kind), a.desired);
        res.created.push(`${a.kind}/${name}`);
      } else if (a.op === 'update') {
        // PUT with the resourceVersion read: a concurrent change is a 409 and the next pass
        // starts over from the new state. Other labels and annotations are kept.
        const body = {
          ...a.current,
          apiVersion: CALICO_API_VERSION,
          kind: a.kind,
          metadata: {
            ...a.current.metadata,
            labels: { ...(a.current.metadata.labels ?? {}), ...a.desired.metadata.labels },
            annotations: { ...(a.current.metadata.annotations ?? {}), ...a.desired.metadata.annotations },
          },
          spec: a.desired.spec,
        };
        await client.request('PUT', path(a.kind, name), { body });
        res.updated.push(`${a.kind}/${name}`);
      } else {
        try {
          await client.request('DELETE', path(a.kind, name));
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        res.deleted.push(`${a.kind}/${name}`);
      }
    } catch (err) {
      if (a.kind === 'BGPFilter') failedFilters.add(name);
      res.errors.push({ action: label(a), error: errorMessage(err) });
    }
  }
  return res;
}

export type { CalicoBGPFilter, CalicoBGPPeer };

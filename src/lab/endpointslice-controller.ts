// The lab's stand-in for kube-controller-manager's EndpointSlice controller, built on the
// in-process store. It writes what the real controller writes for the fields podlb reads:
// slices per Service, address type and port set (split at 100 endpoints), labels
// kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by, a controller owner
// reference to the Service, resolved target ports, and per-Pod endpoints with the real
// ready/serving/terminating conditions (pkg/controller/endpointslice, podToEndpoint).
// Level-triggered: any Pod, Service or managed-slice change marks the namespace's Services
// dirty; one pass recomputes each dirty Service from the store and skips no-op writes.
import type { ObjectStore, Obj } from '../apiserver/index.js';
import { deepEqual } from '../apiserver/patch.js';
import { LABEL_MANAGED_BY, LABEL_SERVICE_NAME } from '../api/types.js';
import { labelsMatch } from '../util/label-selector.js';

export const CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
const LABEL_HEADLESS = 'service.kubernetes.io/headless';
const LABEL_ZONE = 'topology.kubernetes.io/zone';
const MAX_ENDPOINTS_PER_SLICE = 100;

export interface EndpointSliceController {
  stop(): void;
}

type AddressType = 'IPv4' | 'IPv6';

interface EndpointPort {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

function isPodReady(pod: Obj): boolean {
  return (pod.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
}

/** endpointutil.ShouldPodBeInEndpoints(pod, includeTerminating=true). */
function shouldPodBeInEndpoints(pod: Obj): boolean {
  if (!pod.status?.podIP && !(pod.status?.podIPs ?? []).length) return false;
  const phase = pod.status?.phase;
  if (pod.spec?.restartPolicy === 'Never') return phase !== 'Failed' && phase !== 'Succeeded';
  if (pod.spec?.restartPolicy === 'OnFailure') return phase !== 'Succeeded';
  return true;
}

function podIPOf(pod: Obj, family: AddressType): string | undefined {
  const ips: string[] = (pod.status?.podIPs ?? []).map((x: Obj) => x.ip as string);
  if (ips.length === 0 && pod.status?.podIP) ips.push(pod.status.podIP);
  return ips.find((ip) => (family === 'IPv6' ? ip.includes(':') : !ip.includes(':')));
}

/** podutil.FindPort: a numeric targetPort as is, a named one from the Pod's container ports. */
function findPort(pod: Obj, sp: Obj): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === 'number') return tp;
  if (typeof tp === 'string' && /^\d+$/.test(tp)) return Number(tp);
  for (const c of pod.spec?.containers ?? [])
    for (const p of c.ports ?? []) if (p.name === tp && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP')) return p.containerPort as number;
  return undefined;
}

function endpointPorts(svc: Obj, pod: Obj): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const port = findPort(pod, sp);
    if (port === undefined) continue;
    const p: EndpointPort = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
    if (sp.appProtocol) p.appProtocol = sp.appProtocol;
    out.push(p);
  }
  return out;
}

function addressTypes(svc: Obj): AddressType[] {
  const fams: string[] = svc.spec?.ipFamilies ?? [];
  if (fams.length > 0) return fams.filter((f): f is AddressType => f === 'IPv4' || f === 'IPv6');
  const ip: string | undefined = svc.spec?.clusterIP;
  return [ip && ip !== 'None' && ip.includes(':') ? 'IPv6' : 'IPv4'];
}

function sliceLabels(svc: Obj): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries((svc.metadata?.labels ?? {}) as Record<string, string>)) {
    if (k === LABEL_SERVICE_NAME || k === LABEL_MANAGED_BY || k === LABEL_HEADLESS) continue;
    labels[k] = v;
  }
  if (svc.spec?.clusterIP === 'None') labels[LABEL_HEADLESS] = '';
  labels[LABEL_SERVICE_NAME] = svc.metadata.name;
  labels[LABEL_MANAGED_BY] = CONTROLLER_NAME;
  return labels;
}

function canonical(v: unknown): string {
  const sort = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sort)
      : x && typeof x === 'object'
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, sort((x as Obj)[k])]),
          )
        : x;
  return JSON.stringify(sort(v));
}

interface DesiredSlice {
  addressType: AddressType;
  ports: EndpointPort[] | undefined;
  endpoints: Obj[];
}

function desiredSlices(store: ObjectStore, svc: Obj): DesiredSlice[] {
  const ns: string = svc.metadata.namespace;
  const selector: Record<string, string> = svc.spec.selector;
  const pods = (store.scan('pods', { namespace: ns }) as Obj[]).filter((p) => labelsMatch(selector, p.metadata?.labels));
  pods.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  const out: DesiredSlice[] = [];
  const nodeZone = new Map<string, string | undefined>();
  for (const family of addressTypes(svc)) {
    const groups = new Map<string, DesiredSlice>();
    for (const pod of pods) {
      if (!shouldPodBeInEndpoints(pod)) continue;
      const ip = podIPOf(pod, family);
      if (!ip) continue;
      const ports = endpointPorts(svc, pod);
      const serving = svc.spec.publishNotReadyAddresses === true || isPodReady(pod);
      const terminating = Boolean(pod.metadata.deletionTimestamp);
      const ready = svc.spec.publishNotReadyAddresses === true || (serving && !terminating);
      const ep: Obj = {
        addresses: [ip],
        conditions: { ready, serving, terminating },
        targetRef: { kind: 'Pod', namespace: ns, name: pod.metadata.name, uid: pod.metadata.uid },
      };
      const nodeName: string | undefined = pod.spec?.nodeName;
      if (nodeName) {
        ep.nodeName = nodeName;
        if (!nodeZone.has(nodeName)) nodeZone.set(nodeName, store.tryGet('nodes', nodeName)?.metadata?.labels?.[LABEL_ZONE]);
        const zone = nodeZone.get(nodeName);
        if (zone) ep.zone = zone;
      }
      if (pod.spec?.hostname && pod.spec?.subdomain === svc.metadata.name) ep.hostname = pod.spec.hostname;
      const key = canonical(ports);
      const g = groups.get(key) ?? { addressType: family, ports, endpoints: [] };
      g.endpoints.push(ep);
      groups.set(key, g);
    }
    if (groups.size === 0) {
      out.push({ addressType: family, ports: undefined, endpoints: [] }); // the placeholder slice
      continue;
    }
    for (const g of groups.values())
      for (let i = 0; i < g.endpoints.length; i += MAX_ENDPOINTS_PER_SLICE)
        out.push({ addressType: family, ports: g.ports, endpoints: g.endpoints.slice(i, i + MAX_ENDPOINTS_PER_SLICE) });
  }
  return out;
}

function sliceKey(s: Obj): string {
  return `${s.addressType}|${canonical(s.ports ?? null)}`;
}

export function reconcileService(store: ObjectStore, namespace: string, name: string): void {
  const svc = store.tryGet('services', name, namespace);
  // the stored slices themselves: a reused one is only read, its update goes out as a new object
  const existing = [...store.scan('endpointslices', { namespace, labelSelector: `${LABEL_SERVICE_NAME}=${name},${LABEL_MANAGED_BY}=${CONTROLLER_NAME}` })].sort(
    (a, b) => (a.metadata.name < b.metadata.name ? -1 : 1),
  );
  const managed = svc?.spec?.selector && svc.spec?.type !== 'ExternalName';
  const desired = managed ? desiredSlices(store, svc) : [];
  const pool = new Map<string, Obj[]>();
  for (const s of existing) {
    const k = sliceKey(s);
    pool.set(k, [...(pool.get(k) ?? []), s]);
  }
  for (const d of desired) {
    const labels = sliceLabels(svc!);
    const ownerReferences = [
      { apiVersion: 'v1', kind: 'Service', name: svc!.metadata.name, uid: svc!.metadata.uid, controller: true, blockOwnerDeletion: true },
    ];
    const body: Obj = { addressType: d.addressType, endpoints: d.endpoints };
    if (d.ports !== undefined) body.ports = d.ports;
    const reuse = pool.get(sliceKey(d))?.shift();
    if (reuse) {
      const next: Obj = { ...reuse, ...body, metadata: { ...reuse.metadata, labels: { ...(reuse.metadata.labels ?? {}), ...labels }, ownerReferences } };
      if (d.ports === undefined) delete next.ports;
      if (!deepEqual(next, reuse)) store.update('endpointslices', next);
    } else {
      const base = svc!.metadata.name.length > 57 ? svc!.metadata.name.slice(0, 57) : svc!.metadata.name;
      store.create('endpointslices', {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { generateName: `${base}-`, namespace, labels, ownerReferences },
        ...body,
      });
    }
  }
  for (const rest of pool.values()) for (const s of rest) store.delete('endpointslices', s.metadata.name, namespace);
}

/** What the real controller shows (design §8): a slice follows its Pod's Ready about 20 ms later. */
export const REALISTIC_SLICE_LAG_MS = { min: 15, max: 25 };

/**
 * batchPeriodMs mirrors kube-controller-manager's --endpointslice-updates-batch-period: changes
 * within the period are written as one slice update (0, the upstream default: no batching).
 * lagMs is the controller's own delay from a Pod change to the slice write (informer, queue,
 * API round trip), jittered uniformly; the default is the measured one, { min: 0, max: 0 }
 * writes on the next tick.
 */
export function startEndpointSliceController(
  store: ObjectStore,
  opts: { retryDelayMs?: number; batchPeriodMs?: number; lagMs?: { min: number; max: number }; random?: () => number } = {},
): EndpointSliceController {
  const lag = opts.lagMs ?? REALISTIC_SLICE_LAG_MS;
  const random = opts.random ?? Math.random;
  const dirty = new Set<string>(); // "ns/name" of Services
  let scheduled: NodeJS.Immediate | NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let stopped = false;

  const run = (): void => {
    scheduled = undefined;
    if (stopped) return;
    const keys = [...dirty];
    dirty.clear();
    let failed = false;
    for (const key of keys) {
      const [ns, name] = key.split('/') as [string, string];
      try {
        reconcileService(store, ns, name);
      } catch {
        dirty.add(key); // a conflicting writer or a vanished namespace: try again later
        failed = true;
      }
    }
    if (failed && !retry) {
      retry = setTimeout(() => {
        retry = undefined;
        schedule();
      }, opts.retryDelayMs ?? 100);
    }
  };
  const schedule = (): void => {
    if (stopped || scheduled) return;
    const delay = (opts.batchPeriodMs ?? 0) + lag.min + (lag.max - lag.min) * random();
    scheduled = delay > 0 ? setTimeout(run, delay) : setImmediate(run);
  };
  const markNamespace = (ns: string): void => {
    for (const s of store.scan('services', { namespace: ns })) dirty.add(`${ns}/${s.metadata.name}`);
    schedule();
  };

  const unsubs = [
    store.watch('pods', { shared: true }, (ev) => {
      if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
      markNamespace(ev.object.metadata.namespace);
    }),
    store.watch('services', { shared: true }, (ev) => {
      if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
      dirty.add(`${ev.object.metadata.namespace}/${ev.object.metadata.name}`);
      schedule();
    }),
    store.watch('endpointslices', { labelSelector: `${LABEL_MANAGED_BY}=${CONTROLLER_NAME}`, shared: true }, (ev) => {
      const svc = ev.object.metadata?.labels?.[LABEL_SERVICE_NAME];
      if (!svc) return;
      dirty.add(`${ev.object.metadata.namespace}/${svc}`);
      schedule();
    }),
  ];

  return {
    stop(): void {
      stopped = true;
      for (const u of unsubs) u();
      if (scheduled) {
        clearImmediate(scheduled as NodeJS.Immediate);
        clearTimeout(scheduled as NodeJS.Timeout);
      }
      if (retry) clearTimeout(retry);
    },
  };
}

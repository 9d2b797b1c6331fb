// What the agent's caches keep of the two collections that grow with the cluster, Services and
// EndpointSlices (every node watches all of them), and which of their changes are worth a loop
// run. The planners (members/plan.ts, bgp/pod-ips.ts, bird-config.ts) read:
// - of an EndpointSlice: its name, namespace and `kubernetes.io/service-name` label, its
//   addressType and ports, and of its endpoints only those on this node (decideEndpoint drops
//   any other as notOnThisNode before reading further): addresses, nodeName, targetRef,
//   conditions. With 100 endpoints per slice on 1,000 nodes that keeps ~1/1,000 of them.
// - of a Service: metadata (name, namespace, uid, resourceVersion, annotations: the class
//   annotation opts it in) and, once opted in, its spec (ports, selector, ...). Labels,
//   managedFields and status are never read.
// The proof is cache-view.test.ts: the planners run over transformed objects that throw when a
// dropped field is read, and must plan what they plan over the full objects.
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATION_LOAD_BALANCER, type EndpointSlice, LABEL_SERVICE_NAME, type Service } from '../api/types.js';
import type { WireObject } from '../kube/wire.js';
import { isOptedIn } from '../members/binding.js';
import { firstNodeOfEndpoints, sliceServiceKey } from '../members/plan.js';

type Meta = Record<string, unknown>;

export function pickMeta(meta: Meta | undefined, extra: (m: Meta) => Meta = () => ({})): Meta {
  const m = meta ?? {};
  const out: Meta = {};
  for (const k of ['name', 'namespace', 'uid', 'resourceVersion', 'deletionTimestamp']) if (m[k] !== undefined) out[k] = m[k];
  return { ...out, ...extra(m) };
}

/**
 * The first node by name among ALL of a slice's endpoints, recorded on arrival beside the slim
 * slice (whose endpoints are this node's only): the planner's Event speaker rule needs it. Keyed
 * by the cached object, so an entry goes when its slice version leaves the cache.
 */
const firstNodes = new WeakMap<object, string>();

export function sliceFirstNode(slice: EndpointSlice): string | undefined {
  return firstNodes.has(slice) ? firstNodes.get(slice) : firstNodeOfEndpoints(slice);
}

/** `nodeName` unset: every endpoint is kept (the controller's leader plans for every node). */
export function sliceTransform(nodeName?: string): (raw: WireObject) => EndpointSlice & KubernetesObject {
  return (raw) => {
    const r = raw as unknown as Partial<EndpointSlice> & { metadata?: Meta };
    const service = (r.metadata?.labels as Record<string, string> | undefined)?.[LABEL_SERVICE_NAME];
    const endpoints = (r.endpoints ?? [])
      .filter((ep) => nodeName === undefined || ep.nodeName === nodeName)
      .map((ep) => ({
        addresses: ep.addresses,
        nodeName: ep.nodeName,
        ...(ep.targetRef !== undefined ? { targetRef: ep.targetRef } : {}),
        ...(ep.conditions !== undefined ? { conditions: ep.conditions } : {}),
      }));
    const slim = {
      ...(r.apiVersion !== undefined ? { apiVersion: r.apiVersion } : {}),
      ...(r.kind !== undefined ? { kind: r.kind } : {}),
      metadata: pickMeta(r.metadata, () => (service !== undefined ? { labels: { [LABEL_SERVICE_NAME]: service } } : {})),
      addressType: r.addressType,
      ...(r.ports !== undefined ? { ports: r.ports } : {}),
      endpoints,
    } as EndpointSlice & KubernetesObject;
    const first = firstNodeOfEndpoints(r as EndpointSlice);
    if (first !== undefined) firstNodes.set(slim, first);
    return slim;
  };
}

export function serviceTransform(raw: WireObject): Service & KubernetesObject {
  const r = raw as unknown as Service & { status?: unknown };
  const svc = {
    apiVersion: r.apiVersion,
    kind: r.kind,
    metadata: pickMeta(r.metadata as unknown as Meta, (m) => (m.annotations !== undefined ? { annotations: m.annotations } : {})),
  } as unknown as Service;
  // A Service that is not opted in is kept only to notice when it opts in (or out).
  return { ...svc, spec: isOptedIn(svc) ? r.spec : {} } as Service & KubernetesObject;
}

const hasEndpoints = (s: EndpointSlice | undefined): boolean => (s?.endpoints.length ?? 0) > 0;

/** Same content as far as the planners can tell (the resourceVersion aside). */
export function sameView<T extends { metadata: { resourceVersion?: string } }>(a: T, b: T): boolean {
  const strip = (o: T): string => JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return strip(a) === strip(b);
}

/** A slice matters while it has endpoints on this node, before or after, and only if what the planners see changed. */
export function sliceRelevant(before: EndpointSlice | undefined, after: EndpointSlice | undefined): boolean {
  if (!hasEndpoints(before) && !hasEndpoints(after)) return false;
  // The first node can change with no change here: which node reports the Service's problems.
  return !before || !after || !sameView(before, after) || sliceFirstNode(before) !== sliceFirstNode(after);
}

/** A Service matters while it is opted in, before or after. */
export function serviceRelevant(before: Service | undefined, after: Service | undefined): boolean {
  if (!(before && isOptedIn(before)) && !(after && isOptedIn(after))) return false;
  return !before || !after || !sameView(before, after);
}

export const sliceIndexers = {
  /** The planner's own key: namespace/name of the slice's Service. */
  service: (s: EndpointSlice): string[] => {
    const key = sliceServiceKey(s);
    return key === undefined ? [] : [key];
  },
};

export const serviceIndexers = {
  /** The class a Service opted into; not-opted-in Services are in no index entry. */
  class: (s: Service): string[] => (isOptedIn(s) ? [(s.metadata.annotations?.[ANNOTATION_LOAD_BALANCER] ?? '').trim()] : []),
};

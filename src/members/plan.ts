// The member planner: a pure function from a snapshot of the cluster to the members this
// node wants in its load balancers (design §4.1 and §4.4). No I/O; `now` is not needed here:
// timing (drain windows, timeouts) belongs to the reconciler and the gate planner.
import {
  ANNOTATION_LOAD_BALANCER,
  READINESS_GATE,
  type EndpointSlice,
  type LoadBalancerClass,
  type Pod,
  type Service,
  LABEL_SERVICE_NAME,
} from '../api/types.js';
import { problem, type Problem } from '../api/problem.js';
import type { HealthCheck } from '../lb/provider.js';
import { memberName } from '../lb/naming.js';
import { isOptedIn, parseLbClass, parseServiceBinding, serviceRef, type BindingResult, type LbClassModel } from './binding.js';

export interface MemberSnapshot {
  nodeName: string;
  /** This node's Pods (the agent watches them with a spec.nodeName field selector). */
  pods: readonly Pod[];
  services: readonly Service[];
  endpointSlices: readonly EndpointSlice[];
  /** The slices of a Service (namespace/name) from a cache index; without it, endpointSlices is scanned. */
  slicesOf?: (serviceKey: string) => readonly EndpointSlice[];
  /**
   * The first node by name among a slice's endpoints (the Event speaker rule). A cache that keeps
   * only this node's endpoints records it on arrival; without it, the endpoints are read.
   */
  firstNodeOf?: (slice: EndpointSlice) => string | undefined;
  classes: readonly LoadBalancerClass[];
  /**
   * Pods (uid) whose gate this agent has written True and whose cache does not show it yet: the
   * write's success is what lets a warming member take traffic, not the watch event after it.
   */
  gateOpened?: (uid: string) => boolean;
}

/** The namespace/name of the Service a slice belongs to; undefined for none, and for FQDN slices (never members). */
export function sliceServiceKey(s: EndpointSlice): string | undefined {
  const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
  return svc && s.addressType !== 'FQDN' ? `${s.metadata.namespace ?? 'default'}/${svc}` : undefined;
}

function slicesLookup(slices: readonly EndpointSlice[]): (serviceKey: string) => readonly EndpointSlice[] {
  const byService = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const key = sliceServiceKey(s);
    if (key === undefined) continue;
    const list = byService.get(key) ?? [];
    list.push(s);
    byService.set(key, list);
  }
  return (key) => byService.get(key) ?? [];
}

export interface PodKey {
  namespace: string;
  name: string;
  uid: string;
}

export interface DesiredMember {
  className: string;
  backend: string;
  name: string;
  address: string;
  port: number;
  healthCheck?: HealthCheck;
  pod: PodKey;
  service: { namespace: string; name: string };
  /**
   * active: should take traffic (once healthy). warming: registered and health-checked but
   * taking no traffic, until its Pod's gate is True (LoadBalancerClass preRegister).
   * draining: terminating, finish and go.
   */
  state: MemberState;
  /**
   * The Pod is not ready for a reason of its own (its containers or another controller's
   * gate), yet neither terminating nor leaving the Service: a member already registered is
   * kept as it is (never drained, design §4.4; the load balancer's own health check decides
   * whether it takes traffic), a missing one is not added (design §4.1), and it never counts
   * toward the readiness gate.
   */
  keepOnly?: true;
  drainSeconds: number;
}

export type MemberState = 'active' | 'warming' | 'draining';

/** Members that are (or will be) in the load balancer for a live Pod: health-checked, counted toward its gate. */
export function isLive(m: DesiredMember): boolean {
  return m.state !== 'draining';
}

export interface MemberPlan {
  classes: Map<string, LbClassModel>;
  members: DesiredMember[];
  /** Every parsed opted-in Service, valid or not: the gate planner needs all three kinds. */
  bindings: BindingResult[];
  problems: Problem[];
}

/** Why an endpoint is or is not a member: decisions explain themselves (logs, explain). */
export type EndpointDecision = 'active' | 'gatedOnlyByUs' | 'readyPending' | 'warming' | 'terminating' | 'notOnThisNode' | 'podNotFound' | 'notReady';

export function memberKey(backend: string, name: string): string {
  return `${backend}/${name}`;
}

export function podKeyString(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

export function conditionStatus(pod: Pod, type: string): string | undefined {
  return pod.status?.conditions?.find((c) => c.type === type)?.status;
}

export function hasOurGate(pod: Pod): boolean {
  return (pod.spec.readinessGates ?? []).some((g) => g.conditionType === READINESS_GATE);
}

export function isTerminating(pod: Pod): boolean {
  return pod.metadata.deletionTimestamp !== undefined;
}

/**
 * A Pod whose containers are ready and whose only missing piece of readiness is podlb's own
 * gate (every other readiness gate is True). Such a Pod is `ready: false` in its
 * EndpointSlice, and must still be registered, or the gate and the endpoint wait for each
 * other forever.
 */
export function isHeldOnlyByOurGate(pod: Pod): boolean {
  if (isTerminating(pod) || !hasOurGate(pod)) return false;
  if (conditionStatus(pod, 'ContainersReady') !== 'True') return false;
  if (conditionStatus(pod, READINESS_GATE) === 'True') return false;
  return (pod.spec.readinessGates ?? []).every((g) => g.conditionType === READINESS_GATE || conditionStatus(pod, g.conditionType) === 'True');
}

/**
 * ContainersReady and every readiness gate (ours included) are True, so the Pod is Ready as
 * far as its own conditions go; the kubelet sets `Ready` 100-300 ms later and the
 * EndpointSlice follows. An endpoint still `ready: false` in that window is lagging, not failing.
 */
export function isReadyPendingKubelet(pod: Pod): boolean {
  if (isTerminating(pod) || conditionStatus(pod, 'ContainersReady') !== 'True') return false;
  return (pod.spec.readinessGates ?? []).every((g) => conditionStatus(pod, g.conditionType) === 'True');
}

/**
 * Pre-registration: a live Pod carrying our gate is a member from the moment it has an IP, and
 * takes no traffic while it is not Ready by its own conditions (containers, every readiness
 * gate, ours included). A Ready endpoint warms again only when its containers restart
 * (ContainersReady back to False) before the slice has caught up; the gate stays latched.
 */
export function isWarming(pod: Pod, endpointReady: boolean): boolean {
  if (isTerminating(pod) || !hasOurGate(pod)) return false;
  if (endpointReady) return conditionStatus(pod, 'ContainersReady') === 'False';
  return !isReadyPendingKubelet(pod);
}

/**
 * Why an endpoint is a member. Only termination (the endpoint or the Pod) and leaving the
 * Service drain (design §4.4); a `ready: false` endpoint of a live Pod is either ours to
 * register (held by our gate, or the kubelet catching up after the gate turned True) or
 * `notReady`: the Pod's own readiness says no (a probe failing after it was ready, another
 * controller's gate). `notReady` members are kept but never added: draining them would turn
 * every readiness-probe flap into load-balancer churn and Events, the gate is latched (§4.3),
 * and the load balancer's health check already stops traffic to a Pod that cannot serve.
 */
export function decideEndpoint(
  ep: EndpointSlice['endpoints'][number],
  nodeName: string,
  podsByName: ReadonlyMap<string, Pod>,
  namespace: string,
  preRegister = false,
): { decision: EndpointDecision; pod?: Pod } {
  if (ep.nodeName !== nodeName) return { decision: 'notOnThisNode' };
  const ref = ep.targetRef;
  // A slice speaks only for Pods of its own namespace: naming another team's Pod would tie that
  // Pod's readiness gate to a backend of the tenant's choosing.
  const pod = ref?.kind === 'Pod' && ref.name && (ref.namespace ?? namespace) === namespace ? podsByName.get(`${namespace}/${ref.name}`) : undefined;
  if (!pod || pod.spec.nodeName !== nodeName || (ref?.uid && pod.metadata.uid && ref.uid !== pod.metadata.uid)) return { decision: 'podNotFound' };
  if (ep.conditions?.terminating === true || isTerminating(pod)) return { decision: 'terminating', pod };
  if (preRegister && isWarming(pod, ep.conditions?.ready !== false)) return { decision: 'warming', pod };
  if (ep.conditions?.ready !== false) return { decision: 'active', pod };
  if (isHeldOnlyByOurGate(pod)) return { decision: 'gatedOnlyByUs', pod };
  if (isReadyPendingKubelet(pod)) return { decision: 'readyPending', pod };
  return { decision: 'notReady', pod };
}

/**
 * The Pod's own addresses. An EndpointSlice is written by whoever may write EndpointSlices in
 * the namespace, not only by the endpoint controller, so its addresses prove nothing: a member
 * must be an address the kubelet reported for the Pod the endpoint names.
 */
export function podIps(pod: Pod): Set<string> {
  const ips = new Set<string>();
  if (pod.status?.podIP) ips.add(pod.status.podIP);
  for (const ip of pod.status?.podIPs ?? []) ips.add(ip.ip);
  return ips;
}

export function planMembers(snap: MemberSnapshot): MemberPlan {
  const problems: Problem[] = [];
  const classes = new Map<string, LbClassModel>();
  const classProblems = new Map<string, Problem[]>();
  for (const c of snap.classes) {
    const parsed = parseLbClass(c);
    if (parsed.problems.length > 0) classProblems.set(c.metadata.name ?? '', parsed.problems);
    if (parsed.model) classes.set(parsed.model.name, parsed.model);
  }

  const podsByName = new Map<string, Pod>();
  for (const p of snap.pods) podsByName.set(`${p.metadata.namespace ?? 'default'}/${p.metadata.name}`, withOpenedGate(p, snap.gateOpened));

  const slicesOf = snap.slicesOf ?? slicesLookup(snap.endpointSlices);

  const bindings: BindingResult[] = [];
  const members = new Map<string, DesiredMember>();
  const services = [...snap.services].filter(isOptedIn).sort((a, b) => podKeyString(keyOf(a)).localeCompare(podKeyString(keyOf(b))));
  const slicesOfService = (svc: Service): readonly EndpointSlice[] => {
    const { namespace, name } = keyOf(svc);
    return slicesOf(`${namespace}/${name}`);
  };
  const firstNodeOf = snap.firstNodeOf ?? firstNodeOfEndpoints;
  const speakerOf = (svc: Service): string | undefined =>
    minName(
      slicesOfService(svc)
        .map(firstNodeOf)
        .filter((n): n is string => n !== undefined),
    );
  const speaksFor = (svc: Service): boolean =>
    speakerOf(svc) === snap.nodeName && hostsEndpoints(slicesOfService(svc), snap.nodeName, podsByName, keyOf(svc).namespace);
  for (const svc of services) {
    const parsed = parseServiceBinding(svc, classes);
    // Looked up only for a Service with a problem: a healthy one costs nothing here.
    if (parsed.problems.length > 0 && speaksFor(svc)) problems.push(...parsed.problems);
    bindings.push(parsed.result);
    if (parsed.result.kind !== 'bound') continue;
    const { binding, lbClass } = parsed.result;
    // One Warning per slice, address and Pod however many ports name them.
    const foreign = new Set<string>();
    for (const slice of slicesOf(`${binding.namespace}/${binding.name}`)) {
      for (const port of binding.ports) {
        const slicePort = slice.ports?.find((p) => (p.name ?? '') === port.portName);
        if (slicePort?.port === undefined) continue;
        for (const ep of slice.endpoints ?? []) {
          const { decision, pod } = decideEndpoint(ep, snap.nodeName, podsByName, binding.namespace, lbClass.preRegister);
          if (!pod || decision === 'notOnThisNode' || decision === 'podNotFound') continue;
          const own = podIps(pod);
          for (const address of ep.addresses) {
            if (!own.has(address)) {
              foreign.add(`${slice.metadata.name ?? ''}\u0000${address}\u0000${pod.metadata.name ?? ''}`);
              continue;
            }
            const name = memberName(snap.nodeName, address, slicePort.port);
            const key = memberKey(port.backend, name);
            const m: DesiredMember = {
              className: binding.className,
              backend: port.backend,
              name,
              address,
              port: slicePort.port,
              ...(lbClass.healthCheck ? { healthCheck: lbClass.healthCheck } : {}),
              pod: { namespace: binding.namespace, name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
              service: { namespace: binding.namespace, name: binding.name },
              state: decision === 'terminating' ? 'draining' : decision === 'warming' ? 'warming' : 'active',
              ...(decision === 'notReady' ? { keepOnly: true as const } : {}),
              drainSeconds: binding.drainSeconds,
            };
            // Two Services sharing one backend and Pod yield the same member: keep the first
            // (services are sorted), but never let a draining or kept view hide an active one.
            const prev = members.get(key);
            if (!prev || rank(m) > rank(prev)) members.set(key, m);
          }
        }
      }
    }
    for (const f of foreign) {
      const [sliceName, address, podName] = f.split('\u0000') as [string, string, string];
      problems.push(
        problem(
          serviceRef(svc),
          'endpoints',
          'EndpointAddressNotPodIP',
          `Service ${binding.namespace}/${binding.name}: EndpointSlice ${sliceName} lists ${address} for Pod ${podName}, which is not one of the Pod's own IPs; that address is not registered`,
        ),
      );
    }
  }
  for (const [className, classProblemList] of classProblems) {
    // The class's speaker: the first, by name, of the speakers of the Services naming it.
    const naming = services.filter((svc) => classNameOf(svc) === className);
    const speakers = naming.map(speakerOf).filter((n): n is string => n !== undefined);
    if (speakers.length === 0 || minName(speakers) !== snap.nodeName) continue;
    if (naming.some(speaksFor)) problems.push(...classProblemList);
  }
  return { classes, members: [...members.values()], bindings, problems };
}

function classNameOf(svc: Service): string {
  return (svc.metadata.annotations?.[ANNOTATION_LOAD_BALANCER] ?? '').trim();
}

/** The first name in code-unit order (not Math.min: these are strings). */
function minName(names: readonly string[]): string | undefined {
  let first = names[0];
  for (const n of names) if (first === undefined || n < first) first = n;
  return first;
}

/**
 * Every agent sees every opted-in Service and class, so a problem that depends only on them,
 * reported by every agent, would be one Event per node (x1,000): one node speaks for each
 * Service, the first by name among the nodes its EndpointSlices list. Every agent decides
 * alike from the same slices, with no API call; that node then speaks only if it hosts one of
 * the Pods itself (speaksFor), because a slice naming a node proves nothing. Problems of this
 * node's own (an address that is not its Pod's) are reported by it in any case. This is the
 * first node by name among a slice's endpoints, read from the endpoints themselves.
 */
export function firstNodeOfEndpoints(slice: EndpointSlice): string | undefined {
  return minName((slice.endpoints ?? []).map((ep) => ep.nodeName).filter((n): n is string => !!n));
}

function hostsEndpoints(slices: readonly EndpointSlice[], nodeName: string, podsByName: ReadonlyMap<string, Pod>, namespace: string): boolean {
  return slices.some((s) => (s.endpoints ?? []).some((ep) => decideEndpoint(ep, nodeName, podsByName, namespace).pod !== undefined));
}

/** A warming view under an active one would hold traffic back from a Pod another Service lets in: active wins. */
function rank(m: DesiredMember): number {
  return m.state === 'draining' ? 0 : m.keepOnly ? 1 : m.state === 'warming' ? 2 : 3;
}

/** The Pod as its gate stands once this agent's own True write succeeded. */
function withOpenedGate(pod: Pod, gateOpened: ((uid: string) => boolean) | undefined): Pod {
  if (!gateOpened || !pod.metadata.uid || !gateOpened(pod.metadata.uid) || conditionStatus(pod, READINESS_GATE) === 'True') return pod;
  const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== READINESS_GATE);
  return { ...pod, status: { ...pod.status, conditions: [...conditions, { type: READINESS_GATE, status: 'True' }] } };
}

function keyOf(svc: Service): { namespace: string; name: string } {
  return { namespace: svc.metadata.namespace ?? 'default', name: svc.metadata.name ?? '' };
}

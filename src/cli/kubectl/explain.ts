// `kubectl podlb explain svc/NAME`: why is each Pod behind a Service ready or not. For every Pod
// the Service selects: its node, IP, LB member names, the readiness gate condition, Ready, and the
// last Event; for every node involved: its member counts and LoadBalancerReachable. The Service
// binding is parsed with the agent's own parser, so the view says what the agent concludes.
import type { Condition, EndpointSlice, LoadBalancerClass, Pod, PodLBNode, Service } from '../../api/types.js';
import { READINESS_GATE } from '../../api/types.js';
import { memberName } from '../../lb/naming.js';
import { type LbClassModel, isOptedIn, parseLbClass, parseServiceBinding } from '../../members/binding.js';
import { hasOurGate } from '../../members/plan.js';
import { serviceSelects } from '../../util/label-selector.js';
import { cell, formatAge, memberCountsText, renderTable } from './format.js';

/** The core/v1 Event fields this view reads. */
export interface KubeEvent {
  metadata: { name?: string; creationTimestamp?: string };
  involvedObject: { kind?: string; name?: string; namespace?: string; uid?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  eventTime?: string | null;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  source?: { component?: string };
  reportingComponent?: string;
}

export interface EventView {
  type: string;
  reason: string;
  message: string;
  time?: string;
  count: number;
  component: string;
}

export interface ConditionView {
  status: string;
  reason: string;
  message: string;
  since?: string;
}

export interface PodView {
  name: string;
  node: string;
  podIPs: string[];
  members: string[];
  /** 'none': the Pod has no podlb readiness gate; 'unset': it has one, the agent has not written it yet. */
  gate: ConditionView | 'none' | 'unset';
  ready: string;
  terminating: boolean;
  lastEvent?: EventView;
  /** Each member on each load-balancer instance, as the node's agent last read it. */
  lb: { member: string; state: string; instance: string; admin: string; health: string; detail: string }[];
}

export interface NodeView {
  name: string;
  /** False when the node has no PodLBNode (no agent there, or it never reported). */
  reported: boolean;
  members?: { registered: number; healthy: number; draining: number; warming?: number };
  loadBalancerReachable?: ConditionView;
}

export interface ExplainView {
  service: {
    namespace: string;
    name: string;
    /** notOptedIn: no podlb.io/load-balancer annotation. The rest are the agent's binding results. */
    binding: 'bound' | 'classMissing' | 'invalid' | 'notOptedIn';
    className?: string;
    ports: { name: string; servicePort: number; backend: string }[];
    problem?: string;
    lastEvent?: EventView;
  };
  pods: PodView[];
  nodes: NodeView[];
}

export interface ExplainInput {
  service: Service;
  pods: readonly Pod[];
  endpointSlices: readonly EndpointSlice[];
  events: readonly KubeEvent[];
  podlbNodes: readonly PodLBNode[];
  classes: readonly LoadBalancerClass[];
}

function eventTime(e: KubeEvent): string | undefined {
  return e.eventTime || e.lastTimestamp || e.firstTimestamp || e.metadata.creationTimestamp || undefined;
}

function isPodlbEvent(e: KubeEvent): boolean {
  return (e.reportingComponent ?? '').startsWith('podlb') || (e.source?.component ?? '').startsWith('podlb');
}

/**
 * The last Event about an object: podlb's own Events first (they explain members and gates),
 * else the last Event from anyone (kubelet's probe failures, the scheduler, ...).
 */
export function lastRelevantEvent(events: readonly KubeEvent[], kind: string, name: string, uid?: string): EventView | undefined {
  const about = events.filter(
    (e) => e.involvedObject.kind === kind && e.involvedObject.name === name && (!uid || !e.involvedObject.uid || e.involvedObject.uid === uid),
  );
  const pool = about.some(isPodlbEvent) ? about.filter(isPodlbEvent) : about;
  const last = [...pool]
    .sort((a, b) => Date.parse(eventTime(a) ?? '') - Date.parse(eventTime(b) ?? '') || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))
    .pop();
  if (!last) return undefined;
  const time = eventTime(last);
  return {
    type: last.type ?? 'Normal',
    reason: last.reason ?? '',
    message: last.message ?? '',
    ...(time ? { time } : {}),
    count: last.count ?? 1,
    component: last.reportingComponent || last.source?.component || '',
  };
}

function conditionView(c: Condition | undefined): ConditionView | undefined {
  if (!c) return undefined;
  return { status: c.status, reason: c.reason ?? '', message: c.message ?? '', ...(c.lastTransitionTime ? { since: c.lastTransitionTime } : {}) };
}

function podIPs(p: Pod): string[] {
  const ips = (p.status?.podIPs ?? []).map((x) => x.ip).filter(Boolean);
  return ips.length > 0 ? ips : p.status?.podIP ? [p.status.podIP] : [];
}

/** The number a Service targetPort means for this Pod (a named targetPort is looked up in its containers). */
function resolveTargetPort(svc: Service, servicePort: number, pod: Pod): number | undefined {
  const sp = (svc.spec.ports ?? []).find((p) => p.port === servicePort);
  const tp = sp?.targetPort ?? servicePort;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  for (const c of pod.spec.containers ?? []) for (const cp of c.ports ?? []) if (cp.name === tp) return cp.containerPort;
  return undefined;
}

/**
 * The member names the agent on the Pod's node uses: one per exposed port and Pod address,
 * `podlb_<node>_<ip>_<port>`. Address and port come from the Service's EndpointSlices, as
 * in the agent; before the endpoint exists, from the Pod and the Service's targetPort.
 */
function membersOf(pod: Pod, svc: Service, ports: ExplainView['service']['ports'], slices: readonly EndpointSlice[]): string[] {
  const node = pod.spec.nodeName;
  if (!node) return [];
  const out = new Set<string>();
  for (const port of ports) {
    let found = false;
    for (const s of slices) {
      if (s.addressType === 'FQDN') continue;
      const sp = s.ports?.find((p) => (p.name ?? '') === port.name);
      if (sp?.port === undefined) continue;
      for (const ep of s.endpoints ?? []) {
        if (ep.targetRef?.kind !== 'Pod' || ep.targetRef.name !== pod.metadata.name) continue;
        for (const a of ep.addresses) out.add(memberName(node, a, sp.port));
        found = true;
      }
    }
    if (!found) {
      const tp = resolveTargetPort(svc, port.servicePort, pod);
      if (tp !== undefined) for (const ip of podIPs(pod)) out.add(memberName(node, ip, tp));
    }
  }
  return [...out].sort();
}

export function explainService(input: ExplainInput): ExplainView {
  const svc = input.service;
  const namespace = svc.metadata.namespace ?? 'default';
  const name = svc.metadata.name ?? '';
  const classes = new Map<string, LbClassModel>();
  for (const c of input.classes) {
    const m = parseLbClass(c).model;
    if (m) classes.set(m.name, m);
  }
  let service: ExplainView['service'] = { namespace, name, binding: 'notOptedIn', ports: [] };
  if (isOptedIn(svc)) {
    const { result, problems } = parseServiceBinding(svc, classes);
    const problem = problems[0]?.message;
    service =
      result.kind === 'bound'
        ? {
            namespace,
            name,
            binding: 'bound',
            className: result.binding.className,
            ports: result.binding.ports.map((p) => ({ name: p.portName, servicePort: p.servicePort, backend: p.backend })),
          }
        : {
            namespace,
            name,
            binding: result.kind,
            className: svc.metadata.annotations?.['podlb.io/load-balancer'] ?? '',
            ports: [],
            ...(problem ? { problem } : {}),
          };
  }
  const svcEvent = lastRelevantEvent(input.events, 'Service', name, svc.metadata.uid);
  if (svcEvent) service.lastEvent = svcEvent;

  const selector = svc.spec.selector ?? {};
  const selected = input.pods
    .filter((p) => (p.metadata.namespace ?? 'default') === namespace && serviceSelects(selector, p.metadata.labels))
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  const pods: PodView[] = selected.map((p) => {
    const gate = p.status?.conditions?.find((c) => c.type === READINESS_GATE);
    const ev = lastRelevantEvent(input.events, 'Pod', p.metadata.name ?? '', p.metadata.uid);
    const members = membersOf(p, svc, service.ports, input.endpointSlices);
    const reported = input.podlbNodes.find((x) => x.metadata.name === p.spec.nodeName)?.status?.lb?.members ?? [];
    const lb = reported
      .filter((m) => members.includes(m.name))
      .flatMap((m) =>
        (m.instances.length ? m.instances : [{ instance: '-', admin: '-', health: 'not listed', detail: '' }]).map((i) => ({
          member: m.name,
          state: memberStateText(m.state),
          instance: i.instance,
          admin: i.admin,
          health: i.health,
          detail: i.detail,
        })),
      );
    return {
      lb,
      name: p.metadata.name ?? '',
      node: p.spec.nodeName ?? '',
      podIPs: podIPs(p),
      members,
      gate: !hasOurGate(p) ? 'none' : (conditionView(gate) ?? 'unset'),
      ready: p.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown',
      terminating: p.metadata.deletionTimestamp !== undefined,
      ...(ev ? { lastEvent: ev } : {}),
    };
  });

  const nodeNames = [...new Set(pods.map((p) => p.node).filter(Boolean))].sort();
  const nodes: NodeView[] = nodeNames.map((n) => {
    const pn = input.podlbNodes.find((x) => x.metadata.name === n);
    if (!pn) return { name: n, reported: false };
    const reach = conditionView(pn.status?.conditions?.find((c) => c.type === 'LoadBalancerReachable'));
    return { name: n, reported: true, ...(pn.status?.members ? { members: pn.status.members } : {}), ...(reach ? { loadBalancerReachable: reach } : {}) };
  });
  return { service, pods, nodes };
}

function conditionText(c: ConditionView | undefined, now: Date): string {
  if (!c) return '-';
  return `${c.status} ${c.reason || '-'}${c.since ? ` (${formatAge(c.since, now)})` : ''}`;
}

function eventText(e: EventView | undefined, now: Date, max = 70): string {
  if (!e) return '-';
  const repeat = e.count > 1 ? ` (x${e.count})` : '';
  return `${formatAge(e.time, now)} ${cell(e.type, 20)} ${cell(e.reason, 128)}${repeat}: ${cell(e.message, max)}`;
}

/** `wide` (-o wide) prints Event messages and condition messages whole instead of cut to the terminal. */
export function renderExplain(v: ExplainView, now: Date, opts: { wide?: boolean } = {}): string {
  const max = (n: number): number => (opts.wide ? Infinity : n);
  const s = v.service;
  const lines: string[] = [];
  const head = `Service ${s.namespace}/${s.name}: `;
  switch (s.binding) {
    case 'notOptedIn':
      lines.push(`${head}not opted in (no podlb.io/load-balancer annotation): podlb registers none of its Pods.`);
      break;
    case 'bound':
      lines.push(`${head}LoadBalancerClass ${s.className}, ports ${s.ports.map((p) => `${p.name || p.servicePort} -> backend ${p.backend}`).join(', ')}`);
      break;
    case 'classMissing':
    case 'invalid':
      lines.push(`${head}${s.binding === 'classMissing' ? 'class missing' : 'invalid annotations'}: ${s.problem ?? ''}`);
      break;
  }
  lines.push(`  last event: ${eventText(s.lastEvent, now, max(120))}`, '');
  let out = `${lines.join('\n')}\n`;
  if (v.pods.length === 0) {
    out += `No Pods match the Service's selector in namespace ${s.namespace}.\n`;
  } else {
    const gateText = (g: PodView['gate']): string => (g === 'none' ? 'no gate' : g === 'unset' ? 'not set yet' : conditionText(g, now));
    out += renderTable([
      ['POD', 'NODE', 'POD IP', 'MEMBER', 'GATE', 'READY', 'LAST EVENT'],
      ...v.pods.map((p) => [
        p.name + (p.terminating ? ' (terminating)' : ''),
        p.node || '<unscheduled>',
        p.podIPs.join(',') || '-',
        p.members.join(',') || '-',
        gateText(p.gate),
        p.ready,
        eventText(p.lastEvent, now, max(70)),
      ]),
    ]);
  }
  const lbRows = v.pods.flatMap((p) => p.lb.map((l) => [p.name, l.member, l.state, l.instance, l.admin, l.health, l.detail || '-']));
  if (lbRows.length > 0) out += `\n${renderTable([['POD', 'MEMBER', 'STATE', 'LB INSTANCE', 'ADMIN', 'HEALTH', 'CHECK'], ...lbRows])}`;
  if (v.nodes.length > 0) {
    out += `\n${renderTable([
      ['NODE', 'MEMBERS(reg/healthy/drain)', 'LB REACHABLE'],
      ...v.nodes.map((n) => [
        n.name,
        !n.reported ? 'no PodLBNode (is the agent running there?)' : n.members ? memberCountsText(n.members) : '-',
        conditionText(n.loadBalancerReachable, now),
      ]),
    ])}`;
  }
  return out;
}

/**
 * A member's planned state as users read it: Warming is registered and health-checked but
 * taking no traffic until its Pod's containers are ready and its gate is True.
 */
function memberStateText(state: string): string {
  return state ? state[0]!.toUpperCase() + state.slice(1) : '-';
}

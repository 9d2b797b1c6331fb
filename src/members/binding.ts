// Parses opted-in Services and LoadBalancerClasses into typed bindings, once, at the edge.
// Everything downstream (member planner, gate planner) trusts these types. Bad input becomes
// a Problem naming the object and the field; the other Services keep working.
import {
  ANNOTATION_BACKEND,
  ANNOTATION_DRAIN_SECONDS,
  ANNOTATION_LOAD_BALANCER,
  ANNOTATION_PORTS,
  type LoadBalancerClass,
  type Service,
  type ServicePort,
} from '../api/types.js';
import { problem, type ObjectRef, type Problem } from '../api/problem.js';
import type { HealthCheck } from '../lb/provider.js';
import { octaviaInstanceId } from '../lb/octavia-tags.js';
import { parseTenancy, tenancyDecision, type Tenancy } from './tenancy.js';

export const DEFAULT_DRAIN_SECONDS = 30;
export const DEFAULT_READINESS_TIMEOUT_SECONDS = 600;

export interface OctaviaClassConfig {
  authURL: string;
  region?: string;
  loadBalancerID: string;
  credentialsSecret: { namespace: string; name: string; key: string };
}

export interface LbClassModel {
  name: string;
  provider: 'haproxy' | 'octavia';
  /** Instance addresses: HAProxy runtime APIs, or one `octavia://REGION/LB` per class. */
  instances: string[];
  octavia?: OctaviaClassConfig;
  healthCheck?: HealthCheck;
  drainSeconds?: number;
  withoutHealthCheck: 'Immediate' | 'Never';
  /** 0 disables the fail-safe. */
  timeoutSeconds: number;
  /**
   * Gated Pods are registered as soon as they have an IP, health-checked but taking no
   * traffic, and switched to traffic once their gate is True (plan.ts, `warming`).
   */
  preRegister: boolean;
  /** Undefined: each namespace may name only its own `<namespace>.` backends. */
  tenancy?: Tenancy;
}

export interface PortBinding {
  /** Name of the Service port ('' when unnamed): EndpointSlice ports carry the same name. */
  portName: string;
  servicePort: number;
  backend: string;
}

export interface ServiceBinding {
  namespace: string;
  name: string;
  uid?: string;
  className: string;
  selector: Record<string, string>;
  ports: PortBinding[];
  drainSeconds: number;
}

export type BindingResult =
  | { kind: 'bound'; binding: ServiceBinding; lbClass: LbClassModel }
  /** The class does not exist (deleted, or a typo): design §4.3 releases the gates. */
  | { kind: 'classMissing'; namespace: string; name: string; selector: Record<string, string> }
  /** Malformed annotations: keep the last good state, report, change nothing. */
  | { kind: 'invalid'; namespace: string; name: string; selector: Record<string, string> };

const BACKEND_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const HTTP_PATH_RE = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,255}$/;
const INSTANCE_RE = /^(unix:\/\/\/[A-Za-z0-9._/-]{1,200}|tcp:\/\/[A-Za-z0-9.-]{1,253}:\d{1,5}|tcp:\/\/\[[0-9a-fA-F:]{2,45}\]:\d{1,5})$/;

export function classRef(name: string): ObjectRef {
  return { apiVersion: 'podlb.io/v1alpha1', kind: 'LoadBalancerClass', name };
}

export function serviceRef(svc: Service): ObjectRef {
  return { apiVersion: 'v1', kind: 'Service', namespace: svc.metadata.namespace ?? 'default', name: svc.metadata.name ?? '', uid: svc.metadata.uid };
}

/** Go-style duration ("1s", "500ms", "1m30s") to milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return Math.round(total);
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

export function parseLbClass(obj: LoadBalancerClass): { model?: LbClassModel; problems: Problem[] } {
  const name = obj.metadata.name ?? '';
  const ref = classRef(name);
  const problems: Problem[] = [];
  const bad = (field: string, message: string): { problems: Problem[] } => {
    problems.push(problem(ref, field, 'InvalidLoadBalancerClass', `LoadBalancerClass ${name}: ${field}: ${message}`));
    return { problems };
  };
  const spec = obj.spec ?? ({} as LoadBalancerClass['spec']);
  if (spec.provider !== 'haproxy' && spec.provider !== 'octavia') {
    return bad('spec.provider', `must be "haproxy" or "octavia", got ${JSON.stringify(spec.provider)}`);
  }
  const common = parseCommon(spec, bad);
  if ('problems' in common) return common;
  if (spec.provider === 'octavia') {
    const o = spec.octavia;
    if (!o) return bad('spec.octavia', 'is required when provider is octavia');
    if (typeof o.authURL !== 'string' || !/^https?:\/\/[^\s]{1,2000}$/.test(o.authURL))
      return bad('spec.octavia.authURL', 'must be the Keystone v3 URL (http:// or https://)');
    if (typeof o.loadBalancerID !== 'string' || !/^[0-9a-fA-F-]{1,64}$/.test(o.loadBalancerID))
      return bad('spec.octavia.loadBalancerID', 'must be the load balancer UUID');
    if (o.region !== undefined && (typeof o.region !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(o.region)))
      return bad('spec.octavia.region', 'must be a region name');
    const ref = o.credentialsSecretRef;
    if (!ref || typeof ref.name !== 'string' || typeof ref.key !== 'string' || !ref.name || !ref.key)
      return bad('spec.octavia.credentialsSecretRef', 'must name a Secret and a key holding clouds.yaml credentials');
    return {
      model: {
        name,
        provider: 'octavia',
        instances: [octaviaInstanceId(o.loadBalancerID, o.region)],
        octavia: {
          authURL: o.authURL,
          ...(o.region ? { region: o.region } : {}),
          loadBalancerID: o.loadBalancerID,
          credentialsSecret: { namespace: ref.namespace ?? 'podlb-system', name: ref.name, key: ref.key },
        },
        ...common,
      },
      problems,
    };
  }
  const instances = spec.haproxy?.instances;
  if (!Array.isArray(instances) || instances.length === 0)
    return bad('spec.haproxy.instances', 'must list at least one runtime API address (unix:///path or tcp://host:port)');
  for (const [i, inst] of instances.entries()) {
    if (typeof inst !== 'string' || !INSTANCE_RE.test(inst)) return bad(`spec.haproxy.instances[${i}]`, 'must be unix:///path or tcp://host:port');
  }
  let healthCheck: HealthCheck | undefined;
  const hc = spec.haproxy?.healthCheck;
  if (hc) {
    const intervalMs = hc.interval === undefined ? 2000 : parseDurationMs(hc.interval);
    if (intervalMs === undefined || intervalMs < 100 || intervalMs > 3_600_000)
      return bad('spec.haproxy.healthCheck.interval', 'must be a duration between 100ms and 1h, e.g. "1s"');
    const rise = hc.rise ?? 2;
    const fall = hc.fall ?? 3;
    if (!isInt(rise, 1, 100)) return bad('spec.haproxy.healthCheck.rise', 'must be an integer 1..100');
    if (!isInt(fall, 1, 100)) return bad('spec.haproxy.healthCheck.fall', 'must be an integer 1..100');
    if (hc.httpPath !== undefined && (typeof hc.httpPath !== 'string' || !HTTP_PATH_RE.test(hc.httpPath)))
      return bad('spec.haproxy.healthCheck.httpPath', 'must be an absolute URL path');
    healthCheck = { intervalMs, rise, fall, ...(hc.httpPath ? { httpPath: hc.httpPath } : {}) };
  }
  return {
    model: { name, provider: 'haproxy', instances: [...instances], ...(healthCheck ? { healthCheck } : {}), ...common },
    problems,
  };
}

/** Fields every provider shares: drain window and readiness policy. */
function parseCommon(
  spec: LoadBalancerClass['spec'],
  bad: (field: string, message: string) => { problems: Problem[] },
): Pick<LbClassModel, 'drainSeconds' | 'withoutHealthCheck' | 'timeoutSeconds' | 'preRegister' | 'tenancy'> | { problems: Problem[] } {
  if (spec.drainSeconds !== undefined && !isInt(spec.drainSeconds, 0, 86_400)) return bad('spec.drainSeconds', 'must be an integer 0..86400');
  const r = spec.readiness ?? {};
  const withoutHealthCheck = r.withoutHealthCheck ?? 'Immediate';
  if (withoutHealthCheck !== 'Immediate' && withoutHealthCheck !== 'Never') return bad('spec.readiness.withoutHealthCheck', 'must be Immediate or Never');
  const timeoutSeconds = r.timeoutSeconds ?? DEFAULT_READINESS_TIMEOUT_SECONDS;
  if (!isInt(timeoutSeconds, 0, 86_400)) return bad('spec.readiness.timeoutSeconds', 'must be an integer 0..86400 (0 disables the fail-safe)');
  const preRegister = r.preRegister ?? true;
  if (typeof preRegister !== 'boolean') return bad('spec.readiness.preRegister', 'must be true or false');
  // A malformed rule fails closed: the class is invalid rather than open to every namespace.
  const tenancy = parseTenancy(spec.tenancy);
  if (tenancy && 'field' in tenancy) return bad(tenancy.field, tenancy.message);
  return {
    ...(spec.drainSeconds !== undefined ? { drainSeconds: spec.drainSeconds } : {}),
    withoutHealthCheck,
    timeoutSeconds,
    preRegister,
    ...(tenancy ? { tenancy } : {}),
  };
}

/**
 * A Service opts in by naming a class. Shape-checked because callers also feed it objects
 * read from arbitrary YAML (podlb render bird). An empty value opts nothing in.
 */
export function isOptedIn(svc: Service): boolean {
  const ann: unknown = svc?.metadata?.annotations;
  const cls = typeof ann === 'object' && ann !== null ? (ann as Record<string, unknown>)[ANNOTATION_LOAD_BALANCER] : undefined;
  return typeof cls === 'string' && cls.trim() !== '';
}

function isTcp(p: ServicePort): boolean {
  return (p.protocol ?? 'TCP') === 'TCP';
}

/** Parses one opted-in Service against the known classes. */
export function parseServiceBinding(svc: Service, classes: ReadonlyMap<string, LbClassModel>): { result: BindingResult; problems: Problem[] } {
  const ann = svc.metadata.annotations ?? {};
  const namespace = svc.metadata.namespace ?? 'default';
  const name = svc.metadata.name ?? '';
  const selector = svc.spec.selector ?? {};
  const ref = serviceRef(svc);
  const invalid = (field: string, message: string): { result: BindingResult; problems: Problem[] } => ({
    result: { kind: 'invalid', namespace, name, selector },
    problems: [problem(ref, field, 'InvalidAnnotation', `Service ${namespace}/${name}: ${field}: ${message}`)],
  });

  const className = (ann[ANNOTATION_LOAD_BALANCER] ?? '').trim();
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(className)) {
    return invalid(`metadata.annotations[${ANNOTATION_LOAD_BALANCER}]`, 'must name a LoadBalancerClass');
  }
  const lbClass = classes.get(className);
  if (!lbClass) {
    return {
      result: { kind: 'classMissing', namespace, name, selector },
      problems: [
        problem(
          ref,
          `metadata.annotations[${ANNOTATION_LOAD_BALANCER}]`,
          'UnknownLoadBalancerClass',
          `Service ${namespace}/${name}: LoadBalancerClass ${JSON.stringify(className)} does not exist (or is invalid); create it or fix the annotation. Readiness gates of its Pods are released.`,
        ),
      ],
    };
  }
  if (Object.keys(selector).length === 0) {
    return invalid('spec.selector', 'podlb needs a Service with a selector (Pods are matched by it)');
  }

  const svcPorts = svc.spec.ports ?? [];
  let chosen: ServicePort[];
  const portsAnn = ann[ANNOTATION_PORTS];
  if (portsAnn === undefined || portsAnn.trim() === '') {
    chosen = svcPorts.filter(isTcp);
  } else {
    chosen = [];
    for (const raw of portsAnn.split(',').map((s) => s.trim())) {
      const match = svcPorts.find((p) => p.name === raw || String(p.port) === raw);
      if (!match)
        return invalid(
          `metadata.annotations[${ANNOTATION_PORTS}]`,
          `no Service port named or numbered ${JSON.stringify(raw)} (ports: ${svcPorts.map((p) => p.name ?? p.port).join(', ') || 'none'})`,
        );
      if (!isTcp(match)) return invalid(`metadata.annotations[${ANNOTATION_PORTS}]`, `port ${JSON.stringify(raw)} is not TCP`);
      if (!chosen.includes(match)) chosen.push(match);
    }
  }
  if (chosen.length === 0) return invalid('spec.ports', 'the Service has no TCP port to expose');

  // Backend: one name for a single port, `port=backend,...` for several.
  const backendAnn = ann[ANNOTATION_BACKEND]?.trim();
  const backendFor = new Map<ServicePort, string>();
  if (backendAnn) {
    if (!backendAnn.includes('=')) {
      if (chosen.length > 1) return invalid(`metadata.annotations[${ANNOTATION_BACKEND}]`, 'several ports are exposed: use port=backend,port=backend');
      backendFor.set(chosen[0]!, backendAnn);
    } else {
      for (const pair of backendAnn.split(',').map((s) => s.trim())) {
        const [k, v, extra] = pair.split('=').map((s) => s.trim());
        const port = chosen.find((p) => p.name === k || String(p.port) === k);
        if (!k || !v || extra !== undefined || !port)
          return invalid(`metadata.annotations[${ANNOTATION_BACKEND}]`, `${JSON.stringify(pair)} must be port=backend with an exposed port`);
        backendFor.set(port, v);
      }
    }
  }
  const ports: PortBinding[] = [];
  for (const p of chosen) {
    const backend = backendFor.get(p) ?? `${namespace}.${name}.${p.name ?? p.port}`;
    if (!BACKEND_RE.test(backend))
      return invalid(`metadata.annotations[${ANNOTATION_BACKEND}]`, `backend ${JSON.stringify(backend)} must match ${BACKEND_RE.source}`);
    const allowed = tenancyDecision(lbClass.tenancy, namespace, backend);
    if (!allowed.ok) {
      return {
        result: { kind: 'invalid', namespace, name, selector },
        problems: [
          problem(
            ref,
            `metadata.annotations[${allowed.reason === 'NamespaceNotAllowed' ? ANNOTATION_LOAD_BALANCER : ANNOTATION_BACKEND}]`,
            allowed.reason,
            `Service ${namespace}/${name}: LoadBalancerClass ${className}: ${allowed.message}; nothing is registered`,
          ),
        ],
      };
    }
    ports.push({ portName: p.name ?? '', servicePort: p.port, backend });
  }

  let drainSeconds = lbClass.drainSeconds ?? DEFAULT_DRAIN_SECONDS;
  const drainAnn = ann[ANNOTATION_DRAIN_SECONDS];
  if (drainAnn !== undefined) {
    if (!/^\d{1,5}$/.test(drainAnn.trim()) || Number(drainAnn) > 86_400)
      return invalid(`metadata.annotations[${ANNOTATION_DRAIN_SECONDS}]`, 'must be a whole number of seconds 0..86400');
    drainSeconds = Number(drainAnn);
  }
  return {
    result: { kind: 'bound', binding: { namespace, name, uid: svc.metadata.uid, className, selector, ports, drainSeconds }, lbClass },
    problems: [],
  };
}

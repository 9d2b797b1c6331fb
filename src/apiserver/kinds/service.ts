// Services (defaults, ClusterIP and NodePort allocation, validation) and EndpointSlices.
import { type FieldError, invalid, notSupported, required } from '../errors.js';
import { type Obj, str, type StrategyContext } from '../resource-type.js';
import { labelValueProblem, qualifiedNameProblem } from '../selectors.js';
import { allocateNodePortsOnCreate, allocateNodePortsOnUpdate, nodePortProblems } from './service-node-ports.js';
import { checkDuplicates, endpointIPProblems, ipFamily, isDnsLabel, isDnsSubdomain, isFqdn, portNameProblem } from '../validation.js';

export function defaultService(s: Obj): void {
  s.spec ??= {};
  const sp = s.spec;
  sp.type ??= 'ClusterIP';
  if (sp.type !== 'ExternalName') {
    sp.sessionAffinity ??= 'None';
    sp.internalTrafficPolicy ??= 'Cluster';
  }
  if (Array.isArray(sp.ports))
    for (const p of sp.ports) {
      if (!p || typeof p !== 'object') continue;
      p.protocol ??= 'TCP';
      if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
    }
}

export function allocateService(s: Obj, ctx: StrategyContext, old?: Obj): void {
  allocateClusterIPs(s, ctx, old);
  if (old) allocateNodePortsOnUpdate(s, old, ctx);
  else allocateNodePortsOnCreate(s, ctx);
}

function allocateClusterIPs(s: Obj, ctx: StrategyContext, old: Obj | undefined): void {
  const sp = s.spec;
  if (sp.type === 'ExternalName') return;
  if (old && old.spec?.type !== 'ExternalName') {
    // patchAllocatedValues: a client that omits allocated fields keeps them
    sp.clusterIP ??= old.spec.clusterIP;
    sp.clusterIPs ??= old.spec.clusterIPs;
    sp.ipFamilies ??= old.spec.ipFamilies;
    sp.ipFamilyPolicy ??= old.spec.ipFamilyPolicy;
    return;
  }
  sp.ipFamilyPolicy ??= 'SingleStack';
  const dual = sp.ipFamilyPolicy === 'PreferDualStack' || sp.ipFamilyPolicy === 'RequireDualStack';
  if (!Array.isArray(sp.ipFamilies) || sp.ipFamilies.length === 0) {
    const first = sp.clusterIP && sp.clusterIP !== 'None' ? (ipFamily(sp.clusterIP) ?? 'IPv4') : 'IPv4';
    sp.ipFamilies = dual ? [first, first === 'IPv4' ? 'IPv6' : 'IPv4'] : [first];
  } else if (dual && sp.ipFamilies.length === 1) {
    sp.ipFamilies = [sp.ipFamilies[0], sp.ipFamilies[0] === 'IPv4' ? 'IPv6' : 'IPv4'];
  }
  if (sp.clusterIP === 'None') sp.clusterIPs = ['None'];
  else {
    const ips: string[] = sp.ipFamilies.map((f: 'IPv4' | 'IPv6', i: number) => (i === 0 && sp.clusterIP ? sp.clusterIP : ctx.allocateClusterIP(f)));
    sp.clusterIP = ips[0];
    sp.clusterIPs = ips;
  }
}

export function validateService(s: Obj): FieldError[] {
  const sp = s.spec ?? {};
  const errs: FieldError[] = [];
  const types = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
  if (!types.includes(sp.type)) errs.push(notSupported('spec.type', sp.type, types));
  const ports: Obj[] = Array.isArray(sp.ports) ? sp.ports : [];
  if (ports.length === 0 && sp.type !== 'ExternalName' && sp.clusterIP !== 'None') errs.push(required('spec.ports'));
  ports.forEach((p, i) => {
    const f = `spec.ports[${i}]`;
    if (ports.length > 1 && (p?.name === undefined || p.name === '')) errs.push(required(`${f}.name`));
    if (p?.name) {
      const np = isDnsLabel(String(p.name))
        ? undefined
        : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
      if (np) errs.push(invalid(`${f}.name`, p.name, np));
    }
    if (typeof p?.port !== 'number' || p.port < 1 || p.port > 65535) errs.push(invalid(`${f}.port`, p?.port ?? 0, 'must be between 1 and 65535, inclusive'));
    if (!['TCP', 'UDP', 'SCTP'].includes(p?.protocol)) errs.push(notSupported(`${f}.protocol`, p?.protocol, ['SCTP', 'TCP', 'UDP']));
    const tp = p?.targetPort;
    if (typeof tp === 'number') {
      if (tp < 1 || tp > 65535) errs.push(invalid(`${f}.targetPort`, tp, 'must be between 1 and 65535, inclusive'));
    } else if (typeof tp === 'string') {
      const np = portNameProblem(tp);
      if (np) errs.push(invalid(`${f}.targetPort`, tp, np));
    }
  });
  errs.push(
    ...checkDuplicates(
      ports.map((p) => str(p?.name)),
      (i) => `spec.ports[${i}].name`,
    ),
    ...nodePortProblems(s),
  );
  const sel = sp.selector;
  if (sel && typeof sel === 'object') {
    for (const [k, v] of Object.entries(sel)) {
      const kp = qualifiedNameProblem(k);
      if (kp) errs.push(invalid('spec.selector', k, kp));
      const vp = labelValueProblem(String(v));
      if (vp) errs.push(invalid('spec.selector', v, vp));
    }
  }
  return errs;
}

export function validateServiceUpdate(s: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = [];
  if (old.spec?.type !== 'ExternalName' && s.spec?.type !== 'ExternalName' && s.spec?.clusterIP !== old.spec?.clusterIP)
    errs.push(invalid('spec.clusterIPs[0]', s.spec?.clusterIP ?? '', 'may not change once set'));
  return errs;
}

// ---------------- EndpointSlices ----------------

export function defaultEndpointSlice(e: Obj): void {
  if (Array.isArray(e.ports)) for (const p of e.ports) if (p && typeof p === 'object') p.protocol ??= 'TCP';
  if (Array.isArray(e.endpoints)) for (const ep of e.endpoints) if (ep && typeof ep === 'object') ep.conditions ??= {};
}

export function validateEndpointSlice(e: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const types = ['IPv4', 'IPv6', 'FQDN'];
  if (e.addressType === undefined) errs.push(required('addressType'));
  else if (!types.includes(e.addressType)) errs.push(notSupported('addressType', e.addressType, types));
  const eps: Obj[] = Array.isArray(e.endpoints) ? e.endpoints : [];
  if (e.endpoints !== undefined && e.endpoints !== null && !Array.isArray(e.endpoints)) errs.push(invalid('endpoints', e.endpoints, 'must be a list'));
  if (eps.length > 1000) errs.push({ type: 'FieldValueTooMany', field: 'endpoints', detail: 'must have at most 1000 items' });
  eps.forEach((ep, i) => {
    const f = `endpoints[${i}]`;
    const addrs: unknown[] = Array.isArray(ep?.addresses) ? ep.addresses : [];
    if (addrs.length === 0) errs.push(required(`${f}.addresses`, 'must contain at least 1 address'));
    if (addrs.length > 100) errs.push({ type: 'FieldValueTooMany', field: `${f}.addresses`, detail: 'must have at most 100 items' });
    addrs.forEach((a, j) => {
      const at = `${f}.addresses[${j}]`;
      const fam = ipFamily(str(a));
      if (e.addressType === 'IPv4' && fam !== 'IPv4') errs.push(invalid(at, a, 'must be a valid IPv4 address'));
      if (e.addressType === 'IPv6' && fam !== 'IPv6') errs.push(invalid(at, a, 'must be a valid IPv6 address'));
      if (e.addressType === 'IPv4' || e.addressType === 'IPv6') for (const p of endpointIPProblems(str(a))) errs.push(invalid(at, a, p));
      if (e.addressType === 'FQDN' && !isFqdn(str(a))) errs.push(invalid(at, a, 'should be a domain with at least two segments separated by dots'));
    });
    if (ep?.nodeName !== undefined && !isDnsSubdomain(String(ep.nodeName)))
      errs.push(invalid(`${f}.nodeName`, ep.nodeName, 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters'));
  });
  const ports: Obj[] = Array.isArray(e.ports) ? e.ports : [];
  if (ports.length > 20000) errs.push({ type: 'FieldValueTooMany', field: 'ports', detail: 'must have at most 20000 items' });
  ports.forEach((p, i) => {
    if (p?.name !== undefined && p.name !== '' && !isDnsLabel(String(p.name)))
      errs.push(invalid(`ports[${i}].name`, p.name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"));
    if (p?.port !== undefined && p.port !== null && (typeof p.port !== 'number' || p.port < 0 || p.port > 65535))
      errs.push(invalid(`ports[${i}].port`, p.port, 'must be between 0 and 65535, inclusive'));
    if (!['TCP', 'UDP', 'SCTP'].includes(p?.protocol)) errs.push(notSupported(`ports[${i}].protocol`, p?.protocol, ['SCTP', 'TCP', 'UDP']));
  });
  errs.push(
    ...checkDuplicates(
      ports.map((p) => str(p?.name)),
      (i) => `ports[${i}].name`,
    ),
  );
  return errs;
}

// The registration table: every resource the server serves, with the parts of its real
// registry strategy that matter to podlb (defaults, validation, status subresource, patch merge
// keys, field labels, graceful deletion). Add a resource by adding an entry to `builtinResources`
// or by passing more `ResourceType`s to startApiServer.
import { GROUP, VERSION } from '../api/types.js';
import {
  type FieldError,
  forbiddenField,
  invalid,
  notSupported,
  required,
} from './errors.js';
import type { PatchSchema } from './patch.js';
import { deepEqual } from './patch.js';
import { labelValueProblem, qualifiedNameProblem } from './selectors.js';
import { admissionResources } from './admission.js';
import { type Crd, crdSchema, shippedCrds } from './crds.js';
import { schemaHooks } from './schema.js';
import { type NameRule, checkDuplicates, endpointIPProblems, ipFamily, isFqdn, isDnsLabel, isDnsSubdomain, portNameProblem } from './validation.js';

// biome-ignore lint/suspicious/noExplicitAny: the stand-in API server stores objects of every kind, CRDs included, whose shape only the schema checks at run time know
export type Obj = Record<string, any>;

/** Services the store gives the strategies (cluster IP and node port allocation). */
export interface StrategyContext {
  allocateClusterIP(family: 'IPv4' | 'IPv6'): string;
  allocateNodePort(): number;
  release(obj: Obj): void;
  /** Whether the store holds an object of this resource in the namespace. */
  now(): Date;
}

export interface ResourceType {
  group: string; // '' for core
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Has a /status subresource (status strategy: main resource ignores .status, /status changes only .status). */
  statusSubresource: boolean;
  /** Served by a CustomResourceDefinition: no strategic merge patch, PUT needs resourceVersion, list items keep apiVersion/kind. */
  custom: boolean;
  /** Sets metadata.generation and bumps it when anything but metadata and status changes. */
  generation: boolean;
  nameRule: NameRule;
  patch: PatchSchema;
  /** Field labels beyond metadata.name and metadata.namespace. */
  fieldLabels?: (o: Obj) => Record<string, string>;
  /** The DELETE response: the object (true) or a Status Success (false). */
  returnDeletedObject: boolean;
  /** Defaults applied on every write of the main resource (and of /status for the status part). */
  defaults?: (o: Obj) => void;
  /** PrepareForCreate: what the strategy clears or sets on create. */
  prepareForCreate?: (o: Obj, ctx: StrategyContext) => void;
  /** PrepareForUpdate of the main resource, after .status was restored from the old object. */
  prepareForUpdate?: (o: Obj, old: Obj, ctx: StrategyContext) => void;
  validate?: (o: Obj) => FieldError[];
  validateUpdate?: (o: Obj, old: Obj) => FieldError[];
  validateStatus?: (o: Obj, old: Obj) => FieldError[];
  /** Validation of every write (create, update, /status), with the stored object on update: a CRD schema's. */
  validateWrite?: (o: Obj, old: Obj | undefined) => FieldError[];
  /** Graceful deletion period for a DELETE without gracePeriodSeconds; undefined = not graceful. */
  gracePeriod?: (o: Obj, requested: number | undefined) => number | undefined;
}

export const apiVersionOf = (rt: ResourceType): string => (rt.group === '' ? rt.version : `${rt.group}/${rt.version}`);

const noPatch: PatchSchema = { mergeKeys: {}, primitiveMerge: new Set() };
const metaPatch = { 'metadata.ownerReferences': 'uid', 'metadata.managedFields': 'manager' };
const metaPrimitive = ['metadata.finalizers'];
const schema = (keys: Record<string, string>, prim: string[] = []): PatchSchema => ({
  mergeKeys: { ...metaPatch, ...keys },
  primitiveMerge: new Set([...metaPrimitive, ...prim]),
});

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

// ---------------- Pods ----------------

function defaultContainer(c: Obj): void {
  if (!c || typeof c !== 'object') return;
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (c.imagePullPolicy === undefined && typeof c.image === 'string') {
    const tagged = /:[^/]+$/.test(c.image.split('@')[0] ?? '') && !c.image.endsWith(':latest');
    c.imagePullPolicy = tagged || c.image.includes('@') ? 'IfNotPresent' : 'Always';
  }
  c.resources ??= {};
  if (Array.isArray(c.ports)) for (const p of c.ports) if (p && typeof p === 'object') p.protocol ??= 'TCP';
}

/**
 * The v1 conversion of PodStatus: the internal type has only the list, so a lone podIP becomes
 * the list, and podIP always reads back as the list's first entry (a different podIP sent
 * with the list is dropped, not refused).
 */
function syncIPs(status: Obj | undefined, single: string, plural: string): void {
  if (!status) return;
  const list = status[plural];
  if (status[single] && (!Array.isArray(list) || list.length === 0)) status[plural] = [{ ip: status[single] }];
  else if (Array.isArray(list) && list.length > 0) status[single] = list[0]?.ip;
}

function defaultPod(p: Obj): void {
  p.spec ??= {};
  const s = p.spec;
  s.restartPolicy ??= 'Always';
  s.terminationGracePeriodSeconds ??= 30;
  s.dnsPolicy ??= 'ClusterFirst';
  s.schedulerName ??= 'default-scheduler';
  s.securityContext ??= {};
  s.enableServiceLinks ??= true;
  if (Array.isArray(s.containers)) s.containers.forEach(defaultContainer);
  if (Array.isArray(s.initContainers)) s.initContainers.forEach(defaultContainer);
  syncIPs(p.status, 'podIP', 'podIPs');
  syncIPs(p.status, 'hostIP', 'hostIPs');
}

function validateContainers(list: unknown, field: string, requiredList: boolean): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(list) || list.length === 0) {
    if (requiredList) errs.push(required(field));
    return errs;
  }
  list.forEach((c: Obj, i) => {
    const f = `${field}[${i}]`;
    if (typeof c?.name !== 'string' || c.name === '') errs.push(required(`${f}.name`));
    else if (!isDnsLabel(c.name)) errs.push(invalid(`${f}.name`, c.name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"));
    if (typeof c?.image !== 'string' || c.image.trim() === '') errs.push(required(`${f}.image`));
    const ports: Obj[] = Array.isArray(c?.ports) ? c.ports : [];
    const names: string[] = [];
    ports.forEach((p, j) => {
      const pf = `${f}.ports[${j}]`;
      const n = p?.containerPort;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) errs.push(invalid(`${pf}.containerPort`, n ?? 0, 'must be between 1 and 65535, inclusive'));
      if (p?.name !== undefined && p.name !== '') {
        const np = portNameProblem(String(p.name));
        if (np) errs.push(invalid(`${pf}.name`, p.name, np));
        names.push(String(p.name));
      }
      if (!['TCP', 'UDP', 'SCTP'].includes(p?.protocol)) errs.push(notSupported(`${pf}.protocol`, p?.protocol, ['SCTP', 'TCP', 'UDP']));
    });
    errs.push(...checkDuplicates(names, () => `${f}.ports[].name`));
  });
  errs.push(...checkDuplicates(list.map((c: Obj) => str(c?.name)), (i) => `${field}[${i}].name`));
  return errs;
}

function validatePod(p: Obj): FieldError[] {
  const s = p.spec ?? {};
  const errs = [...validateContainers(s.containers, 'spec.containers', true), ...validateContainers(s.initContainers, 'spec.initContainers', false)];
  if (s.nodeName !== undefined && s.nodeName !== '' && !isDnsSubdomain(String(s.nodeName))) errs.push(invalid('spec.nodeName', s.nodeName, 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters'));
  if (typeof s.terminationGracePeriodSeconds === 'number' && s.terminationGracePeriodSeconds < 0) errs.push(invalid('spec.terminationGracePeriodSeconds', s.terminationGracePeriodSeconds, 'must be greater than or equal to 0'));
  if (!['Always', 'OnFailure', 'Never'].includes(s.restartPolicy)) errs.push(notSupported('spec.restartPolicy', s.restartPolicy, ['Always', 'OnFailure', 'Never']));
  if (s.readinessGates !== undefined) {
    if (!Array.isArray(s.readinessGates)) errs.push(invalid('spec.readinessGates', s.readinessGates, 'must be a list'));
    else
      s.readinessGates.forEach((g: Obj, i: number) => {
        const q = typeof g?.conditionType === 'string' ? qualifiedNameProblem(g.conditionType) : 'Required value';
        if (q) errs.push(invalid(`spec.readinessGates[${i}].conditionType`, g?.conditionType ?? '', q));
      });
  }
  errs.push(...validatePodStatusFields(p.status));
  return errs;
}

function validatePodStatusFields(st: Obj | undefined): FieldError[] {
  const errs: FieldError[] = [];
  if (!st) return errs;
  for (const plural of ['podIPs', 'hostIPs'] as const) {
    // validatePodIPs / validateHostIPs: valid IPs, at most one per family, no duplicates.
    const list: Obj[] = Array.isArray(st[plural]) ? st[plural] : [];
    list.forEach((x, i) => {
      if (!ipFamily(str(x?.ip))) errs.push(invalid(`status.${plural}[${i}]`, x?.ip ?? '', 'must be a valid IP address'));
    });
    if (list.length > 1) {
      const families = list.map((x) => ipFamily(str(x?.ip)));
      const dualStack = families.includes('IPv4') && families.includes('IPv6');
      if (!dualStack || list.length > 2) errs.push(invalid(`status.${plural}`, list, 'may specify no more than one IP for each IP family'));
      errs.push(...checkDuplicates(list.map((x) => str(x?.ip)), (i) => `status.${plural}[${i}]`));
    }
  }
  const conds: Obj[] = Array.isArray(st.conditions) ? st.conditions : [];
  conds.forEach((c, i) => {
    if (typeof c?.type !== 'string' || c.type === '') errs.push(required(`status.conditions[${i}].type`));
    if (!['True', 'False', 'Unknown'].includes(c?.status)) errs.push(notSupported(`status.conditions[${i}].status`, c?.status, ['False', 'True', 'Unknown']));
  });
  errs.push(...checkDuplicates(conds.map((c) => str(c?.type)), (i) => `status.conditions[${i}].type`));
  return errs;
}

const podUpdateMessage =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

function validatePodUpdate(p: Obj, old: Obj): FieldError[] {
  // ValidatePodUpdate: copy what may change from the new spec into the old one; any other
  // difference is forbidden.
  const a = structuredClone(old.spec ?? {});
  const b = structuredClone(p.spec ?? {});
  for (const key of ['containers', 'initContainers']) {
    if (Array.isArray(a[key]) && Array.isArray(b[key]) && a[key].length === b[key].length)
      a[key].forEach((c: Obj, i: number) => {
        c.image = b[key][i]?.image;
      });
  }
  a.activeDeadlineSeconds = b.activeDeadlineSeconds;
  const oldTol: Obj[] = Array.isArray(a.tolerations) ? a.tolerations : [];
  const newTol: Obj[] = Array.isArray(b.tolerations) ? b.tolerations : [];
  if (oldTol.every((t) => newTol.some((u) => deepEqual(t, u)))) a.tolerations = b.tolerations;
  const errs: FieldError[] = [];
  if (!deepEqual(a, b)) errs.push(forbiddenField('spec', podUpdateMessage));
  return errs;
}

function podGrace(p: Obj, requested: number | undefined): number | undefined {
  // pod strategy CheckGracefulDelete: unscheduled or terminal pods go at once
  const phase = p.status?.phase;
  if (!p.spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
  if (requested !== undefined) return requested;
  const g = p.spec?.terminationGracePeriodSeconds;
  return typeof g === 'number' ? g : 30;
}

// ---------------- Services ----------------

function defaultService(s: Obj): void {
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

function allocateService(s: Obj, ctx: StrategyContext, old?: Obj): void {
  const sp = s.spec;
  if (sp.type === 'ExternalName') return;
  if (old && old.spec?.type !== 'ExternalName') {
    // patchAllocatedValues: a client that omits allocated fields keeps them
    sp.clusterIP ??= old.spec.clusterIP;
    sp.clusterIPs ??= old.spec.clusterIPs;
    sp.ipFamilies ??= old.spec.ipFamilies;
    sp.ipFamilyPolicy ??= old.spec.ipFamilyPolicy;
    if (Array.isArray(sp.ports) && Array.isArray(old.spec.ports))
      for (const p of sp.ports) {
        const o = old.spec.ports.find((x: Obj) => x.port === p.port && x.protocol === p.protocol);
        if (o?.nodePort && p.nodePort === undefined && sp.type !== 'ClusterIP') p.nodePort = o.nodePort;
      }
    return;
  }
  sp.ipFamilyPolicy ??= 'SingleStack';
  const dual = sp.ipFamilyPolicy === 'PreferDualStack' || sp.ipFamilyPolicy === 'RequireDualStack';
  if (!Array.isArray(sp.ipFamilies) || sp.ipFamilies.length === 0) {
    const first = sp.clusterIP && sp.clusterIP !== 'None' ? ipFamily(sp.clusterIP) ?? 'IPv4' : 'IPv4';
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
  if (sp.type === 'NodePort' || sp.type === 'LoadBalancer')
    for (const p of sp.ports ?? []) p.nodePort ??= ctx.allocateNodePort();
}

function validateService(s: Obj): FieldError[] {
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
      const np = isDnsLabel(String(p.name)) ? undefined : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
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
  errs.push(...checkDuplicates(ports.map((p) => str(p?.name)), (i) => `spec.ports[${i}].name`));
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

function validateServiceUpdate(s: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = [];
  if (old.spec?.type !== 'ExternalName' && s.spec?.type !== 'ExternalName' && s.spec?.clusterIP !== old.spec?.clusterIP)
    errs.push(invalid('spec.clusterIPs[0]', s.spec?.clusterIP ?? '', 'may not change once set'));
  return errs;
}

// ---------------- EndpointSlices ----------------

function defaultEndpointSlice(e: Obj): void {
  if (Array.isArray(e.ports)) for (const p of e.ports) if (p && typeof p === 'object') p.protocol ??= 'TCP';
  if (Array.isArray(e.endpoints)) for (const ep of e.endpoints) if (ep && typeof ep === 'object') ep.conditions ??= {};
}

function validateEndpointSlice(e: Obj): FieldError[] {
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
    if (ep?.nodeName !== undefined && !isDnsSubdomain(String(ep.nodeName))) errs.push(invalid(`${f}.nodeName`, ep.nodeName, 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters'));
  });
  const ports: Obj[] = Array.isArray(e.ports) ? e.ports : [];
  if (ports.length > 20000) errs.push({ type: 'FieldValueTooMany', field: 'ports', detail: 'must have at most 20000 items' });
  ports.forEach((p, i) => {
    if (p?.name !== undefined && p.name !== '' && !isDnsLabel(String(p.name))) errs.push(invalid(`ports[${i}].name`, p.name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"));
    if (p?.port !== undefined && p.port !== null && (typeof p.port !== 'number' || p.port < 0 || p.port > 65535)) errs.push(invalid(`ports[${i}].port`, p.port, 'must be between 0 and 65535, inclusive'));
    if (!['TCP', 'UDP', 'SCTP'].includes(p?.protocol)) errs.push(notSupported(`ports[${i}].protocol`, p?.protocol, ['SCTP', 'TCP', 'UDP']));
  });
  errs.push(...checkDuplicates(ports.map((p) => str(p?.name)), (i) => `ports[${i}].name`));
  return errs;
}

// ---------------- Nodes ----------------

function defaultNode(n: Obj): void {
  n.spec ??= {};
  const sp = n.spec;
  if (Array.isArray(sp.podCIDRs) && sp.podCIDRs.length > 0 && !sp.podCIDR) sp.podCIDR = sp.podCIDRs[0];
  if (sp.podCIDR && (!Array.isArray(sp.podCIDRs) || sp.podCIDRs.length === 0)) sp.podCIDRs = [sp.podCIDR];
}

function validateNodeUpdate(n: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const was: string[] = old.spec?.podCIDRs ?? [];
  const now: string[] = n.spec?.podCIDRs ?? [];
  if (was.length > 0 && !deepEqual(was, now)) errs.push(forbiddenField('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
  if (old.spec?.providerID && n.spec?.providerID !== old.spec.providerID) errs.push(forbiddenField('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  return errs;
}

// ---------------- Events, Secrets ----------------

function validateEvent(e: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const io = e.involvedObject ?? {};
  const ns = e.metadata?.namespace ?? '';
  if (!io.namespace) {
    if (ns !== '' && ns !== 'default') errs.push(invalid('involvedObject.namespace', io.namespace ?? '', 'does not match event.namespace'));
  } else if (io.namespace !== ns) errs.push(invalid('involvedObject.namespace', io.namespace, 'does not match event.namespace'));
  if (e.type !== undefined && e.type !== '' && !['Normal', 'Warning'].includes(e.type)) errs.push(notSupported('type', e.type, ['Normal', 'Warning']));
  return errs;
}

function normalizeSecret(s: Obj): void {
  s.type ??= 'Opaque';
  if (s.stringData && typeof s.stringData === 'object') {
    s.data ??= {};
    for (const [k, v] of Object.entries(s.stringData)) s.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    delete s.stringData;
  }
}

function validateSecret(s: Obj): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries((s.data ?? {}) as Obj)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(k)) errs.push(invalid('data', k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) errs.push(invalid(`data[${k}]`, '<secret contents redacted>', 'illegal base64 data'));
  }
  return errs;
}

function validateSecretUpdate(s: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = [];
  if ((s.type ?? 'Opaque') !== (old.type ?? 'Opaque')) errs.push(invalid('type', s.type, 'field is immutable'));
  if (old.immutable === true && (!deepEqual(s.data ?? {}, old.data ?? {}) || s.immutable !== true)) errs.push(forbiddenField('data', 'field is immutable when `immutable` is set'));
  return errs;
}

// ---------------- table ----------------

const core = (r: Partial<ResourceType> & Pick<ResourceType, 'plural' | 'singular' | 'kind' | 'namespaced'>): ResourceType => ({
  group: '',
  version: 'v1',
  statusSubresource: false,
  custom: false,
  generation: false,
  nameRule: 'subdomain',
  patch: schema({}),
  returnDeletedObject: false,
  ...r,
});

/** A resource served by a CustomResourceDefinition, with its schema enforced when the CRD has one. */
export function resourceFromCrd(crd: Pick<Crd, 'spec'>, version = crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]!.name): ResourceType {
  const n = crd.spec.names;
  const v = crd.spec.versions.find((x) => x.name === version);
  const schema = v?.schema?.openAPIV3Schema;
  return {
    group: crd.spec.group,
    version,
    plural: n.plural,
    singular: n.singular ?? n.kind.toLowerCase(),
    kind: n.kind,
    namespaced: crd.spec.scope === 'Namespaced',
    ...(n.shortNames ? { shortNames: n.shortNames } : {}),
    statusSubresource: v?.subresources?.status !== undefined,
    custom: true,
    generation: true,
    nameRule: 'subdomain',
    patch: noPatch,
    returnDeletedObject: true,
    ...(schema ? schemaHooks(schema) : {}),
  };
}

/** podlb's own kinds, from the CRDs in daemonset/crds (read once per process). */
const podlbCrd = (kind: string): ResourceType => {
  const crd = shippedCrds().find((c) => c.spec.group === GROUP && c.spec.names.kind === kind);
  if (!crd || !crdSchema([crd], GROUP, VERSION, kind)) throw new Error(`daemonset/crds has no served ${GROUP}/${VERSION} ${kind}`);
  return resourceFromCrd(crd, VERSION);
};

export function builtinResources(): ResourceType[] {
  return [
    core({
      plural: 'namespaces',
      singular: 'namespace',
      kind: 'Namespace',
      namespaced: false,
      shortNames: ['ns'],
      statusSubresource: true,
      nameRule: 'label',
      returnDeletedObject: true,
      patch: schema({ 'status.conditions': 'type' }),
      fieldLabels: (o) => ({ 'status.phase': str(o.status?.phase) }),
      prepareForCreate: (o) => {
        o.spec = { finalizers: ['kubernetes'], ...(o.spec ?? {}) };
        o.status = { phase: 'Active' };
      },
    }),
    core({
      plural: 'nodes',
      singular: 'node',
      kind: 'Node',
      namespaced: false,
      shortNames: ['no'],
      statusSubresource: true,
      patch: schema({ 'status.conditions': 'type', 'status.addresses': 'type', 'status.images': 'names' }, ['spec.podCIDRs']),
      fieldLabels: (o) => ({ 'spec.unschedulable': String(o.spec?.unschedulable === true) }),
      defaults: defaultNode,
      validateUpdate: validateNodeUpdate,
      returnDeletedObject: true,
    }),
    core({
      plural: 'pods',
      singular: 'pod',
      kind: 'Pod',
      namespaced: true,
      shortNames: ['po'],
      statusSubresource: true,
      generation: true,
      returnDeletedObject: true,
      patch: schema({
        'spec.containers': 'name',
        'spec.initContainers': 'name',
        'spec.ephemeralContainers': 'name',
        'spec.containers.ports': 'containerPort',
        'spec.initContainers.ports': 'containerPort',
        'spec.containers.env': 'name',
        'spec.initContainers.env': 'name',
        'spec.containers.volumeMounts': 'mountPath',
        'spec.initContainers.volumeMounts': 'mountPath',
        'spec.containers.volumeDevices': 'devicePath',
        'spec.volumes': 'name',
        'spec.imagePullSecrets': 'name',
        'spec.hostAliases': 'ip',
        'status.conditions': 'type',
        'status.podIPs': 'ip',
        'status.hostIPs': 'ip',
        'status.resourceClaimStatuses': 'name',
      }),
      fieldLabels: (o) => ({
        'spec.nodeName': str(o.spec?.nodeName),
        'spec.restartPolicy': str(o.spec?.restartPolicy),
        'spec.schedulerName': str(o.spec?.schedulerName),
        'spec.serviceAccountName': str(o.spec?.serviceAccountName),
        'spec.hostNetwork': String(o.spec?.hostNetwork === true),
        'status.phase': str(o.status?.phase),
        'status.podIP': str(o.status?.podIP),
        'status.nominatedNodeName': str(o.status?.nominatedNodeName),
      }),
      defaults: defaultPod,
      prepareForCreate: (o) => {
        const allBestEffort = (o.spec?.containers ?? []).every((c: Obj) => !c?.resources?.limits && !c?.resources?.requests);
        o.status = { phase: 'Pending', qosClass: allBestEffort ? 'BestEffort' : 'Burstable' };
      },
      validate: validatePod,
      validateUpdate: validatePodUpdate,
      validateStatus: (o) => validatePodStatusFields(o.status),
      gracePeriod: podGrace,
    }),
    core({
      plural: 'services',
      singular: 'service',
      kind: 'Service',
      namespaced: true,
      shortNames: ['svc'],
      statusSubresource: true,
      nameRule: 'label1035',
      returnDeletedObject: true,
      patch: schema({ 'spec.ports': 'port', 'status.conditions': 'type' }),
      defaults: defaultService,
      prepareForCreate: (o, ctx) => {
        o.status = { loadBalancer: {} };
        allocateService(o, ctx);
      },
      prepareForUpdate: (o, old, ctx) => allocateService(o, ctx, old),
      validate: validateService,
      validateUpdate: validateServiceUpdate,
    }),
    core({ plural: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, defaults: normalizeSecret, validate: validateSecret, validateUpdate: validateSecretUpdate, fieldLabels: (o) => ({ type: str(o.type) }) }),
    core({ plural: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] }),
    core({ plural: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'], patch: schema({ secrets: 'name' }) }),
    core({
      plural: 'events',
      singular: 'event',
      kind: 'Event',
      namespaced: true,
      shortNames: ['ev'],
      validate: validateEvent,
      fieldLabels: (o) => ({
        'involvedObject.kind': str(o.involvedObject?.kind),
        'involvedObject.namespace': str(o.involvedObject?.namespace),
        'involvedObject.name': str(o.involvedObject?.name),
        'involvedObject.uid': str(o.involvedObject?.uid),
        'involvedObject.apiVersion': str(o.involvedObject?.apiVersion),
        'involvedObject.resourceVersion': str(o.involvedObject?.resourceVersion),
        'involvedObject.fieldPath': str(o.involvedObject?.fieldPath),
        reason: str(o.reason),
        reportingComponent: str(o.reportingComponent),
        source: str(o.source?.component ?? o.reportingComponent),
        type: str(o.type),
      }),
    }),
    {
      group: 'discovery.k8s.io',
      version: 'v1',
      plural: 'endpointslices',
      singular: 'endpointslice',
      kind: 'EndpointSlice',
      namespaced: true,
      statusSubresource: false,
      custom: false,
      generation: true,
      nameRule: 'subdomain',
      patch: schema({}),
      returnDeletedObject: false,
      defaults: defaultEndpointSlice,
      validate: validateEndpointSlice,
      validateUpdate: (o, old) => (o.addressType !== old.addressType ? [invalid('addressType', o.addressType, 'field is immutable')] : []),
      fieldLabels: (o) => ({ addressType: str(o.addressType) }),
    },
    // The core defaults (v1-style naming, no status subresource) in another API group.
    core({
      group: 'coordination.k8s.io',
      plural: 'leases',
      singular: 'lease',
      kind: 'Lease',
      namespaced: true,
      validate: (o) => {
        const errs: FieldError[] = [];
        const d = o.spec?.leaseDurationSeconds;
        if (d !== undefined && (typeof d !== 'number' || d <= 0)) errs.push(invalid('spec.leaseDurationSeconds', d, 'must be greater than 0'));
        const t = o.spec?.leaseTransitions;
        if (t !== undefined && (typeof t !== 'number' || t < 0)) errs.push(invalid('spec.leaseTransitions', t, 'must be greater than or equal to 0'));
        return errs;
      },
    }),
    ...admissionResources(),
    podlbCrd('PodAddressPool'),
    podlbCrd('BGPPeer'),
    podlbCrd('LoadBalancerClass'),
    podlbCrd('PodLBNode'),
  ];
}


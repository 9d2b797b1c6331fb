// Pods: defaults, validation of create, update and status, graceful deletion (the pod strategy).
import { type FieldError, forbiddenField, invalid, notSupported, required } from '../errors.js';
import { deepEqual } from '../patch.js';
import { type Obj, str } from '../resource-type.js';
import { qualifiedNameProblem } from '../selectors.js';
import { checkDuplicates, ipFamily, isDnsLabel, isDnsSubdomain, portNameProblem } from '../validation.js';

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

export function defaultPod(p: Obj): void {
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
    else if (!isDnsLabel(c.name))
      errs.push(
        invalid(
          `${f}.name`,
          c.name,
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ),
      );
    if (typeof c?.image !== 'string' || c.image.trim() === '') errs.push(required(`${f}.image`));
    const ports: Obj[] = Array.isArray(c?.ports) ? c.ports : [];
    const names: string[] = [];
    ports.forEach((p, j) => {
      const pf = `${f}.ports[${j}]`;
      const n = p?.containerPort;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535)
        errs.push(invalid(`${pf}.containerPort`, n ?? 0, 'must be between 1 and 65535, inclusive'));
      if (p?.name !== undefined && p.name !== '') {
        const np = portNameProblem(String(p.name));
        if (np) errs.push(invalid(`${pf}.name`, p.name, np));
        names.push(String(p.name));
      }
      if (!['TCP', 'UDP', 'SCTP'].includes(p?.protocol)) errs.push(notSupported(`${pf}.protocol`, p?.protocol, ['SCTP', 'TCP', 'UDP']));
    });
    errs.push(...checkDuplicates(names, () => `${f}.ports[].name`));
  });
  errs.push(
    ...checkDuplicates(
      list.map((c: Obj) => str(c?.name)),
      (i) => `${field}[${i}].name`,
    ),
  );
  return errs;
}

export function validatePod(p: Obj): FieldError[] {
  const s = p.spec ?? {};
  const errs = [...validateContainers(s.containers, 'spec.containers', true), ...validateContainers(s.initContainers, 'spec.initContainers', false)];
  if (s.nodeName !== undefined && s.nodeName !== '' && !isDnsSubdomain(String(s.nodeName)))
    errs.push(invalid('spec.nodeName', s.nodeName, 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters'));
  if (typeof s.terminationGracePeriodSeconds === 'number' && s.terminationGracePeriodSeconds < 0)
    errs.push(invalid('spec.terminationGracePeriodSeconds', s.terminationGracePeriodSeconds, 'must be greater than or equal to 0'));
  if (!['Always', 'OnFailure', 'Never'].includes(s.restartPolicy))
    errs.push(notSupported('spec.restartPolicy', s.restartPolicy, ['Always', 'OnFailure', 'Never']));
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

export function validatePodStatusFields(st: Obj | undefined): FieldError[] {
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
      errs.push(
        ...checkDuplicates(
          list.map((x) => str(x?.ip)),
          (i) => `status.${plural}[${i}]`,
        ),
      );
    }
  }
  const conds: Obj[] = Array.isArray(st.conditions) ? st.conditions : [];
  conds.forEach((c, i) => {
    if (typeof c?.type !== 'string' || c.type === '') errs.push(required(`status.conditions[${i}].type`));
    if (!['True', 'False', 'Unknown'].includes(c?.status)) errs.push(notSupported(`status.conditions[${i}].status`, c?.status, ['False', 'True', 'Unknown']));
  });
  errs.push(
    ...checkDuplicates(
      conds.map((c) => str(c?.type)),
      (i) => `status.conditions[${i}].type`,
    ),
  );
  return errs;
}

const podUpdateMessage =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

export function validatePodUpdate(p: Obj, old: Obj): FieldError[] {
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

export function podGrace(p: Obj, requested: number | undefined): number | undefined {
  // pod strategy CheckGracefulDelete: unscheduled or terminal pods go at once
  const phase = p.status?.phase;
  if (!p.spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
  if (requested !== undefined) return requested;
  const g = p.spec?.terminationGracePeriodSeconds;
  return typeof g === 'number' ? g : 30;
}

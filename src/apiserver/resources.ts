// The registration table: every resource the server serves, with the parts of its real
// registry strategy that matter to podlb (defaults, validation, status subresource, patch merge
// keys, field labels, graceful deletion). Add a resource by adding an entry to `builtinResources`
// or by passing more `ResourceType`s to startApiServer.
import { GROUP, VERSION } from '../api/types.js';
import { admissionResources } from './admission.js';
import { type Crd, crdSchema, shippedCrds } from './crds.js';
import { type FieldError, invalid } from './errors.js';
import { defaultPod, validatePod, validatePodStatusFields, validatePodUpdate, podGrace } from './kinds/pod.js';
import { defaultService, allocateService, validateService, validateServiceUpdate, defaultEndpointSlice, validateEndpointSlice } from './kinds/service.js';
import { defaultNode, validateNodeUpdate } from './kinds/node.js';
import { validateEvent, normalizeSecret, validateSecret, validateSecretUpdate } from './kinds/event-secret.js';
import { noPatch, type Obj, patchSchema, type ResourceType, str } from './resource-type.js';
import { schemaHooks } from './schema.js';

export { apiVersionOf, type Obj, type ResourceType, type StrategyContext } from './resource-type.js';

const core = (r: Partial<ResourceType> & Pick<ResourceType, 'plural' | 'singular' | 'kind' | 'namespaced'>): ResourceType => ({
  group: '',
  version: 'v1',
  statusSubresource: false,
  custom: false,
  generation: false,
  nameRule: 'subdomain',
  patch: patchSchema({}),
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
      patch: patchSchema({ 'status.conditions': 'type' }),
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
      patch: patchSchema({ 'status.conditions': 'type', 'status.addresses': 'type', 'status.images': 'names' }, ['spec.podCIDRs']),
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
      patch: patchSchema({
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
      patch: patchSchema({ 'spec.ports': 'port', 'status.conditions': 'type' }),
      defaults: defaultService,
      prepareForCreate: (o, ctx) => {
        o.status = { loadBalancer: {} };
        allocateService(o, ctx);
      },
      prepareForUpdate: (o, old, ctx) => allocateService(o, ctx, old),
      validate: validateService,
      validateUpdate: validateServiceUpdate,
    }),
    core({
      plural: 'secrets',
      singular: 'secret',
      kind: 'Secret',
      namespaced: true,
      defaults: normalizeSecret,
      validate: validateSecret,
      validateUpdate: validateSecretUpdate,
      fieldLabels: (o) => ({ type: str(o.type) }),
    }),
    core({ plural: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] }),
    core({
      plural: 'serviceaccounts',
      singular: 'serviceaccount',
      kind: 'ServiceAccount',
      namespaced: true,
      shortNames: ['sa'],
      patch: patchSchema({ secrets: 'name' }),
    }),
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
      patch: patchSchema({}),
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

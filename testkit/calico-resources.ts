// Calico's CRDs as its Kubernetes datastore registers them (crd.projectcalico.org/v1,
// cluster-scoped, no status subresource), for the in-process API server:
// `startApiServer({ resources: calicoResources() })`. A light `validate` carries the parts of
// Calico's CRD schema the renderer could get wrong (enum values, required fields), so a test
// fails where a real cluster would refuse the object.
import type { ResourceType } from '../src/apiserver/index.js';
import { invalid, notSupported, type FieldError } from '../src/apiserver/errors.js';

import type { Obj } from '../src/apiserver/resource-type.js';

const ACTIONS = ['Accept', 'Reject'];
const OPERATORS = ['Equal', 'NotEqual', 'In', 'NotIn'];

function validateFilter(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  for (const list of ['exportV4', 'exportV6', 'importV4', 'importV6']) {
    const rules: unknown = o.spec?.[list];
    if (rules === undefined) continue;
    (Array.isArray(rules) ? (rules as Obj[]) : []).forEach((r, i) => {
      const f = `spec.${list}[${i}]`;
      if (!ACTIONS.includes(r.action)) errs.push(notSupported(`${f}.action`, r.action, ACTIONS));
      if (r.cidr !== undefined && !OPERATORS.includes(r.matchOperator)) errs.push(notSupported(`${f}.matchOperator`, r.matchOperator, OPERATORS));
    });
  }
  return errs;
}

function validatePeer(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  if (o.spec?.peerIP !== undefined && typeof o.spec.peerIP !== 'string') errs.push(invalid('spec.peerIP', o.spec.peerIP, 'must be a string'));
  if (o.spec?.filters !== undefined && !Array.isArray(o.spec.filters)) errs.push(invalid('spec.filters', o.spec.filters, 'must be a list of BGPFilter names'));
  return errs;
}

const calicoCrd = (plural: string, singular: string, kind: string, validate?: (o: Obj) => FieldError[]): ResourceType => ({
  group: 'crd.projectcalico.org',
  version: 'v1',
  plural,
  singular,
  kind,
  namespaced: false,
  statusSubresource: false,
  custom: true,
  generation: true,
  nameRule: 'subdomain',
  patch: { mergeKeys: {}, primitiveMerge: new Set() },
  returnDeletedObject: true,
  ...(validate ? { validate } : {}),
});

/** bgppeers, bgpfilters and bgpconfigurations.crd.projectcalico.org. */
export function calicoResources(): ResourceType[] {
  return [
    calicoCrd('bgppeers', 'bgppeer', 'BGPPeer', validatePeer),
    calicoCrd('bgpfilters', 'bgpfilter', 'BGPFilter', validateFilter),
    calicoCrd('bgpconfigurations', 'bgpconfiguration', 'BGPConfiguration'),
  ];
}

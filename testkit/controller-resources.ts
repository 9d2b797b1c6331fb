// admissionregistration.k8s.io/v1 MutatingWebhookConfiguration for the in-process API server
// (tests and the bench): `startApiServer({ resources: controllerResources() })`. It carries the
// parts of the real registry strategy the controller meets: cluster-scoped, no status, webhooks
// merged by name in strategic merge patches, and the validation that rejects a configuration
// the real API would reject (qualified webhook names, failurePolicy, sideEffects, caBundle
// base64, admissionReviewVersions).
import type { ResourceType } from '../src/apiserver/index.js';
import { invalid, notSupported, required, type FieldError } from '../src/apiserver/errors.js';

import type { Obj } from '../src/apiserver/resource-type.js';

const QUALIFIED = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?){2,}$/;

function validateMwc(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  const webhooks: Obj[] = Array.isArray(o.webhooks) ? o.webhooks : [];
  webhooks.forEach((w, i) => {
    const f = `webhooks[${i}]`;
    if (typeof w.name !== 'string' || !QUALIFIED.test(w.name))
      errs.push(invalid(`${f}.name`, w.name, 'should be a domain with at least three segments separated by dots'));
    else if (seen.has(w.name)) errs.push({ type: 'FieldValueDuplicate', field: `${f}.name`, value: w.name });
    seen.add(w.name);
    if (w.failurePolicy !== undefined && !['Ignore', 'Fail'].includes(w.failurePolicy))
      errs.push(notSupported(`${f}.failurePolicy`, w.failurePolicy, ['Fail', 'Ignore']));
    if (w.sideEffects === undefined) errs.push(required(`${f}.sideEffects`));
    else if (!['None', 'NoneOnDryRun'].includes(w.sideEffects)) errs.push(notSupported(`${f}.sideEffects`, w.sideEffects, ['None', 'NoneOnDryRun']));
    if (!Array.isArray(w.admissionReviewVersions) || w.admissionReviewVersions.length === 0) errs.push(required(`${f}.admissionReviewVersions`));
    const ts = w.timeoutSeconds;
    if (ts !== undefined && (!Number.isInteger(ts) || ts < 1 || ts > 30))
      errs.push(invalid(`${f}.timeoutSeconds`, ts, 'the timeout value must be between 1 and 30 seconds'));
    const cc = w.clientConfig ?? {};
    if ((cc.url === undefined) === (cc.service === undefined)) errs.push(required(`${f}.clientConfig`, 'exactly one of url or service is required'));
    const ca = cc.caBundle;
    if (ca !== undefined && (typeof ca !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(ca) || ca.length % 4 !== 0))
      errs.push(invalid(`${f}.clientConfig.caBundle`, '<bytes>', 'illegal base64 data'));
  });
  return errs;
}

export function mutatingWebhookConfigurationResource(): ResourceType {
  return {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    plural: 'mutatingwebhookconfigurations',
    singular: 'mutatingwebhookconfiguration',
    kind: 'MutatingWebhookConfiguration',
    namespaced: false,
    statusSubresource: false,
    custom: false,
    generation: true,
    nameRule: 'subdomain',
    patch: { mergeKeys: { 'metadata.ownerReferences': 'uid', webhooks: 'name' }, primitiveMerge: new Set(['metadata.finalizers']) },
    returnDeletedObject: false,
    defaults: (o) => {
      for (const w of (o.webhooks ?? []) as Obj[]) {
        w.failurePolicy ??= 'Fail';
        w.matchPolicy ??= 'Equivalent';
        w.reinvocationPolicy ??= 'Never';
        w.timeoutSeconds ??= 10;
        w.namespaceSelector ??= {};
        w.objectSelector ??= {};
        if (w.clientConfig?.service) w.clientConfig.service.port ??= 443;
      }
    },
    validate: validateMwc,
  };
}

/** Every kind the controller uses that the in-process API server does not serve by default. */
export function controllerResources(): ResourceType[] {
  return [mutatingWebhookConfigurationResource()];
}

/** The controller Deployment's ServiceAccount (daemonset/controller.yaml), `namespace/name`. */
export const CONTROLLER_SERVICE_ACCOUNT = 'podlb-system/podlb-controller';

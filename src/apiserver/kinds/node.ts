// Nodes: defaults and what an update may change.
import { type FieldError, forbiddenField } from '../errors.js';
import { deepEqual } from '../patch.js';
import type { Obj } from '../resource-type.js';

export function defaultNode(n: Obj): void {
  n.spec ??= {};
  const sp = n.spec;
  if (Array.isArray(sp.podCIDRs) && sp.podCIDRs.length > 0 && !sp.podCIDR) sp.podCIDR = sp.podCIDRs[0];
  if (sp.podCIDR && (!Array.isArray(sp.podCIDRs) || sp.podCIDRs.length === 0)) sp.podCIDRs = [sp.podCIDR];
}

export function validateNodeUpdate(n: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const was: string[] = old.spec?.podCIDRs ?? [];
  const now: string[] = n.spec?.podCIDRs ?? [];
  if (was.length > 0 && !deepEqual(was, now)) errs.push(forbiddenField('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
  if (old.spec?.providerID && n.spec?.providerID !== old.spec.providerID)
    errs.push(forbiddenField('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  return errs;
}

// What a DELETE does to an object (the generic registry's BeforeDelete and graceful deletion):
// mark it with a deletionTimestamp while a grace period runs or finalizers remain, or remove it.
import type { Status } from './errors.js';
import { metaTime } from './formats.js';
import type { Obj, ResourceType } from './resource-type.js';

export type DeletionStep =
  /** Already being deleted no sooner than this request asks. */
  | { kind: 'unchanged' }
  /** Stays, with deletionTimestamp and deletionGracePeriodSeconds set. */
  | { kind: 'mark'; next: Obj }
  | { kind: 'remove'; next: Obj };

export function deletionStep(old: Obj, grace: number, now: Date): DeletionStep {
  const om: Obj = old.metadata;
  const finalizers: string[] = om.finalizers ?? [];
  const next = structuredClone(old);
  const nm: Obj = next.metadata;
  if (om.deletionTimestamp) {
    const oldGrace: number = om.deletionGracePeriodSeconds ?? 0;
    if (oldGrace === 0 || grace >= oldGrace) return { kind: 'unchanged' }; // already deleting, nothing shortens
    // BeforeDelete: a shorter grace period moves the deletion earlier
    const requestedAt = Date.parse(om.deletionTimestamp) - oldGrace * 1000;
    nm.deletionTimestamp = metaTime(new Date(requestedAt + grace * 1000));
    nm.deletionGracePeriodSeconds = grace;
    if (grace > 0 || finalizers.length > 0) return { kind: 'mark', next };
  } else if (grace > 0) {
    nm.deletionTimestamp = metaTime(new Date(now.getTime() + grace * 1000));
    nm.deletionGracePeriodSeconds = grace;
    if (typeof nm.generation === 'number' && nm.generation > 0) nm.generation++;
    return { kind: 'mark', next };
  } else if (finalizers.length > 0) {
    nm.deletionTimestamp = metaTime(now);
    nm.deletionGracePeriodSeconds = 0;
    return { kind: 'mark', next };
  }
  return { kind: 'remove', next };
}

/** The reply to a DELETE that removed the object: the object, or a Success Status, per resource. */
export function deleteResult(rt: ResourceType, o: Obj): Obj | Status {
  if (rt.returnDeletedObject) return structuredClone(o);
  const details: Obj = { name: o.metadata.name, kind: rt.plural, uid: o.metadata.uid };
  if (rt.group !== '') details.group = rt.group;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code: 200 } as Status;
}

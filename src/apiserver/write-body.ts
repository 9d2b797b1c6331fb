// How the body of a write becomes the object the generic registry stores: a PATCH applied to
// the stored object (by media type), and a PUT merged with the stored object as the main
// resource's or the /status subresource's update strategy does. The checks and the commit
// stay in the store.
import { badRequest, unsupportedMediaType } from './errors.js';
import { type Json, applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.js';
import type { Obj, ResourceType, StrategyContext } from './resource-type.js';
import type { PatchType } from './store-options.js';

/** The patch's media type, refused with 415 unless the resource accepts it. */
export function patchMediaType(rt: ResourceType, type: PatchType): string {
  const accepted = rt.custom
    ? ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml']
    : ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
  const t =
    (
      {
        merge: 'application/merge-patch+json',
        json: 'application/json-patch+json',
        strategic: 'application/strategic-merge-patch+json',
        apply: 'application/apply-patch+yaml',
      } as Record<string, string>
    )[type] ?? type;
  if (!accepted.includes(t) || t === 'application/apply-patch+yaml') throw unsupportedMediaType(t, accepted);
  return t;
}

/** The stored object with the patch applied (sharing what it leaves untouched with `old`); it must still be an object with the URL's name and namespace. */
export function patchedObject(rt: ResourceType, old: Obj, t: string, patch: unknown, name: string, namespace: string | undefined): Obj {
  // none of the three patch functions writes to its target (they build new containers along the
  // patched paths), so the stored object is passed as is; the result shares the untouched parts
  // with it until the update takes its own copy
  const current = old as Json;
  let patched: Json;
  if (t === 'application/json-patch+json') patched = applyJsonPatch(current, patch);
  else {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
      throw badRequest('json: cannot unmarshal array into Go value of type map[string]interface {}');
    patched = t === 'application/merge-patch+json' ? applyMergePatch(current, patch as Json) : applyStrategicMergePatch(current, patch as Json, rt.patch);
  }
  if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) throw badRequest('the patch produced a value that is not an object');
  const p = patched as Obj;
  if (p.metadata?.name !== undefined && p.metadata.name !== name)
    throw badRequest(`the name of the object (${p.metadata.name}) does not match the name on the URL (${name})`);
  if (rt.namespaced && p.metadata?.namespace !== undefined && p.metadata.namespace !== namespace)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  return p;
}

/**
 * The object an update stores: for /status, the stored object with the request's status (and,
 * for built-in kinds, its metadata); otherwise the request with the stored status kept when
 * the resource has a status subresource. The stored identity (name, uid, creationTimestamp,
 * resourceVersion, deletion state, generation) always wins over the request's.
 */
export function mergedForUpdate(rt: ResourceType, o: Obj, old: Obj, name: string, status: boolean, ctx: StrategyContext): Obj {
  const meta: Obj = o.metadata;
  const om: Obj = old.metadata;
  meta.name = name;
  meta.uid = om.uid;
  meta.creationTimestamp = om.creationTimestamp;
  meta.resourceVersion = om.resourceVersion;
  for (const f of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
    if (om[f] === undefined) delete meta[f];
    else meta[f] = om[f];
  }
  if (meta.managedFields !== undefined) delete meta.managedFields;
  let next: Obj;
  if (status) {
    if (rt.custom) {
      // customResourceStatusStrategy: everything but .status comes from the stored object
      next = storedExcept(old, { status: o.status });
    } else {
      // built-in status strategies: spec from the stored object, metadata from the request
      next = storedExcept(old, { metadata: meta, status: o.status });
      if (rt.kind === 'Pod') {
        if (om.ownerReferences === undefined) delete meta.ownerReferences;
        else meta.ownerReferences = structuredClone(om.ownerReferences);
      }
    }
    rt.defaults?.(next);
  } else {
    next = o;
    if (rt.statusSubresource) {
      if (old.status === undefined) delete next.status;
      else next.status = structuredClone(old.status);
    }
    rt.defaults?.(next);
    rt.prepareForUpdate?.(next, old, ctx);
  }
  return next;
}

/**
 * A copy of the stored object (in its key order) with the fields of `from` taken from there,
 * an undefined one dropped: what `from` replaces is not copied, since a status write replaces
 * the largest parts (status, and metadata for built-in kinds).
 */
function storedExcept(old: Obj, from: Obj): Obj {
  const next: Obj = {};
  for (const k of Object.keys(old)) {
    if (!Object.hasOwn(from, k)) next[k] = structuredClone(old[k]);
    else if (from[k] !== undefined) next[k] = from[k];
  }
  for (const k of Object.keys(from)) if (!Object.hasOwn(old, k) && from[k] !== undefined) next[k] = from[k];
  return next;
}

/**
 * The request body as the update works on it, private to the request: for a status update only
 * its metadata and status are copied, as the rest of the stored object comes from the stored one
 * (mergedForUpdate) and the request's other fields are only read.
 */
export function requestCopy(body: Obj, status: boolean): Obj {
  if (!status) return structuredClone(body);
  const o: Obj = { ...body };
  for (const k of ['metadata', 'status'] as const) if (Object.hasOwn(o, k)) o[k] = structuredClone(o[k]);
  return o;
}

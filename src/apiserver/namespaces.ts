// Namespace deletion as the namespace controller does it: the namespace turns Terminating, its
// content is deleted, and it goes away once nothing is left in it. The system namespaces stay.
import { forbidden } from './errors.js';
import { metaTime } from './formats.js';
import type { Obj } from './resource-type.js';
import type { HistoryEvent, ResourceState } from './watch.js';

export const PROTECTED_NAMESPACES: ReadonlySet<string> = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);

/** What namespace deletion needs of the object store. */
export interface NamespaceStore {
  now(): Date;
  commit(st: ResourceState, key: string, type: HistoryEvent['type'], obj: Obj, prev: Obj | undefined): Obj;
  states(): Iterable<ResourceState>;
  namespaces(): ResourceState;
  /** Deletes an object with grace period 0. */
  remove(st: ResourceState, name: string, namespace: string): void;
}

/** DELETE of a namespace: Terminating now, its content deleted right after this request. */
export function terminateNamespace(store: NamespaceStore, st: ResourceState, old: Obj, dryRun: boolean): Obj {
  const name: string = old.metadata.name;
  if (PROTECTED_NAMESPACES.has(name)) throw forbidden({ group: '', resource: 'namespaces' }, name, 'this namespace may not be deleted');
  if (old.metadata.deletionTimestamp) return structuredClone(old);
  const next = structuredClone(old);
  next.metadata.deletionTimestamp = metaTime(store.now());
  next.metadata.deletionGracePeriodSeconds = 0;
  next.status = { ...(next.status ?? {}), phase: 'Terminating' };
  if (dryRun) return structuredClone(next);
  const out = structuredClone(store.commit(st, name, 'MODIFIED', next, old));
  queueMicrotask(() => {
    for (const s of store.states()) {
      if (!s.rt.namespaced) continue;
      for (const o of [...s.objects.values()]) {
        if (o.metadata.namespace !== name) continue;
        try {
          store.remove(s, o.metadata.name, name);
        } catch {
          // already gone
        }
      }
    }
    finishNamespaceIfEmpty(store, name);
  });
  return out;
}

/** Removes a Terminating namespace once no object is left in it. */
export function finishNamespaceIfEmpty(store: NamespaceStore, ns: string | undefined): void {
  if (!ns) return;
  const nsState = store.namespaces();
  const o = nsState.objects.get(ns);
  if (o?.status?.phase !== 'Terminating') return;
  for (const s of store.states()) {
    if (!s.rt.namespaced) continue;
    for (const x of s.objects.values()) if (x.metadata.namespace === ns) return;
  }
  const next = structuredClone(o);
  next.spec = { ...(next.spec ?? {}), finalizers: [] };
  store.commit(nsState, ns, 'DELETED', next, o);
}

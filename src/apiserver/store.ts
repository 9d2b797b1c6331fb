// The object store behind the API server: one global resourceVersion and the generic
// registry's create/update/patch/delete flow (strategies from resources.ts). Reads are served
// from the watch cache (watch.ts: history and watchers; list.ts: pages).
import { randomUUID } from 'node:crypto';
import {
  ApiError,
  type FieldError,
  alreadyExists,
  badRequest,
  conflict,
  failure,
  forbiddenField,
  invalid,
  invalidError,
  notFound,
  staleConflict,
  type Status,
} from './errors.js';
import { deepEqual } from './patch.js';
import { type Obj, type ResourceType, type StrategyContext, apiVersionOf } from './resource-type.js';
import { builtinResources } from './resources.js';
import { objectPredicate } from './selectors.js';
import { type AdmissionReader, admit } from './admission.js';
import { deleteResult, deletionStep } from './deletion.js';
import { metaTime } from './formats.js';
import { listPage } from './list.js';
import { finishNamespaceIfEmpty, PROTECTED_NAMESPACES, terminateNamespace, type NamespaceStore } from './namespaces.js';
import { checkTypeMeta, generateName } from './object-meta.js';
import type { DeleteOptions, ListOptions, PatchOptions, PatchType, WriteOptions } from './store-options.js';
import { ServiceAddresses } from './service-addresses.js';
import { type HistoryEvent, type ResourceState, type WatchEvent, type WatchHandle, type WatchOptions, recordEvent, startWatch } from './watch.js';
import { IN_PROCESS_USER } from './user.js';
import { mergedForUpdate, patchedObject, patchMediaType, requestCopy } from './write-body.js';
import { validateObjectMeta } from './validation.js';

export type { Obj } from './resource-type.js';
export type { WatchEvent, WatchEventType, WatchHandle, WatchOptions } from './watch.js';
export type { DeleteOptions, ListOptions, PatchOptions, PatchType, WriteOptions } from './store-options.js';

export interface StoreOptions {
  historySize?: number;
  resources?: ResourceType[];
  now?: () => Date;
}

export class ObjectStore {
  #rv = 0;
  #states = new Map<string, ResourceState>();
  #byName = new Map<string, ResourceState>();
  #historySize: number;
  #now: () => Date;
  #ctx: StrategyContext;

  constructor(opts: StoreOptions = {}) {
    this.#historySize = opts.historySize ?? 1000;
    this.#now = opts.now ?? (() => new Date());
    for (const rt of [...builtinResources(), ...(opts.resources ?? [])]) this.register(rt);
    const ips = new ServiceAddresses();
    this.#ctx = {
      allocateClusterIP: (family) => ips.clusterIP(family),
      nextNodePort: (taken) => ips.nodePort(taken),
      stored: (plural) => this.#state(plural).objects.values(),
      now: () => this.#now(),
    };
    for (const ns of PROTECTED_NAMESPACES) this.create('namespaces', { metadata: { name: ns } });
  }

  /** Add a resource type (e.g. another CRD). */
  register(rt: ResourceType): void {
    const id = `${rt.group}/${rt.version}/${rt.plural}`;
    const st: ResourceState = { rt, objects: new Map(), history: [], horizon: this.#rv, watchers: new Set() };
    this.#states.set(id, st);
    this.#byName.set(rt.group === '' ? rt.plural : `${rt.plural}.${rt.group}`, st);
    if (!this.#byName.has(rt.plural)) this.#byName.set(rt.plural, st);
  }

  resources(): ResourceType[] {
    return [...this.#states.values()].map((s) => s.rt);
  }

  /** The type registered as `plural`, `plural.group` or `group/version/plural`. */
  resourceType(resource: string): ResourceType | undefined {
    return (this.#byName.get(resource) ?? this.#states.get(resource))?.rt;
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  #state(resource: string): ResourceState {
    const st = this.#byName.get(resource) ?? this.#states.get(resource);
    if (!st) throw failure(404, 'NotFound', `the server could not find the requested resource (${resource})`);
    return st;
  }

  #gr(rt: ResourceType): { group: string; resource: string } {
    return { group: rt.group, resource: rt.plural };
  }

  #key(rt: ResourceType, name: string, namespace: string | undefined): string {
    return rt.namespaced ? `${namespace ?? ''}/${name}` : name;
  }

  #out(_rt: ResourceType, o: Obj, opts: WriteOptions = {}): Obj {
    return opts.shareResult ? o : structuredClone(o);
  }

  // ---------------- reads ----------------

  get(resource: string, name: string, namespace?: string): Obj {
    const st = this.#state(resource);
    const o = st.objects.get(this.#key(st.rt, name, namespace));
    if (!o) throw notFound(this.#gr(st.rt), name);
    return this.#out(st.rt, o);
  }

  /** Like get, but undefined instead of 404. */
  tryGet(resource: string, name: string, namespace?: string): Obj | undefined {
    const st = this.#state(resource);
    const o = st.objects.get(this.#key(st.rt, name, namespace));
    return o ? this.#out(st.rt, o) : undefined;
  }

  list(resource: string, opts: ListOptions = {}): Obj {
    const st = this.#state(resource);
    return listPage(st, objectPredicate(st.rt, opts), opts, this.#rv, (name, namespace) => this.#key(st.rt, name, namespace));
  }

  /** As list, in key order, but the stored objects themselves, as an informer's cache shares them: for in-process readers that never write to them. */
  scan(resource: string, opts: ListOptions = {}): readonly Obj[] {
    const st = this.#state(resource);
    const match = objectPredicate(st.rt, opts);
    return [...st.objects.keys()].sort().flatMap((k) => (match(st.objects.get(k)!) ? [st.objects.get(k)!] : []));
  }

  // ---------------- watch ----------------

  /** Watch a resource in-process; returns the function that stops the watch. */
  watch(resource: string, opts: WatchOptions, cb: (ev: WatchEvent) => void): () => void {
    const h = this.openWatch(resource, opts, cb);
    return () => h.close();
  }

  openWatch(resource: string, opts: WatchOptions, cb: (ev: WatchEvent) => void, onClose: () => void = () => undefined): WatchHandle {
    const st = this.#state(resource);
    return startWatch(st, objectPredicate(st.rt, opts), cb, opts.resourceVersion ?? '', () => this.#rv, onClose, opts.shared === true);
  }

  /** Expire all history: a watch or a consistent list from any older resourceVersion gets 410. */
  compact(): void {
    for (const st of this.#states.values()) {
      st.history = [];
      st.horizon = this.#rv;
    }
  }

  // ---------------- writes ----------------

  #commit(st: ResourceState, key: string, type: HistoryEvent['type'], obj: Obj, prev: Obj | undefined): Obj {
    const rv = ++this.#rv;
    obj.metadata.resourceVersion = String(rv);
    if (type === 'DELETED') st.objects.delete(key);
    else st.objects.set(key, obj);
    recordEvent(st, { rv, type, key, obj, prev }, this.#historySize);
    if (type === 'DELETED' && st.rt.namespaced) finishNamespaceIfEmpty(this.#namespaces, obj.metadata.namespace);
    return obj;
  }

  readonly #namespaces: NamespaceStore = {
    now: () => this.#now(),
    commit: (st, key, type, obj, prev) => this.#commit(st, key, type, obj, prev),
    states: () => this.#states.values(),
    namespaces: () => this.#state('namespaces'),
    remove: (s, name, namespace) => void this.delete(`${s.rt.group}/${s.rt.version}/${s.rt.plural}`, name, namespace, { gracePeriodSeconds: 0 }),
  };

  /** Validating admission (ValidatingAdmissionPolicy), after validation, before the write. */
  #admit(req: Parameters<typeof admit>[0]): void {
    admit(req, this.#admissionReader);
  }

  readonly #admissionReader: AdmissionReader = {
    list: (resource) => {
      const st = this.#byName.get(resource) ?? this.#states.get(resource);
      return st ? [...st.objects.values()] : [];
    },
    get: (resource, name, namespace) => {
      const st = this.#byName.get(resource) ?? this.#states.get(resource);
      return st?.objects.get(this.#key(st.rt, name, namespace));
    },
    typeOf: (apiVersion, kind) => [...this.#states.values()].find((s) => apiVersionOf(s.rt) === apiVersion && s.rt.kind === kind)?.rt,
  };

  #invalid(rt: ResourceType, name: string, errs: FieldError[]): void {
    if (errs.length > 0) throw invalidError(rt.group, rt.kind, name, errs);
  }

  create(resource: string, body: Obj, opts: WriteOptions = {}): Obj {
    const st = this.#state(resource);
    const rt = st.rt;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body of the request must be an object');
    const o = structuredClone(body);
    checkTypeMeta(rt, o);
    o.metadata ??= {};
    const meta: Obj = o.metadata;
    if (rt.namespaced) {
      if (opts.namespace && meta.namespace && meta.namespace !== opts.namespace)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = meta.namespace || opts.namespace || '';
    } else delete meta.namespace;
    if ((!meta.name || meta.name === '') && typeof meta.generateName === 'string' && meta.generateName !== '')
      meta.name = generateName(meta.generateName, (n) => st.objects.has(this.#key(st.rt, n, meta.namespace)));
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') throw badRequest('resourceVersion should not be set on objects to be created');
    if (rt.namespaced && meta.namespace) {
      const ns = this.#state('namespaces').objects.get(meta.namespace);
      if (!ns) throw notFound({ group: '', resource: 'namespaces' }, meta.namespace);
      if (ns.status?.phase === 'Terminating')
        throw failure(
          403,
          'Forbidden',
          `${rt.group === '' ? rt.plural : `${rt.plural}.${rt.group}`} "${meta.name ?? ''}" is forbidden: unable to create new content in namespace ${meta.namespace} because it is being terminated`,
          {
            name: meta.name,
            kind: rt.plural,
            causes: [{ reason: 'NamespaceTerminating', message: `namespace ${meta.namespace} is being terminated`, field: 'metadata.namespace' }],
          },
        );
    }
    meta.uid = randomUUID();
    meta.creationTimestamp = metaTime(this.#now());
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    if (rt.generation) meta.generation = 1;
    else delete meta.generation;
    rt.defaults?.(o);
    if (rt.custom && rt.statusSubresource) delete o.status;
    rt.prepareForCreate?.(o, this.#ctx);
    this.#invalid(rt, meta.name ?? '', [
      ...validateObjectMeta(meta, rt.nameRule, rt.namespaced),
      ...(rt.validate?.(o) ?? []),
      ...(rt.validateWrite?.(o, undefined) ?? []),
    ]);
    this.#admit({
      rt,
      operation: 'CREATE',
      name: meta.name ?? '',
      namespace: meta.namespace,
      object: o,
      oldObject: null,
      user: opts.user ?? IN_PROCESS_USER,
      ...(opts.dryRun ? { dryRun: true } : {}),
    });
    const key = this.#key(rt, meta.name, meta.namespace);
    if (st.objects.has(key)) throw alreadyExists(this.#gr(rt), meta.name);
    if (opts.dryRun) return this.#out(rt, o, opts);
    return this.#out(rt, this.#commit(st, key, 'ADDED', o, undefined), opts);
  }

  /** PUT on the main resource. */
  update(resource: string, body: Obj, opts: WriteOptions & { name?: string } = {}): Obj {
    return this.#update(this.#state(resource), body, opts, false, false);
  }

  /** PUT on the status subresource. */
  updateStatus(resource: string, body: Obj, opts: WriteOptions & { name?: string } = {}): Obj {
    const st = this.#state(resource);
    if (!st.rt.statusSubresource) throw failure(404, 'NotFound', `the server could not find the requested resource (put ${st.rt.plural} status)`);
    return this.#update(st, body, opts, true, false);
  }

  #update(st: ResourceState, body: Obj, opts: WriteOptions & { name?: string }, status: boolean, fromPatch: boolean): Obj {
    const rt = st.rt;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body of the request must be an object');
    const o = requestCopy(body, status);
    checkTypeMeta(rt, o);
    o.metadata ??= {};
    const meta: Obj = o.metadata;
    const name: string = opts.name ?? meta.name ?? '';
    if (meta.name !== undefined && meta.name !== name) throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
    if (rt.namespaced) {
      if (opts.namespace && meta.namespace && meta.namespace !== opts.namespace)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = meta.namespace || opts.namespace || '';
    } else delete meta.namespace;
    const key = this.#key(rt, name, meta.namespace);
    const old = st.objects.get(key);
    if (!old) throw notFound(this.#gr(rt), name);
    const om: Obj = old.metadata;
    if (meta.resourceVersion === undefined || meta.resourceVersion === '') {
      if (rt.custom && !fromPatch) this.#invalid(rt, name, [invalid('metadata.resourceVersion', '0x0', 'must be specified for an update')]);
    } else if (meta.resourceVersion !== om.resourceVersion) throw staleConflict(this.#gr(rt), name);
    const errs: FieldError[] = [];
    if (meta.uid !== undefined && meta.uid !== '' && meta.uid !== om.uid) errs.push(invalid('metadata.uid', meta.uid, 'field is immutable'));
    if (meta.creationTimestamp && meta.creationTimestamp !== om.creationTimestamp) {
      // rest.BeforeUpdate silently keeps the old value
    }
    const next = mergedForUpdate(rt, o, old, name, status, this.#ctx);
    const nm: Obj = next.metadata;
    if (om.deletionTimestamp) {
      const oldF: string[] = om.finalizers ?? [];
      const added = ((nm.finalizers ?? []) as string[]).filter((f) => !oldF.includes(f));
      if (added.length > 0)
        errs.push(
          forbiddenField('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`),
        );
    }
    errs.push(...validateObjectMeta(nm, rt.nameRule, rt.namespaced));
    if (status) errs.push(...(rt.validateStatus?.(next, old) ?? []));
    else errs.push(...(rt.validate?.(next) ?? []), ...(rt.validateUpdate?.(next, old) ?? []));
    errs.push(...(rt.validateWrite?.(next, old) ?? []));
    this.#invalid(rt, name, errs);
    this.#admit({
      rt,
      operation: 'UPDATE',
      ...(status ? { subResource: 'status' } : {}),
      name,
      namespace: meta.namespace,
      object: next,
      oldObject: old,
      user: opts.user ?? IN_PROCESS_USER,
      ...(opts.dryRun ? { dryRun: true } : {}),
    });
    if (rt.generation && !status) {
      const strip = (x: Obj): Obj => {
        const { metadata: _m, status: _s, ...rest } = x;
        return rest;
      };
      if (!deepEqual(strip(old), strip(next))) nm.generation = (om.generation ?? 0) + 1;
    }
    // etcd3 GuaranteedUpdate: an update that changes nothing is not written and sends no event
    if (deepEqual(next, old)) return this.#out(rt, old, opts);
    if (opts.dryRun) return this.#out(rt, next, opts);
    // Store.shouldDeleteDuringUpdate: the last finalizer went away and the deletion is due
    if ((nm.finalizers ?? []).length === 0 && om.deletionTimestamp && (om.deletionGracePeriodSeconds ?? 0) === 0)
      return this.#out(rt, this.#commit(st, key, 'DELETED', next, old), opts);
    return this.#out(rt, this.#commit(st, key, 'MODIFIED', next, old), opts);
  }

  patch(resource: string, name: string, namespace: string | undefined, type: PatchType, patch: unknown, opts: PatchOptions = {}): Obj {
    const st = this.#state(resource);
    const rt = st.rt;
    if (opts.subresource === 'status' && !rt.statusSubresource)
      throw failure(404, 'NotFound', `the server could not find the requested resource (patch ${rt.plural} ${name})`);
    const t = patchMediaType(rt, type);
    const key = this.#key(rt, name, namespace);
    const old = st.objects.get(key);
    if (!old) throw notFound(this.#gr(rt), name);
    const p = patchedObject(rt, old, t, patch, name, namespace);
    return this.#update(st, p, { ...opts, name, ...(namespace !== undefined ? { namespace } : {}) }, opts.subresource === 'status', true);
  }

  delete(resource: string, name: string, namespace?: string, opts: DeleteOptions = {}): Obj | Status {
    const st = this.#state(resource);
    const rt = st.rt;
    const key = this.#key(rt, name, namespace);
    const old = st.objects.get(key);
    if (!old) throw notFound(this.#gr(rt), name);
    const om: Obj = old.metadata;
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== om.uid)
      throw conflict(this.#gr(rt), name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${om.uid}`);
    if (pre?.resourceVersion && pre.resourceVersion !== om.resourceVersion)
      throw conflict(
        this.#gr(rt),
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${om.resourceVersion}`,
      );
    if (opts.gracePeriodSeconds !== undefined && (!Number.isInteger(opts.gracePeriodSeconds) || opts.gracePeriodSeconds < 0))
      this.#invalid(rt, name, [invalid('gracePeriodSeconds', opts.gracePeriodSeconds, 'must be greater than or equal to 0')]);
    this.#admit({
      rt,
      operation: 'DELETE',
      name,
      namespace,
      object: null,
      oldObject: old,
      user: opts.user ?? IN_PROCESS_USER,
      ...(opts.dryRun ? { dryRun: true } : {}),
    });
    if (rt.plural === 'namespaces' && rt.group === '') return terminateNamespace(this.#namespaces, st, old, opts.dryRun === true);
    const grace = rt.gracePeriod ? (rt.gracePeriod(old, opts.gracePeriodSeconds) ?? 0) : 0;
    const step = deletionStep(old, grace, this.#now());
    if (step.kind === 'unchanged') return this.#out(rt, old);
    if (step.kind === 'mark') {
      if (opts.dryRun) return this.#out(rt, step.next);
      return this.#out(rt, this.#commit(st, key, 'MODIFIED', step.next, old));
    }
    if (opts.dryRun) return deleteResult(rt, step.next);
    return deleteResult(rt, this.#commit(st, key, 'DELETED', step.next, old));
  }
}

export { ApiError };

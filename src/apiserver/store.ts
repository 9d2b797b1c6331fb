// The object store behind the API server: one global resourceVersion, per-resource history ring
// buffers (the watch cache), watchers with the cacheWatcher's selector-transition semantics, and
// the generic registry's create/update/patch/delete flow (strategies from resources.ts).
import { randomBytes, randomUUID } from 'node:crypto';
import {
  ApiError,
  type FieldError,
  alreadyExists,
  badRequest,
  expired,
  failure,
  forbidden,
  forbiddenField,
  invalid,
  invalidError,
  notFound,
  staleConflict,
  timeout,
  tooOldResourceVersion,
  unsupportedMediaType,
  conflict,
  type Status,
} from './errors.js';
import { type Json, applyJsonPatch, applyMergePatch, applyStrategicMergePatch, deepEqual } from './patch.js';
import { type Obj, type ResourceType, type StrategyContext, apiVersionOf, builtinResources } from './resources.js';
import { type FieldRequirement, type LabelRequirement, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { type AdmissionReader, admit } from './admission.js';
import { IN_PROCESS_USER, type UserInfo } from './user.js';
import { validateObjectMeta } from './validation.js';

export type { Obj } from './resources.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
export interface WatchEvent {
  type: WatchEventType;
  object: Obj;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** unset or "0": synthetic ADDED for every current object, then changes; "N": every change after N. */
  resourceVersion?: string;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** Who writes (authentication fills it from the request); in-process writes default to IN_PROCESS_USER. */
  user?: UserInfo;
  /** For namespaced resources when the object does not name its namespace. */
  namespace?: string;
}

export interface DeleteOptions {
  /** Who deletes; in-process deletes default to IN_PROCESS_USER. */
  user?: UserInfo;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  dryRun?: boolean;
}

/** Patch types by Content-Type (client-node's PatchStrategy values) or short name. */
export type PatchType =
  | 'application/merge-patch+json'
  | 'application/json-patch+json'
  | 'application/strategic-merge-patch+json'
  | 'application/apply-patch+yaml'
  | 'merge'
  | 'json'
  | 'strategic'
  | 'apply';

export interface PatchOptions {
  subresource?: 'status';
  /** Who patches; in-process patches default to IN_PROCESS_USER. */
  user?: UserInfo;
  dryRun?: boolean;
}

interface HistoryEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  key: string;
  obj: Obj;
  prev: Obj | undefined;
}

interface ResourceState {
  rt: ResourceType;
  objects: Map<string, Obj>;
  history: HistoryEvent[];
  /** Every event of this resource with rv > horizon is in `history`. */
  horizon: number;
  watchers: Set<Watcher>;
}

export interface WatchHandle {
  close(): void;
  /** Queue a BOOKMARK carrying the current resourceVersion (in order with the other events). */
  bookmark(): void;
  readonly closed: boolean;
}

class Watcher implements WatchHandle {
  #queue: WatchEvent[] = [];
  #scheduled = false;
  #closed = false;
  lastRv = 0;
  constructor(
    readonly state: ResourceState,
    readonly matches: (o: Obj) => boolean,
    readonly cb: (ev: WatchEvent) => void,
    readonly currentRv: () => number,
    readonly onClose: () => void,
  ) {}
  get closed(): boolean {
    return this.#closed;
  }
  offer(ev: HistoryEvent): void {
    if (this.#closed || ev.rv <= this.lastRv) return;
    this.lastRv = ev.rv;
    // cacheWatcher.convertToWatchEvent
    const cur = ev.type !== 'DELETED' && this.matches(ev.obj);
    const old = ev.prev !== undefined && this.matches(ev.prev);
    if (cur && !old) this.push({ type: 'ADDED', object: ev.obj });
    else if (cur && old) this.push({ type: 'MODIFIED', object: ev.obj });
    else if (!cur && old) {
      const o = structuredClone(ev.prev!);
      o.metadata.resourceVersion = String(ev.rv);
      this.push({ type: 'DELETED', object: o });
    }
  }
  push(ev: WatchEvent): void {
    if (this.#closed) return;
    this.#queue.push(ev);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#drain());
    }
  }
  #drain(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0 && !this.#closed) {
      const ev = this.#queue.shift()!;
      try {
        this.cb({ type: ev.type, object: structuredClone(ev.object) });
      } catch {
        // a watcher's callback failing must not break the others
      }
      if (ev.type === 'ERROR') this.close();
    }
  }
  bookmark(): void {
    const rt = this.state.rt;
    this.push({ type: 'BOOKMARK', object: { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(this.currentRv()) } } });
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.state.watchers.delete(this);
    this.onClose();
  }
}

const protectedNamespaces = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
const nameSuffixChars = 'bcdfghjklmnpqrstvwxz2456789';

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: string; rv?: number; start?: string };
    if (c.v !== 'meta.k8s.io/v1' || typeof c.rv !== 'number' || typeof c.start !== 'string') throw new Error('bad');
    return { rv: c.rv, start: c.start };
  } catch {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

function parseRv(s: string, what = 'resourceVersion'): number {
  if (!/^\d+$/.test(s)) throw badRequest(`invalid ${what}: ${JSON.stringify(s)}`);
  return Number(s);
}

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
  #usedIPs = new Set<string>();
  #nextV4 = 10;
  #nextV6 = 10;
  #nextNodePort = 30000;
  #ctx: StrategyContext;

  constructor(opts: StoreOptions = {}) {
    this.#historySize = opts.historySize ?? 1000;
    this.#now = opts.now ?? (() => new Date());
    for (const rt of [...builtinResources(), ...(opts.resources ?? [])]) this.register(rt);
    this.#ctx = {
      allocateClusterIP: (family) => {
        for (;;) {
          const ip =
            family === 'IPv4'
              ? `10.${96 + Math.floor(this.#nextV4 / 65536)}.${Math.floor(this.#nextV4 / 256) % 256}.${this.#nextV4 % 256}`
              : `fd00:10:96::${(this.#nextV6).toString(16)}`;
          if (family === 'IPv4') this.#nextV4++;
          else this.#nextV6++;
          if (!this.#usedIPs.has(ip)) {
            this.#usedIPs.add(ip);
            return ip;
          }
        }
      },
      allocateNodePort: () => this.#nextNodePort++,
      release: () => undefined,
      now: () => this.#now(),
    };
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) this.create('namespaces', { metadata: { name: ns } });
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

  #out(_rt: ResourceType, o: Obj): Obj {
    const c = structuredClone(o);
    return c;
  }

  #fields(rt: ResourceType, o: Obj): Record<string, string> {
    const f: Record<string, string> = { 'metadata.name': o.metadata?.name ?? '' };
    if (rt.namespaced) f['metadata.namespace'] = o.metadata?.namespace ?? '';
    return { ...f, ...(rt.fieldLabels?.(o) ?? {}) };
  }

  #predicate(rt: ResourceType, opts: { namespace?: string; labelSelector?: string; fieldSelector?: string }): (o: Obj) => boolean {
    const labels: LabelRequirement[] = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : [];
    const fields: FieldRequirement[] = opts.fieldSelector ? parseFieldSelector(opts.fieldSelector) : [];
    const known = new Set(Object.keys(this.#fields(rt, { metadata: {} })));
    for (const f of fields) if (!known.has(f.field)) throw badRequest(`field label not supported: ${f.field}`);
    const ns = rt.namespaced ? opts.namespace : undefined;
    return (o) => (!ns || o.metadata?.namespace === ns) && matchesLabels(labels, o.metadata?.labels) && matchesFields(fields, this.#fields(rt, o));
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
    const rt = st.rt;
    const pred = this.#predicate(rt, opts);
    let atRv = this.#rv;
    let start = '';
    let objects: Map<string, Obj> = st.objects;
    if (opts.continue) {
      const c = decodeContinue(opts.continue);
      if (opts.resourceVersion) throw badRequest('specifying resource version is not allowed when using continue');
      if (c.rv < st.horizon)
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      atRv = c.rv;
      start = c.start;
      objects = this.#stateAt(st, atRv);
    } else if (opts.resourceVersion && opts.resourceVersion !== '0') {
      const rv = parseRv(opts.resourceVersion);
      if (rv > this.#rv) throw timeout(`Too large resource version: ${rv}, current: ${this.#rv}`);
      if (opts.resourceVersionMatch === 'Exact') {
        if (rv < st.horizon) throw tooOldResourceVersion(rv, st.horizon + 1);
        atRv = rv;
        objects = this.#stateAt(st, rv);
      }
    } else if (opts.resourceVersionMatch === 'Exact') {
      throw invalidError('meta.k8s.io', 'ListOptions', '', [invalid('resourceVersionMatch', 'Exact', 'resourceVersionMatch is forbidden unless resourceVersion is provided')]);
    }
    // resourceVersion=0 is served from the watch cache, which ignores limit
    const limit = opts.resourceVersion === '0' ? 0 : opts.limit ?? 0;
    const keys = [...objects.keys()].sort();
    const items: Obj[] = [];
    let cont: string | undefined;
    let remaining = 0;
    for (const k of keys) {
      if (start && k < start) continue;
      const o = objects.get(k)!;
      if (!pred(o)) continue;
      if (limit > 0 && items.length >= limit) {
        if (cont === undefined) cont = encodeContinue(atRv, `${this.#key(rt, items[items.length - 1]!.metadata.name, items[items.length - 1]!.metadata.namespace)}\u0000`);
        remaining++;
        continue;
      }
      items.push(this.#listItem(rt, o));
    }
    const metadata: Obj = { resourceVersion: String(atRv) };
    if (cont !== undefined) {
      metadata.continue = cont;
      if (!opts.labelSelector && !opts.fieldSelector) metadata.remainingItemCount = remaining;
    }
    return { apiVersion: apiVersionOf(rt), kind: `${rt.kind}List`, metadata, items };
  }

  #listItem(rt: ResourceType, o: Obj): Obj {
    const c = structuredClone(o);
    if (!rt.custom) {
      // built-in lists carry no TypeMeta on their items, as the real API encodes them
      delete c.apiVersion;
      delete c.kind;
    }
    return c;
  }

  /** The objects of a resource as they were at `rv` (undo the history after it). */
  #stateAt(st: ResourceState, rv: number): Map<string, Obj> {
    const m = new Map(st.objects);
    for (let i = st.history.length - 1; i >= 0; i--) {
      const ev = st.history[i]!;
      if (ev.rv <= rv) break;
      if (ev.prev === undefined) m.delete(ev.key);
      else m.set(ev.key, ev.prev);
    }
    return m;
  }

  // ---------------- watch ----------------

  /** Watch a resource in-process; returns the function that stops the watch. */
  watch(resource: string, opts: WatchOptions, cb: (ev: WatchEvent) => void): () => void {
    const h = this.openWatch(resource, opts, cb);
    return () => h.close();
  }

  openWatch(resource: string, opts: WatchOptions, cb: (ev: WatchEvent) => void, onClose: () => void = () => undefined): WatchHandle {
    const st = this.#state(resource);
    const pred = this.#predicate(st.rt, opts);
    const w = new Watcher(st, pred, cb, () => this.#rv, onClose);
    const rvText = opts.resourceVersion ?? '';
    if (rvText === '' || rvText === '0') {
      const keys = [...st.objects.keys()].sort();
      for (const k of keys) {
        const o = st.objects.get(k)!;
        if (pred(o)) w.push({ type: 'ADDED', object: o });
      }
    } else {
      const rv = parseRv(rvText);
      if (rv < st.horizon) {
        w.push({ type: 'ERROR', object: tooOldResourceVersion(rv, st.horizon + 1).status as unknown as Obj });
        return w;
      }
      if (rv > this.#rv) {
        w.push({ type: 'ERROR', object: timeout(`Too large resource version: ${rv}, current: ${this.#rv}`).status as unknown as Obj });
        return w;
      }
      for (const ev of st.history) if (ev.rv > rv) w.offer(ev);
    }
    w.lastRv = this.#rv;
    st.watchers.add(w);
    return w;
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
    const ev: HistoryEvent = { rv, type, key, obj, prev };
    st.history.push(ev);
    while (st.history.length > this.#historySize) st.horizon = st.history.shift()!.rv;
    for (const w of st.watchers) w.offer(ev);
    if (type === 'DELETED' && st.rt.namespaced) this.#maybeFinishNamespace(obj.metadata.namespace);
    return obj;
  }

  #checkTypeMeta(rt: ResourceType, o: Obj): void {
    const av = apiVersionOf(rt);
    if (o.apiVersion !== undefined && o.apiVersion !== '' && o.apiVersion !== av)
      throw badRequest(`the API version in the data (${o.apiVersion}) does not match the expected API version (${av})`);
    if (o.kind !== undefined && o.kind !== '' && o.kind !== rt.kind) throw badRequest(`the kind in the data (${o.kind}) does not match the expected kind (${rt.kind})`);
    o.apiVersion = av;
    o.kind = rt.kind;
  }

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

  #generateName(st: ResourceState, base: string, namespace: string | undefined): string {
    const b = base.length > 58 ? base.slice(0, 58) : base;
    for (;;) {
      const bytes = randomBytes(5);
      let s = '';
      for (const x of bytes) s += nameSuffixChars[x % nameSuffixChars.length];
      const name = b + s;
      if (!st.objects.has(this.#key(st.rt, name, namespace))) return name;
    }
  }

  create(resource: string, body: Obj, opts: WriteOptions = {}): Obj {
    const st = this.#state(resource);
    const rt = st.rt;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body of the request must be an object');
    const o = structuredClone(body);
    this.#checkTypeMeta(rt, o);
    o.metadata ??= {};
    const meta: Obj = o.metadata;
    if (rt.namespaced) {
      if (opts.namespace && meta.namespace && meta.namespace !== opts.namespace)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = meta.namespace || opts.namespace || '';
    } else delete meta.namespace;
    if ((!meta.name || meta.name === '') && typeof meta.generateName === 'string' && meta.generateName !== '')
      meta.name = this.#generateName(st, meta.generateName, meta.namespace);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') throw badRequest('resourceVersion should not be set on objects to be created');
    if (rt.namespaced && meta.namespace) {
      const ns = this.#state('namespaces').objects.get(meta.namespace);
      if (!ns) throw notFound({ group: '', resource: 'namespaces' }, meta.namespace);
      if (ns.status?.phase === 'Terminating')
        throw failure(403, 'Forbidden', `${rt.group === '' ? rt.plural : `${rt.plural}.${rt.group}`} "${meta.name ?? ''}" is forbidden: unable to create new content in namespace ${meta.namespace} because it is being terminated`, {
          name: meta.name,
          kind: rt.plural,
          causes: [{ reason: 'NamespaceTerminating', message: `namespace ${meta.namespace} is being terminated`, field: 'metadata.namespace' }],
        });
    }
    meta.uid = randomUUID();
    meta.creationTimestamp = rfc3339(this.#now());
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    if (rt.generation) meta.generation = 1;
    else delete meta.generation;
    rt.defaults?.(o);
    if (rt.custom && rt.statusSubresource) delete o.status;
    rt.prepareForCreate?.(o, this.#ctx);
    this.#invalid(rt, meta.name ?? '', [...validateObjectMeta(meta, rt.nameRule, rt.namespaced), ...(rt.validate?.(o) ?? []), ...(rt.validateWrite?.(o, undefined) ?? [])]);
    this.#admit({ rt, operation: 'CREATE', name: meta.name ?? '', namespace: meta.namespace, object: o, oldObject: null, user: opts.user ?? IN_PROCESS_USER, ...(opts.dryRun ? { dryRun: true } : {}) });
    const key = this.#key(rt, meta.name, meta.namespace);
    if (st.objects.has(key)) throw alreadyExists(this.#gr(rt), meta.name);
    if (opts.dryRun) return this.#out(rt, o);
    return this.#out(rt, this.#commit(st, key, 'ADDED', o, undefined));
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
    const o = structuredClone(body);
    this.#checkTypeMeta(rt, o);
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
        next = structuredClone(old);
        if (o.status === undefined) delete next.status;
        else next.status = o.status;
      } else {
        // built-in status strategies: spec from the stored object, metadata from the request
        next = { ...structuredClone(old), metadata: meta };
        if (o.status === undefined) delete next.status;
        else next.status = o.status;
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
      rt.prepareForUpdate?.(next, old, this.#ctx);
    }
    const nm: Obj = next.metadata;
    if (om.deletionTimestamp) {
      const oldF: string[] = om.finalizers ?? [];
      const added = ((nm.finalizers ?? []) as string[]).filter((f) => !oldF.includes(f));
      if (added.length > 0) errs.push(forbiddenField('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`));
    }
    errs.push(...validateObjectMeta(nm, rt.nameRule, rt.namespaced));
    if (status) errs.push(...(rt.validateStatus?.(next, old) ?? []));
    else errs.push(...(rt.validate?.(next) ?? []), ...(rt.validateUpdate?.(next, old) ?? []));
    errs.push(...(rt.validateWrite?.(next, old) ?? []));
    this.#invalid(rt, name, errs);
    this.#admit({ rt, operation: 'UPDATE', ...(status ? { subResource: 'status' } : {}), name, namespace: meta.namespace, object: next, oldObject: old, user: opts.user ?? IN_PROCESS_USER, ...(opts.dryRun ? { dryRun: true } : {}) });
    if (rt.generation && !status) {
      const strip = (x: Obj): Obj => {
        const { metadata: _m, status: _s, ...rest } = x;
        return rest;
      };
      if (!deepEqual(strip(old), strip(next))) nm.generation = (om.generation ?? 0) + 1;
    }
    // etcd3 GuaranteedUpdate: an update that changes nothing is not written and sends no event
    if (deepEqual(next, old)) return this.#out(rt, old);
    if (opts.dryRun) return this.#out(rt, next);
    // Store.shouldDeleteDuringUpdate: the last finalizer went away and the deletion is due
    if ((nm.finalizers ?? []).length === 0 && om.deletionTimestamp && (om.deletionGracePeriodSeconds ?? 0) === 0)
      return this.#out(rt, this.#commit(st, key, 'DELETED', next, old));
    return this.#out(rt, this.#commit(st, key, 'MODIFIED', next, old));
  }

  patch(resource: string, name: string, namespace: string | undefined, type: PatchType, patch: unknown, opts: PatchOptions = {}): Obj {
    const st = this.#state(resource);
    const rt = st.rt;
    if (opts.subresource === 'status' && !rt.statusSubresource)
      throw failure(404, 'NotFound', `the server could not find the requested resource (patch ${rt.plural} ${name})`);
    const accepted = rt.custom
      ? ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml']
      : ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
    const t = ({ merge: 'application/merge-patch+json', json: 'application/json-patch+json', strategic: 'application/strategic-merge-patch+json', apply: 'application/apply-patch+yaml' } as Record<string, string>)[type] ?? type;
    if (!accepted.includes(t) || t === 'application/apply-patch+yaml') throw unsupportedMediaType(t, accepted);
    const key = this.#key(rt, name, namespace);
    const old = st.objects.get(key);
    if (!old) throw notFound(this.#gr(rt), name);
    const current = structuredClone(old) as Json;
    let patched: Json;
    if (t === 'application/json-patch+json') patched = applyJsonPatch(current, patch);
    else {
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw badRequest('json: cannot unmarshal array into Go value of type map[string]interface {}');
      patched = t === 'application/merge-patch+json' ? applyMergePatch(current, patch as Json) : applyStrategicMergePatch(current, patch as Json, rt.patch);
    }
    if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) throw badRequest('the patch produced a value that is not an object');
    const p = patched as Obj;
    if (p.metadata?.name !== undefined && p.metadata.name !== name) throw badRequest(`the name of the object (${p.metadata.name}) does not match the name on the URL (${name})`);
    if (rt.namespaced && p.metadata?.namespace !== undefined && p.metadata.namespace !== namespace)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    return this.#update(st, p, { name, ...(namespace !== undefined ? { namespace } : {}), ...(opts.dryRun ? { dryRun: true } : {}), ...(opts.user ? { user: opts.user } : {}) }, opts.subresource === 'status', true);
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
      throw conflict(this.#gr(rt), name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${om.resourceVersion}`);
    if (opts.gracePeriodSeconds !== undefined && (!Number.isInteger(opts.gracePeriodSeconds) || opts.gracePeriodSeconds < 0))
      this.#invalid(rt, name, [invalid('gracePeriodSeconds', opts.gracePeriodSeconds, 'must be greater than or equal to 0')]);
    this.#admit({ rt, operation: 'DELETE', name, namespace, object: null, oldObject: old, user: opts.user ?? IN_PROCESS_USER, ...(opts.dryRun ? { dryRun: true } : {}) });
    if (rt.plural === 'namespaces' && rt.group === '') return this.#deleteNamespace(st, old, opts);
    const grace = rt.gracePeriod ? rt.gracePeriod(old, opts.gracePeriodSeconds) ?? 0 : 0;
    const finalizers: string[] = om.finalizers ?? [];
    const next = structuredClone(old);
    const nm: Obj = next.metadata;
    const now = this.#now();
    if (om.deletionTimestamp) {
      const oldGrace: number = om.deletionGracePeriodSeconds ?? 0;
      if (oldGrace === 0 || grace >= oldGrace) return this.#out(rt, old); // already deleting, nothing shortens
      // BeforeDelete: a shorter grace period moves the deletion earlier
      const requestedAt = Date.parse(om.deletionTimestamp) - oldGrace * 1000;
      nm.deletionTimestamp = rfc3339(new Date(requestedAt + grace * 1000));
      nm.deletionGracePeriodSeconds = grace;
      if (grace > 0 || finalizers.length > 0) {
        if (opts.dryRun) return this.#out(rt, next);
        return this.#out(rt, this.#commit(st, key, 'MODIFIED', next, old));
      }
    } else if (grace > 0) {
      nm.deletionTimestamp = rfc3339(new Date(now.getTime() + grace * 1000));
      nm.deletionGracePeriodSeconds = grace;
      if (typeof nm.generation === 'number' && nm.generation > 0) nm.generation++;
      if (opts.dryRun) return this.#out(rt, next);
      return this.#out(rt, this.#commit(st, key, 'MODIFIED', next, old));
    } else if (finalizers.length > 0) {
      nm.deletionTimestamp = rfc3339(now);
      nm.deletionGracePeriodSeconds = 0;
      if (opts.dryRun) return this.#out(rt, next);
      return this.#out(rt, this.#commit(st, key, 'MODIFIED', next, old));
    }
    if (opts.dryRun) return this.#deleteResult(rt, next);
    return this.#deleteResult(rt, this.#commit(st, key, 'DELETED', next, old));
  }

  #deleteResult(rt: ResourceType, o: Obj): Obj | Status {
    if (rt.returnDeletedObject) return this.#out(rt, o);
    const details: Obj = { name: o.metadata.name, kind: rt.plural, uid: o.metadata.uid };
    if (rt.group !== '') details.group = rt.group;
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code: 200 } as Status;
  }

  #deleteNamespace(st: ResourceState, old: Obj, opts: DeleteOptions): Obj {
    const name: string = old.metadata.name;
    if (protectedNamespaces.has(name)) throw forbidden({ group: '', resource: 'namespaces' }, name, 'this namespace may not be deleted');
    if (old.metadata.deletionTimestamp) return this.#out(st.rt, old);
    const next = structuredClone(old);
    next.metadata.deletionTimestamp = rfc3339(this.#now());
    next.metadata.deletionGracePeriodSeconds = 0;
    next.status = { ...(next.status ?? {}), phase: 'Terminating' };
    if (opts.dryRun) return this.#out(st.rt, next);
    const out = this.#out(st.rt, this.#commit(st, name, 'MODIFIED', next, old));
    // the namespace controller: delete the content, then finalize the namespace
    queueMicrotask(() => {
      for (const s of this.#states.values()) {
        if (!s.rt.namespaced) continue;
        for (const o of [...s.objects.values()]) {
          if (o.metadata.namespace !== name) continue;
          try {
            this.delete(`${s.rt.group}/${s.rt.version}/${s.rt.plural}`, o.metadata.name, name, { gracePeriodSeconds: 0 });
          } catch {
            // already gone
          }
        }
      }
      this.#maybeFinishNamespace(name);
    });
    return out;
  }

  #maybeFinishNamespace(ns: string | undefined): void {
    if (!ns) return;
    const nsState = this.#state('namespaces');
    const o = nsState.objects.get(ns);
    if (o?.status?.phase !== 'Terminating') return;
    for (const s of this.#states.values()) {
      if (!s.rt.namespaced) continue;
      for (const x of s.objects.values()) if (x.metadata.namespace === ns) return;
    }
    const next = structuredClone(o);
    next.spec = { ...(next.spec ?? {}), finalizers: [] };
    this.#commit(nsState, ns, 'DELETED', next, o);
  }
}

export { ApiError };

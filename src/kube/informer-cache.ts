// An informer's store: objects by namespace/name, the resourceVersion each arrived with (the
// transform may drop metadata the planners never read, but a relist diff needs it), and
// indexes kept up to date on every write, so a consumer finds "the slices of this Service"
// with a lookup instead of a scan.

export interface CacheChange<T> {
  key: string;
  before: T | undefined;
  after: T | undefined;
}

export type Indexers<T> = Record<string, (obj: T) => readonly string[]>;

export function objectKey(meta: { name?: unknown; namespace?: unknown } | undefined): string {
  const name = typeof meta?.name === 'string' ? meta.name : '';
  return typeof meta?.namespace === 'string' && meta.namespace ? `${meta.namespace}/${name}` : name;
}

interface Entry<T> {
  obj: T;
  rv: string;
}

export class InformerCache<T> {
  #items = new Map<string, Entry<T>>();
  readonly #indexers: Indexers<T>;
  readonly #indexes = new Map<string, Map<string, Map<string, T>>>();
  /** list()'s answer until the next write: a snapshot per loop run must not copy every object. */
  #list: readonly T[] | undefined;

  constructor(indexers: Indexers<T> = {}) {
    this.#indexers = indexers;
    for (const name of Object.keys(indexers)) this.#indexes.set(name, new Map());
  }

  get size(): number {
    return this.#items.size;
  }

  get(key: string): T | undefined {
    return this.#items.get(key)?.obj;
  }

  list(): readonly T[] {
    this.#list ??= Array.from(this.#items.values(), (e) => e.obj);
    return this.#list;
  }

  byIndex(index: string, value: string): readonly T[] {
    const idx = this.#indexes.get(index);
    if (!idx) throw new Error(`no index ${index}`);
    const hits = idx.get(value);
    return hits ? [...hits.values()] : [];
  }

  /** Every object with at least one value in the index. */
  indexed(index: string): readonly T[] {
    const idx = this.#indexes.get(index);
    if (!idx) throw new Error(`no index ${index}`);
    const out = new Map<string, T>();
    for (const m of idx.values()) for (const [k, o] of m) out.set(k, o);
    return [...out.values()];
  }

  /** Stores obj under key; returns what was there. */
  set(key: string, obj: T, rv: string): T | undefined {
    const before = this.#items.get(key)?.obj;
    if (before !== undefined) this.#unindex(key, before);
    this.#items.set(key, { obj, rv });
    this.#index(key, obj);
    this.#list = undefined;
    return before;
  }

  delete(key: string): T | undefined {
    const before = this.#items.get(key)?.obj;
    if (before === undefined) return undefined;
    this.#unindex(key, before);
    this.#items.delete(key);
    this.#list = undefined;
    return before;
  }

  /**
   * Replaces the whole content with a fresh list; returns what changed, judged by
   * resourceVersion (an object the list carries at the version the cache has is the same one).
   */
  replace(items: ReadonlyMap<string, { obj: T; rv: string }>): CacheChange<T>[] {
    const changes: CacheChange<T>[] = [];
    for (const [key, e] of this.#items) if (!items.has(key)) changes.push({ key, before: e.obj, after: undefined });
    for (const [key, e] of items) {
      const old = this.#items.get(key);
      if (old && old.rv === e.rv) continue;
      changes.push({ key, before: old?.obj, after: e.obj });
    }
    for (const c of changes) {
      if (c.after === undefined) this.delete(c.key);
      else this.set(c.key, c.after, items.get(c.key)!.rv);
    }
    return changes;
  }

  #index(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.#indexers)) {
      const idx = this.#indexes.get(name)!;
      for (const v of fn(obj)) {
        let m = idx.get(v);
        if (!m) {
          m = new Map();
          idx.set(v, m);
        }
        m.set(key, obj);
      }
    }
  }

  #unindex(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.#indexers)) {
      const idx = this.#indexes.get(name)!;
      for (const v of fn(obj)) {
        const m = idx.get(v);
        m?.delete(key);
        if (m?.size === 0) idx.delete(v);
      }
    }
  }
}

// Proof that a cache transform keeps every field a planner reads: the planner runs over the
// transformed objects wrapped so that reading a field the transform dropped throws.

/** Whether everything `part` holds is in `whole` (arrays element by element). */
function within(part: unknown, whole: unknown): boolean {
  if (typeof part !== 'object' || part === null) return part === whole;
  if (typeof whole !== 'object' || whole === null) return false;
  if (Array.isArray(part)) return Array.isArray(whole) && part.length === whole.length && part.every((x, i) => within(x, whole[i]));
  return Object.entries(part).every(([k, v]) => v === undefined || within(v, (whole as Record<string, unknown>)[k]));
}

/**
 * The transformed object, each part beside the full object's part it came from (an array
 * element: the full element it is a subset of, since a transform may drop elements); reading a
 * key the transformed part lacks but its full part has throws.
 */
export function guarded<T>(obj: T, full: unknown, path = ''): T {
  if (typeof obj !== 'object' || obj === null) return obj;
  const fullObj = typeof full === 'object' && full !== null ? (full as Record<string, unknown>) : undefined;
  const check = (target: object, key: string | symbol): void => {
    if (typeof key !== 'string' || key in target || !fullObj || !(key in fullObj)) return;
    throw new Error(`a planner read ${path}.${key}, which the cache transform dropped`);
  };
  return new Proxy(obj as object, {
    get(target, key) {
      check(target, key);
      const v = Reflect.get(target, key) as unknown;
      if (typeof key !== 'string' || !fullObj) return v;
      if (Array.isArray(target) && /^\d+$/.test(key)) {
        const from = (fullObj as unknown as unknown[]).find((e) => within(v, e));
        return guarded(v, from, `${path}[]`);
      }
      return guarded(v, fullObj[key], `${path}.${key}`);
    },
    has(target, key) {
      check(target, key);
      return Reflect.has(target, key);
    },
  }) as T;
}

/** What a real API server adds to the fixtures: fields no planner may need. */
export function asServed<T extends object>(o: T, extra: Record<string, unknown>): T {
  const m = (o as { metadata: Record<string, unknown> }).metadata;
  return {
    ...o,
    ...extra,
    metadata: {
      ...m,
      resourceVersion: '42',
      creationTimestamp: '2026-11-23T10:00:00Z',
      managedFields: [{ manager: 'kubectl', operation: 'Update' }],
      labels: { ...(m.labels as object), team: 'ads' },
    },
  };
}

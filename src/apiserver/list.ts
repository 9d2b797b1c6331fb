// One page of a list: at the current resourceVersion, at an exact older one (from the watch
// cache's history), or continuing a paginated list at the resourceVersion of its first page.
import { badRequest, expired, invalid, invalidError, timeout, tooOldResourceVersion } from './errors.js';
import { decodeContinue, encodeContinue, parseRv } from './resource-version.js';
import { type Obj, type ResourceType, apiVersionOf } from './resource-type.js';
import type { ListOptions } from './store-options.js';
import { type ResourceState, stateAt } from './watch.js';

export function listPage(
  st: ResourceState,
  pred: (o: Obj) => boolean,
  opts: ListOptions,
  currentRv: number,
  keyOf: (name: string, namespace: string | undefined) => string,
): Obj {
  const rt = st.rt;
  let atRv = currentRv;
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
    objects = stateAt(st, atRv);
  } else if (opts.resourceVersion && opts.resourceVersion !== '0') {
    const rv = parseRv(opts.resourceVersion);
    if (rv > currentRv) throw timeout(`Too large resource version: ${rv}, current: ${currentRv}`);
    if (opts.resourceVersionMatch === 'Exact') {
      if (rv < st.horizon) throw tooOldResourceVersion(rv, st.horizon + 1);
      atRv = rv;
      objects = stateAt(st, rv);
    }
  } else if (opts.resourceVersionMatch === 'Exact') {
    throw invalidError('meta.k8s.io', 'ListOptions', '', [
      invalid('resourceVersionMatch', 'Exact', 'resourceVersionMatch is forbidden unless resourceVersion is provided'),
    ]);
  }
  // resourceVersion=0 is served from the watch cache, which ignores limit
  const limit = opts.resourceVersion === '0' ? 0 : (opts.limit ?? 0);
  const keys = [...objects.keys()].sort();
  const items: Obj[] = [];
  let cont: string | undefined;
  let remaining = 0;
  for (const k of keys) {
    if (start && k < start) continue;
    const o = objects.get(k)!;
    if (!pred(o)) continue;
    if (limit > 0 && items.length >= limit) {
      if (cont === undefined)
        cont = encodeContinue(atRv, `${keyOf(items[items.length - 1]!.metadata.name, items[items.length - 1]!.metadata.namespace)}\u0000`);
      remaining++;
      continue;
    }
    items.push(listItem(rt, o));
  }
  const metadata: Obj = { resourceVersion: String(atRv) };
  if (cont !== undefined) {
    metadata.continue = cont;
    if (!opts.labelSelector && !opts.fieldSelector) metadata.remainingItemCount = remaining;
  }
  return { apiVersion: apiVersionOf(rt), kind: `${rt.kind}List`, metadata, items };
}

function listItem(rt: ResourceType, o: Obj): Obj {
  const c = structuredClone(o);
  if (!rt.custom) {
    // built-in lists carry no TypeMeta on their items, as the real API encodes them
    delete c.apiVersion;
    delete c.kind;
  }
  return c;
}

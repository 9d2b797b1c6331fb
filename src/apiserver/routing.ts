// Which resource, namespace, name and subresource a request path names, as the API server's
// RequestInfo resolver splits it; undefined for a path no served resource matches.
import type { ResourceType } from './resource-type.js';

export interface Target {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export function route(path: string, resources: readonly ResourceType[]): Target | undefined {
  const segs = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => decodeURIComponent(s));
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    group = '';
    version = segs[1]!;
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1]!;
    version = segs[2]!;
    rest = segs.slice(3);
  } else return undefined;
  const find = (plural: string): ResourceType | undefined => resources.find((r) => r.group === group && r.version === version && r.plural === plural);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(group === '' && rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))) {
    namespace = rest[1];
    rest = rest.slice(2);
    const rt = find(rest[0]!);
    if (!rt?.namespaced) return undefined;
    if (rest.length > 3) return undefined;
    return { rt, namespace, ...(rest[1] !== undefined ? { name: rest[1] } : {}), ...(rest[2] !== undefined ? { subresource: rest[2] } : {}) };
  }
  const rt = find(rest[0]!);
  if (!rt || rest.length > 3) return undefined;
  // a namespaced resource without a namespace is only a list/watch across all namespaces
  if (rt.namespaced && rest.length > 1) return undefined;
  return { rt, ...(rest[1] !== undefined ? { name: rest[1] } : {}), ...(rest[2] !== undefined ? { subresource: rest[2] } : {}) };
}

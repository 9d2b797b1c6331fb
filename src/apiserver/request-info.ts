// What the real server's RequestInfoFactory makes of a URL: resource or non-resource request,
// the verb (list vs get vs watch, deletecollection), and for list/watch with a
// `metadata.name=` field selector the name, so RBAC resourceNames can allow such an informer.
import type { RequestAttributes } from './rbac.js';
import type { UserInfo } from './user.js';

const VERBS: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete', GET: 'get', HEAD: 'get' };

export function requestAttributes(user: UserInfo, method: string, path: string, q: URLSearchParams): RequestAttributes {
  const base: RequestAttributes = {
    user,
    verb: (VERBS[method] ?? method).toLowerCase(),
    resourceRequest: false,
    path,
    apiGroup: '',
    resource: '',
    subresource: '',
    namespace: '',
    name: '',
  };
  const segs = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => decodeURIComponent(s));
  let rest: string[];
  let apiGroup = '';
  if (segs[0] === 'api' && segs.length >= 3) rest = segs.slice(2);
  else if (segs[0] === 'apis' && segs.length >= 4) {
    apiGroup = segs[1]!;
    rest = segs.slice(3);
  } else return base;
  const a: RequestAttributes = { ...base, resourceRequest: true, apiGroup };
  if (rest[0] === 'namespaces' && rest.length > 1) {
    a.namespace = rest[1]!;
    // /namespaces/{name} and /namespaces/{name}/{status|finalize} are the Namespace itself
    rest =
      rest.length === 2 || (rest.length === 3 && apiGroup === '' && (rest[2] === 'status' || rest[2] === 'finalize'))
        ? ['namespaces', ...rest.slice(1)]
        : rest.slice(2);
  }
  a.resource = rest[0] ?? '';
  a.name = rest[1] ?? '';
  a.subresource = rest[2] ?? '';
  if (a.name === '') {
    if (a.verb === 'get') a.verb = q.get('watch') === 'true' || q.get('watch') === '1' ? 'watch' : 'list';
    else if (a.verb === 'delete') a.verb = 'deletecollection';
    if (a.verb === 'list' || a.verb === 'watch') {
      for (const term of (q.get('fieldSelector') ?? '').split(',')) {
        const m = /^metadata\.name==?(.+)$/.exec(term.trim());
        if (m) a.name = m[1]!;
      }
    }
  }
  return a;
}

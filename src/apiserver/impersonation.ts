// User impersonation as the real server's WithImpersonation filter does it: the Impersonate-*
// headers replace the authenticated user, but only after the requester is authorized, header by
// header, for the `impersonate` verb on users (or a ServiceAccount), groups, uids and user
// extras. Without this, `kubectl podlb --as bob` would silently act as the caller itself.
import type { IncomingMessage } from 'node:http';
import { badRequest } from './errors.js';
import { type RequestAttributes, forbiddenFor } from './rbac.js';
import type { UserInfo } from './user.js';

const SA_PREFIX = 'system:serviceaccount:';
const EXTRA_PREFIX = 'impersonate-extra-';

function headerValues(req: IncomingMessage, name: string): string[] {
  const out: string[] = [];
  // rawHeaders keeps repeated lines apart; req.headers would join them with ", ".
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === name) out.push(req.rawHeaders[i + 1]!);
  return out;
}

function attrs(user: UserInfo, apiGroup: string, resource: string, name: string, namespace = '', subresource = ''): RequestAttributes {
  return { user, verb: 'impersonate', resourceRequest: true, path: '', apiGroup, resource, subresource, namespace, name };
}

/**
 * The user a request acts as: `user` itself when it carries no Impersonate-* header, else the
 * impersonated user. Throws the real server's 403 for the first impersonation `allows` refuses.
 */
export function impersonatedUser(req: IncomingMessage, user: UserInfo, allows: (a: RequestAttributes) => boolean): UserInfo {
  const username = headerValues(req, 'impersonate-user')[0];
  const groups = headerValues(req, 'impersonate-group');
  const uid = headerValues(req, 'impersonate-uid')[0];
  const extra: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!.toLowerCase();
    if (!k.startsWith(EXTRA_PREFIX)) continue;
    const key = decodeURIComponent(k.slice(EXTRA_PREFIX.length));
    extra[key] ??= [];
    extra[key].push(req.rawHeaders[i + 1]!);
  }
  if (username === undefined) {
    if (groups.length > 0 || uid !== undefined || Object.keys(extra).length > 0)
      throw badRequest('requested impersonation of groups, uid or extra without impersonating a user');
    return user;
  }
  const checks: RequestAttributes[] = [];
  if (username.startsWith(SA_PREFIX)) {
    const [ns = '', name = ''] = username.slice(SA_PREFIX.length).split(':');
    checks.push(attrs(user, '', 'serviceaccounts', name, ns));
  } else {
    checks.push(attrs(user, '', 'users', username));
  }
  for (const g of groups) checks.push(attrs(user, '', 'groups', g));
  if (uid !== undefined) checks.push(attrs(user, 'authentication.k8s.io', 'uids', uid));
  for (const [k, vs] of Object.entries(extra)) for (const v of vs) checks.push(attrs(user, 'authentication.k8s.io', 'userextras', v, '', k));
  const refused = checks.find((a) => !allows(a));
  if (refused) throw forbiddenFor(refused);

  const out = new Set(groups);
  if (username === 'system:anonymous') out.add('system:unauthenticated');
  else {
    if (username.startsWith(SA_PREFIX) && groups.length === 0) {
      out.add('system:serviceaccounts');
      out.add(`system:serviceaccounts:${username.slice(SA_PREFIX.length).split(':')[0]}`);
    }
    out.add('system:authenticated');
  }
  return { username, groups: [...out], ...(uid !== undefined ? { uid } : {}), ...(Object.keys(extra).length > 0 ? { extra } : {}) };
}

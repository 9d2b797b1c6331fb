import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import { impersonatedUser } from './impersonation.js';
import type { RequestAttributes } from './rbac.js';
import type { UserInfo } from './user.js';

const admin: UserInfo = { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };
const req = (...pairs: string[]): IncomingMessage => ({ rawHeaders: pairs }) as unknown as IncomingMessage;
const all = (): boolean => true;

describe('impersonatedUser', () => {
  it('without Impersonate-* headers the request acts as its caller', () => {
    expect(impersonatedUser(req('Accept', 'application/json'), admin, all)).toBe(admin);
  });

  it.each([
    [['Impersonate-User', 'bob'], { username: 'bob', groups: ['system:authenticated'] }],
    [['Impersonate-User', 'bob', 'Impersonate-Group', 'a', 'Impersonate-Group', 'b'], { username: 'bob', groups: ['a', 'b', 'system:authenticated'] }],
    [
      ['Impersonate-User', 'system:serviceaccount:podlb-system:podlb-agent'],
      {
        username: 'system:serviceaccount:podlb-system:podlb-agent',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:podlb-system', 'system:authenticated'],
      },
    ],
    [['Impersonate-User', 'system:anonymous'], { username: 'system:anonymous', groups: ['system:unauthenticated'] }],
    [
      ['Impersonate-User', 'bob', 'Impersonate-Uid', 'u1', 'Impersonate-Extra-Scopes', 'view'],
      { username: 'bob', groups: ['system:authenticated'], uid: 'u1', extra: { scopes: ['view'] } },
    ],
  ])('%j acts as %j', (headers, want) => {
    expect(impersonatedUser(req(...headers), admin, all)).toEqual(want);
  });

  it('asks the authorizer for every impersonated attribute, with the real resources', () => {
    const asked: RequestAttributes[] = [];
    impersonatedUser(
      req('Impersonate-User', 'system:serviceaccount:ns1:sa1', 'Impersonate-Group', 'g', 'Impersonate-Uid', 'u', 'Impersonate-Extra-k', 'v'),
      admin,
      (a) => {
        asked.push(a);
        return true;
      },
    );
    expect(asked.map((a) => [a.verb, a.apiGroup, a.resource, a.subresource, a.namespace, a.name])).toEqual([
      ['impersonate', '', 'serviceaccounts', '', 'ns1', 'sa1'],
      ['impersonate', '', 'groups', '', '', 'g'],
      ['impersonate', 'authentication.k8s.io', 'uids', '', '', 'u'],
      ['impersonate', 'authentication.k8s.io', 'userextras', 'k', '', 'v'],
    ]);
  });

  it('refuses with the real 403 when one impersonation is not granted', () => {
    const pat: UserInfo = { username: 'pat', groups: ['system:authenticated'] };
    const onlyUsers = (a: RequestAttributes): boolean => a.resource === 'users';
    expect(impersonatedUser(req('Impersonate-User', 'bob'), pat, onlyUsers).username).toBe('bob');
    try {
      impersonatedUser(req('Impersonate-User', 'bob', 'Impersonate-Group', 'system:masters'), pat, onlyUsers);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status.code).toBe(403);
      expect((err as ApiError).status.message).toBe(
        'groups "system:masters" is forbidden: User "pat" cannot impersonate resource "groups" in API group "" at the cluster scope',
      );
    }
  });

  it('groups, uid or extra without a user is a bad request', () => {
    expect(() => impersonatedUser(req('Impersonate-Group', 'g'), admin, all)).toThrow(/without impersonating a user/);
  });
});

import { describe, expect, it } from 'vitest';
import { OctaviaCredentialsError, parseOctaviaCredentials } from './octavia-credentials.js';

describe('parseOctaviaCredentials', () => {
  it('clouds.yaml with an application credential', () => {
    const text = `clouds:\n  tokyo:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://keystone.example.com:5000/v3\n      application_credential_id: abc\n      application_credential_secret: s3cr3t\n    region_name: RegionOne\n    interface: internal\n`;
    expect(parseOctaviaCredentials(text)).toEqual({ credentials: { type: 'applicationCredential', id: 'abc', secret: 's3cr3t' }, authURL: 'https://keystone.example.com:5000/v3', region: 'RegionOne', interface: 'internal' });
  });

  it('clouds.yaml with a password (auth_type inferred)', () => {
    const text = `clouds:\n  c:\n    auth:\n      username: podlb\n      password: pw\n      project_name: k8s\n      user_domain_name: Users\n      project_domain_name: Projects\n`;
    expect(parseOctaviaCredentials(text).credentials).toEqual({ type: 'password', username: 'podlb', password: 'pw', projectName: 'k8s', userDomainName: 'Users', projectDomainName: 'Projects' });
  });

  it('a bare auth map in JSON', () => {
    expect(parseOctaviaCredentials('{"application_credential_id":"i","application_credential_secret":"s"}').credentials).toEqual({ type: 'applicationCredential', id: 'i', secret: 's' });
  });

  it('picks a named cloud among several', () => {
    const text = `clouds:\n  a: {auth: {username: u1, password: p1}}\n  b: {auth: {username: u2, password: p2}}\n`;
    expect(parseOctaviaCredentials(text, { cloud: 'b' }).credentials).toMatchObject({ username: 'u2' });
    expect(() => parseOctaviaCredentials(text)).toThrow(/clouds a, b; put exactly one cloud/);
  });

  it.each([
    ['not: [valid', /not valid YAML/],
    ['clouds:\n  c:\n    auth_type: v3applicationcredential\n    auth: {application_credential_secret: hunter2}\n', /clouds\.c\.auth\.application_credential_id: required/],
    ['clouds:\n  c:\n    auth: {username: u, password: ""}\n', /clouds\.c\.auth\.password: required/],
    ['clouds:\n  c:\n    auth_type: v3oidcpassword\n    auth: {username: u, password: hunter2}\n', /auth_type: "v3oidcpassword" is not supported/],
    ['clouds:\n  c:\n    interface: admin\n    auth: {username: u, password: hunter2}\n', /interface: must be public or internal/],
  ])('%j is refused with the key named', (text, re) => {
    let err: unknown;
    try {
      parseOctaviaCredentials(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OctaviaCredentialsError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain('hunter2');
    expect(err).toMatchObject({ code: 'OCTAVIA_INVALID_CREDENTIALS', transient: false });
  });
});

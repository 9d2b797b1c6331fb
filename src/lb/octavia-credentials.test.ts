import { describe, expect, it } from 'vitest';
import { LABEL_CREDENTIALS } from '../api/types.js';
import { OctaviaCredentialsError, parseOctaviaCredentials, resolveOctaviaCredentials, type OctaviaTrust } from './octavia-credentials.js';

describe('parseOctaviaCredentials', () => {
  it('clouds.yaml with an application credential', () => {
    const text = `clouds:\n  tokyo:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://keystone.example.com:5000/v3\n      application_credential_id: abc\n      application_credential_secret: s3cr3t\n    region_name: RegionOne\n    interface: internal\n`;
    expect(parseOctaviaCredentials(text)).toEqual({
      credentials: { type: 'applicationCredential', id: 'abc', secret: 's3cr3t' },
      authURL: 'https://keystone.example.com:5000/v3',
      region: 'RegionOne',
      interface: 'internal',
    });
  });

  it('clouds.yaml with a password (auth_type inferred)', () => {
    const text = `clouds:\n  c:\n    auth:\n      username: podlb\n      password: pw\n      project_name: k8s\n      user_domain_name: Users\n      project_domain_name: Projects\n`;
    expect(parseOctaviaCredentials(text).credentials).toEqual({
      type: 'password',
      username: 'podlb',
      password: 'pw',
      projectName: 'k8s',
      userDomainName: 'Users',
      projectDomainName: 'Projects',
    });
  });

  it('a bare auth map in JSON', () => {
    expect(parseOctaviaCredentials('{"application_credential_id":"i","application_credential_secret":"s"}').credentials).toEqual({
      type: 'applicationCredential',
      id: 'i',
      secret: 's',
    });
  });

  it('picks a named cloud among several', () => {
    const text = `clouds:\n  a: {auth: {username: u1, password: p1}}\n  b: {auth: {username: u2, password: p2}}\n`;
    expect(parseOctaviaCredentials(text, { cloud: 'b' }).credentials).toMatchObject({ username: 'u2' });
    expect(() => parseOctaviaCredentials(text)).toThrow(/clouds a, b; put exactly one cloud/);
  });

  it.each([
    ['not: [valid', /not valid YAML/],
    [
      'clouds:\n  c:\n    auth_type: v3applicationcredential\n    auth: {application_credential_secret: hunter2}\n',
      /clouds\.c\.auth\.application_credential_id: required/,
    ],
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

describe('resolveOctaviaCredentials: credentials go only to a Keystone the operator chose', () => {
  const clouds = (authUrl?: string): string =>
    Buffer.from(
      JSON.stringify({
        clouds: { c: { auth: { ...(authUrl ? { auth_url: authUrl } : {}), application_credential_id: 'i', application_credential_secret: 's3cr3t' } } },
      }),
    ).toString('base64');
  const secret = (labels: Record<string, string> | undefined, authUrl?: string) => ({
    metadata: { ...(labels ? { labels } : {}) },
    data: { 'clouds.yaml': clouds(authUrl) },
  });
  const labelled = { [LABEL_CREDENTIALS]: 'true' };
  const cls = (authURL: string) => ({ authURL, credentialsSecret: { namespace: 'podlb-system', name: 'os', key: 'clouds.yaml' } });
  const none: OctaviaTrust = { authURLs: [] };
  const flag: OctaviaTrust = { authURLs: ['https://keystone.example.com:5000'] };

  it.each([
    ['listed by flag (the same tokens URL with or without /v3)', 'https://keystone.example.com:5000/v3', secret(labelled), flag],
    ['listed by flag, trailing slash', 'https://keystone.example.com:5000/v3/', secret(labelled), flag],
    ["the Secret's own auth_url, no flag", 'https://keystone.example.com:5000/v3', secret(labelled, 'https://keystone.example.com:5000'), none],
  ])('allowed: %s', (_n, authURL, s, trust) => {
    const r = resolveOctaviaCredentials(cls(authURL), s, trust);
    expect(r).toMatchObject({ ok: true, cloud: { credentials: { type: 'applicationCredential', id: 'i' } } });
  });

  it.each([
    [
      'no flag, no auth_url in the Secret',
      'https://keystone.example.com:5000/v3',
      secret(labelled),
      none,
      /neither allowed by the agent's --octavia-auth-url flag; .*add --octavia-auth-url https:\/\/keystone.example.com:5000\/v3 to the agent/,
    ],
    [
      'another host',
      'https://collector.example.net/v3',
      secret(labelled, 'https://keystone.example.com:5000'),
      flag,
      /nor the auth_url of credentials Secret podlb-system\/os \(https:\/\/keystone.example.com:5000\)/,
    ],
    ['a look-alike host', 'https://keystone.example.com.evil.net:5000/v3', secret(labelled), flag, /neither allowed/],
    ['userinfo in front of the host', 'https://keystone.example.com:5000@evil.net/v3', secret(labelled), flag, /neither allowed/],
    ['plain http for an https Keystone', 'http://keystone.example.com:5000/v3', secret(labelled), flag, /neither allowed/],
    ['another port', 'https://keystone.example.com:5001/v3', secret(labelled), flag, /neither allowed/],
    [
      'a Secret not labelled for podlb',
      'https://keystone.example.com:5000/v3',
      secret(undefined),
      flag,
      /is not labelled podlb.io\/credentials=true; .*kubectl -n podlb-system label secret os podlb.io\/credentials=true/,
    ],
    ['a label other than "true"', 'https://keystone.example.com:5000/v3', secret({ [LABEL_CREDENTIALS]: 'yes' }), flag, /is not labelled/],
    ['no Secret', 'https://keystone.example.com:5000/v3', undefined, flag, /podlb-system\/os \(key clouds\.yaml\) not found/],
  ])('refused: %s', (_n, authURL, s, trust, why) => {
    const r = resolveOctaviaCredentials(cls(authURL), s, trust);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.why).toMatch(why);
    expect(!r.ok && r.why).not.toContain('s3cr3t');
  });
});

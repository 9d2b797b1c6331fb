// Keystone credentials for the Octavia provider, and parsing them out of the Secret a
// LoadBalancerClass names (spec.octavia.credentialsSecretRef). The Secret value is the
// usual OpenStack `clouds.yaml` (one cloud), or just that cloud's entry, or a bare `auth`
// map. Parsed once at the edge; error messages name keys, never values.
import { parse as parseYaml } from 'yaml';
import { PodlbError } from '../util/errors.js';

export interface PasswordCredentials {
  type: 'password';
  username: string;
  password: string;
  projectName?: string;
  projectId?: string;
  /** Default "Default". */
  userDomainName?: string;
  /** Default "Default". */
  projectDomainName?: string;
}

export interface ApplicationCredentials {
  type: 'applicationCredential';
  id: string;
  secret: string;
}

export type OctaviaCredentials = PasswordCredentials | ApplicationCredentials;

export interface ParsedCloud {
  credentials: OctaviaCredentials;
  /** From the cloud entry, if present: the LoadBalancerClass's own fields take precedence. */
  authURL?: string;
  region?: string;
  interface?: 'public' | 'internal';
}

export class OctaviaCredentialsError extends PodlbError {
  constructor(message: string) {
    super('OCTAVIA_INVALID_CREDENTIALS', message);
  }
}

function str(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Parses a credentials Secret value. `cloud` picks an entry when clouds.yaml has several. */
export function parseOctaviaCredentials(text: string, opts: { cloud?: string } = {}): ParsedCloud {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    throw new OctaviaCredentialsError('credentials: not valid YAML/JSON (expected clouds.yaml, one cloud entry, or an auth map)');
  }
  if (!doc || typeof doc !== 'object') throw new OctaviaCredentialsError('credentials: expected a YAML/JSON map');
  let entry = doc as Record<string, unknown>;
  let where = 'credentials';
  const clouds = entry.clouds;
  if (clouds && typeof clouds === 'object') {
    const names = Object.keys(clouds);
    const name = opts.cloud ?? (names.length === 1 ? names[0] : undefined);
    if (name === undefined || !(name in clouds)) {
      throw new OctaviaCredentialsError(`credentials: clouds.yaml has ${names.length === 0 ? 'no clouds' : `clouds ${names.join(', ')}`}; ${opts.cloud ? `no cloud ${opts.cloud}` : 'put exactly one cloud in the Secret'}`);
    }
    entry = (clouds as Record<string, Record<string, unknown>>)[name] ?? {};
    where = `clouds.${name}`;
  }
  const auth = (entry.auth && typeof entry.auth === 'object' ? entry.auth : entry) as Record<string, unknown>;
  const authWhere = entry.auth ? `${where}.auth` : where;
  const authType = str(entry, 'auth_type') ?? (str(auth, 'application_credential_id') ? 'v3applicationcredential' : 'password');
  let credentials: OctaviaCredentials;
  if (authType === 'v3applicationcredential') {
    const id = str(auth, 'application_credential_id');
    const secret = str(auth, 'application_credential_secret');
    if (!id) throw new OctaviaCredentialsError(`${authWhere}.application_credential_id: required (application credentials by name are not supported; use the id)`);
    if (!secret) throw new OctaviaCredentialsError(`${authWhere}.application_credential_secret: required`);
    credentials = { type: 'applicationCredential', id, secret };
  } else if (authType === 'password' || authType === 'v3password') {
    const username = str(auth, 'username');
    const password = str(auth, 'password');
    if (!username) throw new OctaviaCredentialsError(`${authWhere}.username: required for auth_type ${authType}`);
    if (!password) throw new OctaviaCredentialsError(`${authWhere}.password: required for auth_type ${authType}`);
    const projectName = str(auth, 'project_name');
    const projectId = str(auth, 'project_id');
    const userDomainName = str(auth, 'user_domain_name');
    const projectDomainName = str(auth, 'project_domain_name');
    credentials = {
      type: 'password',
      username,
      password,
      ...(projectName ? { projectName } : {}),
      ...(projectId ? { projectId } : {}),
      ...(userDomainName ? { userDomainName } : {}),
      ...(projectDomainName ? { projectDomainName } : {}),
    };
  } else {
    throw new OctaviaCredentialsError(`${where}.auth_type: ${JSON.stringify(authType)} is not supported; use password or v3applicationcredential`);
  }
  const authURL = str(auth, 'auth_url');
  const region = str(entry, 'region_name');
  const iface = str(entry, 'interface');
  if (iface !== undefined && iface !== 'public' && iface !== 'internal') throw new OctaviaCredentialsError(`${where}.interface: must be public or internal`);
  return { credentials, ...(authURL ? { authURL } : {}), ...(region ? { region } : {}), ...(iface ? { interface: iface } : {}) };
}

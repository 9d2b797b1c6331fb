// Keystone credentials for the Octavia provider, and parsing them out of the Secret a
// LoadBalancerClass names (spec.octavia.credentialsSecretRef). The Secret value is the
// usual OpenStack `clouds.yaml` (one cloud), or just that cloud's entry, or a bare `auth`
// map. Parsed once at the edge; error messages name keys, never values.
import { parse as parseYaml } from 'yaml';
import { LABEL_CREDENTIALS } from '../api/types.js';
import { PodlbError } from '../util/errors.js';
import { keystoneTokensUrl } from './octavia-client.js';

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
      throw new OctaviaCredentialsError(
        `credentials: clouds.yaml has ${names.length === 0 ? 'no clouds' : `clouds ${names.join(', ')}`}; ${opts.cloud ? `no cloud ${opts.cloud}` : 'put exactly one cloud in the Secret'}`,
      );
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
    if (!id)
      throw new OctaviaCredentialsError(`${authWhere}.application_credential_id: required (application credentials by name are not supported; use the id)`);
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

/**
 * Where a class's credentials may go. The class author picks `authURL` and names the Secret,
 * so without this any class could send the cloud credentials to a server of its choosing.
 * A Secret's credentials go only to a Keystone the operator chose: one listed by flag
 * (`--octavia-auth-url`), or the `auth_url` the Secret itself names (the operator wrote it).
 */
export interface OctaviaTrust {
  /** Keystone URLs the operator allows (`--octavia-auth-url`); compared by the tokens URL they lead to. */
  authURLs: readonly string[];
}

export const OCTAVIA_AUTH_URL_FLAG = '--octavia-auth-url';

/** The URL credentials are POSTed to for this authURL, normalized; undefined when unusable. */
function tokensEndpoint(authURL: string): string | undefined {
  try {
    const u = new URL(keystoneTokensUrl(authURL));
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

/** `refused`: the credentials are there but policy forbids this use (label, Keystone). */
export type ResolvedCredentials = { ok: true; cloud: ParsedCloud } | { ok: false; why: string; refused?: true };

/**
 * Decides whether the Secret a class names may be used for that class's authURL, and parses it.
 * Refusals name the fix; nothing is sent anywhere until this says ok.
 */
export function resolveOctaviaCredentials(
  cls: { authURL: string; credentialsSecret: { namespace: string; name: string; key: string } },
  secret: { metadata: { labels?: Record<string, string> }; data?: Record<string, string> } | undefined,
  trust: OctaviaTrust,
): ResolvedCredentials {
  const ref = cls.credentialsSecret;
  const where = `credentials Secret ${ref.namespace}/${ref.name}`;
  const missing = { ok: false, why: `${where} (key ${ref.key}) not found` } as const;
  if (!secret) return missing;
  if (secret.metadata.labels?.[LABEL_CREDENTIALS] !== 'true') {
    return {
      ok: false,
      refused: true,
      why: `${where} is not labelled ${LABEL_CREDENTIALS}=true; an operator labels the Secrets LoadBalancerClasses may use (kubectl -n ${ref.namespace} label secret ${ref.name} ${LABEL_CREDENTIALS}=true)`,
    };
  }
  const raw = secret.data?.[ref.key];
  if (raw === undefined) return missing;
  let cloud: ParsedCloud;
  try {
    cloud = parseOctaviaCredentials(Buffer.from(raw, 'base64').toString('utf8'));
  } catch (err) {
    return { ok: false, why: `${where}: ${(err as Error).message}` };
  }
  const target = tokensEndpoint(cls.authURL);
  const allowed = [...trust.authURLs, ...(cloud.authURL ? [cloud.authURL] : [])].map(tokensEndpoint);
  if (target === undefined || !allowed.includes(target)) {
    const own = cloud.authURL ? ` nor the auth_url of ${where} (${cloud.authURL})` : '';
    return {
      ok: false,
      refused: true,
      why: `spec.octavia.authURL ${cls.authURL} is neither allowed by the agent's ${OCTAVIA_AUTH_URL_FLAG} flag${own}; credentials are sent only to a Keystone the operator chose: add ${OCTAVIA_AUTH_URL_FLAG} ${cls.authURL} to the agent, or use the Secret's auth_url`,
    };
  }
  return { ok: true, cloud };
}

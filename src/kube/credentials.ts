// The agent's own credential loader: in-cluster (the projected ServiceAccount token and CA) and
// kubeconfig files, exactly the parts podlb's binaries are given. client-node's KubeConfig does
// the same, but importing it loads every generated API (about 88 MB of RSS in a per-node
// process); anything this loader does not understand is refused by name rather than ignored.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Dispatcher } from 'undici';
import { parse } from 'yaml';
import { PodlbError } from '../util/errors.js';
import { Agent } from './undici-core.js';

/** What one request authenticates with. */
export interface RequestAuth {
  headers: Record<string, string>;
  /** Absent: no TLS settings of our own, undici's global dispatcher serves. */
  tls?: {
    /** Identifies the TLS material: an equal key may reuse the connections of an earlier request. */
    key: string;
    dispatcher(): Dispatcher;
  };
}

export interface Credentials {
  readonly server: string;
  authenticate(): Promise<RequestAuth>;
  /** After a 401: drops a cached token read from a file; whether a retry can send another one. */
  forgetToken(): boolean;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** client-go re-reads a token file this often, and after a 401. */
export const TOKEN_FILE_REREAD_MS = 60_000;

interface TlsSource {
  ca?: { file?: string; data?: string };
  cert?: { file?: string; data?: string };
  key?: { file?: string; data?: string };
  insecure?: boolean;
  serverName?: string;
}

interface Source {
  server: string;
  token?: string;
  tokenFile?: string;
  tls: TlsSource;
}

/** A kubeconfig file when given (--kubeconfig or KUBECONFIG), else the Pod's in-cluster configuration. */
export function loadCredentials(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env): Credentials {
  const file = kubeconfig ?? env.KUBECONFIG;
  // PODLB_IN_CLUSTER_ROOT prefixes the projected files' path: the lab's binaries share the
  // host's file system, where the ServiceAccount directory is not theirs.
  return file ? kubeconfigCredentials(file) : inClusterCredentials(env.PODLB_IN_CLUSTER_ROOT ?? '', env);
}

export function inClusterCredentials(root: string, env: NodeJS.ProcessEnv = process.env): Credentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new PodlbError('NO_CLUSTER', 'not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset, and no kubeconfig was given');
  const dir = join(root || '/', SERVICE_ACCOUNT_DIR);
  return fromSource({
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tokenFile: join(dir, 'token'),
    tls: { ca: { file: join(dir, 'ca.crt') } },
  });
}

export function kubeconfigCredentials(file: string): Credentials {
  // A missing file is reported by the file system's own message (ENOENT and the path).
  const text = readFileSync(file, 'utf8');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new PodlbError('BAD_KUBECONFIG', `kubeconfig ${file}: ${(err as Error).message}`);
  }
  return fromSource(kubeconfigSource(doc, dirname(resolve(file)), file));
}

type Entry = Record<string, unknown>;

function named(doc: Entry, list: string, item: string, name: unknown, file: string): Entry {
  const entries = Array.isArray(doc[list]) ? (doc[list] as Entry[]) : [];
  const found = entries.find((e) => e?.name === name)?.[item];
  if (!found || typeof found !== 'object') throw new PodlbError('BAD_KUBECONFIG', `kubeconfig ${file}: no ${item} named ${String(name)}`);
  return found as Entry;
}

/** Relative paths in a kubeconfig are relative to the file's directory, as client-go reads them. */
export function kubeconfigSource(doc: unknown, base: string, file: string): Source {
  if (!doc || typeof doc !== 'object') throw new PodlbError('BAD_KUBECONFIG', `kubeconfig ${file}: not a mapping`);
  const d = doc as Entry;
  const current = d['current-context'];
  if (!current) throw new PodlbError('BAD_KUBECONFIG', `kubeconfig ${file}: no current-context`);
  const ctx = named(d, 'contexts', 'context', current, file);
  const cluster = named(d, 'clusters', 'cluster', ctx.cluster, file);
  const user = ctx.user === undefined ? {} : named(d, 'users', 'user', ctx.user, file);
  for (const k of ['exec', 'auth-provider', 'username', 'password', 'as', 'as-groups', 'client-key-passphrase']) {
    if (user[k] !== undefined)
      throw new PodlbError(
        'UNSUPPORTED_KUBECONFIG',
        `kubeconfig ${file}: user ${String(ctx.user)} uses ${k}, which podlb does not support; use a token, token file or client certificate`,
      );
  }
  if (cluster['proxy-url'] !== undefined)
    throw new PodlbError('UNSUPPORTED_KUBECONFIG', `kubeconfig ${file}: cluster ${String(ctx.cluster)} uses proxy-url, which podlb does not support`);
  if (typeof cluster.server !== 'string' || !cluster.server)
    throw new PodlbError('BAD_KUBECONFIG', `kubeconfig ${file}: cluster ${String(ctx.cluster)} has no server`);
  const str = (o: Entry, k: string): string | undefined => (typeof o[k] === 'string' && o[k] ? (o[k] as string) : undefined);
  const path = (o: Entry, k: string): string | undefined => {
    const p = str(o, k);
    return p === undefined ? undefined : resolve(base, p);
  };
  const material = (o: Entry, fileKey: string): { file?: string; data?: string } | undefined => {
    const f = path(o, fileKey);
    const b64 = str(o, `${fileKey}-data`);
    if (b64) return { data: Buffer.from(b64, 'base64').toString('utf8') };
    return f ? { file: f } : undefined;
  };
  const tls: TlsSource = {};
  const ca = material(cluster, 'certificate-authority');
  const cert = material(user, 'client-certificate');
  const key = material(user, 'client-key');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (cluster['insecure-skip-tls-verify'] === true) tls.insecure = true;
  const serverName = str(cluster, 'tls-server-name');
  if (serverName) tls.serverName = serverName;
  // client-node's rule too: credentials go over plain HTTP only when TLS is explicitly off.
  if (cluster.server.startsWith('http:') && !tls.insecure)
    throw new PodlbError('BAD_KUBECONFIG', `kubeconfig ${file}: server ${cluster.server} is plain HTTP without insecure-skip-tls-verify`);
  const source: Source = { server: cluster.server, tls };
  const token = str(user, 'token');
  const tokenFile = path(user, 'tokenFile');
  if (token) source.token = token;
  else if (tokenFile) source.tokenFile = tokenFile;
  return source;
}

function read(m: { file?: string; data?: string } | undefined): string | undefined {
  if (!m) return undefined;
  return m.data ?? readFileSync(m.file as string, 'utf8');
}

export function fromSource(s: Source, now: () => number = Date.now): Credentials {
  let cached: { token: string; at: number } | undefined;
  const bearer = (): string | undefined => {
    if (s.token) return s.token;
    if (!s.tokenFile) return undefined;
    if (!cached || now() - cached.at >= TOKEN_FILE_REREAD_MS) cached = { token: readFileSync(s.tokenFile, 'utf8').trim(), at: now() };
    return cached.token;
  };
  return {
    server: s.server,
    authenticate: async () => {
      const token = bearer();
      const auth: RequestAuth = { headers: token ? { Authorization: `Bearer ${token}` } : {} };
      const t = s.tls;
      if (!t.ca && !t.cert && !t.key && !t.insecure && !t.serverName) return auth;
      // Files are read for every request, so a rotated certificate changes the key and gets new connections.
      const connect = {
        ca: read(t.ca),
        cert: read(t.cert),
        key: read(t.key),
        ...(t.insecure ? { rejectUnauthorized: false } : {}),
        ...(t.serverName ? { servername: t.serverName } : {}),
      };
      const h = createHash('sha256');
      for (const [k, v] of Object.entries(connect)) h.update(`${k}=${String(v ?? '')}\n`);
      h.update(`server=${s.server}\n`);
      // keepAlive 30 s as client-go: undici's 60 s races cloud load balancers' idle timeouts.
      auth.tls = { key: h.digest('hex'), dispatcher: () => new Agent({ connect: { ...connect, keepAlive: true, keepAliveInitialDelay: 30_000 } }) };
      return auth;
    },
    forgetToken: () => {
      if (!s.tokenFile) return false;
      cached = undefined;
      return true;
    },
  };
}

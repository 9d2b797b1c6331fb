// In-process Kubernetes API server for the tests and `podlb lab` (design §8). It follows the
// real API's semantics for everything podlb uses; see README.md for the list, the deviations,
// and how to use it from @kubernetes/client-node 2.x.
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Authenticator } from './authn.js';
import { ApiHttpServer, type DeniedRequest, type ServedResponse } from './http.js';
import { createPodIdentity, type PodIdentity, type PodIdentityOptions } from './identity.js';
import { installManifests, type InstallResult } from './install.js';
import { createServerPki, issueClientCert } from './pki.js';
import { bootstrapPolicy, RbacAuthorizer, rbacResources } from './rbac.js';
import type { Obj, ResourceType } from './resource-type.js';
import { handleReview } from './reviews.js';
import { ObjectStore } from './store.js';
import { IN_PROCESS_USER } from './user.js';

export { ObjectStore } from './store.js';
export type { DeleteOptions, ListOptions, Obj, PatchOptions, PatchType, WatchEvent, WatchEventType, WatchOptions, WriteOptions } from './store.js';
export { ApiError } from './errors.js';
export type { Status } from './errors.js';
export type { ResourceType } from './resource-type.js';
export { builtinResources, resourceFromCrd } from './resources.js';
export { loadCrds, shippedCrds, type Crd } from './crds.js';
export type { PodIdentity, PodIdentityOptions } from './identity.js';
export type { InstallResult } from './install.js';
export type { UserInfo } from './user.js';
export type { DeniedRequest, ServedResponse } from './http.js';
export { IN_PROCESS_USER } from './user.js';
export { installManifests, manifestObjects } from './install.js';
export { repoRoot } from './crds.js';

export interface ApiServerFaults {
  /** Every open watch stream ends. Default: the connection is reset, so a client-node informer reports an error (and stops, unless restarted). `{graceful: true}` ends the chunked response cleanly, as a watch timeout does (an informer re-watches silently). */
  closeAllWatches(opts?: { graceful?: boolean }): void;
  /** The next `count` requests (for which `match(method, pathWithQuery)` holds) fail with `status` and a real Status body. */
  failNext(opts: { count: number; status: number; match?: (method: string, path: string) => boolean }): void;
  /** Expire the watch history: a watch from any older resourceVersion gets 410 Expired. */
  compact(): void;
  /** Delay every HTTP request by `ms`. */
  setLatencyMs(ms: number): void;
}

export interface ApiServer {
  /** https://127.0.0.1:PORT */
  url: string;
  /** PEM of the CA that signed the serving certificate (a Pod's ca.crt). */
  caPem: string;
  /** A kubeconfig for the cluster admin (a static token in group system:masters), with the server's CA. */
  kubeconfigYaml(): string;
  writeKubeconfig(path: string): Promise<void>;
  /** A kubeconfig for a bearer token (e.g. from addToken). */
  kubeconfigForToken(token: string, userLabel?: string): string;
  /** A kubeconfig with a client certificate signed by the server's client CA (CN = username, O = groups). */
  kubeconfigForClientCert(user: { username: string; groups?: string[] }): Promise<string>;
  /** Registers a static token (kube-apiserver --token-auth-file) for a named user; returns the token. */
  addToken(user: { username: string; groups?: string[]; uid?: string }): string;
  /** The in-cluster identity of a binary in a Pod of `serviceAccount` (see identity.ts). */
  podIdentity(o: PodIdentityOptions): PodIdentity;
  /** Creates the objects of daemonset/ whose kinds this server serves (RBAC, ServiceAccounts, ...). */
  installManifests(): InstallResult;
  /** Direct in-process access: same semantics and events as the HTTP API. */
  store: ObjectStore;
  faults: ApiServerFaults;
  /**
   * What a kube-apiserver restart looks like to clients: every connection drops, the port
   * refuses connections for `downMs`, and the new process's watch cache starts at the current
   * resourceVersion (a watch from an older one gets 410). The store (etcd), the certificates and
   * the tokens stay; faults set on the old process (latency, failNext) do not.
   */
  restart(opts?: { downMs?: number }): Promise<void>;
  /** Open HTTP watch streams (for tests). */
  openWatchCount(): number;
  /** Requests RBAC refused so far (403), oldest first: what an audit log would show. */
  deniedRequests(): DeniedRequest[];
  /** Paths of stored fields a protobuf response left out because its schema lacks them (the first 100). */
  protobufDropped(): string[];
  /**
   * Calls `listener` with every API response as its head is written (a watch's when it starts):
   * the Accept a client sent and the Content-Type it got. Returns the function that stops it.
   */
  observeResponses(listener: (r: ServedResponse) => void): () => void;
  close(): Promise<void>;
}

export interface ApiServerOptions {
  port?: number;
  /** How often a watch with allowWatchBookmarks gets a BOOKMARK (default 60 s, as the real server). */
  bookmarkIntervalMs?: number;
  /** Watch-cache events kept per resource (default 1000). */
  historySize?: number;
  /** More resource types (e.g. Calico CRDs; `resourceFromCrd(crd)` enforces a CRD's schema). */
  resources?: ResourceType[];
}

function kubeconfig(url: string, caPem: string, user: Record<string, string>, label: string): string {
  const userLines = Object.entries(user).map(([k, v]) => `    ${k}: ${v}`);
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: podlb-lab',
    '  cluster:',
    `    server: ${url}`,
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    'users:',
    `- name: ${label}`,
    '  user:',
    ...userLines,
    'contexts:',
    '- name: podlb-lab',
    '  context:',
    '    cluster: podlb-lab',
    `    user: ${label}`,
    'current-context: podlb-lab',
    '',
  ].join('\n');
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const store = new ObjectStore({
    ...(opts.historySize !== undefined ? { historySize: opts.historySize } : {}),
    resources: [...rbacResources(), ...(opts.resources ?? [])],
  });
  for (const { resource, body } of bootstrapPolicy()) store.create(resource, body);
  const pki = await createServerPki({ hosts: ['127.0.0.1'], now: Date.now() });
  const authn = new Authenticator(pki, store);
  const authz = new RbacAuthorizer(store);
  const adminToken = authn.addStaticToken({ username: 'kubernetes-admin', groups: ['system:masters'] });
  // Held here, not by the HTTP server, so that they outlive restart().
  const responseListeners = new Set<(r: ServedResponse) => void>();
  const httpOptions = {
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
    tls: { certPem: pki.serving.certPem, keyPem: pki.serving.keyPem, clientCaPem: pki.clientCa.certPem },
    authn,
    authz,
    onResponse: (r: ServedResponse) => {
      for (const l of responseListeners) l(r);
    },
  };
  const listen = async (h: ApiHttpServer, port: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      h.server.once('error', reject);
      h.server.listen(port, '127.0.0.1', () => resolve());
    });
  let http = new ApiHttpServer(store, httpOptions);
  await listen(http, opts.port ?? 0);
  const port = (http.server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  const caPem = pki.serverCa.certPem;
  const kubeconfigYaml = (): string => kubeconfig(url, caPem, { token: adminToken }, 'kubernetes-admin');
  const tempDirs: string[] = [];
  const identities: PodIdentity[] = [];
  const requestToken = (namespace: string, name: string, spec: Obj): string => {
    const attrs = {
      user: IN_PROCESS_USER,
      verb: 'create',
      resourceRequest: true,
      path: '',
      apiGroup: '',
      resource: 'serviceaccounts',
      subresource: 'token',
      namespace,
      name,
    };
    const out = handleReview(attrs, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec }, { store, authn, authz, user: IN_PROCESS_USER });
    return out.status.token as string;
  };
  return {
    url,
    caPem,
    kubeconfigYaml,
    writeKubeconfig: (path) => writeFile(path, kubeconfigYaml(), { mode: 0o600 }),
    kubeconfigForToken: (token, label = 'token-user') => kubeconfig(url, caPem, { token }, label),
    kubeconfigForClientCert: async (user) => {
      const c = await issueClientCert(pki, { ...user, now: Date.now() });
      return kubeconfig(
        url,
        caPem,
        { 'client-certificate-data': Buffer.from(c.certPem).toString('base64'), 'client-key-data': Buffer.from(c.keyPem).toString('base64') },
        user.username.replace(/[^\w.-]/g, '_'),
      );
    },
    addToken: (user) => authn.addStaticToken(user),
    podIdentity: (o) => {
      const dir = mkdtempSync(join(tmpdir(), 'podlb-sa-'));
      tempDirs.push(dir);
      const id = createPodIdentity({ store, requestToken, caPem, host: '127.0.0.1', port, dir }, o);
      identities.push(id);
      return id;
    },
    installManifests: () => installManifests(store),
    store,
    faults: {
      closeAllWatches: (o) => http.closeAllWatches(!o?.graceful),
      failNext: (o) => http.failNext(o),
      compact: () => store.compact(),
      setLatencyMs: (ms) => {
        http.latencyMs = ms;
      },
    },
    restart: async (o = {}) => {
      await http.close();
      // The new process's watch cache starts at etcd's current revision.
      store.compact();
      await new Promise((r) => setTimeout(r, o.downMs ?? 0));
      http = new ApiHttpServer(store, httpOptions);
      await listen(http, port);
    },
    openWatchCount: () => http.openWatchCount,
    deniedRequests: () => [...http.denied],
    protobufDropped: () => [...http.protobufDropped],
    observeResponses: (listener) => {
      responseListeners.add(listener);
      return () => {
        responseListeners.delete(listener);
      };
    },
    close: async () => {
      for (const id of identities.splice(0)) id.stop();
      await http.close();
      for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

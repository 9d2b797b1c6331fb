// In-process Kubernetes API server for the tests and `podlb lab` (design §8). It follows the
// real API's semantics for everything podlb uses; see README.md for the list, the deviations,
// and how to use it from @kubernetes/client-node 1.4.
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { ApiHttpServer } from './http.js';
import type { ResourceType } from './resources.js';
import { ObjectStore } from './store.js';

export { ObjectStore } from './store.js';
export type { DeleteOptions, ListOptions, Obj, PatchOptions, PatchType, WatchEvent, WatchEventType, WatchOptions, WriteOptions } from './store.js';
export { ApiError } from './errors.js';
export type { Status } from './errors.js';
export type { ResourceType } from './resources.js';
export { builtinResources, resourceFromCrd } from './resources.js';
export { loadCrds, shippedCrds, type Crd } from './crds.js';
export type { UserInfo } from './user.js';
export { IN_PROCESS_USER } from './user.js';

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
  /** http://127.0.0.1:PORT */
  url: string;
  /** A kubeconfig for this server (http, insecure-skip-tls-verify so client-node accepts http). */
  kubeconfigYaml(): string;
  writeKubeconfig(path: string): Promise<void>;
  /** Direct in-process access: same semantics and events as the HTTP API. */
  store: ObjectStore;
  faults: ApiServerFaults;
  /** Open HTTP watch streams (for tests). */
  openWatchCount(): number;
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

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const store = new ObjectStore({ ...(opts.historySize !== undefined ? { historySize: opts.historySize } : {}), ...(opts.resources ? { resources: opts.resources } : {}) });
  const http = new ApiHttpServer(store, { bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000 });
  await new Promise<void>((resolve, reject) => {
    http.server.once('error', reject);
    http.server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (http.server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const kubeconfigYaml = (): string =>
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: podlb-lab',
      '  cluster:',
      `    server: ${url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: podlb-lab',
      '  user:',
      '    token: podlb-lab',
      'contexts:',
      '- name: podlb-lab',
      '  context:',
      '    cluster: podlb-lab',
      '    user: podlb-lab',
      'current-context: podlb-lab',
      '',
    ].join('\n');
  return {
    url,
    kubeconfigYaml,
    writeKubeconfig: (path) => writeFile(path, kubeconfigYaml(), { mode: 0o600 }),
    store,
    faults: {
      closeAllWatches: (o) => http.closeAllWatches(!o?.graceful),
      failNext: (o) => http.failNext(o),
      compact: () => store.compact(),
      setLatencyMs: (ms) => {
        http.latencyMs = ms;
      },
    },
    openWatchCount: () => http.openWatchCount,
    close: () => http.close(),
  };
}

// A binary's identity exactly as a Pod gets it: a Pod object of its workload (what the DaemonSet
// or Deployment controller would create, bound to a node), and the kubelet's projected
// ServiceAccount volume: a token from the TokenRequest API bound to that Pod, the server's CA and
// the namespace, under `<pathPrefix>/var/run/secrets/kubernetes.io/serviceaccount/`, plus the
// KUBERNETES_SERVICE_HOST/PORT environment. The binary loads it with client-node's
// loadFromCluster(pathPrefix), as it does in a cluster.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Obj } from './resource-type.js';
import type { ObjectStore } from './store.js';

export const SA_DIR = 'var/run/secrets/kubernetes.io/serviceaccount';

export interface PodIdentityOptions {
  /** `namespace/name` of the ServiceAccount (it must exist: install the manifests first). */
  serviceAccount: string;
  /** The node the Pod runs on; its name and uid end up in the token. */
  nodeName?: string;
  /** The Pod runs in the host's network namespace (the agent's DaemonSet does); the lab kubelet leaves such Pods to the lab. */
  hostNetwork?: boolean;
  /** Default 3607 s, the kubelet's own request. */
  expirationSeconds?: number;
}

export interface PodIdentity {
  /** For loadFromCluster(pathPrefix), and PODLB_IN_CLUSTER_ROOT of a child binary. */
  pathPrefix: string;
  env: { KUBERNETES_SERVICE_HOST: string; KUBERNETES_SERVICE_PORT: string };
  /** The Pod the current token is bound to. */
  pod(): Obj;
  /** The current token (what the file holds). */
  token(): string;
  /** A KubeConfig from client-node's own in-cluster loader, reading the files above. */
  kubeConfig(): KubeConfig;
  /** The kubelet's rotation: a fresh token for the same Pod replaces the file (the old one stays valid until it expires). */
  rotate(): string;
  /** The Pod is deleted and recreated (new uid): every earlier token is refused from now on; the file holds one for the new Pod. */
  replacePod(): string;
  /** Stops the kubelet-style rotation timer. */
  stop(): void;
}

export interface IdentityDeps {
  store: ObjectStore;
  /** TokenRequest against the server, as the kubelet makes it. */
  requestToken(namespace: string, serviceAccount: string, spec: Obj): string;
  caPem: string;
  host: string;
  port: number;
  dir: string;
}

export function createPodIdentity(deps: IdentityDeps, o: PodIdentityOptions): PodIdentity {
  const [ns, sa] = o.serviceAccount.split('/');
  if (!ns || !sa) throw new Error(`serviceAccount must be namespace/name, got ${o.serviceAccount}`);
  const saDir = join(deps.dir, SA_DIR);
  mkdirSync(saDir, { recursive: true, mode: 0o755 });
  writeFileSync(join(saDir, 'ca.crt'), deps.caPem);
  writeFileSync(join(saDir, 'namespace'), ns);
  const podBody = (name?: string): Obj => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: name
      ? { name, namespace: ns }
      : { generateName: `${sa}-`, namespace: ns, labels: { 'app.kubernetes.io/name': 'podlb', 'app.kubernetes.io/instance': sa } },
    spec: {
      serviceAccountName: sa,
      ...(o.nodeName ? { nodeName: o.nodeName } : {}),
      ...(o.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'podlb', image: 'podlb:latest' }],
    },
  });
  let pod = deps.store.create('pods', podBody(), { namespace: ns });
  let token = '';
  const writeToken = (): string => {
    token = deps.requestToken(ns, sa, {
      audiences: [],
      expirationSeconds: o.expirationSeconds ?? 3607,
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata.name, uid: pod.metadata.uid },
    });
    // The kubelet's atomic writer: readers see the old file or the new one, never a partial one.
    const tmp = join(saDir, `.token.${process.pid}`);
    writeFileSync(tmp, token, { mode: 0o600 });
    renameSync(tmp, join(saDir, 'token'));
    return token;
  };
  // The kubelet refreshes a projected token once 80% of its lifetime has passed.
  const lifetimeMs = (o.expirationSeconds ?? 3607) * 1000;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    timer = setTimeout(() => {
      try {
        writeToken();
        schedule();
      } catch {
        // The Pod or its ServiceAccount is gone: a kubelet stops refreshing too.
      }
    }, lifetimeMs * 0.8);
    timer.unref();
  };
  writeToken();
  schedule();
  const env = { KUBERNETES_SERVICE_HOST: deps.host, KUBERNETES_SERVICE_PORT: String(deps.port) };
  const pathPrefix = deps.dir.replace(/\/+$/, '');
  return {
    pathPrefix,
    env,
    pod: () => pod,
    token: () => token,
    kubeConfig: () => {
      // loadFromCluster reads the two variables at call time; set them only for the call.
      const saved = { h: process.env.KUBERNETES_SERVICE_HOST, p: process.env.KUBERNETES_SERVICE_PORT };
      process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
      process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT;
      try {
        const kc = new KubeConfig();
        kc.loadFromCluster(pathPrefix);
        return kc;
      } finally {
        for (const [k, v] of [
          ['KUBERNETES_SERVICE_HOST', saved.h],
          ['KUBERNETES_SERVICE_PORT', saved.p],
        ] as const) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    },
    rotate: writeToken,
    stop: () => clearTimeout(timer),
    replacePod: () => {
      const name = pod.metadata.name as string;
      deps.store.delete('pods', name, ns, { gracePeriodSeconds: 0 });
      pod = deps.store.create('pods', podBody(name), { namespace: ns });
      return writeToken();
    },
  };
}

// Credentials from a client-node KubeConfig, for the callers that have one (the controller, the
// kubectl plugin, tests). client-node is only a type here: whoever built the KubeConfig has
// loaded it already, and the agent, which passes our own Credentials, never does.
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';
import { PodlbError } from '../util/errors.js';
import type { Credentials, RequestAuth } from './credentials.js';

export function isKubeConfig(x: KubeConfig | Credentials): x is KubeConfig {
  return typeof (x as Partial<KubeConfig>).getCurrentCluster === 'function';
}

export function credentialsOf(kc: KubeConfig): Credentials {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new PodlbError('NO_CLUSTER', 'the kubeconfig has no current cluster');
  return {
    server: cluster.server,
    authenticate: async () => {
      // applySecurityAuthentication needs only these two methods of its RequestContext.
      const headers: Record<string, string> = {};
      let fresh: Dispatcher | undefined;
      await kc.applySecurityAuthentication({
        setHeaderParam: (k: string, v: string) => {
          headers[k] = v;
        },
        setDispatcher: (d: Dispatcher) => {
          fresh = d;
        },
      } as unknown as Parameters<KubeConfig['applySecurityAuthentication']>[0]);
      const auth: RequestAuth = { headers };
      const d = fresh;
      if (d) auth.tls = { key: tlsKey(kc), dispatcher: () => d };
      return auth;
    },
    forgetToken: () => forgetCachedFileToken(kc),
  };
}

/**
 * What the pool's connections were built from: the TLS material as client-node reads it for
 * every request (files are re-read, so a rotated client certificate changes the key), the
 * proxy and the server. applyHTTPSOptions is private in client-node's typings only.
 */
function tlsKey(kc: KubeConfig): string {
  const o: Record<string, unknown> = {};
  (kc as unknown as { applyHTTPSOptions(o: Record<string, unknown>): void }).applyHTTPSOptions(o);
  const cluster = kc.getCurrentCluster();
  const h = createHash('sha256');
  for (const k of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername']) h.update(`${k}=${String(o[k] ?? '')}\n`);
  h.update(`proxy=${cluster?.proxyUrl ?? ''}\nserver=${cluster?.server ?? ''}\n`);
  return h.digest('hex');
}

/**
 * Drops client-node's cached token-file token (its FileAuth re-reads only every 60 s), so the
 * next request, and the next watch on the same KubeConfig, reads the file again. Returns
 * whether the current user authenticates with a token file at all. The authenticator list is
 * private in client-node's typings; it is the only place the cache lives.
 */
export function forgetCachedFileToken(kc: KubeConfig): boolean {
  const tokenFile = (kc.getCurrentUser()?.authProvider as { config?: { tokenFile?: string } } | undefined)?.config?.tokenFile;
  if (!tokenFile) return false;
  const auths = (kc as unknown as { authenticators?: unknown[] }).authenticators ?? [];
  for (const a of auths) {
    const fa = a as { token?: unknown; lastRead?: unknown; refreshToken?: unknown };
    if (typeof fa.refreshToken === 'function' && 'lastRead' in fa) {
      fa.token = null;
      fa.lastRead = null;
    }
  }
  return true;
}

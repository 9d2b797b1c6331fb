// The Octavia credentials Secrets the batch writer needs, read one by one by name (GET), never
// listed: the controller's Role grants `get` on the Secret names an operator lists there
// (default `octavia-credentials`), so a stolen controller token still cannot read the BGP
// passwords kept in the same namespace. Each Secret is re-read at most every `ttlMs`.
import type { LoadBalancerClass, Secret } from '../api/types.js';
import type { KubeClient } from '../kube/client.js';

export class CredentialSecrets {
  readonly #client: KubeClient;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { secret?: Secret; fetchedAt: number }>();

  constructor(client: KubeClient, opts: { ttlMs?: number } = {}) {
    this.#client = client;
    this.#ttlMs = opts.ttlMs ?? 30_000;
  }

  /** Reads the Secrets Octavia classes name that are not cached or are older than the TTL. */
  async refresh(classes: readonly LoadBalancerClass[], now: number): Promise<void> {
    const wanted = new Set<string>();
    for (const c of classes) {
      const ref = c.spec?.provider === 'octavia' ? c.spec.octavia?.credentialsSecretRef : undefined;
      if (!ref?.name) continue;
      const key = `${ref.namespace ?? 'podlb-system'}/${ref.name}`;
      wanted.add(key);
      const hit = this.#cache.get(key);
      if (hit && now - hit.fetchedAt < this.#ttlMs) continue;
      const [ns, name] = key.split('/') as [string, string];
      // Not found or not granted: the writer reports the class's credentials as missing.
      const secret = await this.#client.get<Secret>(`/api/v1/namespaces/${ns}/secrets/${name}`).catch(() => undefined);
      this.#cache.set(key, { ...(secret ? { secret } : {}), fetchedAt: now });
    }
    for (const key of this.#cache.keys()) if (!wanted.has(key)) this.#cache.delete(key);
  }

  get(name: string, namespace: string): Secret | undefined {
    return this.#cache.get(`${namespace}/${name}`)?.secret;
  }
}

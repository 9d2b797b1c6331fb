// Load-balancer instances of a class and their clients, per provider: HAProxy runtime API
// addresses as they are, Octavia instances built from the class and its credentials Secret.
// An Octavia instance's ref carries the Secret's resourceVersion, so a Secret that appears or
// rotates gives a new client (the member reconciler keeps one client per ref); the instance
// id, which status and drain bookkeeping use, does not change.
import type { Secret } from '../api/types.js';
import { HaproxyInstance } from '../lb/haproxy-instance.js';
import { resolveOctaviaCredentials, type OctaviaTrust } from '../lb/octavia-credentials.js';
import { OctaviaInstance } from '../lb/octavia-instance.js';
import { LB_CREDENTIALS_REFUSED, type LbInstance, type LbInstanceRef, type MemberListing } from '../lb/provider.js';
import type { LbClassModel, OctaviaClassConfig } from '../members/binding.js';
import { UnreachableError } from '../util/errors.js';

/**
 * An instance that cannot be reached for a reason a user must fix (missing credentials):
 * every call fails transiently, so the reconciler keeps members, backs off and reports it.
 */
export function failingInstance(id: string, why: string, code = 'LB_NOT_CONFIGURED'): LbInstance {
  const unusable = new UnreachableError(code, `${id}: ${why}`);
  const fail = async (): Promise<never> => {
    throw unusable;
  };
  return {
    id,
    unusable,
    listMembers: fail as () => Promise<MemberListing>,
    addMember: fail,
    drainMember: fail,
    enableMember: fail,
    removeMember: fail,
    close: async () => undefined,
  };
}

export interface LbInstanceFactoryOptions {
  nodeName: string;
  /** The only namespace the agent reads Secrets in. */
  secretsNamespace: string;
  /** A Secret as the cache holds it now. */
  secret: (name: string, namespace: string) => Secret | undefined;
  /** Where Octavia credentials may be sent besides a Secret's own auth_url (`--octavia-auth-url`). */
  octaviaTrust?: OctaviaTrust;
  /** OctaviaInstanceOptions.heartbeatMs (default there: 10 s). */
  octaviaHeartbeatMs?: number;
}

export class LbInstanceFactory {
  readonly #o: LbInstanceFactoryOptions;
  /** HAProxy clients made here, for the round-trip metric. */
  readonly #haproxy: HaproxyInstance[] = [];

  constructor(o: LbInstanceFactoryOptions) {
    this.#o = o;
  }

  /** Round trips every HAProxy client made so far. */
  haproxyRoundTrips(): number {
    return this.#haproxy.reduce((a, c) => a + c.runtime.roundTrips, 0);
  }

  /** The instances of a class as they stand now: Octavia ones with their credentials version. */
  instancesOf(cls: LbClassModel): LbInstanceRef[] {
    const ref = cls.octavia?.credentialsSecret;
    const version = ref && this.#o.secret(ref.name, ref.namespace)?.metadata.resourceVersion;
    return cls.instances.map((id) => ({
      className: cls.name,
      provider: cls.provider,
      id,
      ...(cls.provider === 'octavia' && version !== undefined ? { credentialsVersion: version } : {}),
    }));
  }

  make(ref: LbInstanceRef, cls: LbClassModel): LbInstance {
    if (ref.provider === 'octavia') return this.#octavia(ref.id, cls.octavia);
    const inst = new HaproxyInstance(ref.id);
    this.#haproxy.push(inst);
    return inst;
  }

  #octavia(id: string, cfg: OctaviaClassConfig | undefined): LbInstance {
    const ref = cfg?.credentialsSecret;
    const ns = this.#o.secretsNamespace;
    const unusable = (why: string): LbInstance => failingInstance(id, why);
    if (!cfg || !ref) return unusable('no LoadBalancerClass configuration for this instance');
    // Refused like an unlabelled Secret: the class author chose it, and only the operator can fix it.
    if (ref.namespace !== ns)
      return failingInstance(
        id,
        `credentials Secret ${ref.namespace}/${ref.name} is outside ${ns}, the only namespace the agent reads Secrets in`,
        LB_CREDENTIALS_REFUSED,
      );
    const resolved = resolveOctaviaCredentials(cfg, this.#o.secret(ref.name, ref.namespace), this.#o.octaviaTrust ?? { authURLs: [] });
    if (!resolved.ok) return failingInstance(id, resolved.why, resolved.refused ? LB_CREDENTIALS_REFUSED : undefined);
    return new OctaviaInstance({
      id,
      authURL: cfg.authURL,
      ...(cfg.region ? { region: cfg.region } : {}),
      ...(resolved.cloud.interface ? { interface: resolved.cloud.interface } : {}),
      credentials: resolved.cloud.credentials,
      loadBalancerID: cfg.loadBalancerID,
      nodeName: this.#o.nodeName,
      ...(this.#o.octaviaHeartbeatMs !== undefined ? { heartbeatMs: this.#o.octaviaHeartbeatMs } : {}),
    });
  }
}

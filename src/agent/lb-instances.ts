// Load-balancer clients by instance address, per provider: HAProxy runtime API addresses as
// they are, Octavia instances built from the class and its credentials Secret. Octavia
// addresses carry the Secret's resourceVersion (withSecretVersions), so a Secret that appears
// or rotates gives a new client (the member reconciler caches clients by address); the
// instance id, which keys drain bookkeeping, stays the bare address.
import type { Secret } from '../api/types.js';
import { HaproxyInstance } from '../lb/haproxy-instance.js';
import { parseOctaviaCredentials } from '../lb/octavia-credentials.js';
import { OctaviaInstance } from '../lb/octavia-instance.js';
import type { LbInstance, MemberListing } from '../lb/provider.js';
import type { LbClassModel, OctaviaClassConfig } from '../members/binding.js';
import { errorMessage, UnreachableError } from '../util/errors.js';

/** The instance id an address stands for (the address without its credentials version). */
export function instanceId(address: string): string {
  return address.replace(/\?.*$/, '');
}

/**
 * An instance that cannot be reached for a reason a user must fix (missing credentials):
 * every call fails transiently, so the reconciler keeps members, backs off and reports it.
 */
export function failingInstance(id: string, why: string): LbInstance {
  const fail = async (): Promise<never> => {
    throw new UnreachableError('LB_NOT_CONFIGURED', `${id}: ${why}`);
  };
  return {
    id,
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
}

export class LbInstanceFactory {
  readonly #o: LbInstanceFactoryOptions;
  /** Octavia classes by versioned instance address. */
  readonly #octaviaByAddress = new Map<string, OctaviaClassConfig>();
  /** HAProxy clients made here, for the round-trip metric. */
  readonly #haproxy: HaproxyInstance[] = [];

  constructor(o: LbInstanceFactoryOptions) {
    this.#o = o;
  }

  /** Round trips every HAProxy client made so far. */
  haproxyRoundTrips(): number {
    return this.#haproxy.reduce((a, c) => a + c.runtime.roundTrips, 0);
  }

  make(address: string): LbInstance {
    if (address.startsWith('octavia://')) return this.#octavia(address);
    const inst = new HaproxyInstance(address);
    this.#haproxy.push(inst);
    return inst;
  }

  /** Octavia instance addresses with the credentials Secret's resourceVersion appended. */
  withSecretVersions(classes: ReadonlyMap<string, LbClassModel>): Map<string, LbClassModel> {
    const out = new Map<string, LbClassModel>();
    for (const [name, cls] of classes) {
      if (cls.provider !== 'octavia' || !cls.octavia) {
        out.set(name, cls);
        continue;
      }
      const ref = cls.octavia.credentialsSecret;
      const secret = this.#o.secret(ref.name, ref.namespace);
      const addresses = cls.instances.map((a) => `${a}?secret=${secret?.metadata.resourceVersion ?? 'missing'}`);
      for (const a of addresses) this.#octaviaByAddress.set(a, cls.octavia);
      out.set(name, { ...cls, instances: addresses });
    }
    return out;
  }

  #octavia(address: string): LbInstance {
    const id = instanceId(address);
    const cfg = this.#octaviaByAddress.get(address);
    const ref = cfg?.credentialsSecret;
    const ns = this.#o.secretsNamespace;
    const unusable = (why: string): LbInstance => failingInstance(id, why);
    if (!cfg || !ref) return unusable('no LoadBalancerClass configuration for this instance');
    if (ref.namespace !== ns) return unusable(`credentials Secret ${ref.namespace}/${ref.name} is outside ${ns}, the only namespace the agent reads Secrets in`);
    const raw = this.#o.secret(ref.name, ref.namespace)?.data?.[ref.key];
    if (raw === undefined) return unusable(`credentials Secret ${ref.namespace}/${ref.name} (key ${ref.key}) not found`);
    try {
      const parsed = parseOctaviaCredentials(Buffer.from(raw, 'base64').toString('utf8'));
      return new OctaviaInstance({
        id,
        authURL: cfg.authURL,
        ...(cfg.region ? { region: cfg.region } : {}),
        ...(parsed.interface ? { interface: parsed.interface } : {}),
        credentials: parsed.credentials,
        loadBalancerID: cfg.loadBalancerID,
        nodeName: this.#o.nodeName,
      });
    } catch (err) {
      return unusable(`credentials Secret ${ref.namespace}/${ref.name}: ${errorMessage(err)}`);
    }
  }
}

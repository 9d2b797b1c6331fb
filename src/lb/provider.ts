// The narrow interface between the member reconciler and one load-balancer instance. An L7LB
// is a fleet: the reconciler holds one LbInstance per instance and gives every instance every
// member. Implementations: HaproxyInstance (runtime API), OctaviaInstance (Octavia API v2).

/** Which load-balancer instance a client talks to, and with what it was built. */
export interface LbInstanceRef {
  className: string;
  provider: 'haproxy' | 'octavia';
  /**
   * The instance as the class names it: a runtime API address (`unix:///run/haproxy.sock`) or
   * `octavia://REGION/LB`. Status, metrics and drain bookkeeping use it.
   */
  id: string;
  /**
   * Octavia: the resourceVersion of the credentials Secret, undefined while the Secret is
   * missing. Not part of the instance's name: a new version only means a new client.
   */
  credentialsVersion?: string;
}

/**
 * The error code of an instance whose credentials the agent will not use as configured (a
 * Secret not labelled for podlb, or a Keystone the operator did not choose): a user must fix
 * the class or the Secret, retrying alone never helps.
 */
export const LB_CREDENTIALS_REFUSED = 'LB_CREDENTIALS_REFUSED';

/**
 * The error code of an instance that refuses every change until an operator repairs it (an
 * Octavia load balancer in provisioning ERROR): reported as such, retried with backoff.
 */
export const LB_IN_ERROR = 'LB_IN_ERROR';

/** Two refs with the same key can share one client. */
export function instanceRefKey(ref: LbInstanceRef): string {
  return JSON.stringify([ref.className, ref.provider, ref.id, ref.credentialsVersion ?? null]);
}

export interface HealthCheck {
  intervalMs: number;
  rise: number;
  fall: number;
  /** Informational: HAProxy applies the backend's `option httpchk` to dynamic servers. */
  httpPath?: string;
}

export interface MemberSpec {
  backend: string;
  /** Encodes the owning node: see naming.ts. */
  name: string;
  address: string;
  port: number;
  /** Undefined: no health check (readiness then follows `withoutHealthCheck`). */
  healthCheck?: HealthCheck;
  /**
   * Added taking no traffic (HAProxy `state drain`, Octavia weight 0) yet health-checked, until
   * enableMember: its Pod is not allowed traffic yet (pre-registration).
   */
  warm?: true;
}

export type MemberAdmin = 'ready' | 'drain' | 'maint';

/** How the last reading saw a member that is to change state: the way out of maintenance differs. */
export type PriorAdmin = Pick<ObservedMember, 'admin' | 'health'>;

/**
 * healthy: UP with a completed passing check (HAProxy check_status L4OK/L6OK/L7OK/L7OKC).
 * pending: no check has completed yet (HAProxy reports a fresh server UP before any check ran:
 *          that does not count). unhealthy: checks ran and the server is DOWN.
 * unchecked: the member has no health check.
 */
export type MemberHealth = 'healthy' | 'pending' | 'unhealthy' | 'unchecked';

export interface ObservedMember {
  backend: string;
  name: string;
  address: string;
  port: number;
  admin: MemberAdmin;
  health: MemberHealth;
  /** The provider's own words, for status and `kubectl podlb explain` (e.g. `L7OK`, `L4CON`). */
  detail: string;
  /**
   * The load balancer failed to program this member and will not retry by itself (Octavia
   * provisioning_status ERROR): only removing and adding it again repairs it.
   */
  failed?: true;
}

export interface MemberListing {
  members: ObservedMember[];
  /** Backends that do not exist on this instance (a wrong `podlb.io/backend`, or LB config drift). */
  missingBackends: string[];
  /**
   * Backends whose whole member list one writer (the controller's leader) sets in batch
   * (Octavia pools tagged `podlb-owned`): the agent reads its members there but writes none.
   */
  batchBackends?: string[];
  /** The instance's process identity, for providers that have one (see `readMembers`). */
  identity?: string;
}

/** A member the health poll asks about; `withHealthCheck`: it was added with a check. */
export interface MemberQuery {
  backend: string;
  name: string;
  withHealthCheck: boolean;
}

export interface MemberReading {
  /** The asked members the instance has; an asked member not here is absent. */
  members: ObservedMember[];
  /** Backends of asked members that do not exist on the instance. */
  missingBackends: string[];
  /** Set when asked for: changes when the load balancer's process restarts (its dynamic members are then gone). */
  identity?: string;
}

export interface LbInstance {
  /** The instance address as written in the LoadBalancerClass, e.g. `unix:///run/haproxy.sock`. */
  readonly id: string;
  /**
   * Set when the instance was refused as it was made (credentials its class may not use, no
   * configuration): every call fails with it, and the reconciler reports it without a call,
   * even on a node with nothing to ask the instance.
   */
  readonly unusable?: Error;
  /** One batched read of every server in `backends` whose name starts with `namePrefix`. */
  listMembers(backends: readonly string[], namePrefix: string): Promise<MemberListing>;
  /**
   * Optional: only the asked members, at a cost that grows with them and not with the
   * backends, in one round trip, plus the process identity when `identity` is set. Without
   * it the reconciler lists every run (listMembers).
   */
  readMembers?(asked: readonly MemberQuery[], options: { identity: boolean }): Promise<MemberReading>;
  /** Adds a member that takes no traffic before its first health check passes (nor before enableMember, when `warm`). */
  addMember(member: MemberSpec): Promise<void>;
  /**
   * No new connections; established ones finish. Health checks go on, and a member that
   * `prior` says is in maintenance comes out of it health-checked (afresh, where the provider
   * keeps a stale result).
   */
  drainMember(backend: string, name: string, prior?: PriorAdmin): Promise<void>;
  /** Back to taking traffic after a drain (the Pod's readiness flapped back); `prior` as drainMember. */
  enableMember(backend: string, name: string, prior?: PriorAdmin): Promise<void>;
  removeMember(backend: string, name: string): Promise<void>;
  close(): Promise<void>;
}

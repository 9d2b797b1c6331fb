// What an Agent is built from, and the defaults it runs with when the caller leaves a field out.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Credentials } from '../kube/credentials.js';
import type { OctaviaTrust } from '../lb/octavia-credentials.js';
import type { LbInstance } from '../lb/provider.js';
import { AgentMetrics } from './metrics.js';

export interface AgentOptions {
  nodeName: string;
  /** A client-node KubeConfig (tests, the lab); the binary passes its own Credentials so as not to load client-node. */
  kubeConfig: KubeConfig | Credentials;
  log: Logger;
  /** BIRD's control socket and the config file it was started with; undefined: no BGP. */
  bird?: { socketPath: string; configPath: string };
  /**
   * Kernel routes via netlink (blackholes for advertised aggregates, the default gateway for
   * `Gateway` peers, route and link events). `netns` names the node's network namespace when
   * the agent does not run in it (the lab); false turns kernel routes off. Default: on, when
   * BGP is on.
   */
  kernel?: { netns?: string } | false;
  /**
   * How long a vanished default gateway (Gateway peers) or password Secret keeps the running
   * session before it is removed (default HOLD_DOWN_MS, hold-down.ts).
   */
  holdDownMs?: number;
  /**
   * How Pods, Nodes, Services and EndpointSlices are listed and watched (default protobuf: about
   * 2.3× fewer bytes than JSON for the same EndpointSlices). JSON for an API path whose proxy
   * cannot carry protobuf. Custom resources are always JSON (the API server refuses protobuf).
   */
  apiEncoding?: 'protobuf' | 'json';
  /** Namespace of the Secrets BGPPeers may reference. */
  secretsNamespace?: string;
  /** Where Octavia credentials may be sent (`--octavia-auth-url`). Default: only a Secret's own auth_url. */
  octaviaTrust?: OctaviaTrust;
  /**
   * The Octavia amphorae's heartbeat interval (`health_manager.heartbeat_interval`, default 10 s):
   * an ONLINE member counts as healthy only once a heartbeat after its checks ran can have said so.
   */
  octaviaHeartbeatMs?: number;
  /**
   * Health poll interval for a waiting member without health check of its own. Members with one
   * follow their check's inter (poll.ts): a read just after HAProxy can decide, inter / 4 otherwise.
   */
  pendingPollMs?: number;
  /**
   * While this node has members, the loop runs at least this often (default 2 s); a node without
   * members runs only when an informer or a timed job asks. A run reads a load balancer only
   * about waiting members; an instance that restarted (and lost its dynamic servers) is noticed
   * by a `show info` every IDENTITY_CHECK_MS (members/observe.ts) and refilled then.
   */
  resyncMs?: number;
  /**
   * A run of everything this often even when nothing asked for one (default 10 min): the
   * backstop for a change a relevance check judged wrongly or a wake-up a reconciler forgot to
   * ask for. At one run per 10 min it costs nothing measurable.
   */
  safetyResyncMs?: number;
  /** How often BGP session state is read for status. */
  statusIntervalMs?: number;
  /** Clients for instance ids instead of the factory's (tests, the lab): credentials are the caller's. */
  makeInstance?: (instanceId: string) => LbInstance;
  /** Metrics registry holder; a process-wide agent passes one with process metrics. */
  metrics?: AgentMetrics;
  now?: () => number;
  random?: () => number;
}

export type ResolvedAgentOptions = AgentOptions & {
  resyncMs: number;
  safetyResyncMs: number;
  now: () => number;
  random: () => number;
  secretsNamespace: string;
  metrics: AgentMetrics;
};

export function resolveAgentOptions(opts: AgentOptions): ResolvedAgentOptions {
  return {
    resyncMs: 2_000,
    safetyResyncMs: 10 * 60_000,
    now: Date.now,
    ...opts,
    random: opts.random ?? Math.random,
    secretsNamespace: opts.secretsNamespace ?? 'podlb-system',
    metrics: opts.metrics ?? new AgentMetrics(),
  };
}

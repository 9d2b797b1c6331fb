// The node agent: wiring only. Informers signal; one serial loop (reconcile/loop.ts) takes a
// snapshot of the caches and runs the reconcilers on it, each with one job. Members run first:
// a Pod's registration must not wait behind a BIRD render. Every run looks at the whole world,
// so a missed or coalesced event costs nothing.
import { dirname } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { BirdControl } from '../bgp/bird-control.js';
import { KubeClient } from '../kube/client.js';
import { EventRecorder } from '../kube/events.js';
import type { OctaviaTrust } from '../lb/octavia-credentials.js';
import type { LbInstance } from '../lb/provider.js';
import { ReconcileLoop, type LoopRunReport } from '../reconcile/loop.js';
import type { Reconciler } from '../reconcile/reconciler.js';
import { isTmpfs } from '../util/tmpfs.js';
import { BgpSessionsReconciler } from './bgp-sessions.js';
import { BirdConfigReconciler } from './bird-config.js';
import { KernelRoutesReconciler } from './kernel-routes.js';
import { LbInstanceFactory } from './lb-instances.js';
import { LbMembersReconciler } from './lb-members.js';
import { AgentMetrics } from './metrics.js';
import { NodeStatusReconciler, type NodeStatusContribution } from './node-status.js';
import { ReadinessGatesReconciler } from './readiness-gates.js';
import { AgentInformers, type AgentSnapshot } from './snapshot.js';
import { NodeStatusWriter } from './status.js';

export interface AgentOptions {
  nodeName: string;
  kubeConfig: KubeConfig;
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
  /** Namespace of the Secrets BGPPeers may reference. */
  secretsNamespace?: string;
  /** Where Octavia credentials may be sent (`--octavia-auth-url`). Default: only a Secret's own auth_url. */
  octaviaTrust?: OctaviaTrust;
  /**
   * Health poll interval while a member waits for its first passing check (jittered up to 20% early),
   * and the longest one: around the moment the check can pass the agent polls at inter / 40.
   */
  pendingPollMs?: number;
  /**
   * Resync when idle: one read per load-balancer instance, so an instance that restarted (and
   * lost its dynamic servers) is refilled within this interval. Default 2 s.
   */
  resyncMs?: number;
  /** How often BGP session state is read for status. */
  statusIntervalMs?: number;
  /** Clients for instance ids instead of the factory's (tests, the lab): credentials are the caller's. */
  makeInstance?: (instanceId: string) => LbInstance;
  /** Metrics registry holder; a process-wide agent passes one with process metrics. */
  metrics?: AgentMetrics;
  now?: () => number;
  random?: () => number;
}

export class Agent {
  readonly metrics: AgentMetrics;
  readonly #o: AgentOptions & { resyncMs: number; now: () => number };
  readonly #informers: AgentInformers;
  readonly #loop: ReconcileLoop<AgentSnapshot, NodeStatusContribution>;
  readonly #members: LbMembersReconciler;
  readonly #kernel: KernelRoutesReconciler | undefined;
  readonly #birdControl: BirdControl | undefined;

  constructor(opts: AgentOptions) {
    const o = { resyncMs: 2_000, now: Date.now, ...opts };
    this.#o = o;
    const { log, nodeName } = o;
    const random = o.random ?? Math.random;
    const secretsNamespace = o.secretsNamespace ?? 'podlb-system';
    const metrics = o.metrics ?? new AgentMetrics();
    this.metrics = metrics;
    const client = new KubeClient(o.kubeConfig);
    const events = new EventRecorder(client, log, { component: 'podlb-agent', host: nodeName });
    const signal = (): void => this.#loop.notify();
    this.#informers = new AgentInformers(client, { nodeName, secretsNamespace, log, onChange: signal });
    const factory = new LbInstanceFactory({
      nodeName,
      secretsNamespace,
      ...(o.octaviaTrust ? { octaviaTrust: o.octaviaTrust } : {}),
      secret: (name, ns) => this.#informers.secret(name, ns),
    });
    metrics.lbRoundTripsSource = () => factory.haproxyRoundTrips();
    const child = (reconciler: string): Logger => log.child({ reconciler });
    const override = o.makeInstance;
    this.#members = new LbMembersReconciler({
      nodeName,
      factory,
      makeInstance: override ? (ref) => override(ref.id) : (ref, cls) => factory.make(ref, cls),
      log: child('members'),
      metrics,
      random,
    });
    const gates = new ReadinessGatesReconciler({ client, members: this.#members, pendingPollMs: o.pendingPollMs ?? 25, log: child('gates'), metrics, random });
    // BGP, when on: config, then session state, then the kernel routes that follow the config.
    const bgp: Reconciler<AgentSnapshot, NodeStatusContribution>[] = [];
    if (o.bird) {
      const control = new BirdControl(o.bird.socketPath);
      this.#birdControl = control;
      const hold = o.holdDownMs !== undefined ? { holdDownMs: o.holdDownMs } : {};
      const bird = new BirdConfigReconciler({ nodeName, control, configPath: o.bird.configPath, log: child('bird'), metrics, ...hold });
      const sessions = new BgpSessionsReconciler({
        nodeName,
        control,
        birdError: () => bird.error,
        heldPeers: () => bird.heldPeers,
        statusIntervalMs: o.statusIntervalMs ?? 5_000,
        log: child('bgpStatus'),
        metrics,
      });
      bgp.push(bird, sessions);
      if (o.kernel !== false) {
        this.#kernel = new KernelRoutesReconciler({
          nodeName,
          ...(o.kernel?.netns ? { netns: o.kernel.netns } : {}),
          aggregates: () => bird.aggregates,
          onChange: signal,
          log: child('kernel'),
          ...hold,
        });
        bgp.push(this.#kernel);
      }
    }
    const statusWriter = new NodeStatusWriter(client, nodeName, child('status'), { now: o.now, random });
    // Status order as it has always been: sessions (BGPReady) and config first, members last.
    const contributors = ['bgpStatus', 'bird', 'kernel', 'members'];
    const status = new NodeStatusReconciler({ writer: statusWriter, contributions: () => contributors.map((name) => this.#loop.statusOf(name)), metrics });
    this.#loop = new ReconcileLoop<AgentSnapshot, NodeStatusContribution>({
      log,
      reconcilers: [this.#members, gates, ...bgp, status],
      snapshot: async () => (this.#informers.synced ? this.#informers.snapshot(await this.#kernel?.gateways(o.now())) : undefined),
      record: (ev) => events.record(ev),
      resyncMs: o.resyncMs,
      onFailure: (component, _error, code) => metrics.reconcileErrors.inc({ component, code }),
      now: o.now,
      random,
    });
  }

  get synced(): boolean {
    return this.#informers.synced;
  }

  /** Healthy while the loop keeps turning (it runs at least every resyncMs). */
  get healthy(): boolean {
    return this.#loop.running && this.#o.now() - this.#loop.lastRunAt < Math.max(60_000, this.#o.resyncMs * 3);
  }

  /** The last run: what each reconciler did, or why it did not run. */
  get lastRun(): LoopRunReport<NodeStatusContribution> | undefined {
    return this.#loop.lastRun;
  }

  async start(): Promise<void> {
    this.#kernel?.open();
    const configPath = this.#o.bird?.configPath;
    if (configPath && isTmpfs(dirname(configPath)) === false) {
      this.#o.log.warn(
        { configPath },
        'bird.conf is not on tmpfs: BGP passwords reach the disk, and each apply may wait on writeback (tens to hundreds of ms); keep --bird-config under /run as the DaemonSet does',
      );
    }
    // The loop waits until every cache has listed once (AgentInformers.snapshot).
    await this.#informers.start();
    this.#loop.start();
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
    await this.#informers.stop();
    await this.#members.close();
    await this.#birdControl?.close();
    this.#kernel?.close();
  }

  /** Resolves after the next loop run completes (tests use it to step the agent). */
  async nextRun(): Promise<void> {
    await this.#loop.nextRun();
  }
}

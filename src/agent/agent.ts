// The node agent: wiring only. Informers signal; one serial loop (reconcile/loop.ts) takes a
// snapshot of the caches and runs the reconcilers on it, each with one job. Members run first:
// a Pod's registration must not wait behind a BIRD render. Every run looks at the whole world,
// so a missed or coalesced event costs nothing.
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { BirdControl } from '../bgp/bird-control.js';
import { KubeClient } from '../kube/client.js';
import { EventRecorder } from '../kube/events.js';
import { ReconcileLoop, type LoopRunReport } from '../reconcile/loop.js';
import { isTmpfs } from '../util/tmpfs.js';
import type { agentBgp } from './bgp.js';
import type { KernelRoutesReconciler } from './kernel-routes.js';
import { LbInstanceFactory } from './lb-instances.js';
import { LbMembersReconciler } from './lb-members.js';
import type { AgentMetrics } from './metrics.js';
import { NodeStatusReconciler, type NodeStatusContribution } from './node-status.js';
import { type AgentOptions, type ResolvedAgentOptions, resolveAgentOptions } from './options.js';
import { ReadinessGatesReconciler } from './readiness-gates.js';
import { AgentInformers, type AgentSnapshot } from './snapshot.js';
import { NodeStatusWriter } from './status.js';

export type { AgentOptions } from './options.js';

export class Agent {
  readonly metrics: AgentMetrics;
  readonly #o: ResolvedAgentOptions;
  readonly #informers: AgentInformers;
  readonly #loop: ReconcileLoop<AgentSnapshot, NodeStatusContribution>;
  readonly #members: LbMembersReconciler;
  readonly #gates: ReadinessGatesReconciler;
  readonly #status: NodeStatusReconciler;
  readonly #kernel: KernelRoutesReconciler | undefined;
  readonly #birdControl: BirdControl | undefined;
  readonly #client: KubeClient;
  readonly #events: EventRecorder;

  /**
   * An agent, with the BGP modules (BIRD control, bird.conf rendering, netlink over FFI: about
   * 15 MB of RSS) loaded only when it runs BGP: a `--no-bgp` agent on each of 1,000 nodes never
   * carries them.
   */
  static async create(opts: AgentOptions): Promise<Agent> {
    return new Agent(opts, opts.bird ? (await import('./bgp.js')).agentBgp : undefined);
  }

  private constructor(opts: AgentOptions, bgpOf: typeof agentBgp | undefined) {
    const o = resolveAgentOptions(opts);
    this.#o = o;
    const { log, nodeName, random, secretsNamespace, metrics } = o;
    this.metrics = metrics;
    const client = new KubeClient(o.kubeConfig);
    this.#client = client;
    const events = new EventRecorder(client, log, {
      component: 'podlb-agent',
      host: nodeName,
      uidOf: (ref) => this.#informers.uidOf(ref) ?? statusWriter.uidOf(ref),
    });
    this.#events = events;
    const signal = (): void => this.#loop.notify();
    this.#informers = new AgentInformers(client, {
      nodeName,
      secretsNamespace,
      log,
      onChange: signal,
      ...(o.apiEncoding ? { apiEncoding: o.apiEncoding } : {}),
    });
    const factory = new LbInstanceFactory({
      nodeName,
      secretsNamespace,
      ...(o.octaviaTrust ? { octaviaTrust: o.octaviaTrust } : {}),
      ...(o.octaviaHeartbeatMs !== undefined ? { octaviaHeartbeatMs: o.octaviaHeartbeatMs } : {}),
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
      instanceCheckMs: o.resyncMs,
      gateOpened: (uid) => this.#gates.gateOpened(uid),
    });
    const gates = new ReadinessGatesReconciler({
      client,
      members: this.#members,
      pendingPollMs: o.pendingPollMs ?? 25,
      log: child('gates'),
      metrics,
      random,
      wake: signal,
    });
    this.#gates = gates;
    const bgp = o.bird && bgpOf ? bgpOf({ ...o, bird: o.bird }, { metrics, child, signal }) : undefined;
    this.#birdControl = bgp?.control;
    this.#kernel = bgp?.kernel;
    const statusWriter = new NodeStatusWriter(client, nodeName, child('status'), { now: o.now, random });
    // Status order as it has always been: sessions (BGPReady) and config first, members last.
    const contributors = ['bgpStatus', 'bird', 'kernel', 'members'];
    const status = new NodeStatusReconciler({
      writer: statusWriter,
      contributions: () => contributors.map((name) => this.#loop.statusOf(name)),
      metrics,
      wake: signal,
    });
    this.#status = status;
    this.#loop = new ReconcileLoop<AgentSnapshot, NodeStatusContribution>({
      log,
      reconcilers: [this.#members, gates, ...(bgp?.reconcilers ?? []), status],
      snapshot: async () => (this.#informers.synced ? this.#informers.snapshot(await this.#kernel?.gateways(o.now())) : undefined),
      // A burst's 200 Events must not hold up the next run, the one that sees the members healthy.
      record: (ev) => events.recordLater(ev),
      resyncMs: o.safetyResyncMs,
      onFailure: (component, _error, code) => metrics.reconcileErrors.inc({ component, code }),
      now: o.now,
      random,
    });
  }

  get synced(): boolean {
    return this.#informers.synced;
  }

  /**
   * Healthy while the loop is not stuck: an idle agent runs only when asked, so the age of the
   * last run says nothing; a run that has not finished within a minute does.
   */
  get healthy(): boolean {
    const started = this.#loop.runStartedAt;
    return this.#loop.running && (started === undefined || this.#o.now() - started < 60_000);
  }

  /** Loop runs completed so far. */
  get runs(): number {
    return this.#loop.runs;
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
    // Gate writes run beside the loop: let those under way finish before the client goes.
    await this.#gates.close();
    await this.#status.settled();
    await this.#events.settled();
    await this.#informers.stop();
    await this.#client.close();
    await this.#members.close();
    await this.#birdControl?.close();
    this.#kernel?.close();
  }

  /** Resolves after the next loop run completes (tests use it to step the agent). */
  async nextRun(): Promise<void> {
    await this.#loop.nextRun();
  }
}

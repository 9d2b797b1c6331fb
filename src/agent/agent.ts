// The node agent: wiring only. Informers signal; one serial loop takes a snapshot of the
// caches, runs the pure planners, and hands the result to the reconcilers (BIRD, load-balancer
// members, readiness gates, PodLBNode status). Every run looks at the whole world, so a missed
// or coalesced event costs nothing.
import { dirname } from 'node:path';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION, READINESS_GATE, type PodLBNode, type BGPPeer, type BgpSessionStatus, type EndpointSlice, type LoadBalancerClass, type Node, type Pod, type PodAddressPool, type Secret, type Service } from '../api/types.js';
import type { Problem } from '../api/problem.js';
import { BirdControl } from '../bgp/bird-control.js';
import { birdTimeToRfc3339 } from '../bgp/bird-protocols.js';
import { BirdApplier } from '../bgp/bird-apply.js';
import { buildBgpPlan, describeAdvertised, sessionResettingChanges, type BirdModel } from '../bgp/model.js';
import { renderBirdConf } from '../bgp/render.js';
import { podIPsForNode } from '../bgp/pod-ips.js';
import { BlackholeRoutes, Netlink, PODLB_RT_PROTOCOL, type Subscription } from '../netlink/index.js';
import { KubeClient } from '../kube/client.js';
import { EventRecorder, type EventToRecord } from '../kube/events.js';
import { ResilientInformer } from '../kube/informer.js';
import { HaproxyInstance } from '../lb/haproxy-instance.js';
import { OctaviaInstance } from '../lb/octavia-instance.js';
import { resolveOctaviaCredentials, type OctaviaTrust } from '../lb/octavia-credentials.js';
import type { LbInstance, MemberListing } from '../lb/provider.js';
import { planGates, type GateDecision } from '../members/gates.js';
import { hasOurGate, memberKey, planMembers, type MemberPlan } from '../members/plan.js';
import { MemberReconciler, type MemberOutcome } from '../members/reconciler.js';
import { errorMessage, UnreachableError } from '../util/errors.js';
import type { LbClassModel, OctaviaClassConfig } from '../members/binding.js';
import { Signal } from './signal.js';
import { pendingPollDelayMs } from './poll.js';
import { nodeForAdvertising } from './drain.js';
import { mapLimit } from '../util/concurrency.js';
import { isTmpfs } from '../util/tmpfs.js';
import { AgentMetrics } from './metrics.js';
import { bgpReadyCondition, mergeConditions, NodeStatusWriter, type StatusWriteResult } from './status.js';
import { GateWriter } from './gate-writer.js';

/** Members listed in PodLBNode status (counts always cover all of them). */
export const MAX_STATUS_MEMBERS = 500;

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
  makeInstance?: (address: string) => LbInstance;
  /** Metrics registry holder; a process-wide agent passes one with process metrics. */
  metrics?: AgentMetrics;
  now?: () => number;
  random?: () => number;
}

/** What one loop run did; tests and the lab read it. */
export interface RunReport {
  at: number;
  bird?: { result: string; error?: string };
  members?: MemberOutcome;
  gates: GateDecision[];
  problems: Problem[];
}

export class Agent {
  readonly #o: Required<Omit<AgentOptions, 'bird' | 'kernel'>> & Pick<AgentOptions, 'bird' | 'kernel'>;
  #kernel: { nl: Netlink; blackholes: BlackholeRoutes; events: Subscription } | undefined;
  #kernelError: string | undefined;
  #gateway: { v4?: string; v6?: string } = {};
  readonly metrics: AgentMetrics;
  /** Octavia classes by versioned instance address (see #withSecretVersions). */
  readonly #octaviaByAddress = new Map<string, OctaviaClassConfig>();
  /** HAProxy clients made by the default factory, for the round-trip metric. */
  readonly #haproxyClients: HaproxyInstance[] = [];
  /**
   * Latency histograms use this process's monotonic clock (performance.now()), never an API
   * timestamp: lastTransitionTime has a resolution of one second and another machine's clock.
   * When each member was added (readiness latency), and when this agent first saw each Pod's
   * (uid) ContainersReady=True (registration latency).
   */
  readonly #addedAt = new Map<string, number>();
  readonly #containersReadySeenAt = new Map<string, number>();
  /** The first Pod informer event not yet taken in by a run: when the agent learnt what the run sees. */
  #podEventAt: number | undefined;
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #signal = new Signal();
  readonly #informers: {
    pods: ResilientInformer<Pod & KubernetesObject>;
    node: ResilientInformer<Node & KubernetesObject>;
    services: ResilientInformer<Service & KubernetesObject>;
    slices: ResilientInformer<EndpointSlice & KubernetesObject>;
    classes: ResilientInformer<LoadBalancerClass & KubernetesObject>;
    pools: ResilientInformer<PodAddressPool & KubernetesObject>;
    peers: ResilientInformer<BGPPeer & KubernetesObject>;
    secrets: ResilientInformer<Secret & KubernetesObject>;
  };
  readonly #members: MemberReconciler;
  readonly #status: NodeStatusWriter;
  readonly #gates: GateWriter;
  readonly #bird: { control: BirdControl; applier: BirdApplier } | undefined;
  #birdFailures = 0;
  #birdRetryAt = 0;
  #birdError: string | undefined;
  #lastApply: { hash: string; time: string; result: 'Applied' | 'Unchanged' | 'Failed'; error?: string } | undefined;
  #advertised: string[] = [];
  /** Inputs of the last BGP plan BIRD answered (see #bgpInputKey), and when. */
  #bgpKey = '';
  #bgpKeyAt = 0;
  #candidateBgpKey = '';
  /** The model BIRD runs, to tell session-resetting changes from soft ones before applying. */
  #appliedModel: BirdModel | undefined;
  #sessions: BgpSessionStatus[] = [];
  #sessionsReadAt = 0;
  #lastResync = 0;
  /** Gate writes made but not yet seen in the Pod cache: never write the same one twice. */
  readonly #gateWrites = new Map<string, string>();
  #running = false;
  #loopDone: Promise<void> | undefined;
  #lastRunAt = 0;
  lastReport: RunReport | undefined;
  /** Resolvers waiting for the next completed run (tests). */
  #runWaiters: (() => void)[] = [];

  constructor(opts: AgentOptions) {
    this.#o = {
      secretsNamespace: 'podlb-system',
      octaviaTrust: { authURLs: [] },
      pendingPollMs: 25,
      resyncMs: 2_000,
      statusIntervalMs: 5_000,
      makeInstance: (address) => {
        if (address.startsWith('octavia://')) return this.#makeOctavia(address);
        const inst = new HaproxyInstance(address);
        this.#haproxyClients.push(inst);
        return inst;
      },
      metrics: opts.metrics ?? new AgentMetrics(),
      now: Date.now,
      random: Math.random,
      ...opts,
    };
    const log = this.#o.log;
    this.metrics = this.#o.metrics;
    this.metrics.lbRoundTripsSource = () => this.#haproxyClients.reduce((a, c) => a + c.runtime.roundTrips, 0);
    this.#client = new KubeClient(opts.kubeConfig);
    this.#events = new EventRecorder(this.#client, log, { component: 'podlb-agent', host: opts.nodeName });
    const signal = (): void => this.#signal.notify();
    const inf = <T extends KubernetesObject>(path: string, sel: { fieldSelector?: string } = {}, onChange: () => void = signal) =>
      new ResilientInformer<T>(this.#client, { path, onChange, log: log.child({ informer: path }), ...sel });
    const podChanged = (): void => {
      this.#podEventAt ??= performance.now();
      signal();
    };
    this.#informers = {
      pods: inf(`/api/v1/pods`, { fieldSelector: `spec.nodeName=${opts.nodeName}` }, podChanged),
      node: inf(`/api/v1/nodes`, { fieldSelector: `metadata.name=${opts.nodeName}` }),
      services: inf(`/api/v1/services`),
      slices: inf(`/apis/discovery.k8s.io/v1/endpointslices`),
      classes: inf(`/apis/${API_VERSION}/loadbalancerclasses`),
      pools: inf(`/apis/${API_VERSION}/podaddresspools`),
      peers: inf(`/apis/${API_VERSION}/bgppeers`),
      secrets: inf(`/api/v1/namespaces/${this.#o.secretsNamespace}/secrets`),
    };
    this.#members = new MemberReconciler({ nodeName: opts.nodeName, makeInstance: this.#o.makeInstance, log: log.child({ reconciler: 'members' }), random: this.#o.random });
    this.#gates = new GateWriter(this.#client);
    this.#status = new NodeStatusWriter(this.#client, opts.nodeName, log.child({ reconciler: 'status' }), { now: this.#o.now, random: this.#o.random });
    if (opts.bird) {
      const control = new BirdControl(opts.bird.socketPath);
      this.#bird = { control, applier: new BirdApplier({ configPath: opts.bird.configPath, control }) };
    }
  }

  get synced(): boolean {
    return Object.values(this.#informers).every((i) => i.synced);
  }

  /** Healthy while the loop keeps turning (it runs at least every resyncMs). */
  get healthy(): boolean {
    return this.#running && this.#o.now() - this.#lastRunAt < Math.max(60_000, this.#o.resyncMs * 3);
  }

  async start(): Promise<void> {
    this.#running = true;
    if (this.#o.bird && this.#o.kernel !== false) this.#openKernel();
    if (this.#o.bird && isTmpfs(dirname(this.#o.bird.configPath)) === false) {
      this.#o.log.warn({ configPath: this.#o.bird.configPath }, 'bird.conf is not on tmpfs: BGP passwords reach the disk, and each apply may wait on writeback (tens to hundreds of ms); keep --bird-config under /run as the DaemonSet does');
    }
    // Informers start in parallel; the loop waits until every cache has listed once, so the
    // first plan never sees a half-empty world (which would drain every member).
    await Promise.all(Object.values(this.#informers).map((i) => i.start()));
    this.#loopDone = this.#loop();
    this.#signal.notify();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#signal.notify();
    await this.#loopDone;
    this.#signal.cancelTimer();
    await Promise.all(Object.values(this.#informers).map((i) => i.stop()));
    await this.#members.close();
    await this.#bird?.control.close();
    // Blackhole routes stay: they belong with the routes BIRD keeps advertising while the
    // agent restarts.
    this.#kernel?.events.close();
    this.#kernel?.nl.close();
    this.#kernel = undefined;
  }

  /** Resolves after the next loop run completes (tests use it to step the agent). */
  nextRun(): Promise<void> {
    return new Promise((resolve) => {
      this.#runWaiters.push(resolve);
      this.#signal.notify();
    });
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      await this.#signal.wait();
      if (!this.#running) break;
      const waiters = this.#runWaiters;
      this.#runWaiters = [];
      try {
        await this.#runOnce();
      } catch (err) {
        // Nothing in a run should throw; if it does, retry soon rather than stop the agent.
        this.#o.log.error({ err: errorMessage(err), stack: (err as Error).stack }, 'reconcile failed');
        this.#signal.wakeAt(this.#o.now() + 1000, this.#o.now());
      }
      this.#lastRunAt = this.#o.now();
      for (const w of waiters) w();
    }
  }

  async #runOnce(): Promise<void> {
    if (!this.synced) return;
    const now = this.#o.now();
    const log = this.#o.log;
    const i = this.#informers;
    const node = i.node.get(this.#o.nodeName);
    const observedAt = this.#podEventAt ?? performance.now();
    this.#podEventAt = undefined;
    const pods = i.pods.list().filter((p) => p.spec?.nodeName === this.#o.nodeName);
    this.#noteContainersReady(pods, observedAt);
    const problems: Problem[] = [];
    const events: EventToRecord[] = [];
    const report: RunReport = { at: now, gates: [], problems };
    const wakeTimes: number[] = [now + this.#o.resyncMs];

    // ---- BGP ----
    if (this.#bird) await this.#reconcileBgp(node, pods, { problems, events, report, wakeTimes, now });

    // ---- members ----
    const plan: MemberPlan = planMembers({ nodeName: this.#o.nodeName, pods, services: i.services.list(), endpointSlices: i.slices.list(), classes: i.classes.list() });
    problems.push(...plan.problems);
    const livePodIps = new Set<string>();
    for (const p of pods) {
      if (p.status?.podIP) livePodIps.add(p.status.podIP);
      for (const ip of p.status?.podIPs ?? []) livePodIps.add(ip.ip);
    }
    log.debug({ members: plan.members.length }, 'run: members');
    const outcome = await this.#members.reconcile(this.#withSecretVersions(plan.classes), plan.members, livePodIps, now);
    const reconciledAt = performance.now();
    log.debug('run: gates');
    report.members = outcome;
    this.#recordMemberMetrics(plan, outcome, reconciledAt);
    for (const ev of outcome.events) events.push(ev);
    if (outcome.nextWakeAt !== undefined) wakeTimes.push(outcome.nextWakeAt);
    if (outcome.nextWakeAt === undefined || outcome.added.length > 0) this.#lastResync = now;

    // ---- readiness gates ----
    const gatePlan = planGates(pods, plan, outcome.views, now);
    if (gatePlan.nextDeadline !== undefined) wakeTimes.push(gatePlan.nextDeadline);
    const podsByUid = new Map(pods.map((p) => [p.metadata.uid ?? '', p]));
    // Gate writes are independent: a burst of Pods is written in parallel streams.
    const gateWrites = gatePlan.decisions.filter((d) => podsByUid.has(d.pod.uid) && this.#gateWrites.get(d.pod.uid) !== `${d.status}/${d.reason}`);
    await mapLimit(gateWrites, 16, async (d) => {
      const pod = podsByUid.get(d.pod.uid)!;
      try {
        await this.#gates.write(pod, d, now);
        this.#gateWrites.set(d.pod.uid, `${d.status}/${d.reason}`);
        report.gates.push(d);
        this.metrics.gateWrites.inc({ status: d.status, reason: d.reason });
        if (d.status === 'True') {
          const added = plan.members.filter((m) => m.pod.uid === d.pod.uid).map((m) => this.#addedAt.get(memberKey(m.backend, m.name))).filter((t): t is number => t !== undefined);
          if (added.length > 0) this.metrics.readinessSeconds.observe((performance.now() - Math.min(...added)) / 1000);
        }
        log.info({ pod: `${d.pod.namespace}/${d.pod.name}`, status: d.status, reason: d.reason }, 'readiness gate set');
        if (d.event) events.push({ object: { apiVersion: 'v1', kind: 'Pod', namespace: d.pod.namespace, name: d.pod.name, uid: d.pod.uid }, ...d.event });
      } catch (err) {
        log.warn({ pod: `${d.pod.namespace}/${d.pod.name}`, err: errorMessage(err) }, 'could not patch readiness gate');
        this.metrics.reconcileErrors.inc({ component: 'gates' });
        wakeTimes.push(this.#gates.retryAt(err, now));
      }
    });
    // Forget write records once the cache shows them (or the Pod is gone).
    for (const [uid, key] of this.#gateWrites) {
      const p = podsByUid.get(uid);
      const c = p?.status?.conditions?.find((x) => x.type === READINESS_GATE);
      if (!p || (c && `${c.status}/${c.reason}` === key)) this.#gateWrites.delete(uid);
    }

    // Poll only while some gated Pod waits for its member to turn healthy, and fast only
    // around the moment the load balancer can decide (poll.ts).
    const polledAt = performance.now();
    let pollInMs: number | undefined;
    for (const m of plan.members) {
      if (m.state !== 'active' || m.keepOnly) continue;
      const pod = podsByUid.get(m.pod.uid);
      if (!pod || !hasOurGate(pod)) continue;
      const gate = pod.status?.conditions?.find((c) => c.type === READINESS_GATE);
      if (gate?.status === 'True' || this.#gateWrites.get(m.pod.uid)?.startsWith('True')) continue;
      const k = memberKey(m.backend, m.name);
      if (outcome.views.get(k)?.healthy) continue;
      const added = this.#addedAt.get(k);
      const delay = pendingPollDelayMs(m.healthCheck, added === undefined ? undefined : polledAt - added, this.#o.pendingPollMs);
      pollInMs = pollInMs === undefined ? delay : Math.min(pollInMs, delay);
    }
    // Jittered early only: a late read would add to every gate's latency.
    if (pollInMs !== undefined) wakeTimes.push(now + pollInMs * (0.8 + 0.2 * this.#o.random()));

    // ---- report ----
    log.debug({ events: events.length }, 'run: report');
    for (const p of problems) events.push({ object: p.object, type: p.severity, reason: p.reason, message: p.message });
    await Promise.all(events.map((e) => this.#events.record(e)));
    const written = await this.#writeStatus(node, plan, outcome, now);
    if (written.failed) this.metrics.reconcileErrors.inc({ component: 'status' });
    if (written.event) await this.#events.record(written.event);
    if (written.retryAt !== undefined) wakeTimes.push(written.retryAt);
    this.lastReport = report;
    log.debug({ inMs: Math.round(Math.min(...wakeTimes) - now) }, 'run: done');
    const next = Math.min(...wakeTimes);
    this.#signal.wakeAt(next, now);
  }

  /**
   * Octavia instance addresses carry the credentials Secret's resourceVersion, so a Secret
   * that appears or rotates gives a new client (the reconciler caches clients by address);
   * the instance id, which keys drain bookkeeping, stays the bare address.
   */
  #withSecretVersions(classes: ReadonlyMap<string, LbClassModel>): Map<string, LbClassModel> {
    const out = new Map<string, LbClassModel>();
    for (const [name, cls] of classes) {
      if (cls.provider !== 'octavia' || !cls.octavia) {
        out.set(name, cls);
        continue;
      }
      const ref = cls.octavia.credentialsSecret;
      const secret = ref.namespace === this.#o.secretsNamespace ? this.#informers.secrets.get(ref.name, ref.namespace) : undefined;
      const addresses = cls.instances.map((a) => `${a}?secret=${secret?.metadata.resourceVersion ?? 'missing'}`);
      for (const a of addresses) this.#octaviaByAddress.set(a, cls.octavia);
      out.set(name, { ...cls, instances: addresses });
    }
    return out;
  }

  #makeOctavia(address: string): LbInstance {
    const id = address.replace(/\?.*$/, '');
    const cfg = this.#octaviaByAddress.get(address);
    const ref = cfg?.credentialsSecret;
    const unusable = (why: string): LbInstance => failingInstance(id, why);
    if (!cfg || !ref) return unusable('no LoadBalancerClass configuration for this instance');
    if (ref.namespace !== this.#o.secretsNamespace) return unusable(`credentials Secret ${ref.namespace}/${ref.name} is outside ${this.#o.secretsNamespace}, the only namespace the agent reads Secrets in`);
    const resolved = resolveOctaviaCredentials(cfg, this.#informers.secrets.get(ref.name, ref.namespace), this.#o.octaviaTrust);
    if (!resolved.ok) return unusable(resolved.why);
    return new OctaviaInstance({
      id,
      authURL: cfg.authURL,
      ...(cfg.region ? { region: cfg.region } : {}),
      ...(resolved.cloud.interface ? { interface: resolved.cloud.interface } : {}),
      credentials: resolved.cloud.credentials,
      loadBalancerID: cfg.loadBalancerID,
      nodeName: this.#o.nodeName,
    });
  }

  #openKernel(): void {
    const netns = this.#o.kernel ? this.#o.kernel.netns : undefined;
    try {
      const nl = Netlink.open(netns ? { netns } : {});
      // Route and link changes (a new default gateway, a link down) are signals like any other.
      const events = nl.subscribe({ routes: true, links: true }, (ev) => {
        if (ev.kind === 'route' && ev.route.protocol === PODLB_RT_PROTOCOL) return; // our own writes
        this.#signal.notify();
      });
      this.#kernel = { nl, blackholes: new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL }), events };
      this.#kernelError = undefined;
    } catch (err) {
      // Without NET_ADMIN or netlink the agent still advertises and registers; it says so.
      this.#kernelError = `netlink unavailable: ${errorMessage(err)}`;
      this.#o.log.warn({ err: this.#kernelError }, 'kernel routes disabled');
    }
  }

  async #readGateways(): Promise<void> {
    if (!this.#kernel) return;
    try {
      const [v4, v6] = await Promise.all([this.#kernel.nl.defaultGateway(4), this.#kernel.nl.defaultGateway(6)]);
      this.#gateway = { ...(v4 ? { v4: v4.gateway } : {}), ...(v6 ? { v6: v6.gateway } : {}) };
    } catch (err) {
      this.#o.log.warn({ err: errorMessage(err) }, 'could not read the default gateway');
    }
  }

  async #syncBlackholes(prefixes: string[]): Promise<void> {
    if (!this.#kernel) return;
    try {
      const r = await this.#kernel.blackholes.sync(prefixes);
      if (r.added.length || r.removed.length) this.#o.log.info({ added: r.added, removed: r.removed }, 'blackhole routes synced');
      if (r.conflicts.length) this.#o.log.warn({ prefixes: r.conflicts }, 'another route already holds these prefixes at our metric; left alone');
      this.#kernelError = undefined;
    } catch (err) {
      this.#kernelError = `blackhole routes: ${errorMessage(err)}`;
      this.metrics.reconcileErrors.inc({ component: 'kernel' });
      this.#o.log.warn({ err: this.#kernelError }, 'could not sync blackhole routes');
    }
  }

  /** Remembers when this agent first saw each Pod's containers ready (again, after they were not). */
  #noteContainersReady(pods: readonly Pod[], observedAt: number): void {
    const live = new Set<string>();
    for (const p of pods) {
      const uid = p.metadata.uid ?? '';
      if (p.status?.conditions?.some((c) => c.type === 'ContainersReady' && c.status === 'True')) {
        live.add(uid);
        if (!this.#containersReadySeenAt.has(uid)) this.#containersReadySeenAt.set(uid, observedAt);
      }
    }
    for (const uid of this.#containersReadySeenAt.keys()) if (!live.has(uid)) this.#containersReadySeenAt.delete(uid);
  }

  /** `addedAt`: performance.now() when the run's adds were acknowledged by every instance. */
  #recordMemberMetrics(plan: MemberPlan, outcome: MemberOutcome, addedAt: number): void {
    const m = this.metrics;
    m.members.set({ state: 'registered' }, outcome.counts.registered);
    m.members.set({ state: 'healthy' }, outcome.counts.healthy);
    m.members.set({ state: 'draining' }, outcome.counts.draining);
    for (const inst of outcome.instances) m.lbInstanceUp.set({ class: inst.className, instance: inst.id }, inst.reachable ? 1 : 0);
    if (outcome.instances.some((x) => !x.reachable)) m.reconcileErrors.inc({ component: 'members' });
    // A member is added once per instance of the fleet; it is one registration.
    for (const key of new Set(outcome.added)) {
      if (this.#addedAt.has(key)) continue;
      this.#addedAt.set(key, addedAt);
      const member = plan.members.find((x) => memberKey(x.backend, x.name) === key);
      const since = member && this.#containersReadySeenAt.get(member.pod.uid);
      if (!member || since === undefined) continue;
      m.registrationSeconds.observe((addedAt - since) / 1000);
      this.#o.log.info({ member: member.name, pod: `${member.pod.namespace}/${member.pod.name}`, registrationMs: Math.round((addedAt - since) * 10) / 10 }, 'member registered');
    }
    const live = new Set(plan.members.map((x) => memberKey(x.backend, x.name)));
    for (const k of this.#addedAt.keys()) if (!live.has(k)) this.#addedAt.delete(k);
  }

  /**
   * BIRD config, kernel blackholes and session status. Planning and rendering are skipped
   * when none of their inputs changed: most runs are 25 ms health polls, and rendering 10,000
   * host routes takes ~100 ms.
   */
  async #reconcileBgp(node: Node | undefined, pods: readonly Pod[], ctx: { problems: Problem[]; events: EventToRecord[]; report: RunReport; wakeTimes: number[]; now: number }): Promise<void> {
    if (!this.#bird) return;
    const { problems, events, report, wakeTimes, now } = ctx;
    const log = this.#o.log;
    const i = this.#informers;
    if (!node) {
      problems.push({ object: { apiVersion: 'v1', kind: 'Node', name: this.#o.nodeName }, field: 'metadata.name', reason: 'NodeNotFound', message: `Node ${this.#o.nodeName} does not exist; nothing is advertised until it does`, severity: 'Warning' });
    } else if (now >= this.#birdRetryAt && (await this.#bgpInputsChanged(node, pods, now))) {
      const key = this.#candidateBgpKey;
      const drained = nodeForAdvertising(node, pods);
      if (drained.withdrawn.length > 0) {
        events.push({ object: { apiVersion: API_VERSION, kind: 'PodLBNode', name: this.#o.nodeName }, type: 'Normal', reason: 'DrainedPodCIDRWithdrawn', message: `Node is cordoned and no Pod uses ${drained.withdrawn.join(', ')} any more: withdrawn until it is uncordoned` });
      }
      const plan = buildBgpPlan({
        node: drained.node,
        pools: [...i.pools.list()],
        peers: [...i.peers.list()],
        secrets: [...i.secrets.list()],
        podIPs: podIPsForNode({ nodeName: this.#o.nodeName, pods, services: i.services.list() }),
        ...(this.#kernel ? { defaultGateway: this.#gateway } : {}),
      });
      problems.push(...plan.problems);
      const text = renderBirdConf(plan.model);
      try {
        const resets = this.#appliedModel ? sessionResettingChanges(this.#appliedModel, plan.model) : [];
        const res = await this.#bird.applier.apply(text);
        // A transient failure (socket missing, timeout) is BIRD being away, not BIRD refusing the config.
        if (res.result === 'Failed' && res.transient) throw new UnreachableError('BIRD_UNREACHABLE', res.error ?? 'BIRD did not answer');
        if (res.result === 'Applied') {
          // Prefix and filter changes are soft; these restart a session, and users ask why.
          for (const r of resets) {
            log.warn({ peer: r.peer, protocol: r.protocol, fields: r.fields }, 'BGP session restarts: a changed setting needs a new session');
            events.push({ object: { apiVersion: API_VERSION, kind: 'BGPPeer', name: r.peer }, type: 'Normal', reason: 'SessionRestarted', message: `Node ${this.#o.nodeName}: changing ${r.fields.join(', ')} restarts the BGP session (prefix and filter changes never do)` });
          }
        }
        if (res.result !== 'Failed') this.#appliedModel = plan.model;
        // Same inputs give the same text and the same answer from BIRD: plan again only when
        // they change (a refused config is retried with new inputs, or at the next refresh).
        this.#bgpKey = key;
        this.#bgpKeyAt = now;
        report.bird = { result: res.result, ...(res.error ? { error: res.error } : {}) };
        this.metrics.birdReloads.inc({ result: res.result });
        if (this.#birdFailures > 0 || this.#birdError) log.info('BIRD control socket reachable again');
        this.#birdFailures = 0;
        this.#birdError = undefined;
        if (res.result === 'Failed') {
          // BIRD refused the rendered config: a podlb bug or an unexpected BIRD; the old config keeps running.
          events.push({ object: { apiVersion: API_VERSION, kind: 'PodLBNode', name: this.#o.nodeName }, type: 'Warning', reason: 'BirdConfigRejected', message: `BIRD refused the new configuration, the previous one keeps running: ${res.error}` });
          log.error({ err: res.error, hash: res.hash }, 'BIRD refused the rendered configuration; keeping the running one');
          this.#lastApply = { hash: res.hash, time: new Date(now).toISOString(), result: 'Failed', ...(res.error ? { error: res.error } : {}) };
        } else {
          if (res.result === 'Applied') {
            log.info({ hash: res.hash, durationMs: res.durationMs, phasesMs: res.phasesMs, prefixes: plan.advertised.length, peers: plan.model.peers.length }, 'BIRD configuration applied');
            events.push({ object: { apiVersion: API_VERSION, kind: 'PodLBNode', name: this.#o.nodeName }, type: 'Normal', reason: 'BirdConfigApplied', message: `Advertising ${describeAdvertised(plan.advertised)} to ${plan.model.peers.length} peer(s)` });
          }
          if (res.result === 'Applied' || !this.#lastApply || this.#lastApply.hash !== res.hash) {
            this.#lastApply = { hash: res.hash, time: new Date(now).toISOString(), result: res.result };
          }
          this.#advertised = plan.advertised.map((a) => a.prefix);
          // Unused addresses of an advertised aggregate are dropped on the node instead of
          // looping back to the ToR (design §5.4). Never for PodIPs host routes: a /32
          // blackhole would cut the Pod off.
          await this.#syncBlackholes(plan.advertised.filter((a) => a.mode === 'NodeCIDR').map((a) => a.prefix));
          this.metrics.advertisedPrefixes.set(this.#advertised.length);
        }
      } catch (err) {
        this.#birdFailures += 1;
        this.#birdError = errorMessage(err);
        const delay = Math.min(30_000, 250 * 2 ** (this.#birdFailures - 1)) * (0.8 + 0.4 * this.#o.random());
        this.#birdRetryAt = now + delay;
        if (this.#birdFailures === 1) events.push({ object: { apiVersion: API_VERSION, kind: 'PodLBNode', name: this.#o.nodeName }, type: 'Warning', reason: 'BirdUnreachable', message: `${this.#birdError}; retrying, routes already advertised stay` });
        log.warn({ err: this.#birdError, retryInMs: Math.round(delay) }, 'BIRD apply failed');
        report.bird = { result: 'Unreachable', error: this.#birdError };
        this.metrics.birdReloads.inc({ result: 'Unreachable' });
        this.metrics.reconcileErrors.inc({ component: 'bird' });
      }
    }
    if (this.#birdRetryAt > now) wakeTimes.push(this.#birdRetryAt);
    // Sessions that are not Established yet are read often, so status (and the lab) sees
    // a session come up within half a second; settled ones at the status interval.
    const settled = this.#sessions.length > 0 && this.#sessions.every((x) => x.state === 'Established');
    const every = settled ? this.#o.statusIntervalMs : Math.min(500, this.#o.statusIntervalMs);
    if (now - this.#sessionsReadAt >= every && !this.#birdError) {
      this.#sessionsReadAt = now;
      await this.#readSessions(i.peers.list());
    }
    wakeTimes.push(this.#sessionsReadAt + every);
  }

  /** Reads the gateways and tells whether the BGP inputs differ from the last applied ones. */
  async #bgpInputsChanged(node: Node, pods: readonly Pod[], now: number): Promise<boolean> {
    await this.#readGateways();
    this.#candidateBgpKey = this.#bgpInputKey(node, pods);
    // A refresh once a minute re-checks the file on disk (cheap when unchanged), so drift heals.
    return this.#candidateBgpKey !== this.#bgpKey || now - this.#bgpKeyAt >= 60_000;
  }

  /** What the BGP plan depends on, cheaply: resourceVersions, Pod IPs and the gateways. */
  #bgpInputKey(node: Node, pods: readonly Pod[]): string {
    const i = this.#informers;
    const rv = (xs: readonly KubernetesObject[]): string => xs.map((x) => `${x.metadata?.name}@${x.metadata?.resourceVersion}`).sort().join(',');
    const podIps = pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}=${(p.status?.podIPs ?? []).map((x) => x.ip).join('+') || (p.status?.podIP ?? '')}:${p.status?.phase ?? ''}`).sort().join(',');
    return [node.metadata.resourceVersion, rv(i.pools.list()), rv(i.peers.list()), rv(i.secrets.list()), rv(i.services.list()), podIps, this.#gateway.v4 ?? '', this.#gateway.v6 ?? ''].join('|');
  }

  async #readSessions(peers: readonly BGPPeer[]): Promise<void> {
    if (!this.#bird) return;
    try {
      const protocols = await this.#bird.control.showProtocolsAll();
      const model = buildBgpPlan({
        node: this.#informers.node.get(this.#o.nodeName) ?? { metadata: { name: this.#o.nodeName } },
        pools: [],
        peers: [...peers],
        secrets: [...this.#informers.secrets.list()],
        ...(this.#kernel ? { defaultGateway: this.#gateway } : {}),
      }).model;
      const byProto = new Map(protocols.map((p) => [p.name, p]));
      this.metrics.bgpSessionUp.reset();
      this.#sessions = model.peers.map((peer) => {
        const p = byProto.get(peer.protocol);
        const since = p?.since ? birdTimeToRfc3339(p.since, new Date(this.#o.now())) : undefined;
        return {
          peer: peer.peer,
          protocol: peer.protocol,
          peerAddress: peer.address,
          state: p?.bgpState ?? (p ? p.state : 'NotConfigured'),
          ...(since ? { since } : {}),
          ...(p?.routesExported !== undefined ? { routesExported: p.routesExported } : {}),
          ...(p?.lastError ? { lastError: p.lastError } : {}),
        };
      });
      for (const x of this.#sessions) this.metrics.bgpSessionUp.set({ peer: x.peer }, x.state === 'Established' ? 1 : 0);
    } catch (err) {
      this.metrics.reconcileErrors.inc({ component: 'bgpStatus' });
      this.#o.log.warn({ err: errorMessage(err) }, 'could not read BGP sessions');
    }
  }

  /** Bounded, so a node with thousands of Pods keeps a small status object. */
  #lbStatus(plan: MemberPlan, outcome: MemberOutcome): NonNullable<NonNullable<PodLBNode['status']>['lb']> {
    // A member kept only if registered, and not registered, is no member to report.
    const members = plan.members
      .filter((m) => !m.keepOnly || outcome.details.has(memberKey(m.backend, m.name)))
      .sort((a, b) => a.name.localeCompare(b.name) || a.backend.localeCompare(b.backend))
      .map((m) => ({
        name: m.name,
        backend: m.backend,
        pod: `${m.pod.namespace}/${m.pod.name}`,
        state: m.state,
        instances: (outcome.details.get(memberKey(m.backend, m.name)) ?? []).map((d) => ({ instance: d.instance.replace(/\?.*$/, ''), admin: d.admin, health: d.health, detail: d.detail.slice(0, 256) })),
      }));
    return {
      instances: outcome.instances.map((x) => ({ class: x.className, id: x.id.replace(/\?.*$/, ''), reachable: x.reachable, ...(x.lastError ? { lastError: x.lastError.slice(0, 500) } : {}) })),
      members: members.slice(0, MAX_STATUS_MEMBERS),
      ...(members.length > MAX_STATUS_MEMBERS ? { truncated: true } : {}),
    };
  }

  async #writeStatus(node: Node | undefined, plan: MemberPlan, outcome: MemberOutcome, now: number): Promise<StatusWriteResult> {
    const nowIso = new Date(now).toISOString();
    const unreachable = outcome.instances.filter((x) => !x.reachable);
    return this.#status.write(node, (prev) => ({
      ...(this.#bird
        ? {
            bgp: {
              sessions: this.#sessions,
              advertisedPrefixes: this.#advertised,
              ...(this.#lastApply ? { configHash: this.#lastApply.hash, lastApplyTime: this.#lastApply.time, lastApplyResult: this.#lastApply.result } : {}),
              ...(this.#birdError || this.#lastApply?.error ? { lastError: this.#birdError ?? this.#lastApply?.error } : {}),
            },
          }
        : {}),
      members: outcome.counts,
      lb: this.#lbStatus(plan, outcome),
      conditions: mergeConditions(
        prev?.conditions,
        [
          ...(this.#bird
            ? [
                bgpReadyCondition(this.#sessions, this.#birdError),
                this.#lastApply?.result === 'Failed'
                  ? { type: 'ConfigApplied', status: 'False' as const, reason: 'BirdConfigRejected', message: this.#lastApply.error ?? 'BIRD refused the configuration' }
                  : this.#birdError
                    ? { type: 'ConfigApplied', status: 'Unknown' as const, reason: 'BirdUnreachable', message: this.#birdError }
                    : { type: 'ConfigApplied', status: 'True' as const, reason: 'Applied', message: `config ${this.#lastApply?.hash.slice(0, 12) ?? ''} running` },
              ]
            : []),
          unreachable.length > 0
            ? { type: 'LoadBalancerReachable', status: 'False' as const, reason: 'InstanceUnreachable', message: unreachable.map((x) => `${x.id}: ${x.lastError ?? 'unreachable'}`).join('; ') }
            : { type: 'LoadBalancerReachable', status: 'True' as const, reason: 'Reachable', message: `${outcome.instances.length} instance(s) reachable` },
        ],
        nowIso,
      ),
    }));
  }
}

/**
 * An instance that cannot be reached for a reason a user must fix (missing credentials):
 * every call fails transiently, so the reconciler keeps members, backs off and reports it.
 */
function failingInstance(id: string, why: string): LbInstance {
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

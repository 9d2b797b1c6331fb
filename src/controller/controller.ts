// `podlb controller`: wiring only (design §2). Every replica serves the mutating webhook from
// its own Service cache and reloads the serving certificate from the shared Secret. Only the
// leader (Lease podlb-system/podlb-controller) runs the cluster-wide loop: webhook TLS issue and
// rotation, garbage collection of members whose node is gone, PodAddressPool status
// (pool-status.ts), and the batch member updates of podlb-owned Octavia pools (octavia-batch.ts). The leader runs those reconcilers (leader-reconcilers.ts) in the same
// ReconcileLoop as the agent's.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  API_VERSION,
  type EndpointSlice,
  type LoadBalancerClass,
  type Node,
  type Pod,
  type PodAddressPool,
  type PodLBNode,
  type Service,
} from '../api/types.js';
import { type ObjectRef, uidsFrom } from '../api/problem.js';
import { ReconcileLoop } from '../reconcile/loop.js';
import { KubeClient } from '../kube/client.js';
import { EventRecorder } from '../kube/events.js';
import { type InformerOptions, ResilientInformer } from '../kube/informer.js';
import { protobufCodec } from '../kube/proto/codec.js';
import { jsonCodec } from '../kube/wire.js';
import { HaproxyInstance } from '../lb/haproxy-instance.js';
import type { LbInstance } from '../lb/provider.js';
import { LeaderElector, type LeaseClient } from './leader-election.js';
import { CredentialSecrets } from './credential-secrets.js';
import { MemberGc } from './member-gc.js';
import { OctaviaBatchWriter, type OctaviaBatchOptions } from './octavia-batch.js';
import { PoolStatusWriter } from './pool-status.js';
import { replicaCertificate, secretToBundle, TlsManager, type TlsBundle } from './tls-manager.js';
import {
  GcReconciler,
  leaderRunReport,
  OctaviaBatchReconciler,
  PoolStatusReconciler,
  TlsReconciler,
  type LeaderContribution,
  type LeaderRunReport,
  type LeaderSnapshot,
} from './leader-reconcilers.js';
import type { KeyPairPem } from './certs.js';
import { WebhookServer } from './webhook-server.js';
import { CalicoLoop } from './calico/loop.js';
import { clusterSliceTransform, podTransform, viewChanged } from './cache-view.js';

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  log: Logger;
  /** This replica's name (the Pod name): the Lease holder identity and the Event source. */
  identity: string;
  /** Where the Lease and the TLS Secret live. */
  namespace?: string;
  leaseName?: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  webhookPort?: number;
  webhookHost?: string;
  /** The webhook Service: the serving certificate's SANs are its DNS names. */
  webhookServiceName?: string;
  /** More DNS SANs, shared by every replica (--webhook-extra-sans). */
  extraDnsNames?: string[];
  /** IP SANs shared by every replica (--webhook-extra-sans: a VIP in front of them). */
  extraIpAddresses?: string[];
  /**
   * This replica's own addresses (its Pod IP, the webhook's bind address): the certificate it
   * serves covers them, so a webhook `clientConfig.url` may name the replica by address.
   */
  ownIpAddresses?: string[];
  webhookConfigName?: string;
  tlsSecretName?: string;
  /**
   * Where the TLS Secret lives: not `namespace`, because every node's agent may read the
   * Secrets there (BGP passwords, Octavia credentials) and must not read the webhook CA key.
   */
  tlsSecretNamespace?: string;
  caLifetimeMs?: number;
  certLifetimeMs?: number;
  /** How often the leader re-checks the Secret and the webhook CA bundle (drift, rotation). */
  tlsCheckMs?: number;
  gcGraceMs?: number;
  gcIntervalMs?: number;
  makeInstance?: (address: string) => LbInstance;
  /** Wrap the Lease client (tests partition one replica from the API server with it). */
  leaseClient?: (client: KubeClient) => LeaseClient;
  now?: () => number;
  /** `calico`: the leader also renders Calico BGPPeers/BGPFilters (calico/loop.ts). Default `bird`. */
  bgp?: 'bird' | 'calico';
  /** calico-node's namespace (BGP password Secrets must be there). */
  calicoNamespace?: string;
  /** The Octavia batch writer's cadence and credential policy. */
  octaviaBatch?: Pick<OctaviaBatchOptions, 'pollMs' | 'resyncMs' | 'trust' | 'clientOptions'>;
  /**
   * How the cluster-wide Pods and EndpointSlices are listed and watched (default protobuf, as
   * the agents do); JSON for an API path whose proxy cannot carry protobuf.
   */
  apiEncoding?: 'protobuf' | 'json';
}

export type { LeaderRunReport } from './leader-reconcilers.js';

export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

export class Controller {
  readonly #o: Required<Omit<ControllerOptions, 'webhookHost' | 'leaseClient' | 'octaviaBatch' | 'apiEncoding'>> &
    Pick<ControllerOptions, 'webhookHost' | 'leaseClient' | 'octaviaBatch' | 'apiEncoding'>;
  readonly #client: KubeClient;
  readonly #informers: {
    services: ResilientInformer<Service & KubernetesObject>;
    nodes: ResilientInformer<Node & KubernetesObject>;
    classes: ResilientInformer<LoadBalancerClass & KubernetesObject>;
    tlsSecret: ResilientInformer<KubernetesObject & { data?: Record<string, string> }>;
    pools: ResilientInformer<PodAddressPool & KubernetesObject>;
    podlbNodes: ResilientInformer<PodLBNode & KubernetesObject>;
    pods: ResilientInformer<Pod & KubernetesObject>;
    slices: ResilientInformer<EndpointSlice & KubernetesObject>;
  };
  readonly webhook: WebhookServer;
  readonly elector: LeaderElector;
  readonly #gc: MemberGc;
  readonly #octavia: OctaviaBatchWriter;
  readonly #credentials: CredentialSecrets;
  readonly #events: EventRecorder;
  /** Uids for Events from the controller's own caches; podlb BGPPeers are in the Calico loop's. */
  readonly #ownUids: (ref: ObjectRef) => string | undefined;
  readonly #tlsReconciler: TlsReconciler;
  readonly #gcReconciler: GcReconciler;
  readonly #leaderLoop: ReconcileLoop<LeaderSnapshot, LeaderContribution>;
  #leading = false;
  #webhookPort = 0;
  #serveSeq = 0;
  #replicaCert: { from: string; cert: KeyPairPem } | undefined;
  /** Calico mode only: its own leader-only loop, started and stopped with leadership. */
  readonly calico: CalicoLoop | undefined;

  constructor(opts: ControllerOptions) {
    this.#o = {
      namespace: 'podlb-system',
      leaseName: 'podlb-controller',
      leaseDurationSeconds: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      webhookPort: 9443,
      webhookServiceName: 'podlb-webhook',
      extraDnsNames: [],
      extraIpAddresses: [],
      ownIpAddresses: [],
      webhookConfigName: 'podlb',
      tlsSecretName: 'podlb-webhook-tls',
      tlsSecretNamespace: 'podlb-controller',
      caLifetimeMs: 5 * 365 * 86_400_000,
      certLifetimeMs: 90 * 86_400_000,
      tlsCheckMs: 60_000,
      gcGraceMs: 120_000,
      gcIntervalMs: 30_000,
      makeInstance: (address) => new HaproxyInstance(address),
      now: Date.now,
      bgp: 'bird',
      calicoNamespace: 'calico-system',
      ...opts,
    };
    const o = this.#o;
    const log = o.log;
    this.#client = new KubeClient(o.kubeConfig);
    this.#events = new EventRecorder(this.#client, log, { component: 'podlb-controller', host: o.identity, uidOf: (ref) => this.#uidOf(ref) });
    const inf = <T extends KubernetesObject>(path: string, onChange: () => void, extra: Partial<InformerOptions<T>> = {}) =>
      new ResilientInformer<T>(this.#client, { path, onChange, log: log.child({ informer: path }), ...extra });
    // The two collections that grow with the cluster: protobuf, kept as the planner reads
    // them (cache-view.ts), and a change it cannot see costs no pass.
    const large = { codec: o.apiEncoding === 'json' ? jsonCodec : protobufCodec, relevant: viewChanged };
    const poke = (): void => this.#leaderLoop.notify();
    // Nodes and pools also feed the Calico loop, which shares these informers.
    const pokeBoth = (): void => {
      poke();
      this.calico?.notify();
    };
    this.#informers = {
      services: inf(`/api/v1/services`, poke),
      nodes: inf(`/api/v1/nodes`, pokeBoth),
      classes: inf(`/apis/${API_VERSION}/loadbalancerclasses`, poke),
      tlsSecret: inf(`/api/v1/namespaces/${o.tlsSecretNamespace}/secrets`, () => this.#loadCertificate(), {
        fieldSelector: `metadata.name=${o.tlsSecretName}`,
      }),
      pools: inf(`/apis/${API_VERSION}/podaddresspools`, pokeBoth),
      podlbNodes: inf(`/apis/${API_VERSION}/podlbnodes`, poke),
      // The Octavia batch writer plans every node's members as the agents do.
      pods: inf<Pod & KubernetesObject>(`/api/v1/pods`, poke, { ...large, transform: podTransform }),
      slices: inf<EndpointSlice & KubernetesObject>(`/apis/discovery.k8s.io/v1/endpointslices`, poke, { ...large, transform: clusterSliceTransform }),
    };
    const i = this.#informers;
    this.#ownUids = uidsFrom({
      'v1/Service': (name, ns) => i.services.get(name, ns),
      'v1/Node': (name) => i.nodes.get(name),
      'v1/Pod': (name, ns) => i.pods.get(name, ns),
      [`${API_VERSION}/LoadBalancerClass`]: (name) => i.classes.get(name),
      [`${API_VERSION}/PodAddressPool`]: (name) => i.pools.get(name),
      [`${API_VERSION}/PodLBNode`]: (name) => i.podlbNodes.get(name),
    });
    this.webhook = new WebhookServer({
      services: () => this.#informers.services.list(),
      synced: () => this.#informers.services.synced,
      log: log.child({ component: 'webhook' }),
    });
    const tls = new TlsManager({
      client: this.#client,
      namespace: o.tlsSecretNamespace,
      secretName: o.tlsSecretName,
      webhookConfigName: o.webhookConfigName,
      dnsNames: [...serviceDnsNames(o.webhookServiceName, o.namespace), ...o.extraDnsNames],
      ipAddresses: o.extraIpAddresses,
      caLifetimeMs: o.caLifetimeMs,
      certLifetimeMs: o.certLifetimeMs,
      log: log.child({ component: 'tls' }),
    });
    this.#gc = new MemberGc({
      makeInstance: o.makeInstance,
      graceMs: o.gcGraceMs,
      log: log.child({ component: 'member-gc' }),
      record: (ev) => void this.#events.record(ev),
    });
    this.#credentials = new CredentialSecrets(this.#client);
    this.#octavia = new OctaviaBatchWriter({
      ...o.octaviaBatch,
      log: log.child({ component: 'octavia-batch' }),
      record: (ev) => void this.#events.record(ev),
    });
    this.calico =
      o.bgp === 'calico'
        ? new CalicoLoop({
            client: this.#client,
            log: log.child({ component: 'calico' }),
            record: (ev) => void this.#events.record(ev),
            calicoNamespace: o.calicoNamespace,
            now: o.now,
            shared: { nodes: this.#informers.nodes, pools: this.#informers.pools },
          })
        : undefined;
    const poolStatus = new PoolStatusWriter({
      client: this.#client,
      log: log.child({ component: 'pool-status' }),
      record: (ev) => void this.#events.record(ev),
    });
    this.#tlsReconciler = new TlsReconciler({ tls, checkMs: o.tlsCheckMs, serve: (bundle) => this.#serve(bundle) });
    this.#gcReconciler = new GcReconciler({ gc: this.#gc, intervalMs: o.gcIntervalMs });
    this.#leaderLoop = new ReconcileLoop<LeaderSnapshot, LeaderContribution>({
      log: log.child({ component: 'leader-loop' }),
      reconcilers: [
        this.#tlsReconciler,
        this.#gcReconciler,
        new PoolStatusReconciler({ writer: poolStatus }),
        new OctaviaBatchReconciler({ writer: this.#octavia }),
      ],
      snapshot: (now) => this.#leaderSnapshot(now),
      now: o.now,
    });
    this.elector = new LeaderElector({
      client: o.leaseClient ? o.leaseClient(this.#client) : this.#client,
      namespace: o.namespace,
      name: o.leaseName,
      identity: o.identity,
      leaseDurationSeconds: o.leaseDurationSeconds,
      renewDeadlineMs: o.renewDeadlineMs,
      retryPeriodMs: o.retryPeriodMs,
      log: log.child({ component: 'leader-election' }),
      now: o.now,
      onStartedLeading: () => this.#startLeading(),
      onStoppedLeading: () => this.#stopLeading(),
      onNewLeader: (id) => log.info({ leader: id || '(none)' }, 'observed leader'),
    });
  }

  get webhookPort(): number {
    return this.#webhookPort;
  }

  /** Ready to answer reviews: a certificate is loaded and the Service cache has listed. */
  get ready(): boolean {
    return this.webhook.hasCertificate && this.#informers.services.synced;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  async start(): Promise<void> {
    this.#webhookPort = await this.webhook.listen(this.#o.webhookPort, this.#o.webhookHost);
    await Promise.all(Object.values(this.#informers).map((i) => i.start()));
    await this.calico?.start();
    this.elector.start();
  }

  /** Stops leading (the leader loop finishes its pass), releases the Lease, stops serving. */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    await this.elector.stop(opts);
    await this.#stopLeading();
    await Promise.all(Object.values(this.#informers).map((i) => i.stop()));
    await this.calico?.stop();
    await this.#gc.close();
    await this.webhook.close();
  }

  /** The leader loop's last pass: each reconciler's report, or the error it failed with. */
  get lastLeaderRun(): LeaderRunReport | undefined {
    const run = this.#leaderLoop.lastRun;
    return run && leaderRunReport(run.at, run.runs);
  }

  /** Resolves after the leader loop's next pass, which runs every reconciler (tests). */
  async nextLeaderRun(): Promise<void> {
    this.#tlsReconciler.force();
    this.#gcReconciler.force();
    await this.#leaderLoop.nextRun();
  }

  async #leaderSnapshot(now: number): Promise<LeaderSnapshot> {
    const i = this.#informers;
    if (this.#leading) await this.#credentials.refresh(i.classes.list(), now);
    return {
      gc: {
        classes: i.classes.list(),
        services: i.services.list(),
        nodes: new Set(i.nodes.list().map((n) => n.metadata?.name ?? '')),
        nodesSynced: i.nodes.synced && i.classes.synced && i.services.synced,
      },
      pools: { pools: i.pools.list(), nodes: i.nodes.list(), podlbNodes: i.podlbNodes.list(), synced: i.pools.synced && i.nodes.synced && i.podlbNodes.synced },
      octavia: {
        classes: i.classes.list(),
        services: i.services.list(),
        pods: i.pods.list(),
        endpointSlices: i.slices.list(),
        secret: (name, namespace) => this.#credentials.get(name, namespace),
        synced: i.classes.synced && i.services.synced && i.pods.synced && i.slices.synced,
      },
      stillLeading: () => this.#leading,
    };
  }

  #loadCertificate(): void {
    const secret = this.#informers.tlsSecret.get(this.#o.tlsSecretName, this.#o.tlsSecretNamespace);
    const bundle = secretToBundle(secret);
    if (bundle) void this.#serve(bundle);
  }

  /** Serves `bundle`'s certificate, or this replica's own leaf from its CA (replicaCertificate). */
  async #serve(bundle: TlsBundle): Promise<void> {
    const seq = ++this.#serveSeq;
    try {
      let cert = this.#replicaCert?.from === bundle.certPem ? this.#replicaCert.cert : undefined;
      if (!cert) {
        cert = await replicaCertificate(bundle, this.#o.ownIpAddresses, this.#o.now());
        this.#replicaCert = { from: bundle.certPem, cert };
      }
      // A newer Secret arrived while this one was being issued: that one wins.
      if (seq === this.#serveSeq) this.webhook.setCertificate(cert);
    } catch (err) {
      this.#o.log.error({ err }, 'the webhook TLS Secret holds an unusable certificate or key');
    }
  }

  #startLeading(): void {
    this.#leading = true;
    this.#tlsReconciler.force();
    this.#gcReconciler.force();
    this.#leaderLoop.start();
    this.calico?.startLeading();
  }

  async #stopLeading(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    await this.calico?.stopLeading();
    await this.#leaderLoop.stop();
    this.#gc.reset();
    this.#octavia.reset();
  }

  #uidOf(ref: ObjectRef): string | undefined {
    return this.#ownUids(ref) ?? this.calico?.uidOf(ref);
  }
}

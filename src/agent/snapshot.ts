// What one agent run sees: this node's view of the caches, taken once per run so every
// reconciler plans from the same world, plus the kernel's default gateways (an observation
// like any informer's, used for `Gateway` peers).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  API_VERSION,
  type BGPPeer,
  type EndpointSlice,
  type LoadBalancerClass,
  type Node,
  type Pod,
  type PodAddressPool,
  type Secret,
  type Service,
} from '../api/types.js';
import { type UidOf, uidsFrom } from '../api/problem.js';
import type { KubeClient } from '../kube/client.js';
import { protobufCodec } from '../kube/proto/codec.js';
import { type InformerOptions, ResilientInformer } from '../kube/informer.js';
import { jsonCodec, type WireCodec } from '../kube/wire.js';
import { serviceIndexers, serviceRelevant, serviceTransform, sliceFirstNode, sliceIndexers, sliceRelevant, sliceTransform } from './cache-view.js';

export interface Gateways {
  v4?: string;
  v6?: string;
}

export interface AgentSnapshot {
  nodeName: string;
  node: Node | undefined;
  /** This node's Pods. */
  pods: readonly Pod[];
  /** Opted-in Services (the class index), as cache-view.ts keeps them. */
  services: readonly Service[];
  /** Every slice, with only this node's endpoints (cache-view.ts). */
  slices: readonly EndpointSlice[];
  /** The slices of a Service (namespace/name), from the cache's index. */
  slicesOf?: (serviceKey: string) => readonly EndpointSlice[];
  firstNodeOf?: (slice: EndpointSlice) => string | undefined;
  classes: readonly LoadBalancerClass[];
  pools: readonly PodAddressPool[];
  peers: readonly BGPPeer[];
  /** Secrets in the agent's Secrets namespace. */
  secrets: readonly Secret[];
  /** Default gateways; undefined when kernel routes are off or netlink is unavailable. */
  gateway: Gateways | undefined;
  /** performance.now() of the first Pod event this run takes in: when the agent learnt what it sees. */
  observedAt: number;
}

type Informer<T> = ResilientInformer<T & KubernetesObject>;

/**
 * EndpointSlices per list page. A slice holds up to 100 endpoints, so a page of the informer's
 * default 500 is ~6 MB of protobuf (~24 MB of JSON), held twice while it arrives (the chunks,
 * then the body) on a node that keeps ~1/1,000 of it: 100 a page cut the agent's peak RSS by
 * ~5 MB in the 100,000-endpoint bench, for 10 requests instead of 2 at start.
 */
export const SLICE_PAGE = 100;

export class AgentInformers {
  readonly #nodeName: string;
  readonly #all: {
    pods: Informer<Pod>;
    node: Informer<Node>;
    services: Informer<Service>;
    slices: Informer<EndpointSlice>;
    classes: Informer<LoadBalancerClass>;
    pools: Informer<PodAddressPool>;
    peers: Informer<BGPPeer>;
    secrets: Informer<Secret>;
  };
  readonly #secretsNamespace: string;
  /** The first Pod informer event not yet taken in by a snapshot. */
  #podEventAt: number | undefined;
  /** The uid of an object an Event is about, from these caches (see EventRecorder). */
  readonly uidOf: UidOf;

  constructor(client: KubeClient, o: { nodeName: string; secretsNamespace: string; log: Logger; onChange: () => void; apiEncoding?: 'protobuf' | 'json' }) {
    // How the built-in kinds are asked for; custom resources are JSON (a real API server answers
    // 406 to a custom resource asked for protobuf first).
    const BUILTIN_CODEC: WireCodec = o.apiEncoding === 'json' ? jsonCodec : protobufCodec;
    this.#nodeName = o.nodeName;
    this.#secretsNamespace = o.secretsNamespace;
    const inf = <T extends KubernetesObject>(path: string, extra: Partial<InformerOptions<T>> = {}) =>
      new ResilientInformer<T>(client, { path, onChange: o.onChange, log: o.log.child({ informer: path }), ...extra });
    const podChanged = (): void => {
      this.#podEventAt ??= performance.now();
      o.onChange();
    };
    this.#all = {
      pods: inf(`/api/v1/pods`, { fieldSelector: `spec.nodeName=${o.nodeName}`, onChange: podChanged, codec: BUILTIN_CODEC }),
      node: inf(`/api/v1/nodes`, { fieldSelector: `metadata.name=${o.nodeName}`, codec: BUILTIN_CODEC }),
      // The two collections that grow with the cluster: kept as the planners read them, and
      // a change no planner on this node can see costs a lookup, not a loop run.
      services: inf<Service & KubernetesObject>(`/api/v1/services`, {
        transform: serviceTransform,
        relevant: serviceRelevant,
        indexers: serviceIndexers,
        codec: BUILTIN_CODEC,
      }),
      slices: inf<EndpointSlice & KubernetesObject>(`/apis/discovery.k8s.io/v1/endpointslices`, {
        transform: sliceTransform(o.nodeName),
        relevant: sliceRelevant,
        indexers: sliceIndexers,
        codec: BUILTIN_CODEC,
        limit: SLICE_PAGE,
      }),
      classes: inf(`/apis/${API_VERSION}/loadbalancerclasses`),
      pools: inf(`/apis/${API_VERSION}/podaddresspools`),
      peers: inf(`/apis/${API_VERSION}/bgppeers`),
      secrets: inf(`/api/v1/namespaces/${o.secretsNamespace}/secrets`),
    };
    const a = this.#all;
    this.uidOf = uidsFrom({
      'v1/Pod': (name, ns) => a.pods.get(name, ns),
      'v1/Node': (name) => a.node.get(name),
      'v1/Service': (name, ns) => a.services.get(name, ns),
      'v1/Secret': (name, ns) => a.secrets.get(name, ns),
      [`${API_VERSION}/LoadBalancerClass`]: (name) => a.classes.get(name),
      [`${API_VERSION}/PodAddressPool`]: (name) => a.pools.get(name),
      [`${API_VERSION}/BGPPeer`]: (name) => a.peers.get(name),
    });
  }

  get synced(): boolean {
    return Object.values(this.#all).every((i) => i.synced);
  }

  async start(): Promise<void> {
    await Promise.all(Object.values(this.#all).map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.#all).map((i) => i.stop()));
  }

  /** A Secret as the cache holds it now; only the agent's Secrets namespace is watched. */
  secret(name: string, namespace: string): Secret | undefined {
    return namespace === this.#secretsNamespace ? this.#all.secrets.get(name, namespace) : undefined;
  }

  /** Undefined until every cache has listed once: a half-empty world would drain every member. */
  snapshot(gateway: Gateways | undefined): AgentSnapshot | undefined {
    if (!this.synced) return undefined;
    const i = this.#all;
    const observedAt = this.#podEventAt ?? performance.now();
    this.#podEventAt = undefined;
    return {
      nodeName: this.#nodeName,
      node: i.node.get(this.#nodeName),
      pods: i.pods.list().filter((p) => p.spec?.nodeName === this.#nodeName),
      services: i.services.indexed('class'),
      slices: i.slices.list(),
      slicesOf: (key) => i.slices.byIndex('service', key),
      firstNodeOf: sliceFirstNode,
      classes: i.classes.list(),
      pools: i.pools.list(),
      peers: i.peers.list(),
      secrets: i.secrets.list(),
      gateway,
      observedAt,
    };
  }
}

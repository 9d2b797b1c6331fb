// Raw shapes of the objects podlb reads and writes, as they arrive from the Kubernetes API.
// Nothing here is validated: parse these at the edge (src/bgp/config.ts for BGP,
// parseLbClass in src/members/binding.ts for LoadBalancerClasses) into typed models before
// any decision is taken on them. Field names are the contract of
// shared/design.md §3.

export const GROUP = 'podlb.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const ANNOTATION_LOAD_BALANCER = 'podlb.io/load-balancer';
export const ANNOTATION_PORTS = 'podlb.io/ports';
export const ANNOTATION_BACKEND = 'podlb.io/backend';
export const ANNOTATION_DRAIN_SECONDS = 'podlb.io/drain-seconds';

/** The Pod readiness gate podlb owns. */
export const READINESS_GATE = 'podlb.io/load-balancer-ready';
/**
 * The label an operator puts on a Secret in podlb's namespace to let LoadBalancerClasses use
 * it as Octavia credentials: a class author names the Secret, so any other Secret there (BGP
 * passwords, credentials meant for something else) must not be usable that way.
 */
export const LABEL_CREDENTIALS = 'podlb.io/credentials';

export type GateReason = 'RegistrationInProgress' | 'LoadBalancerHealthy' | 'LoadBalancerRegistered' | 'ReadinessTimeout' | 'LoadBalancerBindingRemoved';

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface SecretKeyRef {
  namespace?: string;
  name: string;
  key: string;
}

// ---- podlb.io/v1alpha1 ----

export type ApprovalState = 'Pending' | 'Approved' | 'Rejected';

export interface PodAddressPool {
  apiVersion?: string;
  kind?: 'PodAddressPool';
  metadata: ObjectMeta;
  spec: {
    cidrs: string[];
    advertise?: 'NodeCIDR' | 'PodIPs';
    nodeSelector?: LabelSelector;
    communities?: string[];
    /** digest/fieldDigests: what was approved (src/bgp/approval.ts). */
    approval?: { state?: ApprovalState; by?: string; reason?: string; time?: string; digest?: string; fieldDigests?: Record<string, string> };
  };
  status?: { conditions?: Condition[]; advertisedNodes?: number };
}

export interface BGPPeer {
  apiVersion?: string;
  kind?: 'BGPPeer';
  metadata: ObjectMeta;
  spec: {
    peerAddress: string; // an IP, or 'Gateway'
    peerASN: number;
    localASN: number;
    nodeSelector?: LabelSelector;
    holdTimeSeconds?: number;
    keepaliveSeconds?: number;
    passwordSecretRef?: SecretKeyRef;
    bfd?: { enabled?: boolean; minIntervalMilliseconds?: number; multiplier?: number };
    gracefulRestart?: { enabled?: boolean; restartTimeSeconds?: number };
    ebgpMultihop?: number;
    sourceAddress?: string;
  };
  status?: { conditions?: Condition[] };
}

export interface HaproxyHealthCheck {
  interval?: string; // Go-style duration: "1s", "500ms"
  rise?: number;
  fall?: number;
  httpPath?: string;
}

export interface LoadBalancerClass {
  apiVersion?: string;
  kind?: 'LoadBalancerClass';
  metadata: ObjectMeta;
  spec: {
    provider: 'haproxy' | 'octavia';
    haproxy?: { instances: string[]; healthCheck?: HaproxyHealthCheck };
    octavia?: {
      authURL: string;
      region?: string;
      credentialsSecretRef: SecretKeyRef;
      loadBalancerID: string;
    };
    drainSeconds?: number;
    readiness?: { withoutHealthCheck?: 'Immediate' | 'Never'; timeoutSeconds?: number; preRegister?: boolean };
    /** Which namespaces may bind the class and which backends each may name (members/tenancy.ts). */
    tenancy?: { namespaces: { name: string; backends?: string[] }[] };
  };
  status?: { conditions?: Condition[] };
}

export interface BgpSessionStatus {
  peer: string; // BGPPeer name
  protocol: string; // BIRD protocol name
  peerAddress: string;
  state: string; // BIRD's BGP state: Idle, Connect, Active, OpenSent, OpenConfirm, Established
  since?: string;
  routesExported?: number;
  lastError?: string;
}

export interface PodLBNode {
  apiVersion?: string;
  kind?: 'PodLBNode';
  metadata: ObjectMeta;
  spec?: Record<string, never>;
  status?: {
    bgp?: {
      sessions?: BgpSessionStatus[];
      advertisedPrefixes?: string[];
      configHash?: string;
      lastApplyTime?: string;
      lastApplyResult?: 'Applied' | 'Unchanged' | 'Failed';
      lastError?: string;
    };
    members?: { registered: number; healthy: number; draining: number; warming?: number };
    /** What each load-balancer instance reports, for `kubectl podlb explain`. */
    lb?: {
      instances: { class: string; id: string; reachable: boolean; lastError?: string }[];
      /** This node's members (at most MAX_STATUS_MEMBERS; `truncated` says when more exist). */
      members: {
        name: string;
        backend: string;
        pod: string;
        state: 'active' | 'warming' | 'draining';
        instances: { instance: string; admin: string; health: string; detail: string }[];
      }[];
      truncated?: boolean;
    };
    conditions?: Condition[];
  };
}

// ---- the core/v1 and discovery/v1 fields podlb uses ----

export interface Node {
  apiVersion?: string;
  kind?: 'Node';
  metadata: ObjectMeta;
  spec?: { podCIDR?: string; podCIDRs?: string[]; unschedulable?: boolean };
  status?: { addresses?: { type: string; address: string }[]; conditions?: Condition[] };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface Pod {
  apiVersion?: string;
  kind?: 'Pod';
  metadata: ObjectMeta;
  spec: {
    nodeName?: string;
    readinessGates?: { conditionType: string }[];
    containers: { name: string; image?: string; ports?: ContainerPort[]; [k: string]: unknown }[];
    terminationGracePeriodSeconds?: number;
    [k: string]: unknown;
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    hostIP?: string;
    conditions?: Condition[];
    [k: string]: unknown;
  };
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

export interface Service {
  apiVersion?: string;
  kind?: 'Service';
  metadata: ObjectMeta;
  spec: {
    selector?: Record<string, string>;
    ports?: ServicePort[];
    type?: string;
    clusterIP?: string;
    ipFamilies?: string[];
  };
}

export interface Endpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  nodeName?: string;
  targetRef?: { kind?: string; namespace?: string; name?: string; uid?: string };
}

export interface EndpointSlice {
  apiVersion?: string;
  kind?: 'EndpointSlice';
  metadata: ObjectMeta; // label kubernetes.io/service-name names the Service
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports?: { name?: string; port?: number; protocol?: string }[];
}

export interface Secret {
  apiVersion?: string;
  kind?: 'Secret';
  metadata: ObjectMeta;
  data?: Record<string, string>; // base64
  stringData?: Record<string, string>;
  type?: string;
}

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';

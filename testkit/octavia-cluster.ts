// A cluster snapshot for the controller's Octavia batch writer, without an API server: one
// opted-in Service `shop/web` (backend `web`) of class `octavia`, its Pods (containers ready,
// held only by podlb's gate) and one EndpointSlice per node, and a labelled credentials Secret
// for the fake. Shared by src/controller/octavia-batch.test.ts and bench/octavia-batch.ts.
import { stringify } from 'yaml';
import {
  LABEL_CREDENTIALS,
  LABEL_SERVICE_NAME,
  READINESS_GATE,
  type EndpointSlice,
  type LoadBalancerClass,
  type Pod,
  type Secret,
  type Service,
} from '../src/api/types.js';
import type { OctaviaFake } from './octavia-fake/index.js';

export interface OctaviaCluster {
  classes: LoadBalancerClass[];
  services: Service[];
  pods: Pod[];
  endpointSlices: EndpointSlice[];
  secret: Secret;
}

export function octaviaCluster(fake: OctaviaFake, lbId: string, podList: readonly { name: string; node: string; ip: string }[]): OctaviaCluster {
  const now = new Date().toISOString();
  const pods = podList.map(
    (p): Pod => ({
      metadata: { name: p.name, namespace: 'shop', uid: `uid-${p.name}`, labels: { app: 'web' } },
      spec: { nodeName: p.node, readinessGates: [{ conditionType: READINESS_GATE }], containers: [{ name: 'c' }] },
      status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], conditions: [{ type: 'ContainersReady', status: 'True', lastTransitionTime: now }] },
    }),
  );
  const endpointSlices = [...new Set(podList.map((p) => p.node))].map(
    (node): EndpointSlice => ({
      metadata: { name: `web-${node}`, namespace: 'shop', labels: { [LABEL_SERVICE_NAME]: 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: pods
        .filter((p) => p.spec.nodeName === node)
        .map((p) => ({
          addresses: [p.status!.podIP!],
          conditions: { ready: false },
          nodeName: node,
          targetRef: { kind: 'Pod', namespace: 'shop', name: p.metadata.name!, uid: p.metadata.uid! },
        })),
    }),
  );
  const c = fake.credentials.password;
  const clouds = {
    clouds: { b: { auth: { auth_url: fake.url, username: c.username, password: c.password, project_name: c.projectName }, region_name: 'RegionOne' } },
  };
  return {
    classes: [
      {
        metadata: { name: 'octavia' },
        spec: {
          provider: 'octavia',
          octavia: {
            authURL: fake.url,
            region: 'RegionOne',
            loadBalancerID: lbId,
            credentialsSecretRef: { namespace: 'podlb-system', name: 'os', key: 'clouds.yaml' },
          },
          tenancy: { namespaces: [{ name: 'shop', backends: ['web'] }] },
        },
      },
    ],
    services: [
      {
        metadata: { name: 'web', namespace: 'shop', annotations: { 'podlb.io/load-balancer': 'octavia', 'podlb.io/backend': 'web' } },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      },
    ],
    pods,
    endpointSlices,
    secret: {
      metadata: { name: 'os', namespace: 'podlb-system', labels: { [LABEL_CREDENTIALS]: 'true' }, resourceVersion: '1' },
      data: { 'clouds.yaml': Buffer.from(stringify(clouds)).toString('base64') },
    },
  };
}

// The install manifests (daemonset/), the Dockerfile, and the CRD schemas against valid and
// invalid objects. Real components where this machine has them: `kubectl kustomize` builds the
// kustomization, and the init container's script runs with the real `bird -p`, then a real
// BIRD answers the bird container's liveness command. The Dockerfile is checked for structure
// here; `./dev images` builds it and scripts/images-smoke.sh runs what it built.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalFor } from '../src/bgp/approval.js';
import { type ApiServer, startApiServer } from '../src/apiserver/index.js';
import { KubeClient } from '../src/kube/client.js';
import { AGENT_COMMAND } from '../src/cli/agent-main.js';
import { HELP_FLAG, parseFlags, str } from '../src/cli/flags.js';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasReal } from '../src/lab/real-components.js';
import type { BGPPeer, LoadBalancerClass, PodAddressPool, PodLBNode } from '../src/api/types.js';
import { celEnvironment } from '../src/apiserver/cel.js';
import { knownFormat } from '../src/apiserver/formats.js';
import { StructuralSchema } from '../src/apiserver/schema.js';
import { celRulesIn, hasCrdFor, isObj, loadCrds, loadYamlDocs, repoRoot, structuralProblems, validateAgainstCrds } from '../testkit/install-schema.js';

const ROOT = repoRoot();
const crds = loadCrds(ROOT);
const FIXTURES = join(ROOT, 'test/fixtures/objects');

type Obj = Record<string, unknown>;
interface K8sObj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

function docsOf(rel: string): K8sObj[] {
  return loadYamlDocs(join(ROOT, rel)) as K8sObj[];
}
function one(docs: K8sObj[], kind: string, name?: string): K8sObj {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  expect(found, `${kind}${name ? `/${name}` : ''}`).toHaveLength(1);
  return found[0]!;
}
function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

// ---------------------------------------------------------------------------------------------
describe('CRDs', () => {
  const EXPECTED = [
    { kind: 'PodAddressPool', plural: 'podaddresspools', shortName: 'pap' },
    { kind: 'BGPPeer', plural: 'bgppeers', shortName: 'bgpp' },
    { kind: 'LoadBalancerClass', plural: 'loadbalancerclasses', shortName: 'lbc' },
    { kind: 'PodLBNode', plural: 'podlbnodes', shortName: 'plbn' },
  ];

  it('defines exactly the four podlb kinds', () => {
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(EXPECTED.map((e) => e.kind).sort());
  });

  it.each(EXPECTED)('$kind: podlb.io/v1alpha1, cluster-scoped, status subresource, short name $shortName', ({ kind, plural, shortName }) => {
    const crd = crds.find((c) => c.spec.names.kind === kind)!;
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.metadata.name).toBe(`${plural}.podlb.io`);
    expect(crd.spec.group).toBe('podlb.io');
    expect(crd.spec.scope).toBe('Cluster');
    expect(crd.spec.names.plural).toBe(plural);
    expect(crd.spec.names.singular).toBe(kind.toLowerCase());
    expect(crd.spec.names.listKind).toBe(`${kind}List`);
    expect(crd.spec.names.shortNames).toEqual([shortName]);
    expect(crd.spec.names.categories).toEqual(['podlb']);
    expect(crd.spec.versions).toHaveLength(1);
    const v = crd.spec.versions[0]!;
    expect(v).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
    expect(v.additionalPrinterColumns?.map((c) => c.name)).toContain('Age');
  });

  it.each(crds.map((c) => [c.spec.names.kind, c] as const))('%s: the schema is structural and bounded', (_k, crd) => {
    expect(structuralProblems(crd.spec.versions[0]!.schema.openAPIV3Schema)).toEqual([]);
  });

  it.each(crds.map((c) => [c.spec.names.kind, c] as const))('%s: the schema compiles into the API server validator (CEL rules parse)', (_k, crd) => {
    expect(() => new StructuralSchema(crd.spec.versions[0]!.schema.openAPIV3Schema)).not.toThrow();
  });

  /** Resolves a printer column jsonPath against the schema: `.status.conditions[?(...)].status`. */
  function schemaAt(schema: Obj, jsonPath: string): Obj | 'metadata' | undefined {
    const parts = jsonPath
      .replace(/\[\?\(.*?\)\]/g, '[]')
      .split('.')
      .slice(1);
    let s: Obj | undefined = schema;
    for (const part of parts) {
      if (!s) return undefined;
      const [name, ...brackets] = part.split('[');
      if (s === schema && name === 'metadata') return 'metadata';
      const props: unknown = s.properties;
      s = isObj(props) && isObj(props[name!]) ? (props[name!] as Obj) : undefined;
      for (const _ of brackets) s = s && isObj(s.items) ? s.items : undefined;
    }
    return s;
  }

  it.each(
    crds.flatMap((c) => (c.spec.versions[0]!.additionalPrinterColumns ?? []).map((col) => [c.spec.names.kind, col.name, col.jsonPath, col.type, c] as const)),
  )('%s printer column %s (%s) points at a schema field of its type', (_k, _n, jsonPath, type, crd) => {
    const at = schemaAt(crd.spec.versions[0]!.schema.openAPIV3Schema, jsonPath);
    expect(at, jsonPath).toBeDefined();
    if (at === 'metadata') return;
    const want: Record<string, string[]> = {
      string: ['string', 'array'],
      integer: ['integer'],
      boolean: ['boolean'],
      number: ['number', 'integer'],
      date: ['string'],
    };
    expect(want[type], `column type ${type}`).toContain(at!.type);
  });

  it('the printer columns the issue asks for are there', () => {
    const cols = (kind: string): string[] => crds.find((c) => c.spec.names.kind === kind)!.spec.versions[0]!.additionalPrinterColumns!.map((c) => c.name);
    expect(cols('PodAddressPool')).toEqual(expect.arrayContaining(['State', 'CIDRs', 'Advertise', 'Age']));
    expect(cols('BGPPeer')).toEqual(expect.arrayContaining(['Peer', 'PeerASN', 'LocalASN']));
    expect(cols('PodLBNode')).toEqual(expect.arrayContaining(['BGP', 'Members', 'Age']));
  });

  it('every CEL rule type-checks in the API server CEL environment and has a message', () => {
    const rules = crds.flatMap((c) => celRulesIn(c.spec.versions[0]!.schema.openAPIV3Schema));
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      const checked = celEnvironment().check(r.rule);
      expect(checked.valid, `${r.rule}: ${checked.error?.message ?? ''}`).toBe(true);
      expect(r.message, `message for ${r.rule}`).toBeTruthy();
    }
  });

  // The API server checks formats on strings only (kube-openapi's strfmt registry); int32 and
  // int64 on integers document the range and check nothing.
  it('every string format used is one Kubernetes checks; integers use int32 or int64', () => {
    const stringFormats = new Set<string>();
    const numberFormats = new Set<string>();
    const walk = (s: unknown): void => {
      if (Array.isArray(s)) s.forEach(walk);
      else if (isObj(s)) {
        if (typeof s.format === 'string') (s.type === 'integer' || s.type === 'number' ? numberFormats : stringFormats).add(s.format);
        for (const v of Object.values(s)) walk(v);
      }
    };
    for (const c of crds) walk(c.spec.versions[0]!.schema);
    expect(stringFormats.size).toBeGreaterThan(0);
    for (const f of stringFormats) expect(knownFormat(f), f).toBe(true);
    for (const f of numberFormats) expect(['int32', 'int64']).toContain(f);
  });

  it('every default validates against its own schema', () => {
    const seen: string[] = [];
    const walk = (s: unknown, path: string): void => {
      if (!isObj(s)) return;
      if (s.default !== undefined) {
        const { default: def, ...rest } = s;
        const wrapper = new StructuralSchema({ type: 'object', properties: { v: rest } });
        expect(wrapper.validate({ v: def }), `${path}: default ${JSON.stringify(def)}`).toEqual([]);
        seen.push(path);
      }
      if (isObj(s.properties)) for (const [k, v] of Object.entries(s.properties)) walk(v, `${path}.${k}`);
      if (isObj(s.items)) walk(s.items, `${path}[]`);
    };
    for (const c of crds) walk(c.spec.versions[0]!.schema.openAPIV3Schema, c.spec.names.kind);
    expect(seen.sort()).toEqual([
      'BGPPeer.spec.gracefulRestart.enabled',
      'LoadBalancerClass.spec.readiness.preRegister',
      'LoadBalancerClass.spec.readiness.timeoutSeconds',
      'LoadBalancerClass.spec.readiness.withoutHealthCheck',
    ]);
  });

  // The checker itself: each schema breaks one rule the API server enforces (or the size policy).
  it.each([
    ['root not an object', { type: 'string', maxLength: 1 }, '<root>: type must be object'],
    ['missing type', { type: 'object', properties: { a: { maxLength: 3 } } }, 'a: type must be'],
    ['array without items', { type: 'object', properties: { a: { type: 'array', maxItems: 1 } } }, 'a: an array needs items'],
    [
      'properties with additionalProperties',
      { type: 'object', properties: { a: { type: 'object', properties: {}, additionalProperties: { type: 'string', maxLength: 1 } } } },
      'a: properties and additionalProperties',
    ],
    [
      'additionalProperties: false',
      { type: 'object', properties: { a: { type: 'object', additionalProperties: false } } },
      'a: additionalProperties must be a schema',
    ],
    [
      'type inside anyOf',
      { type: 'object', properties: { a: { type: 'string', maxLength: 3, anyOf: [{ type: 'string' }] } } },
      'a.anyOf[0]: type is not allowed',
    ],
    [
      'anyOf names an undeclared field',
      { type: 'object', properties: { a: { type: 'object', properties: {}, anyOf: [{ properties: { b: { maxLength: 1 } } }] } } },
      'a.anyOf[0].properties.b: not declared',
    ],
    ['$ref', { type: 'object', properties: { a: { type: 'string', maxLength: 1, $ref: '#/x' } } }, 'a: $ref is not allowed'],
    [
      'uniqueItems',
      { type: 'object', properties: { a: { type: 'array', maxItems: 1, uniqueItems: true, items: { type: 'string', maxLength: 1 } } } },
      'a: uniqueItems',
    ],
    [
      'typo in a keyword',
      { type: 'object', properties: { a: { type: 'array', maxItem: 1, items: { type: 'string', maxLength: 1 } } } },
      'a: unknown schema field maxItem',
    ],
    ['required not in properties', { type: 'object', required: ['b'], properties: {} }, '<root>: required field b'],
    [
      'metadata restricted',
      { type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } },
      'metadata: only {type: object}',
    ],
    [
      'list map key not required',
      {
        type: 'object',
        properties: {
          a: {
            type: 'array',
            maxItems: 1,
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['k'],
            items: { type: 'object', properties: { k: { type: 'string', maxLength: 1 } } },
          },
        },
      },
      'a: list map key k must be required',
    ],
    ['unbounded string', { type: 'object', properties: { a: { type: 'string' } } }, 'a: a string needs maxLength'],
    ['unbounded array', { type: 'object', properties: { a: { type: 'array', items: { type: 'string', maxLength: 1 } } } }, 'a: an array needs maxItems'],
    [
      'CEL rule without message',
      { type: 'object', 'x-kubernetes-validations': [{ rule: 'true' }] },
      '<root>: every x-kubernetes-validations entry needs rule and message',
    ],
  ])('the structural checker catches: %s', (_name, schema, problem) => {
    const problems = structuralProblems(schema);
    expect(
      problems.some((p) => p.startsWith(problem)),
      problems.join('\n'),
    ).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
describe('objects against the CRD schemas (validateAgainstCrds)', () => {
  const valid = yamlFiles(join(FIXTURES, 'valid')).flatMap((f) =>
    docsOf(`test/fixtures/objects/valid/${f}`).map((d) => [`${f}: ${d.kind}/${d.metadata.name}`, d] as const),
  );
  const invalid = yamlFiles(join(FIXTURES, 'invalid')).map((f) => {
    const text = readFileSync(join(FIXTURES, 'invalid', f), 'utf8');
    const docs = docsOf(`test/fixtures/objects/invalid/${f}`);
    return { file: f, why: /^# Invalid: (.+)$/m.exec(text)?.[1], expectPrefix: /^# expect: (.+)$/m.exec(text)?.[1], docs };
  });

  it.each(valid)('valid: %s', (_name, obj) => {
    expect(validateAgainstCrds(obj)).toEqual([]);
  });

  it.each(invalid.map((i) => [i.file, i] as const))('invalid: %s fails for its one reason', (_f, i) => {
    expect(i.why, '# Invalid: <which rule> comment').toBeTruthy();
    expect(i.expectPrefix, '# expect: <start of every error> comment').toBeTruthy();
    expect(i.docs).toHaveLength(1);
    const errors = validateAgainstCrds(i.docs[0]);
    expect(errors.length, i.why).toBeGreaterThan(0);
    for (const e of errors) expect(e.startsWith(i.expectPrefix!), `${e}\n  expected to start with: ${i.expectPrefix}`).toBe(true);
  });

  it('every kind has valid and invalid fixtures', () => {
    for (const kind of crds.map((c) => c.spec.names.kind)) {
      expect(
        valid.some(([, d]) => d.kind === kind),
        `valid ${kind}`,
      ).toBe(true);
      expect(
        invalid.some((i) => i.docs[0]?.kind === kind),
        `invalid ${kind}`,
      ).toBe(true);
    }
  });

  // Links src/api/types.ts to the schemas: every field the agent's types know, in one object
  // per kind. A field renamed on one side only fails here (or fails to compile).
  it('objects typed with src/api/types.ts, every field set, validate', () => {
    const sel = { matchLabels: { 'podlb.io/bgp': 'true' }, matchExpressions: [{ key: 'rack', operator: 'In' as const, values: ['r1'] }] };
    const cond = { type: 'Ready', status: 'True' as const, reason: 'Ok', message: 'fine', lastTransitionTime: '2026-11-22T10:00:00Z', observedGeneration: 1 };
    const pool: PodAddressPool = {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'PodAddressPool',
      metadata: { name: 'typed' },
      spec: {
        cidrs: ['10.0.0.0/16'],
        advertise: 'PodIPs',
        nodeSelector: sel,
        communities: ['1:2'],
        approval: approvalFor(
          { cidrs: ['10.0.0.0/16'], advertise: 'PodIPs', nodeSelector: sel, communities: ['1:2'] },
          { by: 'x', reason: 'y', time: '2026-11-22T10:00:00Z' },
        ),
      },
      status: { conditions: [cond], advertisedNodes: 2 },
    };
    const peer: BGPPeer = {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'BGPPeer',
      metadata: { name: 'typed' },
      spec: {
        peerAddress: '192.0.2.1',
        peerASN: 65000,
        localASN: 64512,
        nodeSelector: sel,
        holdTimeSeconds: 90,
        keepaliveSeconds: 30,
        passwordSecretRef: { namespace: 'podlb-system', name: 's', key: 'k' },
        bfd: { enabled: true, minIntervalMilliseconds: 300, multiplier: 3 },
        gracefulRestart: { enabled: true, restartTimeSeconds: 120 },
        ebgpMultihop: 2,
        sourceAddress: '192.0.2.10',
      },
      status: { conditions: [cond] },
    };
    const haproxy: LoadBalancerClass = {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'LoadBalancerClass',
      metadata: { name: 'typed-haproxy' },
      spec: {
        provider: 'haproxy',
        haproxy: { instances: ['unix:///run/haproxy.sock'], healthCheck: { interval: '1s', rise: 2, fall: 3, httpPath: '/healthz' } },
        drainSeconds: 30,
        readiness: { withoutHealthCheck: 'Never', timeoutSeconds: 600 },
      },
      status: { conditions: [cond] },
    };
    const octavia: LoadBalancerClass = {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'LoadBalancerClass',
      metadata: { name: 'typed-octavia' },
      spec: {
        provider: 'octavia',
        octavia: {
          authURL: 'https://keystone.example.com/v3',
          region: 'r',
          credentialsSecretRef: { name: 'c', key: 'k' },
          loadBalancerID: '3f2a4c1e-9b7d-4e2a-8c1f-0a1b2c3d4e5f',
        },
      },
    };
    const node: PodLBNode = {
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'PodLBNode',
      metadata: { name: 'typed', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'typed', uid: 'u', controller: false, blockOwnerDeletion: false }] },
      spec: {},
      status: {
        bgp: {
          sessions: [
            { peer: 'p', protocol: 'podlb_p', peerAddress: '192.0.2.1', state: 'Established', since: '2026-11-22T10:00:00Z', routesExported: 1, lastError: '' },
          ],
          advertisedPrefixes: ['10.0.1.0/24'],
          configHash: 'h',
          lastApplyTime: '2026-11-22T10:00:00Z',
          lastApplyResult: 'Applied',
          lastError: '',
        },
        members: { registered: 1, healthy: 1, draining: 0 },
        conditions: [cond],
      },
    };
    for (const obj of [pool, peer, haproxy, octavia, node]) expect(validateAgainstCrds(obj), `${obj.kind}/${obj.metadata.name}`).toEqual([]);
  });

  it('objects of other kinds are not podlb objects', () => {
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'bidder', namespace: 'ads' } };
    expect(hasCrdFor(svc)).toBe(false);
    expect(validateAgainstCrds(svc)).toEqual(['<root>: no podlb CRD serves apiVersion "v1" kind "Service"']);
    expect(hasCrdFor(valid[0]![1])).toBe(true);
    expect(validateAgainstCrds('x')).toEqual(['<root>: must be an object']);
  });
});

// ---------------------------------------------------------------------------------------------
describe('kustomization', () => {
  const kz = docsOf('daemonset/kustomization.yaml')[0] as unknown as { resources: string[]; images: { name: string; newName?: string; newTag?: string }[] };

  it('lists resources that exist and parse, and every manifest in daemonset/', () => {
    for (const r of kz.resources) {
      expect(existsSync(join(ROOT, 'daemonset', r)), r).toBe(true);
      const docs = docsOf(`daemonset/${r}`);
      expect(docs.length, r).toBeGreaterThan(0);
      for (const d of docs) {
        expect(typeof d.apiVersion, `${r}: apiVersion`).toBe('string');
        expect(typeof d.kind, `${r}: kind`).toBe('string');
        expect(d.metadata?.name, `${r}: metadata.name`).toBeTruthy();
      }
    }
    const onDisk = [
      ...yamlFiles(join(ROOT, 'daemonset')).filter((f) => f !== 'kustomization.yaml'),
      ...yamlFiles(join(ROOT, 'daemonset/crds')).map((f) => `crds/${f}`),
    ];
    expect([...kz.resources].sort()).toEqual(expect.arrayContaining(onDisk.sort()));
  });

  it('has an images entry for every container image', () => {
    const ds = one(docsOf('daemonset/daemonset.yaml'), 'DaemonSet');
    const spec = (ds.spec as { template: { spec: { containers: { image: string }[]; initContainers: { image: string }[] } } }).template.spec;
    const images = new Set([...spec.containers, ...spec.initContainers].map((c) => c.image));
    expect([...images].sort()).toEqual(['podlb', 'podlb-bird']);
    expect(kz.images.map((i) => i.name).sort()).toEqual([...images].sort());
  });

  // kubectl is no Debian bookworm package, so .ci/run cannot install it; where the machine
  // has one (this image's Google Cloud SDK does), the build is checked.
  it.skipIf(!has('kubectl'))('builds with kubectl kustomize, images rewritten (skipped only where kubectl is absent)', () => {
    const r = spawnSync('kubectl', ['kustomize', join(ROOT, 'daemonset')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const kinds = [...r.stdout.matchAll(/^kind: (\w+)$/gm)].map((m) => m[1]).sort();
    // The controller's kinds (controller.yaml, webhook.yaml) are checked in test/controller-manifests.test.ts.
    expect(kinds).toEqual([
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRole',
      'ClusterRoleBinding',
      'ClusterRoleBinding',
      'ClusterRoleBinding',
      'ClusterRoleBinding',
      'ConfigMap',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'DaemonSet',
      'Deployment',
      'MutatingWebhookConfiguration',
      'Namespace',
      'Namespace',
      'PodDisruptionBudget',
      'Role',
      'Role',
      'Role',
      'Role',
      'RoleBinding',
      'RoleBinding',
      'RoleBinding',
      'RoleBinding',
      'Service',
      'ServiceAccount',
      'ServiceAccount',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
      'ValidatingAdmissionPolicyBinding',
      'ValidatingAdmissionPolicyBinding',
    ]);
    expect(r.stdout).toContain('image: podlb:latest');
    expect(r.stdout).toContain('image: podlb-bird:latest');
    // kubectl apply creates in output order: each Namespace before what lives in it.
    const order = [...r.stdout.matchAll(/^kind: (\w+)\nmetadata:\n(?: {2}[^\n]*\n)*? {2}name: ([\w.-]+)$/gm)].map((m) => `${m[1]}/${m[2]}`);
    const first = (x: string): number => order.indexOf(x);
    expect(first('Namespace/podlb-controller')).toBeGreaterThanOrEqual(0);
    expect(first('Namespace/podlb-controller')).toBeLessThan(first('Role/podlb-controller-tls'));
    expect(first('Namespace/podlb-system')).toBeLessThan(first('DaemonSet/podlb-agent'));
  });
});

// ---------------------------------------------------------------------------------------------
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: number | string }; exec?: { command: string[] } };
  readinessProbe?: { httpGet?: { path: string; port: number | string } };
  securityContext?: {
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string }[];
}

describe('DaemonSet', () => {
  const docs = docsOf('daemonset/daemonset.yaml');
  const ds = one(docs, 'DaemonSet', 'podlb-agent');
  const dsSpec = ds.spec as {
    updateStrategy: unknown;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: Obj };
  };
  const pod = dsSpec.template.spec as {
    serviceAccountName: string;
    hostNetwork: boolean;
    dnsPolicy: string;
    priorityClassName: string;
    tolerations: unknown[];
    containers: Container[];
    initContainers: Container[];
    volumes: { name: string; emptyDir?: Obj; hostPath?: Obj }[];
  };
  const container = (name: string): Container => pod.containers.find((c) => c.name === name) ?? pod.initContainers.find((c) => c.name === name)!;
  const agent = container('agent');
  const bird = container('bird');
  const init = container('bird-config');
  const rbac = docsOf('daemonset/rbac.yaml');

  it('runs in podlb-system, as the RBAC ServiceAccount', () => {
    expect(ds.metadata.namespace).toBe('podlb-system');
    one(docsOf('daemonset/namespace.yaml'), 'Namespace', 'podlb-system');
    const sa = one(rbac, 'ServiceAccount');
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    expect(sa.metadata.namespace).toBe(ds.metadata.namespace);
  });

  it('is a node-critical host-network pod on every node, rolled one node at a time', () => {
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(dsSpec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(dsSpec.template.metadata.labels).toMatchObject(dsSpec.selector.matchLabels);
  });

  it('starts the agent with the CLI flags of src/cli/podlb.ts', () => {
    expect(agent.command).toBeUndefined(); // the image's ENTRYPOINT: node dist/src/cli/podlb.js
    expect(agent.args).toEqual(['agent', '--node-name', '$(NODE_NAME)', '--bird-socket', '/run/bird/bird.ctl', '--bird-config', '/run/bird/bird.conf']);
    expect(agent.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    // The agent's own parser accepts exactly these arguments (an unknown or misspelt flag throws).
    const parsed = parseFlags(AGENT_COMMAND, [...(AGENT_COMMAND.flags ?? []), HELP_FLAG], agent.args!.slice(1));
    expect(str(parsed, 'node-name')).toBe('$(NODE_NAME)');
    expect(str(parsed, 'bird-socket')).toBe('/run/bird/bird.ctl');
    expect(str(parsed, 'bird-config')).toBe('/run/bird/bird.conf');
  });

  it("probes the agent on 9253 (/healthz, /readyz); /metrics stays on the node's loopback", () => {
    expect(agent.ports).toEqual([{ name: 'health', containerPort: 9253, protocol: 'TCP' }]);
    expect(agent.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(agent.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    // hostNetwork: whatever listens on a wildcard address is open to anything that reaches the node.
    const parsed = parseFlags(AGENT_COMMAND, [...(AGENT_COMMAND.flags ?? []), HELP_FLAG], agent.args!.slice(1));
    expect([str(parsed, 'health-address'), str(parsed, 'health-port')]).toEqual(['0.0.0.0', '9253']);
    expect([str(parsed, 'metrics-address'), str(parsed, 'metrics-port')]).toEqual(['127.0.0.1', '9254']);
  });

  it.each([
    ['agent', ['NET_ADMIN']],
    ['bird', ['NET_ADMIN', 'NET_BIND_SERVICE', 'NET_RAW']],
    ['bird-config', []],
  ] as const)('%s: read-only root, no privilege escalation, all capabilities dropped but %j', (name, caps) => {
    const sc = container(name).securityContext!;
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.capabilities?.drop).toEqual(['ALL']);
    expect(sc.capabilities?.add ?? []).toEqual(caps);
    expect(sc.runAsUser).toBe(0); // one uid for the shared 0600 bird.conf and the socket: see daemonset.yaml
  });

  it.each(['agent', 'bird', 'bird-config'])('%s: has requests and a memory limit', (name) => {
    const r = container(name).resources!;
    expect(r.requests?.cpu).toBeTruthy();
    expect(r.requests?.memory).toBeTruthy();
    expect(r.limits?.memory).toBeTruthy();
  });

  it('runs BIRD on the shared socket and config the agent is given, kept across Pod replacement on tmpfs', () => {
    expect(bird.image).toBe('podlb-bird');
    expect(bird.command).toEqual(['bird', '-f', '-c', '/run/bird/bird.conf', '-s', '/run/bird/bird.ctl']);
    expect(bird.livenessProbe?.exec?.command).toEqual(['birdcl', '-s', '/run/bird/bird.ctl', 'show', 'status']);
    const vol = pod.volumes.find((v) => v.name === 'bird-run');
    // Survives the Pod's replacement (graceful restart needs the previous config) and lives
    // under /run, which is tmpfs: BGP passwords never reach the node's disk.
    expect(vol?.hostPath).toMatchObject({ path: expect.stringMatching(/^\/run\//), type: 'DirectoryOrCreate' });
    for (const c of [agent, bird, init]) expect(c.volumeMounts, c.name).toContainEqual({ name: 'bird-run', mountPath: '/run/bird' });
  });

  const initScript = init.command![2]!;
  const run = (env: Record<string, string>): { status: number | null; stdout: string; stderr: string } =>
    spawnSync('sh', ['-ec', initScript], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin:/usr/sbin:/sbin', ...env }, encoding: 'utf8' });

  it('has an init container that writes bird.conf from a script', () => {
    expect(init.command!.slice(0, 2)).toEqual(['/bin/sh', '-ec']);
    expect(init.env).toContainEqual({ name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } });
    expect(init.env).toContainEqual({ name: 'BIRD_CONFIG', value: '/run/bird/bird.conf' });
  });

  it.runIf(hasReal('bird', 'birdcl'))(
    'the init script writes a config the real BIRD accepts, keeps an existing one, and BIRD answers the liveness command',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'podlb-install-'));
      const conf = join(dir, 'bird.conf');
      let child: ReturnType<typeof spawn> | undefined;
      try {
        // IPv4 node: router id = host IP.
        let r = run({ BIRD_CONFIG: conf, HOST_IP: '10.1.2.3', NODE_NAME: 'worker-1' });
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(conf, 'utf8')).toContain('router id 10.1.2.3;');
        expect(statSync(conf).mode & 0o777).toBe(0o600);
        // Existing config (e.g. rendered by the agent before a restart): kept.
        r = run({ BIRD_CONFIG: conf, HOST_IP: '10.9.9.9', NODE_NAME: 'worker-1' });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toContain('keeping existing');
        expect(readFileSync(conf, 'utf8')).toContain('router id 10.1.2.3;');
        // IPv6-only node: a router id derived from the node name, stable.
        rmSync(conf);
        r = run({ BIRD_CONFIG: conf, HOST_IP: 'fd00::5', NODE_NAME: 'worker-1' });
        expect(r.status, r.stderr).toBe(0);
        const id = /router id (\d+\.\d+\.\d+\.\d+);/.exec(readFileSync(conf, 'utf8'))?.[1];
        expect(id).toBeDefined();
        rmSync(conf);
        run({ BIRD_CONFIG: conf, HOST_IP: 'fd00::5', NODE_NAME: 'worker-1' });
        expect(readFileSync(conf, 'utf8')).toContain(`router id ${id};`);

        // BIRD starts on it (in its own network namespace when unshare works), and the bird
        // container's liveness command succeeds.
        const sock = join(dir, 'bird.ctl');
        const birdArgs = ['-f', '-c', conf, '-s', sock];
        const isolated = spawnSync('unshare', ['-n', 'true']).status === 0;
        child = isolated ? spawn('unshare', ['-n', 'bird', ...birdArgs], { stdio: 'ignore' }) : spawn('bird', birdArgs, { stdio: 'ignore' });
        let status: ReturnType<typeof spawnSync> | undefined;
        for (let i = 0; i < 50; i++) {
          await sleep(100);
          if (!existsSync(sock)) continue;
          status = spawnSync('birdcl', ['-s', sock, 'show', 'status'], { encoding: 'utf8', timeout: 5000 });
          if (status.status === 0) break;
        }
        expect(status?.status).toBe(0);
        expect(String(status?.stdout)).toContain(`Router ID is ${id}`);
      } finally {
        if (child?.pid !== undefined && child.exitCode === null) {
          const exited = new Promise((resolve) => child!.once('exit', resolve));
          child.kill('SIGTERM');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
describe('RBAC', () => {
  // What the agent may do. This table must follow the agent's API calls: the informers in
  // src/agent/snapshot.ts, the PodLBNode writes in src/agent/status.ts, the readiness-gate patch
  // in src/agent/readiness-gates.ts, and src/kube/events.ts. A new call needs a row here and a rule in daemonset/rbac.yaml; a
  // call that goes away takes its row and its rule with it. Scope is 'cluster' (ClusterRole) or
  // the namespace of a Role.
  const AGENT_GRANTS: [scope: string, apiGroup: string, resource: string, verbs: string][] = [
    ['cluster', '', 'pods', 'get list watch'],
    ['cluster', '', 'nodes', 'get list watch'],
    ['cluster', '', 'services', 'get list watch'],
    ['cluster', 'discovery.k8s.io', 'endpointslices', 'get list watch'],
    ['cluster', '', 'pods/status', 'patch'],
    ['cluster', '', 'events', 'create patch'],
    ['cluster', 'events.k8s.io', 'events', 'create patch'],
    ['cluster', 'podlb.io', 'podaddresspools', 'get list watch'],
    ['cluster', 'podlb.io', 'bgppeers', 'get list watch'],
    ['cluster', 'podlb.io', 'loadbalancerclasses', 'get list watch'],
    ['cluster', 'podlb.io', 'podlbnodes', 'get list watch create update patch'],
    ['cluster', 'podlb.io', 'podlbnodes/status', 'get update patch'],
    ['podlb-system', '', 'secrets', 'get list watch'],
  ];
  const expand = (rows: typeof AGENT_GRANTS): string[] =>
    rows.flatMap(([scope, g, r, verbs]) => verbs.split(' ').map((v) => `${scope} ${g || 'core'} ${r} ${v}`)).sort();

  const docs = docsOf('daemonset/rbac.yaml');
  const sa = one(docs, 'ServiceAccount', 'podlb-agent');
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
  const boundRoles = docs
    .filter((d) => d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding')
    .filter((b) =>
      (b.subjects as { kind: string; name: string; namespace: string }[]).some(
        (s) => s.kind === 'ServiceAccount' && s.name === sa.metadata.name && s.namespace === sa.metadata.namespace,
      ),
    );

  it('binds the podlb-agent ServiceAccount to roles that exist', () => {
    expect(boundRoles.map((b) => b.kind).sort()).toEqual(['ClusterRoleBinding', 'RoleBinding']);
    for (const b of boundRoles) {
      const ref = b.roleRef as { apiGroup: string; kind: string; name: string };
      expect(ref.apiGroup).toBe('rbac.authorization.k8s.io');
      const role = one(docs, ref.kind, ref.name);
      if (b.kind === 'RoleBinding') expect(role.metadata.namespace).toBe(b.metadata.namespace);
    }
  });

  it('grants exactly the agent table: nothing missing, nothing more', () => {
    const granted: string[] = [];
    for (const b of boundRoles) {
      const ref = b.roleRef as { kind: string; name: string };
      const role = one(docs, ref.kind, ref.name);
      const scope = b.kind === 'ClusterRoleBinding' ? 'cluster' : b.metadata.namespace!;
      for (const rule of role.rules as Rule[]) {
        expect(rule.verbs, 'no wildcards').not.toContain('*');
        expect(rule.resources, 'no wildcards').not.toContain('*');
        expect(rule.apiGroups, 'no wildcards').not.toContain('*');
        for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) granted.push(`${scope} ${g || 'core'} ${r} ${v}`);
      }
    }
    expect([...new Set(granted)].sort()).toEqual(expand(AGENT_GRANTS));
    expect(granted.filter((g) => g.includes(' secrets ')).every((g) => !g.startsWith('cluster '))).toBe(true);
  });

  // Behaviour, not text: the manifests installed into the API server, and every row asked of its
  // RBAC authorizer as the agent's own Pod-bound ServiceAccount token (SelfSubjectAccessReview is
  // the authorizer a real request meets); a sample of calls the agent must never make is refused.
  describe('as the agent, against the API server with the manifests installed', () => {
    let api: ApiServer;
    let agent: KubeClient;
    beforeAll(async () => {
      api = await startApiServer();
      api.installManifests();
      api.store.create('nodes', { metadata: { name: 'node1' } });
      agent = new KubeClient(api.podIdentity({ serviceAccount: 'podlb-system/podlb-agent', nodeName: 'node1', hostNetwork: true }).kubeConfig());
    });
    afterAll(() => api.close());

    const allowed = async (scope: string, group: string, resource: string, verb: string): Promise<boolean> => {
      const [res, sub] = resource.split('/');
      const r = await agent.create<{ status: { allowed: boolean } }>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: { verb, group, resource: res, ...(sub ? { subresource: sub } : {}), ...(scope === 'cluster' ? {} : { namespace: scope }) },
        },
      });
      return r.status.allowed;
    };

    it.each(AGENT_GRANTS.flatMap(([scope, g, r, verbs]) => verbs.split(' ').map((v) => [scope, g, r, v] as const)))(
      'allows %s %s %s %s',
      async (scope, g, r, v) => {
        expect(await allowed(scope, g, r, v)).toBe(true);
      },
    );

    it.each([
      ['cluster', '', 'secrets', 'list'],
      ['default', '', 'secrets', 'get'],
      ['cluster', '', 'pods', 'delete'],
      ['cluster', '', 'pods', 'patch'],
      ['cluster', '', 'nodes', 'patch'],
      ['cluster', '', 'nodes/status', 'patch'],
      ['podlb-system', '', 'configmaps', 'update'],
      ['cluster', 'podlb.io', 'podaddresspools', 'patch'],
      ['cluster', 'podlb.io', 'podaddresspools/status', 'patch'],
      ['cluster', 'podlb.io', 'loadbalancerclasses', 'patch'],
      ['cluster', 'podlb.io', 'bgppeers', 'patch'],
      ['cluster', 'podlb.io', 'podlbnodes', 'delete'],
      ['podlb-system', 'coordination.k8s.io', 'leases', 'create'],
      ['cluster', 'rbac.authorization.k8s.io', 'clusterroles', 'create'],
    ] as const)('refuses %s %s %s %s', async (scope, g, r, v) => {
      expect(await allowed(scope, g, r, v)).toBe(false);
    });

    it('a refused call is a 403 naming the agent', async () => {
      await expect(agent.list('/api/v1/namespaces/default/secrets')).rejects.toThrow(
        'secrets is forbidden: User "system:serviceaccount:podlb-system:podlb-agent" cannot list resource "secrets" in API group "" in the namespace "default"',
      );
      await agent.list('/api/v1/namespaces/podlb-system/secrets');
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  // Join continuation lines, drop comments.
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('says at the top how this project builds it, and takes its bases as build arguments with public defaults', () => {
    expect(text.split('\n').slice(0, 6).join('\n')).toMatch(/\.\/dev images/);
    // scripts/images.sh passes its own bases through exactly these arguments.
    const script = readFileSync(join(ROOT, 'scripts/images.sh'), 'utf8');
    const args = Object.fromEntries(lines.filter((l) => /^ARG /i.test(l)).map((l) => l.slice(4).split('=') as [string, string]));
    for (const from of lines.filter((l) => /^FROM /i.test(l) && !/^FROM build\b/.test(l))) {
      const arg = /^FROM \$\{(\w+)\}/i.exec(from)?.[1];
      expect(arg, from).toBeDefined();
      expect(args[arg!], `${arg} default`).toMatch(/^(node:26-bookworm-slim|debian:bookworm-slim)$/);
      expect(script, `scripts/images.sh sets ${arg}`).toContain(`--build-arg ${arg}=`);
    }
  });

  it('has the build, agent and bird targets', () => {
    const targets = lines.filter((l) => /^FROM /i.test(l)).map((l) => /\bAS\s+(\S+)/i.exec(l)?.[1]);
    expect(targets).toEqual(['build', 'agent', 'bird']);
    expect(text).toMatch(/apt-get install -y --no-install-recommends bird2/);
    expect(text).toMatch(/npm ci/);
    expect(text).toMatch(/npm run build/);
    expect(text).toMatch(/npm prune --omit=dev/);
  });

  const copies = lines
    .filter((l) => /^COPY /i.test(l) && !/--from=/.test(l))
    .flatMap((l) => {
      const args = l
        .split(/\s+/)
        .slice(1)
        .filter((a) => !a.startsWith('--'));
      return args.slice(0, -1);
    });

  it.each(copies)('COPY source %s exists and the .dockerignore lets it in', (src) => {
    expect(existsSync(join(ROOT, src)), src).toBe(true);
    // The .dockerignore is an allow-list: `*` then `!path` for each source.
    expect(ignore[0]).toBe('*');
    expect(ignore, `.dockerignore needs !${src}`).toContain(`!${src}`);
  });

  it('the agent ENTRYPOINT is the podlb bin of package.json, and the image user is not root', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const agentStage = text.slice(text.indexOf(' AS agent'), text.indexOf(' AS bird'));
    expect(agentStage).toContain(`ENTRYPOINT ["node", "${pkg.bin.podlb}"]`);
    expect(agentStage).toMatch(/^USER 1000:1000$/m);
  });

  it('the bird image starts BIRD the way the DaemonSet does', () => {
    const birdStage = text.slice(text.indexOf(' AS bird'));
    expect(birdStage).toContain('ENTRYPOINT ["bird", "-f", "-c", "/run/bird/bird.conf", "-s", "/run/bird/bird.ctl"]');
  });
});

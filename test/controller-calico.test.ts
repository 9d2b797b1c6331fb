// Calico mode (`podlb controller --bgp=calico`): the pure renderer against golden files
// (UPDATE_GOLDEN=1 refreshes test/golden/calico/), the LabelSelector -> Calico selector table,
// the sync planner, and the controller's Calico loop against the in-process API server with
// Calico's CRDs registered: create, update on change, delete on removal, hand-made objects left alone.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { approvalFor } from '../src/bgp/approval.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { resourceFromCrd, startApiServer, type ApiServer } from '../src/apiserver/index.js';
import { waitFor } from '../src/lab/netns.js';
import type { Controller } from '../src/controller/controller.js';
import { CONTROLLER_SERVICE_ACCOUNT, controllerResources } from '../testkit/controller-resources.js';
import { CALICO_VERSIONS, calicoCrds, calicoResources } from '../testkit/calico-resources.js';
import { validateAgainstCrds } from '../testkit/install-schema.js';
import { renderCalico, type CalicoRenderInput, MANAGED_BY_LABEL, OWNER_ANNOTATION } from '../src/controller/calico/render.js';
import { labelSelectorToCalico } from '../src/controller/calico/selector.js';
import { capabilitiesOf } from '../src/controller/calico/capabilities.js';
import { applyCalicoSync, planCalicoSync, type CalicoCurrent } from '../src/controller/calico/sync.js';
import { KubeClient } from '../src/kube/client.js';
import { parseControllerFlags } from '../src/controller/main.js';
import { peerFixture, poolFixture } from '../testkit/bgp-fixtures.js';
import type { PodAddressPool } from '../src/api/types.js';
import { parseLabelSelector, selectorMatches } from '../src/util/label-selector.js';
import { LAB_NETWORK_TEAM } from '../src/lab/objects.js';
import { filterVerdict, prefix } from '../testkit/calico-filter-eval.js';

import type { Obj } from '../src/apiserver/resource-type.js';
import { testController } from '../testkit/controller-replica.js';
const log = pino({ level: process.env.PODLB_TEST_LOG ? 'debug' : 'silent' });
const execFileP = promisify(execFile);
const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden/calico');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** Problems as comments, then the objects as a kubectl-appliable multi-document YAML. */
function goldenText(input: CalicoRenderInput): string {
  const r = renderCalico(input);
  const head = r.problems.map((p) => `# ${p.severity} ${p.reason} ${p.object.kind}/${p.object.name} ${p.field}: ${p.message}\n`).join('');
  const docs = [...r.filters, ...r.peers].map((o) => stringify(o, { lineWidth: 0 }));
  return `${head || '# no problems\n'}${docs.map((d) => `---\n${d}`).join('')}`;
}

const inCalicoNs = { passwordSecretRef: { namespace: 'calico-system', name: 'tor-md5', key: 'password' } };
const pwPeer = peerFixture('rack-r12-tor', { passwordSecretRef: { namespace: 'podlb-system', name: 'tor-md5', key: 'password' } });
const noSel = { nodeSelector: undefined } as Partial<PodAddressPool['spec']>;

const cases: { name: string; input: CalicoRenderInput }[] = [
  // Design §3's objects as they are: the password Secret is in podlb-system, which Calico cannot read.
  { name: 'design-example', input: { peers: [pwPeer], pools: [poolFixture()] } },
  // The same with the Secret in calico-node's namespace: the pool's node selector splits the peer in two.
  { name: 'design-example-calico-secret', input: { peers: [peerFixture('rack-r12-tor', inCalicoNs)], pools: [poolFixture()] } },
  {
    name: 'dual-stack-no-pool-selector',
    input: {
      peers: [
        peerFixture('rack-r12-tor', { holdTimeSeconds: undefined, keepaliveSeconds: undefined }),
        peerFixture('rack-r12-tor-v6', { peerAddress: 'fd00:31::1', holdTimeSeconds: undefined, keepaliveSeconds: undefined, gracefulRestart: undefined }),
      ],
      pools: [
        poolFixture('tokyo-pods', { ...noSel, communities: ['65000:100'] }),
        poolFixture('tokyo-extra', { ...noSel, cidrs: ['10.245.0.0/24', '10.244.0.0/16'] }),
      ],
    },
  },
  {
    name: 'pool-selector-partitions',
    input: {
      peers: [
        peerFixture('spine', {
          nodeSelector: {
            matchExpressions: [
              { key: 'topology.kubernetes.io/rack', operator: 'In', values: ['r12', 'r13'] },
              { key: 'node-role.kubernetes.io/control-plane', operator: 'DoesNotExist' },
            ],
          },
          holdTimeSeconds: undefined,
          keepaliveSeconds: undefined,
        }),
      ],
      pools: [
        poolFixture('everywhere', { ...noSel, cidrs: ['10.250.0.0/16'] }),
        poolFixture('gpu', { cidrs: ['10.251.0.0/16'], nodeSelector: { matchLabels: { 'example.com/gpu': 'true' } } }),
        poolFixture('edge', {
          cidrs: ['10.252.0.0/16'],
          nodeSelector: {
            matchExpressions: [
              { key: 'zone', operator: 'NotIn', values: ['a', 'b'] },
              { key: 'edge', operator: 'Exists' },
            ],
          },
        }),
      ],
    },
  },
  {
    name: 'approval-states',
    input: {
      peers: [peerFixture('tor', { nodeSelector: undefined, holdTimeSeconds: undefined, keepaliveSeconds: undefined })],
      pools: [
        poolFixture('pending', { ...noSel, cidrs: ['10.1.0.0/16'], approval: { state: 'Pending' } }),
        poolFixture('rejected', { ...noSel, cidrs: ['10.2.0.0/16'], approval: { state: 'Rejected', by: 'network-team:bob', reason: 'overlaps the DMZ' } }),
        poolFixture('bad-cidr', { ...noSel, cidrs: ['10.3.0.0/33'] }),
        poolFixture('pod-ips', { ...noSel, cidrs: ['10.4.0.0/24'], advertise: 'PodIPs' }),
      ],
    },
  },
  {
    name: 'refused-and-ignored',
    input: {
      clusterAsn: 64512,
      peers: [
        peerFixture('gateway', { peerAddress: 'Gateway' }),
        peerFixture('other-local-as', { peerAddress: '172.31.0.5', localASN: 64999 }),
        peerFixture('gt-selector', { peerAddress: '172.31.0.6', nodeSelector: { matchExpressions: [{ key: 'rack', operator: 'Gt' as 'In', values: ['3'] }] } }),
        peerFixture('bad-asn', { peerAddress: '172.31.0.7', peerASN: 0 }),
        peerFixture('everything-ignored', {
          peerAddress: '172.31.0.8',
          bfd: { enabled: true },
          ebgpMultihop: 2,
          sourceAddress: '172.31.0.2',
          gracefulRestart: { enabled: false },
        }),
      ],
      pools: [poolFixture('tokyo-pods', noSel)],
    },
  },
];

describe('renderCalico golden files', () => {
  it.each(cases)('$name', ({ name, input }) => {
    const file = join(GOLDEN_DIR, `${name}.yaml`);
    const text = goldenText(input);
    if (UPDATE || !existsSync(file)) {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      writeFileSync(file, text);
    }
    expect(text).toBe(readFileSync(file, 'utf8'));
  });
});

describe.each(CALICO_VERSIONS)("every rendered object is valid under Calico %s's CRD schemas", (version) => {
  it.each(cases)('$name', ({ input }) => {
    const r = renderCalico(input);
    for (const o of [...r.filters, ...r.peers]) expect(validateAgainstCrds(o, calicoCrds(version)), `${o.kind} ${o.metadata.name}`).toEqual([]);
  });

  it('and the schemas can refuse', () => {
    const bad = { apiVersion: 'crd.projectcalico.org/v1', kind: 'BGPPeer', metadata: { name: 'x' }, spec: { peerIP: 7, asNumber: 'x', filterz: [] } };
    expect(validateAgainstCrds(bad, calicoCrds(version))).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^spec\.filterz: unknown field/),
        expect.stringMatching(/^spec\.peerIP/),
        expect.stringMatching(/^spec\.asNumber/),
      ]),
    );
  });
});

describe('renderCalico', () => {
  it("the export filter only rejects (what lies outside the approved CIDRs), so Calico's own export still runs; no import rules", () => {
    const r = renderCalico({ peers: [peerFixture('tor', { nodeSelector: undefined })], pools: [poolFixture('p', noSel)] });
    expect(r.filters).toHaveLength(1);
    // No importV4/importV6: confd then imports everything, as for a peer without a filter.
    expect(r.filters[0]!.spec).toEqual({
      exportV4: [{ action: 'Reject', matchOperator: 'NotIn', cidr: '10.244.0.0/16' }],
      exportV6: [{ action: 'Reject', matchOperator: 'NotIn', cidr: 'fd00:244::/56' }],
    });
    expect(r.peers[0]!.spec).toEqual({ peerIP: '172.31.0.1', asNumber: 65000, nodeSelector: 'all()', filters: ['podlb-tor'], maxRestartTime: '120s' });
    expect(r.peers[0]!.metadata).toEqual({ name: 'podlb-tor', labels: { [MANAGED_BY_LABEL]: 'podlb' }, annotations: { [OWNER_ANNOTATION]: 'BGPPeer/tor' } });
  });

  it('no approved pool: the peer still peers, and exports nothing', () => {
    const r = renderCalico({ peers: [peerFixture('tor')], pools: [poolFixture('p', { approval: { state: 'Pending' } })] });
    expect(r.filters[0]!.spec.exportV4).toEqual([{ action: 'Reject', matchOperator: 'In', cidr: '0.0.0.0/0' }]);
  });

  it('no filter has an Accept rule or an import rule, whatever the pools', () => {
    const r = renderCalico({
      peers: [peerFixture('tor')],
      pools: [
        poolFixture('a', { ...noSel, cidrs: ['10.244.0.0/16', '10.250.0.0/24', 'fd00:244::/56'] }),
        poolFixture('b', { cidrs: ['10.251.0.0/16'], nodeSelector: { matchLabels: { b: 'y' } } }),
      ],
    });
    for (const f of r.filters) {
      expect(Object.keys(f.spec).sort()).toEqual(['exportV4', 'exportV6']);
      expect([...f.spec.exportV4, ...f.spec.exportV6].filter((x) => x.action !== 'Reject')).toEqual([]);
    }
  });

  it('a pool edited after approval (ApprovalStale) is not exported either', () => {
    const stale = poolFixture('p', { cidrs: ['10.244.0.0/16'] });
    stale.spec.cidrs = ['10.0.0.0/8'];
    const r = renderCalico({ peers: [peerFixture('tor')], pools: [stale] });
    expect(r.filters[0]!.spec.exportV4).toEqual([{ action: 'Reject', matchOperator: 'In', cidr: '0.0.0.0/0' }]);
  });

  it('the partitions of a peer select disjoint node sets that together are the peer selector', () => {
    const r = renderCalico({
      peers: [peerFixture('tor', { nodeSelector: { matchLabels: { rack: 'r1' } } })],
      pools: [poolFixture('a', { nodeSelector: { matchLabels: { a: 'x' } } }), poolFixture('b', { nodeSelector: { matchLabels: { b: 'y' } } })],
    });
    expect(r.peers.map((p) => p.spec.nodeSelector).sort()).toEqual([
      "rack == 'r1' && !(a == 'x') && !(b == 'y')",
      "rack == 'r1' && a == 'x' && !(b == 'y')",
      "rack == 'r1' && a == 'x' && b == 'y'",
      "rack == 'r1' && b == 'y' && !(a == 'x')",
    ]);
  });

  it('more pool selectors than MAX_POOL_SELECTORS: the extra pools are refused (never exported)', () => {
    const pools = ['a', 'b', 'c', 'd'].map((k, i) => poolFixture(k, { cidrs: [`10.${i}.0.0/16`], nodeSelector: { matchLabels: { [k]: 'x' } } }));
    const r = renderCalico({ peers: [peerFixture('tor')], pools });
    expect(r.peers).toHaveLength(8);
    for (const f of r.filters) expect(filterVerdict(f.spec.exportV4, prefix('10.3.0.0/16')), f.metadata.name).toBe('reject');
    expect(r.problems.find((p) => p.object.name === 'd')).toMatchObject({ reason: 'CalicoCannotExpress', field: 'spec.nodeSelector' });
  });

  it('per-peer localASNumber and keepaliveTime only where the Calico version has them, and the messages say which', () => {
    const peer = peerFixture('tor', { localASN: 65100, keepaliveSeconds: 10 });
    const at = (v: string) => renderCalico({ peers: [peer], pools: [], capabilities: capabilitiesOf(v) });
    const old = at('v3.26.0');
    expect(old.peers).toEqual([]);
    expect(old.problems.find((p) => p.reason === 'LocalASNMismatch')!.message).toMatch(
      /Calico v3\.26\.0 sets the local AS per node \(a per-peer localASNumber needs Calico 3\.31 or later\)/,
    );
    const v331 = at('v3.31.2');
    expect(v331.peers[0]!.spec).toMatchObject({ localASNumber: 65100 });
    expect(v331.peers[0]!.spec.keepaliveTime).toBeUndefined();
    expect(v331.problems.find((p) => p.field === 'spec.keepaliveSeconds')!.message).toMatch(
      /Calico v3\.31\.2 has no per-peer keepalive time \(keepaliveTime needs Calico 3\.32 or later\)/,
    );
    const v332 = at('v3.32.1');
    expect(v332.peers[0]!.spec).toMatchObject({ localASNumber: 65100, keepaliveTime: '10s' });
    expect(v332.problems.filter((p) => p.field === 'spec.keepaliveSeconds' || p.field === 'spec.localASN')).toEqual([]);
    // Under 3.26's schema the 3.32 fields do not exist: the gate is what keeps the objects valid.
    expect(validateAgainstCrds(v332.peers[0], calicoCrds('v3.26.0')).sort()).toEqual([
      'spec.keepaliveTime: unknown field',
      'spec.localASNumber: unknown field',
    ]);
    expect(validateAgainstCrds(v332.peers[0], calicoCrds('v3.32.1'))).toEqual([]);
    // Unknown version: the oldest capabilities, said so.
    expect(renderCalico({ peers: [peer], pools: [] }).problems.find((p) => p.reason === 'LocalASNMismatch')!.message).toMatch(/version unknown/);
  });

  it.each([
    ['v3.26.0', false, false],
    ['v3.30.4', false, false],
    ['v3.31.0', true, false],
    ['3.32.0', true, true],
    ['v4.0.0', true, true],
    ['master', false, false],
    [undefined, false, false],
  ])('capabilitiesOf(%s)', (v, localAsn, keepalive) => {
    expect(capabilitiesOf(v)).toMatchObject({ perPeerLocalAsn: localAsn, perPeerKeepalive: keepalive });
  });

  it('localASN equal to the BGPConfiguration AS is required', () => {
    expect(renderCalico({ peers: [peerFixture('tor')], pools: [], clusterAsn: 64512 }).peers).toHaveLength(1);
    const r = renderCalico({ peers: [peerFixture('tor')], pools: [], clusterAsn: 65100 });
    expect(r.peers).toHaveLength(0);
    expect(r.problems[0]).toMatchObject({ reason: 'LocalASNMismatch', field: 'spec.localASN' });
  });
});

/**
 * A small evaluator of the Calico selector subset podlb writes, with the documented reading of
 * `!=` and `not in` (only nodes that carry the label): if podlb's output is right under it, it
 * is right under the lenient reading too, since every NotIn is guarded by `!has(k)`.
 */
function calicoMatches(expr: string, labels: Record<string, string>): boolean {
  const toks = expr.match(/all\(\)|has\(|\|\||&&|!=|==|!|\(|\)|\{|\}|,|'[^']*'|not in|in|[A-Za-z0-9._/-]+/g) ?? [];
  let i = 0;
  const peek = () => toks[i];
  const take = (t?: string) => {
    const x = toks[i++];
    if (t !== undefined && x !== t) throw new Error(`expected ${t} at ${i - 1} in ${expr}, got ${x}`);
    return x!;
  };
  const value = () => take().slice(1, -1);
  const set = () => {
    take('{');
    const out: string[] = [value()];
    while (peek() === ',') {
      take();
      out.push(value());
    }
    take('}');
    return out;
  };
  const primary = (): boolean => {
    const t = take();
    if (t === '(') {
      const v = or();
      take(')');
      return v;
    }
    if (t === 'all()') return true;
    if (t === 'has(') {
      const k = take();
      take(')');
      return k in labels;
    }
    const op = take();
    const has = t in labels;
    const arg = op === 'in' || op === 'not in' ? set() : [value()]; // always consume the operand
    if (op === '==') return has && labels[t] === arg[0];
    if (op === '!=') return has && labels[t] !== arg[0];
    if (op === 'in') return has && arg.includes(labels[t]!);
    if (op === 'not in') return has && !arg.includes(labels[t]!);
    throw new Error(`unexpected ${op} in ${expr}`);
  };
  const unary = (): boolean => {
    if (peek() !== '!') return primary();
    take();
    return !unary();
  };
  const and = (): boolean => {
    let v = unary();
    while (peek() === '&&') {
      take();
      v = unary() && v;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (peek() === '||') {
      take();
      v = and() || v;
    }
    return v;
  };
  const v = or();
  if (i !== toks.length) throw new Error(`trailing tokens in ${expr}`);
  return v;
}

describe("pool-selector partitions, checked against podlb's own selector matching", () => {
  // Every label set over these keys and values (and absent): 4^4 = 256 nodes.
  const dims: [string, string[]][] = [
    ['rack', ['r1', 'r2', 'r3']],
    ['gpu', ['true', 'false', 'x']],
    ['zone', ['a', 'b', 'c']],
    ['edge', ['1', '2', '3']],
  ];
  const nodes: Record<string, string>[] = [{}];
  for (const [k, vs] of dims) nodes.splice(0, nodes.length, ...nodes.flatMap((n) => [n, ...vs.map((v) => ({ ...n, [k]: v }))]));
  const peerSel = { matchExpressions: [{ key: 'rack', operator: 'In' as const, values: ['r1', 'r2'] }] };
  const pools = [
    poolFixture('everywhere', { nodeSelector: undefined, cidrs: ['10.250.0.0/16'] }),
    poolFixture('gpu', { nodeSelector: { matchLabels: { gpu: 'true' } }, cidrs: ['10.251.0.0/16'] }),
    poolFixture('not-zone-ab', { nodeSelector: { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a', 'b'] }] }, cidrs: ['10.252.0.0/16'] }),
    poolFixture('edge', {
      nodeSelector: {
        matchExpressions: [
          { key: 'edge', operator: 'Exists' },
          { key: 'gpu', operator: 'DoesNotExist' },
        ],
      },
      cidrs: ['10.253.0.0/16'],
    }),
  ];
  const r = renderCalico({ peers: [peerFixture('tor', { nodeSelector: peerSel })], pools });
  const filterOf = (name: string) => r.filters.find((f) => f.metadata.name === name)!.spec.exportV4;
  /** The pools' CIDRs a filter lets through to Calico's own export. */
  const passed = (name: string) =>
    pools
      .flatMap((p) => p.spec.cidrs)
      .filter((c) => filterVerdict(filterOf(name), prefix(c)) === undefined)
      .sort();

  it('renders 2^3 Calico BGPPeers', () => {
    expect(r.peers).toHaveLength(8);
  });

  it('each node is selected by exactly one partition iff the podlb peer selects it, and that partition exports exactly the pools selecting the node', () => {
    const peerParsed = parseLabelSelector(peerSel, 'spec.nodeSelector');
    for (const labels of nodes) {
      const matching = r.peers.filter((p) => calicoMatches(p.spec.nodeSelector, labels));
      expect(matching.length, JSON.stringify(labels)).toBe(selectorMatches(peerParsed, labels) ? 1 : 0);
      if (matching.length === 0) continue;
      const want = pools.filter((p) => selectorMatches(parseLabelSelector(p.spec.nodeSelector, 'spec.nodeSelector'), labels)).flatMap((p) => p.spec.cidrs);
      expect(passed(matching[0]!.metadata.name), JSON.stringify(labels)).toEqual(want.sort());
    }
  });
});

describe('LabelSelector -> Calico selector', () => {
  it.each([
    ['missing', undefined, 'all()'],
    ['empty', {}, 'all()'],
    ['matchLabels', { matchLabels: { 'topology.kubernetes.io/rack': 'r12' } }, "topology.kubernetes.io/rack == 'r12'"],
    ['In, several', { matchExpressions: [{ key: 'rack', operator: 'In', values: ['r2', 'r1'] }] }, "rack in {'r1', 'r2'}"],
    ['NotIn, one (also matches without the label)', { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['r1'] }] }, "(!has(rack) || rack != 'r1')"],
    ['NotIn, several', { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['r1', 'r2'] }] }, "(!has(rack) || rack not in {'r1', 'r2'})"],
    ['Exists', { matchExpressions: [{ key: 'podlb.io/bgp', operator: 'Exists' }] }, 'has(podlb.io/bgp)'],
    ['DoesNotExist', { matchExpressions: [{ key: 'podlb.io/bgp', operator: 'DoesNotExist' }] }, '!has(podlb.io/bgp)'],
    ['empty value', { matchLabels: { a: '' } }, "a == ''"],
    ['all together, sorted by key', { matchLabels: { z: '1' }, matchExpressions: [{ key: 'a', operator: 'Exists' }] }, "has(a) && z == '1'"],
  ])('%s', (_n, raw, want) => {
    expect(labelSelectorToCalico(raw)).toBe(want);
  });

  it.each([
    ['Gt operator', { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }, 'spec.nodeSelector.matchExpressions[0].operator'],
    ['quote in a value', { matchLabels: { a: "x'y" } }, 'spec.nodeSelector.matchLabels[a]'],
    ['unknown field', { matchFields: [] }, 'spec.nodeSelector.matchFields'],
  ])('refuses %s, naming the field', (_n, raw, field) => {
    expect(() => labelSelectorToCalico(raw)).toThrow(expect.objectContaining({ field }));
  });
});

describe('planCalicoSync', () => {
  const render = renderCalico({ peers: [peerFixture('tor', { nodeSelector: undefined })], pools: [poolFixture('p', noSel)] });
  const asCurrent = (o: Obj): CalicoCurrent => structuredClone({ ...o, metadata: { ...o.metadata, resourceVersion: '7' } });

  it('creates filters before peers; then nothing to do', () => {
    const plan = planCalicoSync(render, { peers: [], filters: [] });
    expect(plan.actions.map((a) => `${a.op} ${a.kind}`)).toEqual(['create BGPFilter', 'create BGPPeer']);
    const again = planCalicoSync(render, { peers: render.peers.map(asCurrent), filters: render.filters.map(asCurrent) });
    expect(again.actions).toEqual([]);
    expect(again.unchanged).toBe(2);
  });

  it('deletes peers before filters, and only podlb-owned ones', () => {
    const mine = [...render.peers, ...render.filters].map(asCurrent);
    const handMade: CalicoCurrent = { metadata: { name: 'hand-made', labels: { [MANAGED_BY_LABEL]: 'podlb' } }, spec: {} }; // label alone is not ownership
    const empty = renderCalico({ peers: [], pools: [] });
    const plan = planCalicoSync(empty, { peers: [mine[0]!, handMade], filters: [mine[1]!, handMade] });
    expect(plan.actions.map((a) => `${a.op} ${a.kind} ${a.op === 'delete' ? a.name : ''}`)).toEqual(['delete BGPPeer podlb-tor', 'delete BGPFilter podlb-tor']);
  });

  it('a hand-made object with the name of one pool-selector partition blocks that pair alone, and says so', () => {
    const split = renderCalico({ peers: [peerFixture('tor')], pools: [poolFixture('p')] });
    expect(split.peers).toHaveLength(2);
    const taken = split.peers[0]!.metadata.name;
    const plan = planCalicoSync(split, { peers: [], filters: [{ metadata: { name: taken }, spec: {} }] });
    expect(plan.actions.map((a) => `${a.op} ${a.kind} ${a.op === 'delete' ? a.name : a.desired.metadata.name}`)).toEqual([
      `create BGPFilter ${split.peers[1]!.metadata.name}`,
      `create BGPPeer ${split.peers[1]!.metadata.name}`,
    ]);
    expect(plan.problems).toHaveLength(1);
    expect(plan.problems[0]!.message).not.toMatch(/renders nothing for this peer/);
    expect(plan.problems[0]!.message).toMatch(
      new RegExp(`does not render the Calico BGPPeer and BGPFilter ${taken} .*its other 1 partition\\(s\\) are rendered`),
    );
  });

  it('a hand-made object with a wanted name blocks the pair and says so', () => {
    const foreign: CalicoCurrent = { metadata: { name: 'podlb-tor' }, spec: { exportV4: [] } };
    const plan = planCalicoSync(render, { peers: [], filters: [foreign] });
    expect(plan.actions).toEqual([]);
    expect(plan.problems[0]).toMatchObject({ reason: 'CalicoNameConflict', object: { kind: 'BGPPeer', name: 'tor' } });
  });
});

describe('--bgp flag', () => {
  it.each([
    [[], {}],
    [['--bgp=bird', '--calico-namespace=kube-system'], {}],
    [['--bgp=calico'], { bgp: 'calico', calicoNamespace: 'calico-system' }],
    [['--bgp', 'calico', '--calico-namespace', 'kube-system'], { bgp: 'calico', calicoNamespace: 'kube-system' }],
  ] as const)('%j -> %j', (argv, want) => {
    const { bgp, calicoNamespace } = parseControllerFlags([...argv], {}).options;
    expect(JSON.parse(JSON.stringify({ bgp, calicoNamespace }))).toEqual(want);
  });
  it('refuses anything else', () => {
    expect(() => parseControllerFlags(['--bgp=frr'], {})).toThrow(/--bgp/);
  });
});

describe.each(CALICO_VERSIONS)('the controller Calico loop against the API server with Calico %s CRDs', (calicoVersion) => {
  let api: ApiServer;
  const ctls: Controller[] = [];
  const calicoPeers = () => (api.store.list('bgppeers.crd.projectcalico.org').items as Obj[]).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  const calicoFilter = (name: string) => api.store.get('bgpfilters.crd.projectcalico.org', name) as Obj;
  const leader = () => ctls.find((c) => c.isLeader);
  /** Runs the leader's Calico loop until `done` holds and a pass wrote nothing (informer events arrive asynchronously). */
  const settle = async (done: () => boolean = () => true) => {
    await waitFor('a leader', () => leader() ?? undefined, 5_000);
    for (let i = 0; i < 100; i++) {
      const r = await leader()!.calico!.nextRun();
      const quiet =
        r.skipped === undefined &&
        r.apply !== undefined &&
        r.apply.created.length + r.apply.updated.length + r.apply.deleted.length === 0 &&
        r.apply.errors.length === 0;
      if (quiet && done()) return r;
      await new Promise((res) => setTimeout(res, 30));
    }
    throw new Error('the Calico loop did not settle');
  };
  const has = (f: () => unknown) => () => {
    try {
      return Boolean(f());
    } catch {
      return false;
    }
  };
  /** The real kubectl, as the cluster admin. */
  const kubectl = async (args: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'podlb-kubectl-'));
    try {
      await api.writeKubeconfig(join(dir, 'kubeconfig'));
      return (await execFileP('kubectl', [...args, '--kubeconfig', join(dir, 'kubeconfig')], { timeout: 30_000 })).stdout;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const exportsOf = (name: string) => (calicoFilter(name).spec.exportV4 as Obj[]).map((r) => `${r.action} ${r.matchOperator} ${r.cidr}`);

  beforeAll(async () => {
    api = await startApiServer({ resources: [...controllerResources(), ...calicoResources(calicoVersion)] });
    api.installManifests();
    api.store.create('bgpconfigurations.crd.projectcalico.org', {
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'BGPConfiguration',
      metadata: { name: 'default' },
      spec: { asNumber: 64512 },
    });
    api.store.create('clusterinformations.crd.projectcalico.org', {
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'ClusterInformation',
      metadata: { name: 'default' },
      spec: { calicoVersion: calicoVersion, datastoreReady: true },
    });
    // Hand-made by the network team, with the label but no ownership annotation: never podlb's.
    api.store.create('bgppeers.crd.projectcalico.org', {
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'BGPPeer',
      metadata: { name: 'rr-global', labels: { [MANAGED_BY_LABEL]: 'podlb' } },
      spec: { peerIP: '192.0.2.99', asNumber: 64512 },
    });
    for (const id of ['ctl-a', 'ctl-b']) {
      const kc = api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'control-plane' }).kubeConfig();
      const c = testController({ kubeConfig: kc, log, identity: id, bgp: 'calico' });
      ctls.push(c);
      await c.start();
    }
  });

  afterAll(async () => {
    await Promise.all(ctls.map((c) => c.stop()));
    const denied = api?.deniedRequests() ?? [];
    await api?.close();
    expect(denied, 'calls the shipped RBAC does not grant').toEqual([]);
  });

  it('creates, updates on pool approval and peer edits, deletes on removal, and leaves a hand-made BGPPeer alone', async () => {
    const handMade = structuredClone(api.store.get('bgppeers.crd.projectcalico.org', 'rr-global'));
    api.store.create('bgppeers', peerFixture('rack-r12-tor', { holdTimeSeconds: undefined, keepaliveSeconds: undefined }) as unknown as Obj);
    api.store.create('podaddresspools', poolFixture('tokyo-pods', { ...noSel, approval: { state: 'Pending' } }) as unknown as Obj);
    await settle(has(() => calicoPeers().length === 2));
    expect(calicoPeers().map((p) => p.metadata.name)).toEqual(['podlb-rack-r12-tor', 'rr-global']);
    expect(calicoPeers()[0]!.spec).toEqual({
      peerIP: '172.31.0.1',
      asNumber: 65000,
      nodeSelector: "topology.kubernetes.io/rack == 'r12'",
      filters: ['podlb-rack-r12-tor'],
      maxRestartTime: '120s',
    });
    expect(exportsOf('podlb-rack-r12-tor')).toEqual(['Reject In 0.0.0.0/0']);

    // Approved: the filter now accepts the pool; the peer is unchanged (no write).
    const peerRv = calicoPeers()[0]!.metadata.resourceVersion;
    const stored = api.store.get('podaddresspools', 'tokyo-pods') as unknown as PodAddressPool;
    api.store.patch(
      'podaddresspools',
      'tokyo-pods',
      undefined,
      'merge',
      { spec: { approval: approvalFor(stored.spec, { by: 'network-team:alice', reason: 'NETREQ-1', time: '2026-11-22T10:00:00Z' }) } },
      { user: LAB_NETWORK_TEAM },
    );
    await settle(has(() => exportsOf('podlb-rack-r12-tor')[0] !== 'Reject In 0.0.0.0/0'));
    expect(exportsOf('podlb-rack-r12-tor')).toEqual(['Reject NotIn 10.244.0.0/16']);
    expect(calicoPeers()[0]!.metadata.resourceVersion).toBe(peerRv);

    // Idle passes write nothing.
    const filterRv = calicoFilter('podlb-rack-r12-tor').metadata.resourceVersion;
    await settle();
    expect(calicoFilter('podlb-rack-r12-tor').metadata.resourceVersion).toBe(filterRv);

    // Peer edited: new ASN and selector.
    api.store.patch('bgppeers', 'rack-r12-tor', undefined, 'merge', {
      spec: { peerASN: 65001, nodeSelector: { matchLabels: { 'topology.kubernetes.io/rack': 'r13' } } },
    });
    await settle(has(() => calicoPeers()[0]!.spec.asNumber === 65001));
    expect(calicoPeers()[0]!.spec).toMatchObject({ asNumber: 65001, nodeSelector: "topology.kubernetes.io/rack == 'r13'" });

    // Rejected: back to deny-all.
    api.store.patch(
      'podaddresspools',
      'tokyo-pods',
      undefined,
      'merge',
      { spec: { approval: { state: 'Rejected', by: 'network-team:bob' } } },
      { user: LAB_NETWORK_TEAM },
    );
    await settle(has(() => exportsOf('podlb-rack-r12-tor')[0] === 'Reject In 0.0.0.0/0'));
    expect(exportsOf('podlb-rack-r12-tor')).toEqual(['Reject In 0.0.0.0/0']);

    // A problem becomes one Event on the podlb BGPPeer, with its uid: kubectl describe shows it.
    api.store.patch('bgppeers', 'rack-r12-tor', undefined, 'merge', { spec: { bfd: { enabled: true } } });
    const ignored = () =>
      (api.store.list('events', { namespace: 'default' }).items as Obj[]).filter(
        (e) => e.involvedObject.kind === 'BGPPeer' && e.reason === 'CalicoFieldIgnored' && e.message.includes('spec.bfd'),
      );
    const event = await waitFor('an Event', () => ignored()[0], 5_000);
    expect(event.involvedObject.uid).toBe(api.store.get('bgppeers', 'rack-r12-tor').metadata.uid);
    const described = await kubectl(['describe', 'bgppeers.podlb.io', 'rack-r12-tor']);
    expect(described).toMatch(/Warning\s+CalicoFieldIgnored\s.*spec\.bfd/);
    await settle();
    await settle();
    expect(ignored()).toHaveLength(1);

    // Removed: podlb's objects go, the hand-made one stays untouched.
    api.store.delete('bgppeers', 'rack-r12-tor');
    await settle(has(() => calicoPeers().length === 1));
    expect(calicoPeers().map((p) => p.metadata.name)).toEqual(['rr-global']);
    expect(api.store.list('bgpfilters.crd.projectcalico.org').items).toEqual([]);
    expect(api.store.get('bgppeers.crd.projectcalico.org', 'rr-global')).toEqual(handMade);
  });

  it('a failed BGPFilter write holds back its BGPPeer; a hand-made object with the wanted name blocks the pair', async () => {
    // The pure plan applied by hand (no podlb BGPPeer exists, so the running loop stays out of it).
    const kc = api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'control-plane' }).kubeConfig();
    const plan = planCalicoSync(renderCalico({ peers: [peerFixture('tor-b', { peerAddress: '172.31.0.9' })], pools: [] }), { peers: [], filters: [] });
    api.faults.failNext({ count: 1, status: 500, match: (m, p) => m === 'POST' && p.startsWith('/apis/crd.projectcalico.org/v1/bgpfilters') });
    const res = await applyCalicoSync(new KubeClient(kc), plan);
    expect(res.errors.map((e) => e.action)).toEqual(['create BGPFilter podlb-tor-b', 'create BGPPeer podlb-tor-b']);
    expect(res.errors[1]!.error).toMatch(/its BGPFilter could not be written/);
    expect(res.created).toEqual([]);
    expect(calicoPeers().some((p) => p.metadata.name === 'podlb-tor-b')).toBe(false);

    const foreign = api.store.create('bgpfilters.crd.projectcalico.org', {
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'BGPFilter',
      metadata: { name: 'podlb-tor-c' },
      spec: { exportV4: [{ action: 'Accept', matchOperator: 'In', cidr: '0.0.0.0/0' }] },
    });
    api.store.create(
      'bgppeers',
      peerFixture('tor-c', { peerAddress: '172.31.0.10', holdTimeSeconds: undefined, keepaliveSeconds: undefined }) as unknown as Obj,
    );
    const r = await settle(() => true);
    await waitFor(
      'the conflict reported',
      async () => (await leader()!.calico!.nextRun()).problems.find((p) => p.reason === 'CalicoNameConflict' && p.object.name === 'tor-c'),
      5_000,
    );
    expect(r.apply!.errors).toEqual([]);
    expect(calicoPeers().some((p) => p.metadata.name === 'podlb-tor-c')).toBe(false);
    expect(api.store.get('bgpfilters.crd.projectcalico.org', 'podlb-tor-c')).toEqual(foreign);
    api.store.delete('bgppeers', 'tor-c');
  });

  it('a podlb peer on the address of the hand-made global BGPPeer is not rendered, and its BGPPeer gets a CalicoPeerClash Event', async () => {
    api.store.create('nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'worker-1', labels: { 'topology.kubernetes.io/rack': 'r12' } } });
    api.store.create(
      'bgppeers',
      peerFixture('tor-d', { peerAddress: '192.0.2.99', holdTimeSeconds: undefined, keepaliveSeconds: undefined }) as unknown as Obj,
    );
    const event = await waitFor(
      'the clash Event',
      () =>
        (api.store.list('events', { namespace: 'default' }).items as Obj[]).find((e) => e.reason === 'CalicoPeerClash' && e.involvedObject.name === 'tor-d'),
      5_000,
    );
    expect(event.involvedObject.uid).toBe(api.store.get('bgppeers', 'tor-d').metadata.uid);
    expect(event.message).toMatch(/worker-1 \(Calico BGPPeer rr-global, global\)/);
    await settle();
    expect(calicoPeers().map((p) => p.metadata.name)).toEqual(['rr-global']);
    api.store.delete('bgppeers', 'tor-d');
    api.store.delete('nodes', 'worker-1');
  });

  it("renders per-peer localASNumber and keepaliveTime only when the cluster's Calico has them", async () => {
    api.store.create('bgppeers', peerFixture('tor-e', { peerAddress: '172.31.0.11', localASN: 65100, keepaliveSeconds: 10 }) as unknown as Obj);
    if (calicoVersion === 'v3.26.0') {
      const event = await waitFor(
        'the refusal',
        () =>
          (api.store.list('events', { namespace: 'default' }).items as Obj[]).find((e) => e.reason === 'LocalASNMismatch' && e.involvedObject.name === 'tor-e'),
        5_000,
      );
      expect(event.message).toMatch(/Calico v3\.26\.0 sets the local AS per node \(a per-peer localASNumber needs Calico 3\.31 or later\)/);
      await settle();
      expect(calicoPeers().some((p) => p.metadata.name === 'podlb-tor-e')).toBe(false);
    } else {
      await settle(has(() => calicoPeers().some((p) => p.metadata.name === 'podlb-tor-e')));
      expect(calicoPeers().find((p) => p.metadata.name === 'podlb-tor-e')!.spec).toMatchObject({ localASNumber: 65100, keepaliveTime: '10s' });
    }
    api.store.delete('bgppeers', 'tor-e');
    await settle(has(() => !calicoPeers().some((p) => p.metadata.name === 'podlb-tor-e')));
  });

  it('a non-leader replica writes nothing', async () => {
    const follower = ctls.find((c) => !c.isLeader)!;
    expect(follower.calico!.lastRun).toBeUndefined();
  });
});

describe('Calico with native projectcalico.org/v3 CRDs only', () => {
  it('every podlb BGPPeer gets a CalicoAPINotSupported Event instead of a wait with one log line', async () => {
    // Calico 3.32's native v3 CRDs (api/config/crd/projectcalico.org_bgppeers.yaml): only the
    // group and version matter here, so the schema keeps whatever it is given.
    const v3 = (plural: string, kind: string) =>
      resourceFromCrd({
        spec: {
          group: 'projectcalico.org',
          scope: 'Cluster',
          names: { plural, kind, singular: kind.toLowerCase() },
          versions: [
            { name: 'v3', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } },
          ],
        },
      });
    const api = await startApiServer({ resources: [...controllerResources(), v3('bgppeers', 'BGPPeer'), v3('bgpfilters', 'BGPFilter')] });
    api.installManifests();
    const kc = api.podIdentity({ serviceAccount: CONTROLLER_SERVICE_ACCOUNT, nodeName: 'control-plane' }).kubeConfig();
    const c = testController({ kubeConfig: kc, log, identity: 'ctl-v3', bgp: 'calico' });
    try {
      await c.start();
      api.store.create('bgppeers', peerFixture('tor', { holdTimeSeconds: undefined, keepaliveSeconds: undefined }) as unknown as Obj);
      const event = await waitFor(
        'the Event',
        () => (api.store.list('events', { namespace: 'default' }).items as Obj[]).find((e) => e.reason === 'CalicoAPINotSupported'),
        15_000,
      );
      expect(event.involvedObject).toMatchObject({ kind: 'BGPPeer', name: 'tor', uid: api.store.get('bgppeers', 'tor').metadata.uid });
      expect(event.message).toMatch(/projectcalico\.org\/v3 API without crd\.projectcalico\.org\/v1/);
    } finally {
      await c.stop();
      await api.close();
    }
  });
});

// The pure parts of `kubectl podlb`: table and age formatting, CIDR containment for pools, the
// approval patch and reason check, and the explain view (binding, member names, gates, events).
// Table-driven; the command layer is covered against the API server in commands.test.ts.
import { describe, expect, it } from 'vitest';
import type { PodAddressPool, PodLBNode } from '../../api/types.js';
import { approvalPatch, reasonProblem, rfc3339 } from './approval.js';
import { approvePool, contentDigests } from '../../bgp/approval.js';
import { type KubeEvent, explainService, lastRelevantEvent, renderExplain } from './explain.js';
import { cell, escapeTerminal, formatAge, renderTable, toSafeJson, toSafeYaml } from './format.js';
import { parse as parseYaml } from 'yaml';
import { advertisesInside, poolViews, renderPools } from './pools.js';
import { lbClass, pod, service, slice } from '../../../testkit/member-fixtures.js';

const pap = (name: string, cidrs: string[], approval?: PodAddressPool['spec']['approval']): PodAddressPool => ({
  metadata: { name },
  spec: { cidrs, ...(approval ? { approval } : {}) },
});

const NOW = new Date('2026-11-23T10:10:00Z');

describe('format', () => {
  it.each([
    ['2026-11-23T10:09:59Z', '1s'],
    ['2026-11-23T10:08:01Z', '119s'],
    ['2026-11-23T10:08:00Z', '2m'],
    ['2026-11-23T08:11:00Z', '119m'],
    ['2026-11-23T08:10:00Z', '2h'],
    ['2026-11-21T10:10:01Z', '47h'],
    ['2026-11-21T10:10:00Z', '2d'],
    ['2026-11-23T10:11:00Z', '0s'], // clock skew: never negative
    [undefined, '<unknown>'],
    ['yesterday', '<unknown>'],
  ])('formatAge(%s) = %s', (since, want) => {
    expect(formatAge(since, NOW)).toBe(want);
  });

  it('renderTable aligns columns two spaces apart and trims trailing space', () => {
    expect(
      renderTable([
        ['A', 'BB', 'C'],
        ['long-value', 'x', ''],
        ['y', '', 'z'],
      ]),
    ).toBe('A           BB  C\nlong-value  x\ny               z\n');
    expect(renderTable([])).toBe('');
  });

  it.each([
    ['one line', 'one line'],
    ['two\n  lines', 'two lines'],
    ['x'.repeat(100), `${'x'.repeat(79)}…`],
    [undefined, ''],
  ])('cell(%j)', (text, want) => {
    expect(cell(text)).toBe(want);
  });

  it.each([
    ['\u001b[2J', '^[[2J'], // ESC as kubectl's printers.EscapeTerminal writes it
    ['a\rb', 'a\\rb'],
    ['a\nb\tc', 'a\\nb\\tc'],
    ['bell\u0007', 'bell\\x07'],
    ['del\u007f', 'del\\x7f'],
    ['csi\u009b2J', 'csi\\u009b2J'],
    ['rlo\u202eabc', 'rlo\\u202eabc'],
    ['plain ünïcödé ✓', 'plain ünïcödé ✓'],
  ])('escapeTerminal(%j) = %j, and escaping twice changes nothing', (text, want) => {
    expect(escapeTerminal(text)).toBe(want);
    expect(escapeTerminal(escapeTerminal(text))).toBe(want);
  });

  it('keepNewlines keeps line breaks and tabs (whole views), and only those', () => {
    expect(escapeTerminal('a\n\tb\u001b\r', { keepNewlines: true })).toBe('a\n\tb^[\\r');
  });

  it('renderTable escapes every cell, so a cell cannot break a row', () => {
    expect(
      renderTable([
        ['A', 'B'],
        ['x\ny', '\u001b[31mred'],
      ]),
    ).toBe('A     B\nx\\ny  ^[[31mred\n');
  });

  it('-o json and -o yaml carry the same value with no raw control character', () => {
    const obj = { message: 'a\u001b[2J\u009bJ\u007f\u202eb\nc', plain: 'ok' };
    for (const out of [toSafeJson(obj), toSafeYaml(obj)]) expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(JSON.parse(toSafeJson(obj))).toEqual(obj);
    expect(parseYaml(toSafeYaml(obj))).toEqual(obj);
    expect(toSafeYaml({ plain: 'ok' })).toBe('plain: ok\n');
  });
});

describe('pools', () => {
  it.each([
    [['10.244.1.0/24'], ['10.244.0.0/16'], true],
    [['10.244.0.0/16'], ['10.244.0.0/16'], true],
    [['10.244.0.0/15'], ['10.244.0.0/16'], false], // wider than the pool
    [['10.245.0.0/24'], ['10.244.0.0/16'], false],
    [['10.244.1.7/32'], ['10.244.0.0/16'], true], // PodIPs host route
    [['fd00:244:0:2::/64'], ['10.244.0.0/16', 'fd00:244::/56'], true],
    [['fd00:245::/64'], ['fd00:244::/56'], false],
    [['10.244.1.0/24'], ['::/0'], false], // families never mix
    [['garbage', '10.244.1.0/24'], ['10.244.0.0/16'], true], // a bad entry is skipped, not fatal
    [['10.244.1.5/24'], ['10.244.0.0/16'], false], // host bits set: not a prefix podlb would advertise
    [[], ['10.244.0.0/16'], false],
    [undefined, ['10.244.0.0/16'], false],
  ])('advertisesInside(%j, %j) = %s', (advertised, cidrs, want) => {
    expect(advertisesInside(advertised, cidrs)).toBe(want);
  });

  const node = (name: string, prefixes?: string[]): PodLBNode => ({
    metadata: { name },
    ...(prefixes ? { status: { bgp: { advertisedPrefixes: prefixes } } } : {}),
  });

  it('poolViews: defaults (no approval = Pending, no advertise = NodeCIDR), sorted, advertising nodes named', () => {
    const views = poolViews(
      [approvePool(pap('b', ['10.244.0.0/16']), { by: 'alice', reason: 'R', time: 'T' }), pap('a', ['10.9.0.0/16'])],
      [node('n2', ['10.244.2.0/24']), node('n1', ['10.244.1.0/24']), node('n3'), node('n4', ['10.9.9.0/24'])],
    );
    expect(views).toEqual([
      { name: 'a', state: 'Pending', cidrs: ['10.9.0.0/16'], advertise: 'NodeCIDR', by: '', reason: '', time: '', advertisingNodes: ['n4'] },
      { name: 'b', state: 'Approved', cidrs: ['10.244.0.0/16'], advertise: 'NodeCIDR', by: 'alice', reason: 'R', time: 'T', advertisingNodes: ['n1', 'n2'] },
    ]);
    expect(renderPools(views)).toBe(
      'NAME  STATE     CIDRS          ADVERTISE  BY     NODES\n' +
        'a     Pending   10.9.0.0/16    NodeCIDR   -      1\n' +
        'b     Approved  10.244.0.0/16  NodeCIDR   alice  2\n',
    );
    expect(renderPools([])).toBe('No PodAddressPools found.\n');
  });

  it('poolViews: an Approved pool whose content is not the approved content shows ApprovalStale', () => {
    const edited = approvePool(pap('b', ['10.244.0.0/16']), { by: 'alice', reason: 'R', time: 'T' });
    edited.spec.communities = ['65535:666'];
    expect(poolViews([edited, pap('c', ['10.9.0.0/16'], { state: 'Approved' })], []).map((v) => v.state)).toEqual(['ApprovalStale', 'ApprovalStale']);
  });
});

describe('approval', () => {
  it.each([
    [undefined, /required/],
    ['', /required/],
    ['  \t', /required/],
    ['x'.repeat(1025), /at most 1024/],
    ['NETREQ-1234', undefined],
    ['x'.repeat(1024), undefined],
  ])('reasonProblem(%j)', (reason, want) => {
    const p = reasonProblem(reason);
    if (want === undefined) expect(p).toBeUndefined();
    else expect(p).toMatch(want);
  });

  it('approvalPatch: the decision, trimmed reason, time in seconds, the digests of what was read, and its resourceVersion', () => {
    const read = pap('p', ['10.244.0.0/16']);
    read.metadata.resourceVersion = '42';
    const d = contentDigests(read.spec);
    expect(approvalPatch('Approved', read, 'alice', ' NETREQ-1 ', new Date('2026-11-22T10:00:00.789Z'))).toEqual({
      metadata: { resourceVersion: '42' },
      spec: { approval: { state: 'Approved', by: 'alice', reason: 'NETREQ-1', time: '2026-11-22T10:00:00Z', digest: d.digest, fieldDigests: d.fieldDigests } },
    });
    expect(approvalPatch('Rejected', pap('p', ['10.244.0.0/16']), 'bob', 'no', new Date('2026-11-22T10:00:00Z'))).toEqual({
      spec: { approval: { state: 'Rejected', by: 'bob', reason: 'no', time: '2026-11-22T10:00:00Z' } },
    });
  });

  it('approvalPatch: a merge patch must not keep digests of fields the pool no longer has, and a rejection drops them', () => {
    const before = pap('p', ['10.244.0.0/16']);
    before.spec.communities = ['65000:1'];
    const was = approvePool(before, { by: 'alice', reason: 'R', time: '2026-11-22T10:00:00Z' });
    const { communities: _c, ...spec } = was.spec;
    const patch = approvalPatch('Approved', { ...was, spec }, 'alice', 'R2', new Date('2026-11-23T10:00:00Z')) as {
      spec: { approval: { fieldDigests: Record<string, unknown> } };
    };
    expect(patch.spec.approval.fieldDigests.communities).toBeNull();
    const rejected = approvalPatch('Rejected', was, 'bob', 'no', new Date('2026-11-23T10:00:00Z')) as { spec: { approval: Record<string, unknown> } };
    expect(rejected.spec.approval).toMatchObject({ state: 'Rejected', digest: null, fieldDigests: null });
  });

  it('rfc3339', () => {
    expect(rfc3339(new Date('2026-01-02T03:04:05.000Z'))).toBe('2026-01-02T03:04:05Z');
  });
});

describe('explain', () => {
  const ev = (name: string, kind: string, obj: string, reason: string, time: string, extra: Partial<KubeEvent> = {}): KubeEvent => ({
    metadata: { name },
    involvedObject: { kind, name: obj, namespace: 'ads' },
    type: 'Normal',
    reason,
    message: `${reason} message`,
    lastTimestamp: time,
    ...extra,
  });

  it.each([
    [
      'podlb events win over newer ones from others',
      [
        ev('1', 'Pod', 'p', 'Registered', '2026-11-23T10:00:00Z', { reportingComponent: 'podlb.io/agent' }),
        ev('2', 'Pod', 'p', 'Pulled', '2026-11-23T10:05:00Z', { source: { component: 'kubelet' } }),
      ],
      'Registered',
    ],
    [
      'otherwise the newest of any',
      [ev('1', 'Pod', 'p', 'Scheduled', '2026-11-23T10:00:00Z'), ev('2', 'Pod', 'p', 'Unhealthy', '2026-11-23T10:05:00Z')],
      'Unhealthy',
    ],
    [
      'the newest podlb one (source.component)',
      [
        ev('1', 'Pod', 'p', 'A', '2026-11-23T10:05:00Z', { source: { component: 'podlb-agent' } }),
        ev('2', 'Pod', 'p', 'B', '2026-11-23T10:00:00Z', { source: { component: 'podlb-agent' } }),
      ],
      'A',
    ],
    [
      'eventTime (events.k8s.io) counts',
      [ev('1', 'Pod', 'p', 'Old', '2026-11-23T10:01:00Z'), ev('2', 'Pod', 'p', 'New', '', { lastTimestamp: null, eventTime: '2026-11-23T10:02:00.000000Z' })],
      'New',
    ],
    [
      'other objects and kinds are ignored',
      [ev('1', 'Pod', 'q', 'X', '2026-11-23T10:00:00Z'), ev('2', 'Service', 'p', 'Y', '2026-11-23T10:00:00Z')],
      undefined,
    ],
    [
      'an Event about an older Pod of the same name (uid) is ignored',
      [ev('1', 'Pod', 'p', 'Old', '2026-11-23T10:00:00Z', { involvedObject: { kind: 'Pod', name: 'p', uid: 'old-uid' } })],
      undefined,
    ],
  ])('lastRelevantEvent: %s', (_n, events, want) => {
    expect(lastRelevantEvent(events, 'Pod', 'p', 'uid-p')?.reason).toBe(want);
  });

  it('bound Service: member names from the EndpointSlice, else from the Pod; gates, Ready, nodes', () => {
    const a = pod('a', {
      ip: '10.244.1.10',
      node: 'n1',
      containersReady: true,
      gateStatus: 'True',
      gateReason: 'LoadBalancerHealthy',
      since: '2026-11-23T10:05:00Z',
    });
    const b = pod('b', { ip: '10.244.2.20', node: 'n2', containersReady: true, gateStatus: 'False', gateReason: 'ReadinessTimeout' });
    const c = pod('c', { ip: '10.244.1.30', node: 'n1', gate: true }); // gate not written yet
    const d = pod('d', { gate: false, labels: { app: 'bidder' }, deleting: true, node: 'n1', ip: '10.244.1.40' });
    const other = pod('x', { labels: { app: 'other' } });
    const v = explainService({
      service: service({}, { ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] }),
      pods: [d, c, b, a, other],
      endpointSlices: [slice([{ pod: 'a', ip: '10.244.1.10', node: 'n1' }], { port: 9090 })],
      events: [],
      podlbNodes: [
        {
          metadata: { name: 'n1' },
          status: {
            members: { registered: 3, healthy: 2, draining: 1 },
            conditions: [{ type: 'LoadBalancerReachable', status: 'True', reason: 'AllInstancesReachable' }],
          },
        },
      ],
      classes: [lbClass()],
    });
    expect(v.service).toEqual({
      namespace: 'ads',
      name: 'bidder',
      binding: 'bound',
      className: 'l7lb',
      ports: [{ name: 'http', servicePort: 80, backend: 'ads.bidder.http' }],
    });
    expect(v.pods.map((p) => [p.name, p.node, p.members, typeof p.gate === 'string' ? p.gate : `${p.gate.status}/${p.gate.reason}`, p.terminating])).toEqual([
      ['a', 'n1', ['podlb_n1_10.244.1.10_9090'], 'True/LoadBalancerHealthy', false], // slice port wins
      ['b', 'n2', ['podlb_n2_10.244.2.20_8080'], 'False/ReadinessTimeout', false], // named targetPort resolved in the Pod
      ['c', 'n1', ['podlb_n1_10.244.1.30_8080'], 'unset', false],
      ['d', 'n1', ['podlb_n1_10.244.1.40_8080'], 'none', true],
    ]);
    expect(v.nodes).toEqual([
      {
        name: 'n1',
        reported: true,
        members: { registered: 3, healthy: 2, draining: 1 },
        loadBalancerReachable: { status: 'True', reason: 'AllInstancesReachable', message: '' },
      },
      { name: 'n2', reported: false },
    ]);
    const text = renderExplain(v, NOW);
    expect(text).toMatch(/^a\s+n1\s+10\.244\.1\.10\s+podlb_n1_10\.244\.1\.10_9090\s+True LoadBalancerHealthy \(5m\)\s+Unknown\s+-$/m);
    expect(text).toMatch(/^c\s+n1 .*not set yet/m);
    expect(text).toMatch(/^d \(terminating\)\s+n1 .*no gate/m);
    expect(text).toMatch(/^n1\s+3\/2\/1\s+True AllInstancesReachable$/m);
  });

  it('a warming member (pre-registered, no traffic yet) shows its state per instance and in the node counts', () => {
    const w = pod('w', { ip: '10.244.1.50', node: 'n1', containersReady: false, gateStatus: 'False' });
    const name = 'podlb_n1_10.244.1.50_8080';
    const v = explainService({
      service: service(),
      pods: [w],
      endpointSlices: [slice([{ pod: 'w', ip: '10.244.1.50', node: 'n1', ready: false }])],
      events: [],
      podlbNodes: [
        {
          metadata: { name: 'n1' },
          status: {
            members: { registered: 2, healthy: 2, draining: 0, warming: 1 },
            lb: {
              instances: [],
              members: [
                {
                  name,
                  backend: 'ads.bidder.http',
                  pod: 'ads/w',
                  state: 'warming',
                  instances: [{ instance: 'unix:///run/haproxy.sock', admin: 'drain', health: 'healthy', detail: 'DRAIN, L7OK' }],
                },
              ],
            },
          },
        },
      ],
      classes: [lbClass()],
    });
    expect(v.pods[0]!.lb).toEqual([
      { member: name, state: 'Warming', instance: 'unix:///run/haproxy.sock', admin: 'drain', health: 'healthy', detail: 'DRAIN, L7OK' },
    ]);
    const text = renderExplain(v, NOW);
    expect(text).toMatch(/^POD\s+MEMBER\s+STATE\s+LB INSTANCE\s+ADMIN\s+HEALTH\s+CHECK$/m);
    expect(text).toMatch(new RegExp(`^w\\s+${name}\\s+Warming\\s+unix:///run/haproxy\\.sock\\s+drain\\s+healthy\\s+DRAIN, L7OK$`, 'm'));
    expect(text).toMatch(/^n1\s+2\/2\/0 \+1 warming\s+/m);
  });

  it.each([
    ['class missing', service({ 'podlb.io/load-balancer': 'nope' }), 'classMissing', /class missing: .*LoadBalancerClass "nope" does not exist/],
    [
      'invalid annotation',
      service({ 'podlb.io/ports': 'grpc' }),
      'invalid',
      /invalid annotations: .*podlb.io\/ports.*no Service port named or numbered "grpc"/,
    ],
    ['not opted in', { ...service(), metadata: { name: 'bidder', namespace: 'ads' } }, 'notOptedIn', /not opted in/],
  ])('Service %s: the binding says why, and no members are named', (_n, svc, binding, text) => {
    const v = explainService({ service: svc, pods: [pod('a', { ip: '10.244.1.10' })], endpointSlices: [], events: [], podlbNodes: [], classes: [lbClass()] });
    expect(v.service.binding).toBe(binding);
    expect(v.pods[0]!.members).toEqual([]);
    expect(renderExplain(v, NOW)).toMatch(text);
  });

  it('an unscheduled Pod has no node and no member; a named targetPort the Pod lacks gives no member', () => {
    const unscheduled = pod('u', {});
    delete unscheduled.spec.nodeName;
    const v = explainService({
      service: service({}, { ports: [{ name: 'http', port: 80, targetPort: 'metrics', protocol: 'TCP' }] }),
      pods: [unscheduled, pod('m', { node: 'n1' })],
      endpointSlices: [],
      events: [],
      podlbNodes: [],
      classes: [lbClass()],
    });
    expect(v.pods.map((p) => [p.name, p.node, p.members])).toEqual([
      ['m', 'n1', []],
      ['u', '', []],
    ]);
    expect(renderExplain(v, NOW)).toMatch(/^u\s+<unscheduled>/m);
  });
});

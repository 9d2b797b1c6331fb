// Approval bound to content: the canonical form and its digests, and what the node's BGP plan
// does with a pool edited after approval (no admission policy involved: the plan sees only the
// objects, as an agent does on a cluster where the policy is missing or bypassed).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PodAddressPool } from '../api/types.js';
import { approvalContent, canonicalJson, checkApproval, contentDigests } from './approval.js';
import { parsePool } from './config.js';
import { approved, nodeFixture, peerFixture, poolFixture } from '../../testkit/bgp-fixtures.js';
import { buildBgpPlan } from './model.js';
import { renderBirdConf } from './render.js';

type Spec = PodAddressPool['spec'];
/** `pool` with `change` applied to its spec and its approval record left as it was. */
const edit = (pool: PodAddressPool, change: (spec: Spec) => Spec): PodAddressPool => ({ ...pool, spec: change(structuredClone(pool.spec)) });

describe('canonical form', () => {
  it('sorts keys, drops nulls, keeps list order except the sets cidrs and communities', () => {
    expect(canonicalJson({ b: [2, 1], a: { d: null, c: 'x' } })).toBe('{"a":{"c":"x"},"b":[2,1]}');
    expect(
      approvalContent({
        cidrs: ['b', 'a'],
        communities: ['2:2', '1:1'],
        nodeSelector: { matchExpressions: [{ key: 'z' }, { key: 'a' }] },
        approval: { state: 'Approved' },
        advertise: null,
      }),
    ).toEqual({
      cidrs: ['a', 'b'],
      communities: ['1:1', '2:2'],
      nodeSelector: { matchExpressions: [{ key: 'z' }, { key: 'a' }] },
    });
  });

  it('the digest is sha256 of the canonical content, one per field too', () => {
    const d = contentDigests({ cidrs: ['10.0.0.0/8'], advertise: 'NodeCIDR', approval: { state: 'Approved', by: 'x' } });
    const hex = (t: string) => createHash('sha256').update(t).digest('hex');
    expect(d.digest).toBe(`sha256:${hex('{"advertise":"NodeCIDR","cidrs":["10.0.0.0/8"]}')}`);
    expect(d.fieldDigests).toEqual({ advertise: `sha256:${hex('"NodeCIDR"')}`, cidrs: `sha256:${hex('["10.0.0.0/8"]')}` });
    expect(Object.keys(d.fieldDigests)).toEqual(['advertise', 'cidrs']);
    // The approval itself is not content: recording a decision does not change the digest.
    expect(contentDigests({ cidrs: ['10.0.0.0/8'], advertise: 'NodeCIDR' })).toEqual(d);
  });

  it.each<[string, Partial<Spec>, Partial<Spec>, boolean]>([
    ['reordered CIDRs (a set)', { cidrs: ['10.0.0.0/8', '10.1.0.0/16'] }, { cidrs: ['10.1.0.0/16', '10.0.0.0/8'] }, true],
    ['reordered communities (a set)', { communities: ['1:1', '2:2'] }, { communities: ['2:2', '1:1'] }, true],
    ['an explicit default is a change (no defaults are applied)', {}, { advertise: 'NodeCIDR' }, false],
    ['a CIDR rewritten in another case is a change', { cidrs: ['fd00::/56'] }, { cidrs: ['FD00::/56'] }, false],
    [
      'matchExpressions reordered is a change (an atomic list)',
      {
        nodeSelector: {
          matchExpressions: [
            { key: 'a', operator: 'Exists' },
            { key: 'b', operator: 'Exists' },
          ],
        },
      },
      {
        nodeSelector: {
          matchExpressions: [
            { key: 'b', operator: 'Exists' },
            { key: 'a', operator: 'Exists' },
          ],
        },
      },
      false,
    ],
  ])('%s', (_n, a, b, same) => {
    const base = { cidrs: ['10.0.0.0/8'] };
    expect(contentDigests({ ...base, ...a }).digest === contentDigests({ ...base, ...b }).digest).toBe(same);
  });
});

describe('checkApproval', () => {
  const pool = poolFixture('p', { communities: ['65000:100'] });

  it('accepts the content it approved, whatever the key order of the stored object', () => {
    expect(checkApproval(pool.spec)).toEqual({ ok: true });
    const reordered = Object.fromEntries(Object.entries(pool.spec).reverse());
    expect(checkApproval(reordered)).toEqual({ ok: true });
  });

  it('names every top-level field that changed, added or removed', () => {
    const changed = edit(pool, (s) => {
      const { nodeSelector: _gone, ...rest } = s;
      return { ...rest, advertise: 'PodIPs', extraField: 1 } as Spec;
    });
    expect(checkApproval(changed.spec)).toEqual({ ok: false, why: 'changed', fields: ['spec.advertise', 'spec.extraField', 'spec.nodeSelector'] });
  });

  it('an approval without a digest is stale (approved before digests, or stripped)', () => {
    expect(checkApproval({ ...pool.spec, approval: { state: 'Approved', by: 'x' } })).toEqual({ ok: false, why: 'noDigest', fields: [] });
  });
});

describe('the node plan refuses a pool whose content is not the approved content', () => {
  const node = nodeFixture({
    labels: { 'podlb.io/bgp': 'true', 'topology.kubernetes.io/rack': 'r12', excluded: 'true' },
    podCIDRs: ['10.244.1.0/24', '10.250.1.0/24'],
  });
  const widened = approved(
    poolFixture('widened', {
      cidrs: ['10.244.0.0/16'],
      nodeSelector: { matchExpressions: [{ key: 'excluded', operator: 'DoesNotExist' }] },
      communities: ['65000:100'],
    }),
  );
  const untouched = poolFixture('untouched', { cidrs: ['10.250.0.0/16'], nodeSelector: {} });
  const plan = (pools: PodAddressPool[]) => buildBgpPlan({ node, pools, peers: [peerFixture()], secrets: [] });

  it('as approved: the node the network team excluded advertises only the other pool', () => {
    expect(plan([widened, untouched]).advertised.map((a) => a.prefix)).toEqual(['10.250.1.0/24']);
  });

  it.each<[string, (s: Spec) => Spec, string]>([
    ['nodeSelector removed', ({ nodeSelector: _n, ...s }) => s, 'spec.nodeSelector'],
    [
      'nodeSelector changed to an Exists match',
      (s) => ({ ...s, nodeSelector: { matchExpressions: [{ key: 'podlb.io/bgp', operator: 'Exists' }] } }),
      'spec.nodeSelector',
    ],
    ['advertise switched to PodIPs', (s) => ({ ...s, advertise: 'PodIPs' }), 'spec.advertise'],
    ['advertise switched from NodeCIDR to unset', ({ advertise: _a, ...s }) => s, 'spec.advertise'],
    ['BLACKHOLE community added', (s) => ({ ...s, communities: [...(s.communities ?? []), '65535:666'] }), 'spec.communities'],
    ['CIDR widened', (s) => ({ ...s, cidrs: ['10.0.0.0/8'] }), 'spec.cidrs'],
    ['approval stripped to a bare {state: Approved}', (s) => ({ ...s, approval: { state: 'Approved' } }), 'spec.approval.digest'],
  ])('%s: ApprovalStale, the other pool stays advertised', (_n, change, field) => {
    const stale = edit(widened, change);
    expect(parsePool(stale).state).toBe('ApprovalStale');
    const r = plan([stale, untouched]);
    expect(r.advertised.map((a) => `${a.prefix} ${a.pool}`)).toEqual(['10.250.1.0/24 untouched']);
    const p = r.problems.find((x) => x.object.name === 'widened');
    expect(p).toMatchObject({ reason: 'ApprovalStale', field, severity: 'Warning' });
    expect(p!.message).toContain('kubectl podlb approve widened');
    const conf = renderBirdConf(r.model);
    expect(conf).not.toContain('10.244.');
    expect(conf).not.toContain('65535');
  });

  it('re-approving the new content makes it advertised again', () => {
    const edited = edit(widened, ({ nodeSelector: _n, ...s }) => s);
    const r = plan([approved(edited), untouched]);
    expect(r.advertised.map((a) => a.prefix)).toEqual(['10.244.1.0/24', '10.250.1.0/24']);
  });
});

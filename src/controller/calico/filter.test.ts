// podlb's Calico export rules, evaluated the way calico-node's BIRD runs them: confd turns each
// rule into `if ( net <op> <cidr> ) then { <action>; }` (In `~`, NotIn `!~`, Equal `=`,
// NotEqual `!=`; projectcalico/calico v3.26.0 confd/pkg/resource/template/template_funcs.go,
// unchanged in v3.32.1) and calls that function before calico_export_to_bgp_peers(), then
// `reject` (v3.26.0 confd/etc/calico/confd/templates/bird.cfg.template, v3.32.1
// confd/pkg/backends/calico/bgp_processor.go). calico_export_to_bgp_peers() is modelled from
// v3.26.0 bird_ipam.cfg.template and bird_aggr.cfg.template: disableBGPExport pools rejected,
// communities applied, a confirmed block accepted and anything beneath it rejected, then any
// route inside an enabled pool accepted.
import { describe, expect, it } from 'vitest';
import { formatAddr, maxLength, prefixInside, type IpPrefix } from '../../net/ip.js';
import { filterVerdict, prefix } from '../../../testkit/calico-filter-eval.js';
import { exportRules, type CalicoFilterRule } from './filter.js';

const P = prefix;
const filterFn = filterVerdict;

interface CalicoNode {
  pools: { cidr: string; disableBGPExport?: boolean }[];
  /** This node's confirmed IPAM blocks. */
  blocks: string[];
}

/** The whole export filter of a peer: the BGPFilter, calico_export_to_bgp_peers(), reject. */
function exported(rules: readonly CalicoFilterRule[], node: CalicoNode, net: IpPrefix): { exported: boolean; communities: boolean } {
  const f = filterFn(rules, net);
  if (f) return { exported: f === 'accept', communities: false };
  for (const p of node.pools) if (p.disableBGPExport && prefixInside(net, P(p.cidr))) return { exported: false, communities: false };
  for (const b of node.blocks) {
    const bp = P(b);
    if (net.network === bp.network && net.length === bp.length) return { exported: true, communities: true };
    if (prefixInside(net, bp)) return { exported: false, communities: true };
  }
  for (const p of node.pools) if (!p.disableBGPExport && prefixInside(net, P(p.cidr))) return { exported: true, communities: true };
  return { exported: false, communities: true };
}

/** Every prefix, of every length, that contains one of `addrs`: the supernets, the CIDRs and their more-specifics. */
function prefixesThrough(addrs: readonly string[]): IpPrefix[] {
  const out = new Map<string, IpPrefix>();
  for (const a of addrs) {
    const host = P(a.includes(':') ? `${a}/128` : `${a}/32`);
    const max = maxLength(host.family);
    for (let len = 0; len <= max; len++) {
      const net = (host.network >> BigInt(max - len)) << BigInt(max - len);
      const p = P(`${formatAddr(host.family, net)}/${len}`);
      out.set(p.text, p);
    }
  }
  return [...out.values()];
}

const probes = [
  '10.244.0.1',
  '10.244.255.254',
  '10.245.0.1',
  '10.243.255.255',
  '10.250.0.7',
  '10.250.1.0',
  '10.251.0.0',
  '192.0.2.1',
  '0.0.0.0',
  '255.255.255.255',
  'fd00:244::1',
  'fd00:244:0:ff::1',
  'fd00:244:0:100::1',
  'fd00:245::1',
  '2001:db8::1',
];

describe('Calico export rules', () => {
  it.each([
    ['none', []],
    ['one v4', ['10.244.0.0/16']],
    ['one of each family', ['10.244.0.0/16', 'fd00:244::/56']],
    ['two apart', ['10.244.0.0/16', '10.250.0.0/24']],
    ['two adjacent', ['10.250.0.0/24', '10.250.1.0/24']],
    ['nested', ['10.244.0.0/16', '10.244.3.0/24']],
    ['the whole space', ['0.0.0.0/0']],
  ])('%s: only Reject rules; a prefix is rejected iff it lies inside no approved CIDR (any length inside passes on)', (_n, cidrs) => {
    const approved = cidrs.map(P);
    const { exportV4, exportV6 } = exportRules(approved);
    const rules = [...exportV4, ...exportV6];
    expect(rules.filter((r) => r.action !== 'Reject')).toEqual([]);
    for (const net of prefixesThrough(probes)) {
      const inside = approved.some((a) => prefixInside(net, a));
      const fn = filterFn(net.family === 4 ? exportV4 : exportV6, net);
      expect(fn, net.text).toBe(inside ? undefined : 'reject');
    }
  });

  it('one approved CIDR is one NotIn rule; none is Reject In everything', () => {
    expect(exportRules([P('10.244.0.0/16')])).toEqual({
      exportV4: [{ action: 'Reject', matchOperator: 'NotIn', cidr: '10.244.0.0/16' }],
      exportV6: [{ action: 'Reject', matchOperator: 'In', cidr: '::/0' }],
    });
  });

  it("keeps Calico's own export: disableBGPExport pools stay out, blocks are aggregated, communities applied", () => {
    const node: CalicoNode = {
      pools: [{ cidr: '10.244.0.0/16' }, { cidr: '10.250.0.0/24', disableBGPExport: true }, { cidr: '10.251.0.0/16' }],
      blocks: ['10.244.3.0/26', '10.250.0.0/26'],
    };
    // The network team approved 10.244.0.0/16 and 10.250.0.0/24, not 10.251.0.0/16.
    const { exportV4 } = exportRules([P('10.244.0.0/16'), P('10.250.0.0/24')]);
    const at = (s: string) => exported(exportV4, node, P(s));
    expect(at('10.244.3.0/26')).toEqual({ exported: true, communities: true }); // the block
    expect(at('10.244.3.5/32').exported).toBe(false); // a Pod beneath its block: aggregated
    expect(at('10.244.9.7/32').exported).toBe(true); // a borrowed address outside this node's blocks
    expect(at('10.250.0.0/26').exported).toBe(false); // disableBGPExport
    expect(at('10.250.0.9/32').exported).toBe(false);
    expect(at('10.251.0.0/26').exported).toBe(false); // not approved
    expect(at('10.0.0.0/8').exported).toBe(false); // a supernet
    expect(at('192.0.2.0/24').exported).toBe(false); // not a pool
  });
});

// The export rules of podlb's Calico BGPFilters. Pure.
//
// How calico-node uses them (confd; read in projectcalico/calico v3.26.0
// confd/etc/calico/confd/templates/bird.cfg.template + confd/pkg/resource/template/template_funcs.go,
// and v3.32.1 confd/pkg/backends/calico/bgp_processor.go buildExportFilter): a peer's export
// filter is
//     '<bgp_<filter>_exportFilterV4>'();  calico_export_to_bgp_peers();  reject;
// and each rule becomes `if ( net <op> <cidr> ) then { accept|reject; }` with In -> `~`,
// NotIn -> `!~`, Equal -> `=`, NotEqual -> `!=`. BIRD's `net ~ P` holds for P itself and
// every prefix inside it, whatever its length.
//
// An `accept` ends the filter, so an Accept rule would skip calico_export_to_bgp_peers():
// rejecting `disableBGPExport` pools, aggregating to the node's blocks (calico_aggr: the block
// accepted, everything beneath it rejected), and the communities of BGPConfiguration
// prefixAdvertisements. podlb therefore writes Reject rules only: a route that none matches
// falls through to Calico's own export, unchanged. The rules reject exactly the prefixes that
// are not inside (or equal to) an approved CIDR:
//   - no approved CIDR:   Reject In 0.0.0.0/0 (::/0)
//   - otherwise, with S the shortest prefix covering every approved CIDR:
//       Reject NotIn S (unless S is the whole space);
//       and, walking down from S, for a prefix P that overlaps an approved CIDR without being
//       inside one: Reject Equal P (a supernet of an approved CIDR), then its two halves;
//       for a half that overlaps none: Reject In half.
//     With one approved CIDR that is just `Reject NotIn <cidr>`.
// So what reaches a ToR is Calico's default export restricted to prefixes inside an approved
// CIDR: the CIDR itself and any more-specific (a /26 block, a borrowed /32) when Calico
// exports it; never a supernet of it, never anything outside.
import { comparePrefix, formatAddr, maxLength, parsePrefix, prefixInside, type Family, type IpPrefix } from '../../net/ip.js';

export type CalicoFilterAction = 'Accept' | 'Reject';
export type CalicoMatchOperator = 'Equal' | 'NotEqual' | 'In' | 'NotIn';

export interface CalicoFilterRule {
  action: CalicoFilterAction;
  matchOperator: CalicoMatchOperator;
  cidr: string;
}

const ALL: Record<Family, string> = { 4: '0.0.0.0/0', 6: '::/0' };

function prefixOf(family: Family, network: bigint, length: number): IpPrefix {
  const r = parsePrefix(`${formatAddr(family, network)}/${length}`);
  if (!r.ok) throw new Error(`internal: ${r.reason}`);
  return r.prefix;
}

const overlaps = (a: IpPrefix, b: IpPrefix) => prefixInside(a, b) || prefixInside(b, a);

/** The shortest prefix that contains every one of `ps` (non-empty, one family). */
function covering(ps: readonly IpPrefix[]): IpPrefix {
  const fam = ps[0]!.family;
  const max = maxLength(fam);
  let len = Math.min(...ps.map((p) => p.length));
  const netAt = (p: IpPrefix, l: number) => (p.network >> BigInt(max - l)) << BigInt(max - l);
  while (len > 0 && !ps.every((p) => netAt(p, len) === netAt(ps[0]!, len))) len--;
  return prefixOf(fam, netAt(ps[0]!, len), len);
}

const reject = (matchOperator: CalicoMatchOperator, cidr: string): CalicoFilterRule => ({ action: 'Reject', matchOperator, cidr });

/** One family's rules (see the file comment). */
export function rejectOutside(family: Family, cidrs: readonly IpPrefix[]): CalicoFilterRule[] {
  const approved = cidrs.filter((c) => c.family === family);
  if (approved.length === 0) return [reject('In', ALL[family])];
  const s = covering(approved);
  // NotIn ::/0 would match nothing.
  const rules = s.length > 0 ? [reject('NotIn', s.text)] : [];
  const max = maxLength(family);
  const walk = (p: IpPrefix) => {
    if (approved.some((a) => prefixInside(p, a))) return;
    if (!approved.some((a) => overlaps(p, a))) {
      rules.push(reject('In', p.text));
      return;
    }
    rules.push(reject('Equal', p.text));
    const half = 1n << BigInt(max - p.length - 1);
    walk(prefixOf(family, p.network, p.length + 1));
    walk(prefixOf(family, p.network + half, p.length + 1));
  };
  walk(s);
  return rules;
}

/** exportV4/exportV6 of a filter that lets through, of Calico's own export, only what lies inside `cidrs`. */
export function exportRules(cidrs: readonly IpPrefix[]): { exportV4: CalicoFilterRule[]; exportV6: CalicoFilterRule[] } {
  const sorted = [...cidrs].sort(comparePrefix);
  return { exportV4: rejectOutside(4, sorted), exportV6: rejectOutside(6, sorted) };
}

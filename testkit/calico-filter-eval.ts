// A Calico BGPFilter's rules as calico-node's BIRD evaluates them: confd writes each rule as
// `if ( net <op> <cidr> ) then { accept|reject; }`, In -> `~` (the CIDR and every prefix inside
// it), NotIn -> `!~`, Equal -> `=`, NotEqual -> `!=` (projectcalico/calico v3.26.0
// confd/pkg/resource/template/template_funcs.go emitFilterStatement; the same operators in
// v3.32.1 filterMatchCIDR). Used by tests to check rendered filters by what they do, not by text.
import { parsePrefix, prefixInside, type IpPrefix } from '../src/net/ip.js';
import type { CalicoFilterRule } from '../src/controller/calico/filter.js';

export function prefix(s: string): IpPrefix {
  const r = parsePrefix(s);
  if (!r.ok) throw new Error(r.reason);
  return r.prefix;
}

/** BIRD's `net <op> cidr` for one rule. */
export function ruleMatches(rule: CalicoFilterRule, net: IpPrefix): boolean {
  const c = prefix(rule.cidr);
  if (c.family !== net.family) return false;
  const same = c.network === net.network && c.length === net.length;
  switch (rule.matchOperator) {
    case 'In':
      return prefixInside(net, c);
    case 'NotIn':
      return !prefixInside(net, c);
    case 'Equal':
      return same;
    case 'NotEqual':
      return !same;
  }
}

/** The filter function: 'accept' / 'reject' end the export filter; undefined falls through to calico_export_to_bgp_peers(). */
export function filterVerdict(rules: readonly CalicoFilterRule[], net: IpPrefix): 'accept' | 'reject' | undefined {
  for (const r of rules) if (ruleMatches(r, net)) return r.action === 'Accept' ? 'accept' : 'reject';
  return undefined;
}

// metav1.LabelSelector -> Calico selector expression (the syntax of Calico's BGPPeer
// `nodeSelector`: `k == 'v'`, `k != 'v'`, `k in {'a', 'b'}`, `k not in {...}`, `has(k)`,
// `!has(k)`, `&&`, `||`, `!( )`, `all()`). Pure. Input is podlb's parsed selector
// (util/label-selector.ts), so matchLabels/matchExpressions were validated once at the edge.
//
// Semantics line up with Kubernetes'. NotIn matches a node without the label; Calico's
// reference describes `!=` and `not in` only for nodes that have the label, so NotIn is written
// `(!has(k) || k != 'v')`, exact whichever way a Calico version reads it (`||` and
// parentheses are part of Calico's selector syntax). Requirements are ANDed. Label keys and values that passed
// Kubernetes validation contain only [A-Za-z0-9._-/], which Calico's lexer accepts unquoted
// (keys) and inside single quotes (values); anything else is refused with the field named,
// so a selector is never widened by a quoting mistake.
import { LabelSelectorError, parseLabelSelector, type ParsedSelector, type Requirement } from '../../util/label-selector.js';

/** Calico's "every node". */
export const CALICO_ALL = 'all()';

const KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const VALUE = /^[A-Za-z0-9._-]*$/;

export class CalicoSelectorError extends LabelSelectorError {}

function quote(field: string, v: string): string {
  if (!VALUE.test(v)) throw new CalicoSelectorError(field, `label value ${JSON.stringify(v)} cannot be written in a Calico selector`);
  return `'${v}'`;
}

function requirement(field: string, r: Requirement): string {
  if (!KEY.test(r.key)) throw new CalicoSelectorError(field, `label key ${JSON.stringify(r.key)} cannot be written in a Calico selector`);
  const set = () => `{${r.values.map((v) => quote(field, v)).join(', ')}}`;
  switch (r.operator) {
    case 'In':
      return r.values.length === 1 ? `${r.key} == ${quote(field, r.values[0]!)}` : `${r.key} in ${set()}`;
    case 'NotIn':
      return `(!has(${r.key}) || ${r.values.length === 1 ? `${r.key} != ${quote(field, r.values[0]!)}` : `${r.key} not in ${set()}`})`;
    case 'Exists':
      return `has(${r.key})`;
    case 'DoesNotExist':
      return `!has(${r.key})`;
  }
}

/** A parsed selector as a Calico expression; the empty selector is `all()`. */
export function toCalicoSelector(sel: ParsedSelector, field = 'spec.nodeSelector'): string {
  if (sel.requirements.length === 0) return CALICO_ALL;
  return sel.requirements.map((r) => requirement(field, r)).join(' && ');
}

/**
 * A raw LabelSelector (missing = every node) as a Calico expression. Throws LabelSelectorError
 * naming the field: a malformed selector, or an operator Calico has no form for (e.g. `Gt`).
 */
export function labelSelectorToCalico(raw: unknown, field = 'spec.nodeSelector'): string {
  return toCalicoSelector(parseLabelSelector(raw, field), field);
}

/** `a && b && !(c)`: terms that contain `&&` are parenthesised when negated. */
export function andSelectors(include: readonly string[], exclude: readonly string[] = []): string {
  const terms = [...include.filter((s) => s !== CALICO_ALL), ...exclude.map((s) => `!(${s})`)];
  return terms.length === 0 ? CALICO_ALL : terms.join(' && ');
}

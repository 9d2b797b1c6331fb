// Evaluates a Calico selector expression (the syntax of a Calico BGPPeer's `nodeSelector`, as
// hand-made objects may use it) against a node's labels. Pure. Semantics as in projectcalico/calico
// v3.32.1 libcalico-go/lib/selector/parser/ast.go: `k == v`, `k in {...}`, `contains`,
// `starts with`, `ends with` need the label; `k != v` and `k not in {...}` also match a node
// without it; `all()` and `global()` match every node. Anything else is a CalicoSelectorSyntaxError.
export class CalicoSelectorSyntaxError extends Error {}

type Tok = string;

const TOKEN =
  /\s*(all\(\)|global\(\)|has\(\s*[A-Za-z0-9_./-]+\s*\)|&&|\|\||==|!=|!|\(|\)|\{|\}|,|"[^"]*"|'[^']*'|not\s+in\b|starts\s+with\b|ends\s+with\b|contains\b|in\b|[A-Za-z0-9_./-]+)/y;

function tokenize(expr: string): Tok[] {
  const out: Tok[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < expr.length) {
    if (/^\s*$/.test(expr.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(expr);
    if (!m) throw new CalicoSelectorSyntaxError(`cannot read ${JSON.stringify(expr.slice(at, at + 20))}`);
    out.push(m[1]!.replace(/\s+/g, ' '));
    at = TOKEN.lastIndex;
  }
  return out;
}

/** True when `expr` selects a node with `labels`. Throws CalicoSelectorSyntaxError. */
export function calicoSelectorMatches(expr: string, labels: Readonly<Record<string, string>>): boolean {
  const toks = tokenize(expr);
  let i = 0;
  const take = (want?: string): Tok => {
    const t = toks[i++];
    if (t === undefined || (want !== undefined && t !== want)) throw new CalicoSelectorSyntaxError(`expected ${want ?? 'more'} in ${JSON.stringify(expr)}`);
    return t;
  };
  const str = (): string => {
    const t = take();
    if (!/^(['"]).*\1$/.test(t)) throw new CalicoSelectorSyntaxError(`expected a quoted value in ${JSON.stringify(expr)}, got ${t}`);
    return t.slice(1, -1);
  };
  const primary = (): boolean => {
    const t = take();
    if (t === '(') {
      const v = or();
      take(')');
      return v;
    }
    if (t === 'all()' || t === 'global()') return true;
    if (t.startsWith('has(')) return t.slice(4, -1).trim() in labels;
    if (!/^[A-Za-z0-9_./-]+$/.test(t)) throw new CalicoSelectorSyntaxError(`unexpected ${t} in ${JSON.stringify(expr)}`);
    const op = take();
    const has = Object.hasOwn(labels, t);
    const v = labels[t];
    if (op === 'in' || op === 'not in') {
      take('{');
      const set: string[] = [];
      if (toks[i] !== '}') {
        set.push(str());
        while (toks[i] === ',') {
          take();
          set.push(str());
        }
      }
      take('}');
      return op === 'in' ? has && set.includes(v!) : !has || !set.includes(v!);
    }
    const arg = str();
    switch (op) {
      case '==':
        return has && v === arg;
      case '!=':
        return !has || v !== arg;
      case 'contains':
        return has && v!.includes(arg);
      case 'starts with':
        return has && v!.startsWith(arg);
      case 'ends with':
        return has && v!.endsWith(arg);
      default:
        throw new CalicoSelectorSyntaxError(`unknown operator ${op} in ${JSON.stringify(expr)}`);
    }
  };
  const unary = (): boolean => {
    if (toks[i] !== '!') return primary();
    take();
    return !unary();
  };
  const and = (): boolean => {
    let v = unary();
    while (toks[i] === '&&') {
      take();
      v = unary() && v;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (toks[i] === '||') {
      take();
      v = and() || v;
    }
    return v;
  };
  if (toks.length === 0) return true;
  const v = or();
  if (i !== toks.length) throw new CalicoSelectorSyntaxError(`unexpected ${toks[i]} in ${JSON.stringify(expr)}`);
  return v;
}

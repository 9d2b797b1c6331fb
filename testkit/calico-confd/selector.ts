// Calico's selector language, evaluated against a Node's labels: what confd's node label
// manager does to decide which nodes a BGPPeer's `nodeSelector` picks. Follows
// projectcalico/calico v3.32.1 libcalico-go/lib/selector (tokenizer and parser): `==`, `!=`,
// `in {..}`, `not in {..}`, `contains`, `starts with`, `ends with`, `has(k)`, `all()`, `!`,
// `&&`, `||` and parentheses; `!=` and `not in` hold for a node without the label, as there.
// A selector it cannot parse throws: a lab node must never be picked by a guess.

type Labels = Readonly<Record<string, string>>;
type Pred = (l: Labels) => boolean;

type Tok =
  | { k: 'label'; v: string }
  | { k: 'string'; v: string }
  | { k: 'has'; v: string }
  | { k: '(' | ')' | '{' | '}' | ',' | '==' | '!=' | '!' | '&&' | '||' | 'all' | 'in' | 'notin' | 'contains' | 'starts' | 'ends' | 'eof' };

const IDENT = /^[A-Za-z0-9_./-]+/;

function tokenize(input: string): Tok[] {
  const out: Tok[] = [];
  let s = input;
  const fail = (why: string): never => {
    throw new Error(`Calico selector ${JSON.stringify(input)}: ${why}`);
  };
  for (;;) {
    s = s.replace(/^[ \t]+/, '');
    if (s === '') return [...out, { k: 'eof' }];
    const c = s[0]!;
    const two = s.slice(0, 2);
    if ('(){},'.includes(c)) {
      out.push({ k: c as '(' });
      s = s.slice(1);
    } else if (c === '"' || c === "'") {
      const end = s.indexOf(c, 1);
      if (end < 0) fail('unterminated string');
      out.push({ k: 'string', v: s.slice(1, end) });
      s = s.slice(end + 1);
    } else if (two === '==' || two === '!=' || two === '&&' || two === '||') {
      out.push({ k: two });
      s = s.slice(2);
    } else if (c === '!') {
      out.push({ k: '!' });
      s = s.slice(1);
    } else if (out.at(-1)?.k === 'label') {
      const m = /^(contains|starts[ \t]*with|ends[ \t]*with|not[ \t]*in|in)(?![A-Za-z0-9_./-])/.exec(s);
      if (!m) fail(`expected an operator after label ${(out.at(-1) as { v: string }).v}`);
      const op = m![1]!.replace(/[ \t]/g, '');
      out.push({ k: op === 'startswith' ? 'starts' : op === 'endswith' ? 'ends' : (op as 'in' | 'notin' | 'contains') });
      s = s.slice(m![0].length);
    } else if (/^has\(/.test(s)) {
      const m = /^has\([ \t]*([A-Za-z0-9_./-]+)[ \t]*\)/.exec(s);
      if (!m) fail('malformed has()');
      out.push({ k: 'has', v: m![1]! });
      s = s.slice(m![0].length);
    } else if (/^all\([ \t]*\)/.test(s)) {
      out.push({ k: 'all' });
      s = s.replace(/^all\([ \t]*\)/, '');
    } else {
      const m = IDENT.exec(s);
      if (!m) fail(`unexpected ${JSON.stringify(c)}`);
      out.push({ k: 'label', v: m![0] });
      s = s.slice(m![0].length);
    }
  }
}

/** Parses `selector` (empty = every node, as Calico reads an empty nodeSelector). */
export function parseCalicoSelector(selector: string): Pred {
  const toks = tokenize(selector);
  let i = 0;
  const peek = () => toks[i]!;
  const take = <K extends Tok['k']>(k: K): Extract<Tok, { k: K }> => {
    const t = toks[i]!;
    if (t.k !== k) throw new Error(`Calico selector ${JSON.stringify(selector)}: expected ${k}, found ${t.k}`);
    i++;
    return t as Extract<Tok, { k: K }>;
  };
  const str = () => take('string').v;
  const set = (): Set<string> => {
    take('{');
    const vals = new Set<string>();
    if (peek().k !== '}') {
      vals.add(str());
      while (peek().k === ',') {
        take(',');
        vals.add(str());
      }
    }
    take('}');
    return vals;
  };
  const unary = (): Pred => {
    const t = peek();
    switch (t.k) {
      case '!': {
        take('!');
        const inner = unary();
        return (l) => !inner(l);
      }
      case '(': {
        take('(');
        const inner = or();
        take(')');
        return inner;
      }
      case 'all':
        take('all');
        return () => true;
      case 'has': {
        const key = take('has').v;
        return (l) => key in l;
      }
      case 'label': {
        const key = take('label').v;
        const op = peek().k;
        i++;
        switch (op) {
          case '==': {
            const v = str();
            return (l) => l[key] === v;
          }
          case '!=': {
            const v = str();
            return (l) => l[key] !== v;
          }
          case 'in': {
            const vs = set();
            return (l) => key in l && vs.has(l[key]!);
          }
          case 'notin': {
            const vs = set();
            return (l) => !(key in l) || !vs.has(l[key]!);
          }
          case 'contains': {
            const v = str();
            return (l) => key in l && l[key]!.includes(v);
          }
          case 'starts': {
            const v = str();
            return (l) => key in l && l[key]!.startsWith(v);
          }
          case 'ends': {
            const v = str();
            return (l) => key in l && l[key]!.endsWith(v);
          }
          default:
            throw new Error(`Calico selector ${JSON.stringify(selector)}: expected an operator after ${key}`);
        }
      }
      default:
        throw new Error(`Calico selector ${JSON.stringify(selector)}: unexpected ${t.k}`);
    }
  };
  const and = (): Pred => {
    const terms = [unary()];
    while (peek().k === '&&') {
      take('&&');
      terms.push(unary());
    }
    return (l) => terms.every((t) => t(l));
  };
  const or = (): Pred => {
    const terms = [and()];
    while (peek().k === '||') {
      take('||');
      terms.push(and());
    }
    return (l) => terms.some((t) => t(l));
  };
  if (peek().k === 'eof') return () => true;
  const pred = or();
  take('eof');
  return pred;
}

export function calicoSelectorMatches(selector: string, labels: Labels): boolean {
  return parseCalicoSelector(selector)(labels);
}

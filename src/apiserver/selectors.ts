// The string forms of label and field selectors (`?labelSelector=`, `?fieldSelector=`) as
// k8s.io/apimachinery/pkg/labels and pkg/fields parse them, with the API server's messages.
// Label requirements are util/label-selector.ts's, and matched there.
import type { AnyRequirement } from '../util/label-selector.js';
import { badRequest } from './errors.js';

const labelValueRe = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const nameRe = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const subdomainRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A qualified name (label key, annotation key, finalizer): optional DNS-subdomain prefix + '/' + name. */
export function qualifiedNameProblem(key: string): string | undefined {
  const parts = key.split('/');
  let name = key;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) return 'prefix part must be non-empty';
    if (prefix.length > 253 || !subdomainRe.test(prefix))
      return "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
  } else if (parts.length > 2) {
    return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
  }
  if (name.length === 0) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!nameRe.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  }
  return undefined;
}

export function labelValueProblem(v: string): string | undefined {
  if (v.length > 63) return 'must be no more than 63 characters';
  if (!labelValueRe.test(v)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
  }
  return undefined;
}

type Tok = { t: 'id'; v: string } | { t: 'op'; v: string } | { t: '('; v: '(' } | { t: ')'; v: ')' } | { t: ','; v: ',' };

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      out.push({ t: c, v: c } as Tok);
      i++;
    } else if (c === '!' || c === '=' || c === '<' || c === '>') {
      let op = c;
      if ((c === '!' || c === '=') && s[i + 1] === '=') op += '=';
      out.push({ t: 'op', v: op });
      i += op.length;
    } else {
      let j = i;
      while (j < s.length && !' \t(),!=<>'.includes(s[j]!)) j++;
      out.push({ t: 'id', v: s.slice(i, j) });
      i = j;
    }
  }
  return out;
}

export function parseLabelSelector(s: string): AnyRequirement[] {
  const toks = tokenize(s);
  const reqs: AnyRequirement[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw badRequest(`unable to parse requirement: ${why}`);
  };
  const checkKey = (k: string): string => {
    const p = qualifiedNameProblem(k);
    if (p) fail(`<nil>: Invalid value: "${k}": ${p}`);
    return k;
  };
  const checkVal = (v: string): string => {
    const p = labelValueProblem(v);
    if (p) fail(`values[0][${v}]: Invalid value: "${v}": ${p}`);
    return v;
  };
  while (i < toks.length) {
    let tok = toks[i]!;
    if (tok.t === 'op' && tok.v === '!') {
      const k = toks[i + 1];
      if (k?.t !== 'id') fail(`found '${k?.v ?? ''}', expected: identifier after '!'`);
      reqs.push({ key: checkKey((k as Tok).v), operator: 'DoesNotExist', values: [] });
      i += 2;
    } else if (tok.t === 'id') {
      const key = checkKey(tok.v);
      i++;
      const next = toks[i];
      if (!next || next.t === ',') {
        reqs.push({ key, operator: 'Exists', values: [] });
      } else if (next.t === 'op') {
        i++;
        const valTok = toks[i];
        let value = '';
        if (valTok && valTok.t === 'id') {
          value = valTok.v;
          i++;
        }
        if (next.v === '=' || next.v === '==') reqs.push({ key, operator: 'In', values: [checkVal(value)] });
        else if (next.v === '!=') reqs.push({ key, operator: 'NotIn', values: [checkVal(value)] });
        else if (next.v === '>' || next.v === '<') {
          const n = Number(value);
          if (!/^-?\d+$/.test(value)) fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
          reqs.push({ key, operator: next.v === '>' ? 'Gt' : 'Lt', value: n });
        } else fail(`found '${next.v}', expected: '=', '!=', '==', 'in', notin'`);
      } else if (next.t === 'id' && (next.v === 'in' || next.v === 'notin')) {
        i++;
        if (toks[i]?.t !== '(') fail(`found '${toks[i]?.v ?? ''}', expected: '('`);
        i++;
        const values: string[] = [];
        while (i < toks.length && toks[i]!.t !== ')') {
          tok = toks[i]!;
          if (tok.t === 'id') values.push(checkVal(tok.v));
          else if (tok.t !== ',') fail(`found '${tok.v}', expected: ',', ')' or identifier`);
          i++;
        }
        if (toks[i]?.t !== ')') fail(`found '', expected: ')'`);
        i++;
        if (values.length === 0 && next.v === 'in') fail("for 'in', 'notin' operators, values set can't be empty");
        reqs.push({ key, operator: next.v === 'in' ? 'In' : 'NotIn', values });
      } else {
        fail(`found '${next.v}', expected: '=', '!=', '==', 'in', notin'`);
      }
    } else {
      fail(`found '${tok.v}', expected: !, identifier, or 'end of string'`);
    }
    const sep = toks[i];
    if (sep) {
      if (sep.t !== ',') fail(`found '${sep.v}', expected: ',' or 'end of string'`);
      i++;
      if (i >= toks.length) fail(`found '', expected: identifier after ','`);
    }
  }
  return reqs;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Field selector: `a=b,c!=d` with `\` escapes as fields.ParseSelector accepts. */
export function parseFieldSelector(s: string): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  if (s.trim() === '') return out;
  // split on unescaped commas
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1]!;
      i++;
    } else if (c === ',') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  for (const p of parts) {
    let m: RegExpMatchArray | null = null;
    let op: '=' | '!=' = '=';
    for (const [re, o] of [
      [/^(.*?)!=(.*)$/s, '!='],
      [/^(.*?)==(.*)$/s, '='],
      [/^(.*?)=(.*)$/s, '='],
    ] as const) {
      m = p.match(re);
      if (m) {
        op = o;
        break;
      }
    }
    if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${p}'`);
    const unescapeValue = (x: string): string => x.replace(/\\(.)/g, '$1');
    out.push({ field: m[1]!.trim(), op, value: unescapeValue(m[2]!) });
  }
  return out;
}

export function matchesFields(reqs: FieldRequirement[], fields: Record<string, string>): boolean {
  return reqs.every((r) => {
    const v = fields[r.field] ?? '';
    return r.op === '=' ? v === r.value : v !== r.value;
  });
}

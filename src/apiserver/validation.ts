// Name, metadata and value validation as k8s.io/apimachinery/pkg/util/validation does it.
import { type FieldError, forbiddenField, invalid, required, duplicate } from './errors.js';
import { labelValueProblem, qualifiedNameProblem } from './selectors.js';
import { isIP } from 'node:net';

/** 'path': only a path segment (RBAC objects, whose names may hold ':'). */
export type NameRule = 'subdomain' | 'label' | 'label1035' | 'path';

const subdomainRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const label1035Re = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export function nameProblems(name: string, rule: NameRule): string[] {
  const out: string[] = [];
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  for (const bad of ['/', '%']) if (name.includes(bad)) out.push(`may not contain '${bad}'`);
  switch (rule) {
    case 'subdomain':
      if (name.length > 253) out.push('must be no more than 253 characters');
      if (!subdomainRe.test(name))
        out.push(
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        );
      break;
    case 'label':
      if (name.length > 63) out.push('must be no more than 63 characters');
      if (!labelRe.test(name))
        out.push(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        );
      break;
    case 'label1035':
      if (name.length > 63) out.push('must be no more than 63 characters');
      if (!label1035Re.test(name))
        out.push(
          "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        );
      break;
  }
  return out;
}

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && labelRe.test(s);
}
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && subdomainRe.test(s);
}

/** IsFullyQualifiedDomainName: a subdomain of at least two labels (a trailing dot is ignored). */
export function isFqdn(s: string): boolean {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  return isDnsSubdomain(name) && name.split('.').length >= 2;
}

/** IANA_SVC_NAME: port names. */
export function portNameProblem(s: string): string | undefined {
  if (s.length > 15) return 'must be no more than 15 characters';
  if (!/^[-a-z0-9]+$/.test(s)) return 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)';
  if (s.includes('--')) return 'must not contain consecutive hyphens';
  if (!/[a-z]/.test(s)) return 'must contain at least one letter (a-z)';
  if (s.startsWith('-') || s.endsWith('-')) return 'must not begin or end with a hyphen';
  return undefined;
}

export function ipFamily(ip: string): 'IPv4' | 'IPv6' | undefined {
  const v = isIP(ip);
  return v === 4 ? 'IPv4' : v === 6 ? 'IPv6' : undefined;
}

type Meta = Record<string, unknown>;

export function validateObjectMeta(meta: Meta, rule: NameRule, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const name = meta.name;
  if (typeof name !== 'string' || name === '') {
    errs.push(required('metadata.name', 'name or generateName is required'));
  } else {
    for (const p of nameProblems(name, rule)) errs.push(invalid('metadata.name', name, p));
  }
  if (namespaced) {
    if (typeof meta.namespace !== 'string' || meta.namespace === '') errs.push(required('metadata.namespace'));
  } else if (meta.namespace) {
    errs.push(forbiddenField('metadata.namespace', 'not allowed on this type'));
  }
  errs.push(...validateStringMap(meta.labels, 'metadata.labels', true));
  errs.push(...validateStringMap(meta.annotations, 'metadata.annotations', false));
  const fin = meta.finalizers;
  if (fin !== undefined) {
    if (!Array.isArray(fin)) errs.push(invalid('metadata.finalizers', fin, 'must be a list of strings'));
    else
      fin.forEach((f, i) => {
        const p = typeof f === 'string' ? qualifiedNameProblem(f) : 'must be a string';
        if (p) errs.push(invalid(`metadata.finalizers[${i}]`, f, p));
      });
  }
  const owners = meta.ownerReferences;
  if (owners !== undefined) {
    if (!Array.isArray(owners)) errs.push(invalid('metadata.ownerReferences', owners, 'must be a list'));
    else {
      let controllers = 0;
      owners.forEach((o: Record<string, unknown>, i) => {
        const f = `metadata.ownerReferences[${i}]`;
        for (const k of ['apiVersion', 'kind', 'name', 'uid'])
          if (typeof o?.[k] !== 'string' || o[k] === '') errs.push(invalid(`${f}.${k}`, o?.[k] ?? '', `${k} must not be empty`));
        if (o?.controller === true) controllers++;
      });
      if (controllers > 1) errs.push(invalid('metadata.ownerReferences', owners, 'Only one reference can have Controller set to true'));
    }
  }
  return errs;
}

function validateStringMap(m: unknown, field: string, labels: boolean): FieldError[] {
  const errs: FieldError[] = [];
  if (m === undefined || m === null) return errs;
  if (typeof m !== 'object' || Array.isArray(m)) return [invalid(field, m, 'must be a map of strings')];
  let size = 0;
  for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
    const kp = qualifiedNameProblem(k);
    if (kp) errs.push(invalid(field, k, kp));
    if (typeof v !== 'string') {
      errs.push(invalid(`${field}.${k}`, v, 'must be a string'));
      continue;
    }
    size += k.length + v.length;
    if (labels) {
      const vp = labelValueProblem(v);
      if (vp) errs.push(invalid(field, v, vp));
    }
  }
  if (!labels && size > 256 * 1024) errs.push({ type: 'FieldValueTooLong', field, detail: 'must have at most 262144 bytes' });
  return errs;
}

export function checkDuplicates(values: string[], field: (i: number) => string): FieldError[] {
  const seen = new Set<string>();
  const errs: FieldError[] = [];
  values.forEach((v, i) => {
    if (seen.has(v)) errs.push(duplicate(field(i), v));
    seen.add(v);
  });
  return errs;
}

function ipv4Bytes(ip: string): number[] | undefined {
  const v4 = isIP(ip) === 4 ? ip : /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  return v4 ? v4.split('.').map(Number) : undefined;
}

/** The 16 bytes of an IPv6 address (node's isIP has accepted it). */
function ipv6Bytes(ip: string): number[] {
  let s = ip.toLowerCase();
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail) {
    const b = tail[1]!.split('.').map(Number);
    s = `${s.slice(0, -tail[1]!.length)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const r = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/**
 * ValidateEndpointIP (k8s.io/kubernetes/pkg/apis/core/validation): Endpoints and EndpointSlice
 * addresses may not be unspecified, loopback, link-local or link-local multicast (Go's
 * net.IP predicates, which treat an IPv4-mapped IPv6 address as IPv4).
 */
export function endpointIPProblems(ip: string): string[] {
  if (isIP(ip) === 0) return ['must be a valid IP address'];
  const out: string[] = [];
  const v4 = ipv4Bytes(ip);
  const b = v4 ? undefined : ipv6Bytes(ip);
  const unspecified = v4 ? v4.every((x) => x === 0) : b!.every((x) => x === 0);
  const loopback = v4 ? v4[0] === 127 : b!.slice(0, 15).every((x) => x === 0) && b![15] === 1;
  const linkLocal = v4 ? v4[0] === 169 && v4[1] === 254 : b![0] === 0xfe && (b![1]! & 0xc0) === 0x80;
  const linkLocalMulticast = v4 ? v4[0] === 224 && v4[1] === 0 && v4[2] === 0 : b![0] === 0xff && (b![1]! & 0x0f) === 0x02;
  if (unspecified) out.push(`may not be unspecified (${ip})`);
  if (loopback) out.push('may not be in the loopback range (127.0.0.0/8, ::1/128)');
  if (linkLocal) out.push('may not be in the link-local range (169.254.0.0/16, fe80::/10)');
  if (linkLocalMulticast) out.push('may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)');
  return out;
}

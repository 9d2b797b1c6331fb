// Which namespaces may bind a LoadBalancerClass and which backends (HAProxy) or pools (Octavia)
// each may name. A backend is shared by whoever registers into it, so naming one is a claim on
// another team's traffic: without a rule from the class, a namespace may name only backends
// that begin with `<namespace>.` (the default `<namespace>.<service>.<port>`). Namespace names
// are DNS labels without dots, so that prefix belongs to exactly one namespace.
import type { LoadBalancerClass } from '../api/types.js';

export interface TenancyEntry {
  /** A namespace name, a prefix ending in `*`, or `*` for every namespace. */
  name: string;
  /** Names (a trailing `*` matches any suffix); undefined: the namespace's own `<namespace>.` names. */
  backends?: string[];
}

export interface Tenancy {
  namespaces: TenancyEntry[];
}

const NAMESPACE_PATTERN_RE = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?|[a-z0-9-]{0,62}\*)$/;
const BACKEND_PATTERN_RE = /^[A-Za-z0-9_.:-]{0,64}\*?$/;

/** Parses `spec.tenancy`; a string is the field and what is wrong with it. */
export function parseTenancy(raw: LoadBalancerClass['spec']['tenancy']): Tenancy | undefined | { field: string; message: string } {
  if (raw === undefined) return undefined;
  const list: unknown = raw?.namespaces;
  if (!Array.isArray(list) || list.length > 256) return { field: 'spec.tenancy.namespaces', message: 'must be a list of at most 256 entries' };
  const namespaces: TenancyEntry[] = [];
  for (const [i, e] of list.entries()) {
    const f = `spec.tenancy.namespaces[${i}]`;
    const name: unknown = e?.name;
    if (typeof name !== 'string' || !NAMESPACE_PATTERN_RE.test(name))
      return { field: `${f}.name`, message: 'must be a namespace name, a prefix ending in "*", or "*"' };
    const backends: unknown = e?.backends;
    if (backends === undefined) {
      namespaces.push({ name });
      continue;
    }
    if (!Array.isArray(backends) || backends.length > 64) return { field: `${f}.backends`, message: 'must be a list of at most 64 names' };
    for (const [j, b] of backends.entries()) {
      if (typeof b !== 'string' || b === '' || !BACKEND_PATTERN_RE.test(b))
        return { field: `${f}.backends[${j}]`, message: 'must be a backend name, optionally ending in "*"' };
    }
    namespaces.push({ name, backends: [...(backends as string[])] });
  }
  return { namespaces };
}

function globMatches(pattern: string, value: string): boolean {
  return pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}

function ownBackend(namespace: string, backend: string): boolean {
  return backend.startsWith(`${namespace}.`);
}

/**
 * Whether a Service in `namespace` may register into `backend` through this class. Every
 * matching entry grants its backends (the union), so a catch-all `*` entry does not take away
 * what a namespace's own entry gives it.
 */
export function tenancyDecision(
  tenancy: Tenancy | undefined,
  namespace: string,
  backend: string,
): { ok: true } | { ok: false; reason: 'NamespaceNotAllowed' | 'BackendNotAllowed'; message: string } {
  if (!tenancy) {
    return ownBackend(namespace, backend)
      ? { ok: true }
      : {
          ok: false,
          reason: 'BackendNotAllowed',
          message: `backend ${JSON.stringify(backend)} is not this namespace's: without spec.tenancy in the class, a namespace may name only backends beginning with "${namespace}."`,
        };
  }
  const entries = tenancy.namespaces.filter((e) => globMatches(e.name, namespace));
  if (entries.length === 0)
    return { ok: false, reason: 'NamespaceNotAllowed', message: `namespace ${namespace} is not in the class's spec.tenancy.namespaces` };
  const allowed = entries.some((e) => (e.backends === undefined ? ownBackend(namespace, backend) : e.backends.some((p) => globMatches(p, backend))));
  if (allowed) return { ok: true };
  return {
    ok: false,
    reason: 'BackendNotAllowed',
    message: `backend ${JSON.stringify(backend)} is not one the class's spec.tenancy allows namespace ${namespace} to name`,
  };
}

// Installs podlb's shipped manifests (daemonset/, in kustomization.yaml's order) into an
// in-process server as `kubectl apply -k daemonset/` would, for every kind the server serves:
// Namespaces, ServiceAccounts, RBAC, ConfigMaps and whatever else is registered. Kinds it does
// not serve (CRDs, DaemonSet, Deployment, webhook configurations) are skipped and listed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './crds.js';
import { parse, parseAllDocuments } from 'yaml';
import { ApiError } from './errors.js';
import { apiVersionOf, type Obj } from './resource-type.js';
import type { ObjectStore } from './store.js';

export interface InstallResult {
  /** `Kind namespace/name` of every object created (or already present). */
  applied: string[];
  /** `Kind name` of every object whose kind this server does not serve. */
  skipped: string[];
}

export function manifestObjects(dir = join(repoRoot(), 'daemonset')): Obj[] {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources?: string[] };
  const out: Obj[] = [];
  for (const file of kustomization.resources ?? []) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const v = doc.toJS() as Obj | null;
      if (v && typeof v === 'object') out.push(v);
    }
  }
  return out;
}

export function installManifests(store: ObjectStore, objects: Obj[] = manifestObjects()): InstallResult {
  const result: InstallResult = { applied: [], skipped: [] };
  for (const o of objects) {
    const rt = store.resources().find((r) => apiVersionOf(r) === o.apiVersion && r.kind === o.kind);
    const id = `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;
    if (!rt) {
      result.skipped.push(id);
      continue;
    }
    try {
      store.create(`${rt.group}/${rt.version}/${rt.plural}`, structuredClone(o));
    } catch (err) {
      if (!(err instanceof ApiError && err.status.reason === 'AlreadyExists')) throw err;
    }
    result.applied.push(id);
  }
  return result;
}

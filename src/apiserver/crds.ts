// The CustomResourceDefinitions podlb ships (daemonset/crds/*.yaml), read once from the package
// so the in-process API server enforces exactly the schemas a real cluster gets.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The repository (or installed package) root: the nearest ancestor with package.json named podlb; works from dist/ too. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'podlb') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`podlb package root not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Every YAML document of a file (empty documents skipped); throws on a parse error. */
export function loadYamlDocs(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const out: unknown[] = [];
  for (const d of Array.isArray(docs) ? docs : [docs]) {
    if (d.errors.length > 0) throw new Error(`${path}: ${d.errors.map((e) => e.message).join('; ')}`);
    const v: unknown = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  subresources?: { status?: object };
  additionalPrinterColumns?: { name: string; type: string; jsonPath: string; priority?: number; description?: string }[];
  schema: { openAPIV3Schema: Obj };
}

export interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: 'Cluster' | 'Namespaced';
    names: { kind: string; listKind?: string; plural: string; singular?: string; shortNames?: string[]; categories?: string[] };
    versions: CrdVersion[];
  };
  /** The file it came from, relative to the repository root. */
  file: string;
}

export const CRD_DIR = 'daemonset/crds';

export function loadCrds(root = repoRoot()): Crd[] {
  const dir = join(root, CRD_DIR);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadYamlDocs(join(dir, f)).map((d) => ({ ...(d as Omit<Crd, 'file'>), file: `${CRD_DIR}/${f}` })));
}

let shipped: Crd[] | undefined;

/** podlb's own CRDs, read on first use and kept for the life of the process. */
export function shippedCrds(): Crd[] {
  shipped ??= loadCrds();
  return shipped;
}

/** The served schema of `group/version` `kind` among `crds`. */
export function crdSchema(crds: readonly Crd[], group: string, version: string, kind: string): Obj | undefined {
  const crd = crds.find((c) => c.spec.group === group && c.spec.names.kind === kind);
  return crd?.spec.versions.find((v) => v.name === version && v.served)?.schema.openAPIV3Schema;
}

// `podlb render bird --node NAME --objects FILE [--show-secrets]`: prints the bird.conf a node
// would get from a multi-document YAML of Kubernetes objects (Nodes, PodAddressPools,
// BGPPeers, Secrets; `kind: List` is expanded; other kinds are ignored). Warnings (objects
// podlb cannot use) are errors here: exit 1 naming object and field. Normal problems
// (pool not approved, not selecting) are printed as notes and the config is printed.
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { BGPPeer, Node, PodAddressPool, Secret } from '../api/types.js';
import type { Problem } from '../api/problem.js';
import { buildBgpPlan } from '../bgp/model.js';
import { renderBirdConf } from '../bgp/render.js';
import { errorMessage } from '../util/errors.js';

export interface RenderBirdArgs {
  node: string;
  objectsFile: string;
  showSecrets?: boolean;
}

interface Objects {
  nodes: Node[];
  pools: PodAddressPool[];
  peers: BGPPeer[];
  secrets: Secret[];
}

class InputError extends Error {}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function collect(docs: unknown[], file: string): Objects {
  const out: Objects = { nodes: [], pools: [], peers: [], secrets: [] };
  const visit = (o: unknown, where: string): void => {
    if (o === null || o === undefined) return;
    if (!isObj(o)) throw new InputError(`${file}: ${where}: not a Kubernetes object`);
    const kind = o.kind;
    if (kind === 'List' && Array.isArray(o.items)) {
      o.items.forEach((it, i) => visit(it, `${where}.items[${i}]`));
      return;
    }
    if (kind !== 'Node' && kind !== 'PodAddressPool' && kind !== 'BGPPeer' && kind !== 'Secret') return;
    const meta = o.metadata;
    if (!isObj(meta) || typeof meta.name !== 'string' || meta.name === '') throw new InputError(`${file}: ${where}: ${kind}: metadata.name: required`);
    const name = meta.name;
    if (kind !== 'Secret' && kind !== 'Node' && !isObj(o.spec)) throw new InputError(`${kind} ${name}: spec: required (an object)`);
    if (kind === 'Node') out.nodes.push(o as unknown as Node);
    else if (kind === 'PodAddressPool') out.pools.push(o as unknown as PodAddressPool);
    else if (kind === 'BGPPeer') out.peers.push(o as unknown as BGPPeer);
    else out.secrets.push(o as unknown as Secret);
  };
  docs.forEach((d, i) => visit(d, `document ${i + 1}`));
  return out;
}

function formatProblem(p: Problem): string {
  // Messages already name the object; prefix the field for grep-ability.
  const obj = `${p.object.kind} ${p.object.namespace ? `${p.object.namespace}/` : ''}${p.object.name}`;
  return p.message.startsWith(obj) ? `${p.reason}: ${p.message}` : `${p.reason}: ${obj}: ${p.field}: ${p.message}`;
}

export async function runRenderBird(args: RenderBirdArgs, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let objects: Objects;
  try {
    const text = await readFile(args.objectsFile, 'utf8');
    const docs = parseAllDocuments(text);
    const list = Array.isArray(docs) ? docs : [docs];
    const values: unknown[] = [];
    for (const d of list) {
      if (d.errors.length > 0) throw new InputError(`${args.objectsFile}: ${d.errors[0]!.message}`);
      values.push(d.toJS());
    }
    objects = collect(values, args.objectsFile);
  } catch (e) {
    err.write(`error: ${e instanceof InputError ? e.message : `cannot read ${args.objectsFile}: ${errorMessage(e)}`}\n`);
    return 1;
  }

  const node = objects.nodes.find((n) => n.metadata.name === args.node);
  if (!node) {
    const names = objects.nodes.map((n) => n.metadata.name).join(', ') || 'none';
    err.write(`error: Node ${args.node} not found in ${args.objectsFile} (Nodes there: ${names})\n`);
    return 1;
  }

  const plan = buildBgpPlan({ node, pools: objects.pools, peers: objects.peers, secrets: objects.secrets });
  const errors = plan.problems.filter((p) => p.severity === 'Warning');
  for (const p of plan.problems.filter((q) => q.severity === 'Normal')) err.write(`note: ${formatProblem(p)}\n`);
  if (errors.length > 0) {
    for (const p of errors) err.write(`error: ${formatProblem(p)}\n`);
    err.write(`error: ${errors.length} invalid field${errors.length === 1 ? '' : 's'}; fix the objects above (no bird.conf printed)\n`);
    return 1;
  }
  out.write(renderBirdConf(plan.model, { redactPasswords: !args.showSecrets }));
  return 0;
}

// `podlb render bird --node NAME --objects FILE [--show-secrets]`: prints the bird.conf a node
// would get from a multi-document YAML of Kubernetes objects (Nodes, PodAddressPools,
// BGPPeers, Secrets, and Pods and Services for PodIPs pools: the node's Pods that opted-in
// Services select, as the agent computes them; `kind: List` is expanded; other kinds are
// ignored). Warnings (objects
// podlb cannot use) are errors here: exit 1 naming object and field. Normal problems
// (pool not approved, not selecting) are printed as notes and the config is printed.
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { BGPPeer, Node, Pod, PodAddressPool, Secret, Service } from '../api/types.js';
import type { Problem } from '../api/problem.js';
import { buildBgpPlan, type BgpPlanInput } from '../bgp/model.js';
import { podIPsForNode } from '../bgp/pod-ips.js';
import { renderBirdConf } from '../bgp/render.js';
import { errorMessage } from '../util/errors.js';

export interface RenderBirdArgs {
  node: string;
  objectsFile: string;
  showSecrets?: boolean;
  /** What the agent would find via netlink, for BGPPeers with `peerAddress: Gateway`. */
  defaultGateway?: BgpPlanInput['defaultGateway'];
}

interface Objects {
  nodes: Node[];
  pools: PodAddressPool[];
  peers: BGPPeer[];
  secrets: Secret[];
  pods: Pod[];
  services: Service[];
}

class InputError extends Error {}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function collect(docs: unknown[], file: string): Objects {
  const out: Objects = { nodes: [], pools: [], peers: [], secrets: [], pods: [], services: [] };
  const visit = (o: unknown, where: string): void => {
    if (o === null || o === undefined) return;
    if (!isObj(o)) throw new InputError(`${file}: ${where}: not a Kubernetes object`);
    const kind = o.kind;
    if (kind === 'List' && Array.isArray(o.items)) {
      for (const [i, it] of o.items.entries()) visit(it, `${where}.items[${i}]`);
      return;
    }
    if (kind !== 'Node' && kind !== 'PodAddressPool' && kind !== 'BGPPeer' && kind !== 'Secret' && kind !== 'Pod' && kind !== 'Service') return;
    const meta = o.metadata;
    if (!isObj(meta) || typeof meta.name !== 'string' || meta.name === '') throw new InputError(`${file}: ${where}: ${kind}: metadata.name: required`);
    const name = meta.name;
    if (kind !== 'Secret' && kind !== 'Node' && !isObj(o.spec)) throw new InputError(`${kind} ${name}: spec: required (an object)`);
    if (kind === 'Node') out.nodes.push(o as unknown as Node);
    else if (kind === 'PodAddressPool') out.pools.push(o as unknown as PodAddressPool);
    else if (kind === 'BGPPeer') out.peers.push(o as unknown as BGPPeer);
    else if (kind === 'Pod') out.pods.push(o as unknown as Pod);
    else if (kind === 'Service') out.services.push(o as unknown as Service);
    else out.secrets.push(o as unknown as Secret);
  };
  for (const [i, d] of docs.entries()) visit(d, `document ${i + 1}`);
  return out;
}

/**
 * One diagnostic for the terminal: control and bidi characters escaped (object names in a YAML
 * file are not validated by an API server), continuation lines indented under the prefix.
 */
function line(prefix: 'error' | 'note', msg: string): string {
  const clean = msg.replace(
    /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `${prefix}: ${clean.replace(/\n/g, '\n  ')}\n`;
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
    err.write(line('error', e instanceof InputError ? e.message : `cannot read ${args.objectsFile}: ${errorMessage(e)}`));
    return 1;
  }

  const node = objects.nodes.find((n) => n.metadata.name === args.node);
  if (!node) {
    const names = objects.nodes.map((n) => n.metadata.name).join(', ') || 'none';
    err.write(line('error', `Node ${args.node} not found in ${args.objectsFile} (Nodes there: ${names})`));
    return 1;
  }

  const plan = buildBgpPlan({
    node,
    pools: objects.pools,
    peers: objects.peers,
    secrets: objects.secrets,
    podIPs: podIPsForNode({ nodeName: args.node, pods: objects.pods, services: objects.services }),
    ...(args.defaultGateway ? { defaultGateway: args.defaultGateway } : {}),
  });
  const errors = plan.problems.filter((p) => p.severity === 'Warning');
  for (const p of plan.problems.filter((q) => q.severity === 'Normal')) err.write(line('note', formatProblem(p)));
  if (errors.length > 0) {
    for (const p of errors) err.write(line('error', formatProblem(p)));
    err.write(line('error', `${errors.length} invalid field${errors.length === 1 ? '' : 's'}; fix the objects above (no bird.conf printed)`));
    return 1;
  }
  out.write(renderBirdConf(plan.model, { redactPasswords: !args.showSecrets }));
  return 0;
}

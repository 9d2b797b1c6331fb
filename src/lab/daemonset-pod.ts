// The agent DaemonSet's containers (daemonset/daemonset.yaml) as a kubelet would start them
// from an image: the lab's image mode runs exactly what the manifest says (command and args
// with $(VAR) expansion, the environment with its fieldRefs resolved, the user of the
// securityContext, the volume mounts) and adds only what the lab itself needs.
import { manifestObjects } from '../apiserver/install.js';
import type { ImageRoot } from './image-root.js';

const DAEMONSET = 'podlb-system/podlb-agent';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}

export interface ContainerSpec {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  securityContext?: { runAsUser?: number; runAsGroup?: number };
  volumeMounts?: { name: string; mountPath: string }[];
}

/** The downward-API fields the DaemonSet's fieldRefs read. */
export interface PodFields {
  nodeName: string;
  namespace: string;
  hostIP: string;
}

export interface PodContainer {
  name: string;
  argv: string[];
  /** uid:gid */
  user: string;
  env: string[];
  /** `host:container` pairs, one per volume mount. */
  binds: string[];
}

let cached: ContainerSpec[] | undefined;

/** An init container or container of the shipped DaemonSet. */
export function daemonSetContainer(name: string): ContainerSpec {
  if (!cached) {
    const ds = manifestObjects().find((o) => o.kind === 'DaemonSet' && `${o.metadata?.namespace}/${o.metadata?.name}` === DAEMONSET);
    if (!ds) throw new Error(`daemonset/ has no DaemonSet ${DAEMONSET}`);
    const spec = ds.spec.template.spec as { initContainers?: ContainerSpec[]; containers: ContainerSpec[] };
    cached = [...(spec.initContainers ?? []), ...spec.containers];
  }
  const c = cached.find((x) => x.name === name);
  if (!c) throw new Error(`DaemonSet ${DAEMONSET} has no container ${name}`);
  return c;
}

/**
 * The node options the DaemonSet starts the agent with: its command between `node` and the
 * script. Whatever starts an agent as production does (the scale bench) takes them from here.
 */
export function agentNodeFlags(): string[] {
  const command = daemonSetContainer('agent').command ?? [];
  const script = command.findIndex((a) => a.endsWith('cli/podlb.js'));
  if (command[0] !== 'node' || script < 0) throw new Error(`the agent container's command is not node [flags] …/cli/podlb.js: ${JSON.stringify(command)}`);
  return command.slice(1, script);
}

/** Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, the rest stays. */
export function expandVars(s: string, env: ReadonlyMap<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => (name === undefined ? '$' : (env.get(name) ?? m)));
}

function fieldValue(path: string, f: PodFields): string {
  const v = { 'spec.nodeName': f.nodeName, 'metadata.namespace': f.namespace, 'status.hostIP': f.hostIP }[path];
  if (v === undefined) throw new Error(`the lab does not provide fieldRef ${path}`);
  return v;
}

/**
 * How the kubelet starts container `name` from `img`: `command` replaces the image's
 * ENTRYPOINT, `args` follow it; runAsUser/runAsGroup override the image's USER. `volumes` maps
 * each mounted volume's name to its host directory.
 */
export function podContainer(name: string, img: ImageRoot, fields: PodFields, volumes: Record<string, string>): PodContainer {
  const c = daemonSetContainer(name);
  const env = new Map<string, string>();
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.fieldRef?.fieldPath;
    env.set(e.name, ref !== undefined ? fieldValue(ref, fields) : expandVars(e.value ?? '', env));
  }
  const argv = [...(c.command ?? img.entrypoint), ...(c.args ?? [])].map((a) => expandVars(a, env));
  const [imgUid = '0', imgGid = '0'] = img.user.split(':');
  const sc = c.securityContext ?? {};
  const binds = (c.volumeMounts ?? []).map((m) => {
    const host = volumes[m.name];
    if (host === undefined) throw new Error(`container ${name} mounts volume ${m.name}, which the lab does not provide`);
    return `${host}:${m.mountPath}`;
  });
  return { name, argv, user: `${sc.runAsUser ?? imgUid}:${sc.runAsGroup ?? imgGid}`, env: [...env].map(([k, v]) => `${k}=${v}`), binds };
}

/** The host path of `path` inside the container, through its volume mounts. */
export function hostPathOf(pc: PodContainer, path: string): string {
  for (const b of pc.binds) {
    const i = b.indexOf(':');
    const host = b.slice(0, i);
    const mount = b.slice(i + 1);
    if (path === mount || path.startsWith(`${mount}/`)) return host + path.slice(mount.length);
  }
  throw new Error(`${path} is on no volume of container ${pc.name}`);
}

/** The value following `flag` in argv (`-c FILE`). */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

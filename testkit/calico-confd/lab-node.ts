// A Calico node in the lab: a network namespace with the kernel routes Felix programs for
// workloads and the real BIRD running the files confd would write (text.ts).
//
// Felix (projectcalico/calico v3.32.1, felix/dataplane/linux/endpoint_mgr.go and
// felix/routetable) routes each workload IP as a /32 (IPv6: /128) on the workload's cali*
// interface, `scope link`, protocol DeviceRouteProtocol (3, "boot") and metric
// IPv4NormalRoutePriority (IPv6NormalRoutePriority; both 1024); BIRD's kernel protocol learns
// them as alien routes. As calico-node, the node runs two BIRDs: bird for bird.cfg and bird6
// for bird6.cfg, each with its own control socket. Each workload's veth has its
// other end in the node's namespace too, instead of in a Pod namespace: BIRD only sees the
// route and its interface name, and the veth has carrier without another namespace (the lab's
// kernel may lack the dummy driver). The block blackholes
// are not Felix's: BIRD's static protocol (bird_aggr.cfg) makes them and its kernel protocol
// installs them, as on a real node.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBird, type BirdProcess } from '../../src/lab/bird-process.js';
import type { NetnsSandbox } from '../../src/lab/netns.js';
import { birdFileNames, type CalicoBird6Files, type CalicoBirdFiles } from './text.js';

/** Felix's defaults: DeviceRouteProtocol and IPv4NormalRoutePriority. */
export const FELIX_ROUTE_PROTOCOL = 'boot';
export const FELIX_ROUTE_METRIC = 1024;

/** A workload route (IPv4 or IPv6) as Felix programs it, on a fresh veth `cali<n>` (other end `wl<n>`, no address). */
export async function addWorkloadRoute(sb: NetnsSandbox, ns: string, ip: string, index: number): Promise<string> {
  const suffix = index.toString(16).padStart(11, '0');
  const ifname = `cali${suffix}`;
  await sb.exec(ns, 'ip', ['link', 'add', ifname, 'type', 'veth', 'peer', 'name', `wl${suffix}`]);
  for (const l of [ifname, `wl${suffix}`]) await sb.exec(ns, 'ip', ['link', 'set', l, 'up']);
  await sb.exec(ns, 'ip', [
    'route',
    'add',
    `${ip}/${ip.includes(':') ? 128 : 32}`,
    'dev',
    ifname,
    'scope',
    'link',
    'proto',
    FELIX_ROUTE_PROTOCOL,
    'metric',
    String(FELIX_ROUTE_METRIC),
  ]);
  return ifname;
}

/**
 * Writes confd's three files of one IP version into a fresh directory (bird.cfg or bird6.cfg as
 * that BIRD's bird.conf, which includes the other two by relative path, as calico-node's does)
 * and starts that BIRD in `ns`.
 */
export async function startCalicoBird(sb: NetnsSandbox, ns: string, files: CalicoBirdFiles | CalicoBird6Files): Promise<BirdProcess> {
  const names = birdFileNames('bird6.cfg' in files ? 6 : 4);
  const text = files as unknown as Record<string, string>;
  const dir = sb.memoryTempDir(names.main === 'bird.cfg' ? 'calico-bird' : 'calico-bird6');
  for (const f of [names.aggr, names.ipam]) writeFileSync(join(dir, f), text[f]!, { mode: 0o600 });
  return startBird(sb, ns, { dir, initialConfig: text[names.main]! });
}

// A lab "Pod": its own network namespace, joined to its node's namespace by a veth pair, with
// an HTTP server (pod-server-main.ts) inside.
//
// Wiring, Calico style:
//   pod ns:  eth0 = POD_IP/32, `default via 169.254.1.1 dev eth0 onlink`
//   node ns: the veth's node end has NO address, proxy_arp=1 (proxy_delay=0) and the host
//            route `POD_IP/32 dev <veth> scope link`.
// The pod ARPs for the fake gateway 169.254.1.1; the node answers with its veth MAC via proxy
// ARP (it has a route to 169.254.1.1, its default route, on another interface), so every
// packet from the pod goes to the node whatever its destination. The node reaches the pod by
// the /32 host route. Why this instead of a per-node bridge or a gateway address per veth:
// no address is used up on the node side, pods on one node can't bypass the node (no shared
// L2), the pod's address is a /32 exactly as the ToR and HAProxy see it, the pod's routing is
// one line, and a pod goes away cleanly by deleting its veth (the host route goes with it).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nsCommand, run, sysctlCommand, waitFor, type NetnsSandbox, type SpawnedProcess } from './netns.js';

export interface LabPod {
  name: string;
  ns: string;
  ip: string;
  port: number;
  node: string;
  /** The server process (for RSS measurements); it is the process `ip netns exec` exec'd into. */
  pid: number;
  /** Switches `/healthz` between 200 and 503; resolves once the server acknowledged it. */
  setHealthy(ok: boolean): Promise<void>;
  /**
   * Stops the server (graceful by default: SIGTERM, in-flight requests finish, SIGKILL once
   * graceMs is over) and removes the pod ns and its veth.
   */
  stop(opts?: { graceful?: boolean; graceMs?: number }): Promise<void>;
  /** Exit code of the server process (null when killed by a signal). */
  exited: Promise<number | null>;
}

export interface StartPodOptions {
  name: string;
  /** The node's network namespace, where the host side of the veth lives. */
  nodeNs: string;
  /** The node's name (reported back on LabPod.node). */
  node: string;
  ip: string;
  port: number;
  /** Called once the address and routes are up, before the server starts. */
  onNetworkReady?: (ip: string) => void;
}

/** The fake gateway every pod routes through; the node answers ARP for it (proxy ARP). */
export const POD_GATEWAY = '169.254.1.1';
const SERVER_HEAP_MB = 32;
const START_TIMEOUT_MS = 10_000;
const GRACEFUL_STOP_TIMEOUT_MS = 30_000;

/** Interface names are limited to 15 bytes: a hash of the pod name keeps them short and stable. */
export function hostVethName(podName: string): string {
  return `pod${createHash('sha1').update(podName).digest('hex').slice(0, 10)}`;
}

function nsLabel(podName: string): string {
  return `pod-${podName
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 40)}`;
}

// Under dist/ the compiled pod-server-main.js sits next to this file. Under vitest only the .ts
// exists: transpile it once per process (typescript is a dev dependency, loaded only then).
let transpiled: Promise<string> | undefined;
const scriptBySandbox = new WeakMap<NetnsSandbox, string>();

async function serverScript(sb: NetnsSandbox): Promise<string> {
  const js = fileURLToPath(new URL('./pod-server-main.js', import.meta.url));
  if (existsSync(js)) return js;
  const cached = scriptBySandbox.get(sb);
  if (cached) return cached;
  transpiled ??= (async () => {
    const ts = (await import('typescript')).default;
    const source = readFileSync(fileURLToPath(new URL('./pod-server-main.ts', import.meta.url)), 'utf8');
    return ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText;
  })();
  const path = join(sb.tempDir('pod-server'), 'pod-server-main.mjs');
  writeFileSync(path, await transpiled);
  scriptBySandbox.set(sb, path);
  return path;
}

function isRunning(p: SpawnedProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** The JSON event lines the server printed so far. */
function events(p: SpawnedProcess): { event: string; [k: string]: unknown }[] {
  const out: { event: string; [k: string]: unknown }[] = [];
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as { event: string });
    } catch {
      /* partial line */
    }
  }
  return out;
}

export async function startPod(sb: NetnsSandbox, opts: StartPodOptions): Promise<LabPod> {
  const hostIf = hostVethName(opts.name);
  const ns = await sb.addNetns(nsLabel(opts.name));
  const nodeExec = (args: string[]): Promise<string> => sb.exec(opts.nodeNs, 'ip', args);

  const removeNetwork = async (): Promise<void> => {
    // Deleting the node end removes both ends and the host route at once; deleting only the
    // namespace would leave the veth to the kernel's asynchronous netns teardown, and a pod
    // re-added under the same name could race with it.
    await nodeExec(['link', 'del', hostIf]).catch(() => undefined);
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  };

  let proc: SpawnedProcess;
  try {
    proc = await wireAndServe(sb, opts, ns, hostIf);
  } catch (err) {
    // Leave nothing half-made behind: a retry under the same name must find a clean node.
    await removeNetwork();
    throw err;
  }
  return podHandle(opts, ns, proc, removeNetwork);
}

async function wireAndServe(sb: NetnsSandbox, opts: StartPodOptions, ns: string, hostIf: string): Promise<SpawnedProcess> {
  const { name, nodeNs, ip, port } = opts;
  // One shell for the whole wiring: each command run from here is a fork of the lab process.
  await sb.shell([
    sysctlCommand(ns, { 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.default.rp_filter': '0' }),
    ...sb.vethCommands({ ns: nodeNs, ifname: hostIf }, { ns, ifname: 'eth0', addrs: [`${ip}/32`] }),
    sysctlCommand(nodeNs, {
      [`net.ipv4.conf.${hostIf}.proxy_arp`]: '1',
      [`net.ipv4.neigh.${hostIf}.proxy_delay`]: '0',
      [`net.ipv4.conf.${hostIf}.rp_filter`]: '0',
    }),
    nsCommand(nodeNs, 'ip', ['route', 'add', `${ip}/32`, 'dev', hostIf, 'scope', 'link']),
    nsCommand(ns, 'ip', ['route', 'add', 'default', 'via', POD_GATEWAY, 'dev', 'eth0', 'onlink']),
  ]);

  opts.onNetworkReady?.(ip);
  const script = await serverScript(sb);
  // A small heap, small young generation and one V8 worker thread: the lab runs many pods on
  // 2-core machines. RSS stays about 40 MB, most of it the node binary's shared pages.
  const nodeFlags = [`--max-old-space-size=${SERVER_HEAP_MB}`, '--max-semi-space-size=1', '--v8-pool-size=1'];
  const proc = sb.spawn(ns, process.execPath, [...nodeFlags, script, '--name', name, '--ip', ip, '--port', String(port)], {
    name: `pod ${name}`,
  });
  await waitFor(
    `pod ${name} listening on ${ip}:${port}`,
    () => {
      if (events(proc).some((e) => e.event === 'listening')) return true;
      if (!isRunning(proc)) throw new Error(`pod ${name} server exited: ${proc.output().trim()}`);
      return undefined;
    },
    START_TIMEOUT_MS,
    20,
  ).catch((err: unknown) => {
    proc.child.kill('SIGKILL');
    throw err;
  });
  return proc;
}

function podHandle(opts: StartPodOptions, ns: string, proc: SpawnedProcess, removeNetwork: () => Promise<void>): LabPod {
  const { name, ip, port } = opts;
  let stopped: Promise<void> | undefined;
  return {
    name,
    ns,
    ip,
    port,
    node: opts.node,
    pid: proc.child.pid ?? -1,
    exited: proc.exited,
    async setHealthy(ok: boolean): Promise<void> {
      if (!isRunning(proc)) throw new Error(`pod ${name} is not running`);
      const before = events(proc).filter((e) => e.event === 'health').length;
      proc.child.kill(ok ? 'SIGHUP' : 'SIGUSR2');
      await waitFor(
        `pod ${name} to acknowledge health=${ok}`,
        () => {
          const acks = events(proc).filter((e) => e.event === 'health');
          return acks.length > before && acks[acks.length - 1]?.ok === ok ? true : undefined;
        },
        5_000,
        10,
      );
    },
    stop(stopOpts: { graceful?: boolean; graceMs?: number } = {}): Promise<void> {
      stopped ??= (async () => {
        const graceful = stopOpts.graceful ?? true;
        if (isRunning(proc)) {
          proc.child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
          const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), stopOpts.graceMs ?? GRACEFUL_STOP_TIMEOUT_MS).unref());
          if ((await Promise.race([proc.exited, timeout])) === 'timeout') {
            proc.child.kill('SIGKILL');
            await proc.exited;
          }
        }
        await removeNetwork();
      })();
      return stopped;
    },
  };
}

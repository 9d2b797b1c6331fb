// A lab "Pod": its own network namespace, joined to its node's namespace by a veth pair, with
// an HTTP server listening inside it (served by the sandbox's pod host, pod-host-main.ts).
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
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { nsCommand, run, sysctlCommand, type NetnsSandbox, type SpawnedProcess } from './netns.js';

export interface LabPod {
  name: string;
  ns: string;
  ip: string;
  port: number;
  node: string;
  /** The process serving it (for RSS measurements): the pod host, shared by every Pod of the sandbox. */
  pid: number;
  /** Switches `/healthz` between 200 and 503; resolves once the server acknowledged it. */
  setHealthy(ok: boolean): Promise<void>;
  /**
   * Stops the server (graceful by default: it stops accepting and in-flight requests finish; once
   * graceMs is over it is killed) and removes the pod ns and its veth.
   */
  stop(opts?: { graceful?: boolean; graceMs?: number }): Promise<void>;
  /** The server's exit code, as its own process's would be: 0 drained; null killed (forced, grace over, or the host died). */
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
/** The one host serves every Pod of a lab (hundreds in the burst bench): room for all their servers and connections. */
const SERVER_HEAP_MB = 128;
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

// Under dist/ the compiled pod-host-main.js and native/libc.js sit next to their sources'
// places. Under vitest only the .ts files exist: Node runs them in place (it strips types).
function compiledOrSource(rel: string): string {
  const js = fileURLToPath(new URL(`${rel}.js`, import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL(`${rel}.ts`, import.meta.url));
}

/** What the host printed about one Pod (pod-host-main.ts). */
interface HostEvent {
  pod: string;
  event: 'listening' | 'health' | 'draining' | 'exit' | 'failed';
  ok?: boolean;
  code?: number | null;
  message?: string;
}

/**
 * The sandbox's one pod-host process (pod-host-main.ts), started with its first Pod: commands
 * go in on its stdin, each Pod's events come back on its stdout. The sandbox's cleanup ends it.
 */
class PodHost {
  readonly proc: SpawnedProcess;
  readonly #listeners = new Map<string, Set<(e: HostEvent) => void>>();
  #gone = false;

  constructor(sb: NetnsSandbox) {
    const libcUrl = pathToFileURL(compiledOrSource('../../native/libc')).href;
    // A small young generation and one V8 worker thread: the lab runs on 2-core machines.
    const nodeFlags = [`--max-old-space-size=${SERVER_HEAP_MB}`, '--max-semi-space-size=1', '--v8-pool-size=1'];
    this.proc = sb.spawn(null, process.execPath, [...nodeFlags, compiledOrSource('./pod-host-main'), '--libc', libcUrl], {
      name: 'pod host',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: this.proc.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      let e: HostEvent;
      try {
        e = JSON.parse(line) as HostEvent;
      } catch {
        return;
      }
      for (const l of this.#listeners.get(e.pod) ?? []) l(e);
    });
    this.proc.child.stdin!.on('error', () => undefined);
    void this.proc.exited.then(() => {
      this.#gone = true;
      // Every Pod it served ended with it, as a killed process does.
      for (const [pod, ls] of this.#listeners) for (const l of ls) l({ pod, event: 'exit', code: null });
    });
  }

  get running(): boolean {
    return !this.#gone;
  }

  send(cmd: Record<string, unknown>): void {
    if (this.#gone) throw new Error(`the pod host exited: ${this.proc.output().trim()}`);
    this.proc.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  }

  /** Calls `fn` with each event about `pod` until `fn` returns true (or the timeout). */
  until(pod: string, what: string, timeoutMs: number, fn: (e: HostEvent) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const set = this.#listeners.get(pod) ?? new Set();
      this.#listeners.set(pod, set);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        set.delete(listener);
        if (set.size === 0) this.#listeners.delete(pod);
        if (err) reject(err);
        else resolve();
      };
      const listener = (e: HostEvent): void => {
        try {
          if (fn(e)) done();
        } catch (err) {
          done(err as Error);
        }
      };
      const timer = timeoutMs > 0 ? setTimeout(() => done(new Error(`timed out waiting for ${what}`)), timeoutMs) : undefined;
      set.add(listener);
    });
  }
}

const hosts = new WeakMap<NetnsSandbox, PodHost>();

function hostOf(sb: NetnsSandbox): PodHost {
  let h = hosts.get(sb);
  if (!h?.running) {
    h = new PodHost(sb);
    hosts.set(sb, h);
  }
  return h;
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

  let served: HostPod;
  try {
    served = await wireAndServe(sb, opts, ns, hostIf);
  } catch (err) {
    // Leave nothing half-made behind: a retry under the same name must find a clean node.
    await removeNetwork();
    throw err;
  }
  return podHandle(opts, ns, served, removeNetwork);
}

/** A Pod the host serves: its server's exit, as a Pod's own process exit would read. */
interface HostPod {
  host: PodHost;
  exited: Promise<number | null>;
}

async function wireAndServe(sb: NetnsSandbox, opts: StartPodOptions, ns: string, hostIf: string): Promise<HostPod> {
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
  const host = hostOf(sb);
  const served: HostPod = { host, exited: undefined as unknown as Promise<number | null> };
  // Registered before the add is sent: a Pod that fails at once still reports its exit.
  served.exited = new Promise((resolve) => {
    void host.until(name, `pod ${name} to exit`, 0, (e) => {
      if (e.event !== 'exit') return false;
      resolve(e.code ?? null);
      return true;
    });
  });
  const listening = host.until(name, `pod ${name} listening on ${ip}:${port}`, START_TIMEOUT_MS, (e) => {
    if (e.event === 'failed') throw new Error(`pod ${name} server failed: ${e.message ?? ''}`);
    if (e.event === 'exit') throw new Error(`pod ${name} server exited: ${host.proc.output().trim().slice(-2000)}`);
    return e.event === 'listening';
  });
  host.send({ op: 'add', pod: name, netns: `/run/netns/${ns}`, ip, port });
  await listening.catch((err: unknown) => {
    if (host.running) host.send({ op: 'stop', pod: name, graceful: false, graceMs: 0 });
    throw err;
  });
  return served;
}

function podHandle(opts: StartPodOptions, ns: string, served: HostPod, removeNetwork: () => Promise<void>): LabPod {
  const { name, ip, port } = opts;
  const { host } = served;
  let exitCode: number | null | undefined;
  void served.exited.then((c) => (exitCode = c));
  const isRunning = (): boolean => exitCode === undefined && host.running;
  let stopped: Promise<void> | undefined;
  return {
    name,
    ns,
    ip,
    port,
    node: opts.node,
    pid: host.proc.child.pid ?? -1,
    exited: served.exited,
    async setHealthy(ok: boolean): Promise<void> {
      if (!isRunning()) throw new Error(`pod ${name} is not running`);
      const acked = host.until(name, `pod ${name} to acknowledge health=${ok}`, 5_000, (e) => e.event === 'health' && e.ok === ok);
      host.send({ op: 'health', pod: name, ok });
      await acked;
    },
    stop(stopOpts: { graceful?: boolean; graceMs?: number } = {}): Promise<void> {
      stopped ??= (async () => {
        const graceful = stopOpts.graceful ?? true;
        if (isRunning()) {
          // The host kills a graceful stop still busy once graceMs is over, as the kubelet would.
          host.send({ op: 'stop', pod: name, graceful, graceMs: stopOpts.graceMs ?? GRACEFUL_STOP_TIMEOUT_MS });
          await served.exited;
        }
        await removeNetwork();
      })();
      return stopped;
    },
  };
}

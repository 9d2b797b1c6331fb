// What a test run or a lab run leaves on the machine: podlb's kernel routes (protocol 201) and
// nftables tables named podlb… in the root namespace (the lab writes its NAT rules only inside
// node namespaces, src/lab/kube-proxy.ts), network namespaces, the real daemons, temp files,
// and the lab's mounted images (buildah working containers).
//
// A run opens a scope: a tag in the environment (inherited by every worker and every process
// they start, and part of each sandbox's namespace names) and its own temp dirs (TMPDIR and
// the sandbox's tmpfs base point into them). Several runs share this machine at once, so
// what is attributed to a run is what carries its tag or lives in its dirs, never "anything
// new"; routes in the root namespace carry no tag, so there any new protocol-201 route is
// the run's (podlb writes them and nothing else does).
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PODLB_RT_PROTOCOL } from '../netlink/blackhole.js';

const execFileP = promisify(execFile);

/** Environment variable carrying the run's tag; NetnsSandbox puts it in namespace names. */
export const RUN_TAG_ENV = 'PODLB_RUN_TAG';
/** Base dir for NetnsSandbox.memoryTempDir() (tmpfs), instead of /dev/shm. */
export const MEMORY_TMPDIR_ENV = 'PODLB_MEMORY_TMPDIR';

/**
 * Programs the suites and the lab start (unshare: scripts/contain.sh's wrapper around a command
 * run from an image); anything else carrying the tag is the runner itself.
 */
const RUN_PROGRAMS = new Set(['bird', 'birdc', 'birdcl', 'haproxy', 'zebra', 'bgpd', 'bfdd', 'watchfrr', 'staticd', 'vtysh', 'ip', 'sleep', 'unshare']);
/** Node processes the lab starts (Pods, agents and controllers run as the CLI). */
const RUN_NODE_SCRIPT = /pod-host-main\.[jt]s|cli\/podlb\.[jt]s/;
/** Node.js's comm: from 22 on (the agent image's 26), its main thread renames itself. */
const NODE_COMM = /^node(?:-MainThread)?$/;

export interface RootRoute {
  family: 4 | 6;
  dst: string;
  table: string;
  type: string;
  dev?: string;
}

export interface HostProcess {
  pid: number;
  comm: string;
  cmdline: string;
}

/** What the machine holds, as far as a run can leave it behind. */
export interface HostState {
  /** Protocol-201 routes in the root namespace, every table. */
  routes: RootRoute[];
  /** Names under /run/netns. */
  namespaces: string[];
  /** Live processes whose environment carries the run's tag. */
  processes: HostProcess[];
  /** Entries under the run's temp dirs. */
  files: string[];
  /** Names of buildah's working containers (the lab's mounted images, src/lab/image-root.ts). */
  containers: string[];
  /** nftables tables of the root namespace whose name starts with `podlb`, as `<family> <name>`. */
  nftTables: string[];
}

export interface Leak {
  kind: 'route' | 'netns' | 'process' | 'file' | 'container' | 'nft';
  what: string;
  /** How to remove it by hand. */
  fix: string;
}

export interface RunScope {
  tag: string;
  tmpDir: string;
  memoryDir: string;
  /** The runner's own pids (and its ancestors'), never counted as left behind. */
  selfPids: number[];
  /** The environment variables openRunScope() replaced, for closeRunScope(). */
  saved: Record<string, string | undefined>;
}

const routeKey = (r: RootRoute): string => `${r.family}|${r.table}|${r.type}|${r.dst}`;

export function describeRoute(r: RootRoute): string {
  return `${r.family === 6 ? '-6 ' : ''}${r.type === 'unicast' ? '' : `${r.type} `}${r.dst}${r.dev ? ` dev ${r.dev}` : ''} proto ${PODLB_RT_PROTOCOL}${r.table === 'main' ? '' : ` table ${r.table}`}`;
}

/**
 * What the run left behind, comparing the machine before and after it. Routes present before
 * are not the run's (preexisting() reports them); namespaces count when named with the run's
 * tag (`podlb-<pid>-<tag>…`); processes when they carry the tag and are a program the run
 * starts; files when anything is left in the run's temp dirs; buildah working containers (a
 * mounted image) when named like the run's namespaces.
 */
export function findLeaks(before: HostState, after: HostState, run: Pick<RunScope, 'tag' | 'selfPids'>): Leak[] {
  const leaks: Leak[] = [];
  const had = new Set(before.routes.map(routeKey));
  for (const r of after.routes) {
    if (had.has(routeKey(r))) continue;
    leaks.push({
      kind: 'route',
      what: `ip ${describeRoute(r)}`,
      fix: `ip ${r.family === 6 ? '-6 ' : ''}route del ${r.type === 'unicast' ? '' : `${r.type} `}${r.dst}${r.table === 'main' ? '' : ` table ${r.table}`}`,
    });
  }
  const nsBefore = new Set(before.namespaces);
  const ours = new RegExp(`^podlb-\\d+-${run.tag}`);
  for (const ns of after.namespaces) {
    if (!nsBefore.has(ns) && ours.test(ns))
      leaks.push({ kind: 'netns', what: `netns ${ns}`, fix: `ip netns pids ${ns} | xargs -r kill -9; ip netns del ${ns}` });
  }
  const self = new Set(run.selfPids);
  const pidsBefore = new Set(before.processes.map((p) => p.pid));
  for (const p of after.processes) {
    if (self.has(p.pid) || pidsBefore.has(p.pid)) continue;
    if (!RUN_PROGRAMS.has(p.comm) && !(NODE_COMM.test(p.comm) && RUN_NODE_SCRIPT.test(p.cmdline))) continue;
    leaks.push({ kind: 'process', what: `pid ${p.pid} ${p.cmdline || p.comm}`, fix: `kill ${p.pid}` });
  }
  const containersBefore = new Set(before.containers);
  for (const c of after.containers) {
    if (!containersBefore.has(c) && ours.test(c)) leaks.push({ kind: 'container', what: `buildah container ${c} (a mounted image)`, fix: `buildah rm ${c}` });
  }
  const tablesBefore = new Set(before.nftTables);
  for (const t of after.nftTables) {
    if (!tablesBefore.has(t)) leaks.push({ kind: 'nft', what: `nft table ${t} in the root network namespace`, fix: `nft delete table ${t}` });
  }
  const filesBefore = new Set(before.files);
  for (const f of after.files) {
    if (!filesBefore.has(f)) leaks.push({ kind: 'file', what: f, fix: `rm -rf ${f}` });
  }
  return leaks;
}

/** Protocol-201 routes the root namespace had before the run started: someone else's leak. */
export function preexisting(before: HostState): string[] {
  return before.routes.map((r) => `ip ${describeRoute(r)}`);
}

export function formatLeaks(leaks: Leak[], who: string): string {
  if (leaks.length === 0) return '';
  return [
    `${who} left ${leaks.length} thing(s) behind on this machine:`,
    ...leaks.map((l) => `  ${l.kind.padEnd(7)} ${l.what}\n          remove: ${l.fix}`),
  ].join('\n');
}

interface IpRouteJson {
  type?: string;
  dst: string;
  dev?: string;
  table?: string;
}

export function parseIpRoutes(json: string, family: 4 | 6): RootRoute[] {
  const rows = JSON.parse(json.trim() || '[]') as IpRouteJson[];
  return rows.map((r) => ({ family, dst: r.dst, table: r.table ?? 'main', type: r.type ?? 'unicast', ...(r.dev ? { dev: r.dev } : {}) }));
}

async function rootRoutes(): Promise<RootRoute[]> {
  const out: RootRoute[] = [];
  for (const family of [4, 6] as const) {
    const { stdout } = await execFileP('ip', ['-j', `-${family}`, 'route', 'show', 'table', 'all', 'proto', String(PODLB_RT_PROTOCOL)]);
    out.push(...parseIpRoutes(stdout, family));
  }
  return out;
}

function taggedProcesses(tag: string): HostProcess[] {
  const marker = `${RUN_TAG_ENV}=${tag}`;
  const out: HostProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(marker)) continue;
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      out.push({ pid: Number(entry), comm, cmdline });
    } catch {
      // Gone meanwhile, or not ours to read (another user's): not this run's either way.
    }
  }
  return out;
}

/** `nft -j list tables` output: the `<family> <name>` of each table named podlb…. */
export function parseNftTables(json: string): string[] {
  const doc = JSON.parse(json.trim() || '{}') as { nftables?: { table?: { family: string; name: string } }[] };
  return (doc.nftables ?? []).flatMap((e) => (e.table?.name.startsWith('podlb') ? [`${e.table.family} ${e.table.name}`] : []));
}

/** The root namespace's podlb… tables (read only); none when nft is not installed. */
function rootNftTables(): string[] {
  const r = spawnSync('nft', ['-j', 'list', 'tables'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 ? parseNftTables(r.stdout) : [];
}

/** Names of buildah's working containers; none when buildah is not installed. */
export function buildahContainers(): string[] {
  const r = spawnSync('buildah', ['containers', '--format', '{{.ContainerName}}'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

function entries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).map((e) => join(dir, e)) : [];
}

export async function snapshotHost(scope: RunScope): Promise<HostState> {
  return {
    routes: await rootRoutes(),
    namespaces: existsSync('/run/netns') ? readdirSync('/run/netns') : [],
    processes: taggedProcesses(scope.tag),
    files: [...entries(scope.tmpDir), ...entries(scope.memoryDir)],
    containers: buildahContainers(),
    nftTables: rootNftTables(),
  };
}

function ancestors(pid: number): number[] {
  const out: number[] = [];
  for (let p = pid; p > 1; ) {
    out.push(p);
    try {
      p = Number(/^\d+ \(.*\) \S+ (\d+)/s.exec(readFileSync(`/proc/${p}/stat`, 'utf8'))?.[1] ?? 0);
    } catch {
      break;
    }
  }
  return out;
}

/**
 * Tags this process's environment (children inherit it) and points TMPDIR and the sandbox's
 * tmpfs base at fresh per-run dirs. Call before anything of the run starts.
 */
export function openRunScope(): RunScope {
  const saved = {
    [RUN_TAG_ENV]: process.env[RUN_TAG_ENV],
    TMPDIR: process.env.TMPDIR,
    [MEMORY_TMPDIR_ENV]: process.env[MEMORY_TMPDIR_ENV],
    NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE,
  };
  // Tools the run starts (tsc, vite) turn on Node's module compile cache, which lives in
  // TMPDIR unless told otherwise: it stays where it would be without this scope, a cache
  // meant to outlive the run, not a temp file the run forgot.
  process.env.NODE_COMPILE_CACHE ??= join(tmpdir(), 'node-compile-cache');
  const tag = randomBytes(3).toString('hex');
  const tmpDir = join(tmpdir(), `podlb-run-${tag}`);
  const shm = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const memoryDir = join(shm, `podlb-run-${tag}`);
  mkdirSync(tmpDir, { recursive: true });
  mkdirSync(memoryDir, { recursive: true });
  process.env[RUN_TAG_ENV] = tag;
  process.env.TMPDIR = tmpDir;
  process.env[MEMORY_TMPDIR_ENV] = memoryDir;
  return { tag, tmpDir, memoryDir, selfPids: ancestors(process.pid), saved };
}

/** Removes the run's temp dirs (after the check has read them) and restores the environment. */
export function closeRunScope(scope: RunScope): void {
  rmSync(scope.tmpDir, { recursive: true, force: true });
  rmSync(scope.memoryDir, { recursive: true, force: true });
  for (const [k, v] of Object.entries(scope.saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

export interface LeakWatch {
  readonly scope: RunScope;
  /** Protocol-201 routes the root namespace had before the run (see preexisting()). */
  readonly preexisting: string[];
  /** Compares the machine with how the run found it, then removes the run's temp dirs. */
  finish(): Promise<Leak[]>;
}

/** openRunScope() plus the machine as the run found it. */
export async function startLeakWatch(): Promise<LeakWatch> {
  const scope = openRunScope();
  let before: HostState;
  try {
    before = await snapshotHost(scope);
  } catch (err) {
    closeRunScope(scope);
    throw err;
  }
  return {
    scope,
    preexisting: preexisting(before),
    async finish() {
      let leaks = findLeaks(before, await snapshotHost(scope), scope);
      if (leaks.some((l) => l.kind === 'process')) {
        // A daemon killed by the last cleanup may still be exiting.
        await new Promise((r) => setTimeout(r, 1000));
        leaks = findLeaks(before, await snapshotHost(scope), scope);
      }
      closeRunScope(scope);
      return leaks;
    },
  };
}

export function formatPreexisting(routes: string[]): string {
  return `warning: the root network namespace already had podlb routes (protocol ${PODLB_RT_PROTOCOL}) before this run; they are not this run's:\n${routes.map((r) => `  ${r}`).join('\n')}\n`;
}

/**
 * Runs `fn` inside a leak watch (the lab CLI): prints what was left behind to `err` and turns
 * a clean exit code into 1 when anything was.
 */
export async function withLeakCheck(who: string, fn: () => Promise<number>, err: NodeJS.WritableStream): Promise<number> {
  let watch: LeakWatch;
  try {
    watch = await startLeakWatch();
  } catch (e) {
    err.write(`warning: cannot check what ${who} leaves behind: ${e instanceof Error ? e.message : String(e)}\n`);
    return fn();
  }
  if (watch.preexisting.length > 0) err.write(formatPreexisting(watch.preexisting));
  const outcome = await fn().then(
    (code) => ({ code }),
    (error: unknown) => ({ error }),
  );
  const leaks = await watch.finish();
  if (leaks.length > 0) err.write(`${formatLeaks(leaks, who)}\n`);
  if ('error' in outcome) throw outcome.error;
  return leaks.length > 0 && outcome.code === 0 ? 1 : outcome.code;
}

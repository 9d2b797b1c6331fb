// Network-namespace sandbox for the lab and the real-component suites.
//
// Every namespace, veth, process and temp dir is registered with the sandbox that made it
// and removed by cleanup(), which also runs on process exit and on SIGINT/SIGTERM, so an
// interrupted run leaves nothing behind. Namespace names carry the creating pid
// (`podlb-<pid>-<rand>-<short>`): sweepStale() removes the ones whose creator is dead, so a
// run never depends on how the previous one ended.
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isTmpfs } from '../util/tmpfs.js';
import { MEMORY_TMPDIR_ENV, RUN_TAG_ENV } from './leak-check.js';

const execFileP = promisify(execFile);
const NS_PREFIX = 'podlb-';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (exit ${exitCode}): ${stderr.trim()}`);
  }
}

export async function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { code?: number | string; stderr?: string; message: string };
    throw new CommandError([cmd, ...args].join(' '), typeof e.code === 'number' ? e.code : null, e.stderr ?? e.message);
  }
}

/**
 * argv of `cmd` run in network namespace `ns`. `ip -n` switches only the network namespace;
 * `ip netns exec` also makes a mount namespace and remounts /sys for every command.
 */
export function nsCommand(ns: string, cmd: string, args: readonly string[]): string[] {
  return cmd === 'ip' ? ['ip', '-n', ns, ...args] : ['ip', 'netns', 'exec', ns, cmd, ...args];
}

/** argv setting several sysctl keys in `ns` in one process. */
export function sysctlCommand(ns: string, settings: Record<string, string>): string[] {
  return nsCommand(ns, 'sysctl', ['-qw', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNetns(): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns');
}

function killNetnsProcessesSync(ns: string): void {
  let pids: number[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

function deleteNetnsSync(ns: string): void {
  killNetnsProcessesSync(ns);
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

/** Remove namespaces left by sandboxes whose process died without cleaning up. */
export function sweepStale(): string[] {
  const removed: string[] = [];
  for (const ns of listNetns()) {
    const m = /^podlb-(\d+)-/.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !isAlive(pid)) {
      deleteNetnsSync(ns);
      removed.push(ns);
    }
  }
  return removed;
}

const liveSandboxes = new Set<NetnsSandbox>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const sb of liveSandboxes) sb.cleanupSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const sb of liveSandboxes) sb.cleanupSync();
      // Re-raise so the default exit status (128+n) is kept for the caller.
      process.kill(process.pid, sig);
    });
  }
}

export interface SpawnedProcess {
  readonly child: ChildProcess;
  readonly name: string;
  /** stdout+stderr collected so far (bounded), for error messages. */
  output(): string;
  exited: Promise<number | null>;
  /**
   * Signals the process the sandbox runs: the child by default; a wrapper that does not
   * forward signals (scripts/contain.sh's unshare) replaces it to reach the command inside.
   */
  signal: (sig: NodeJS.Signals) => void;
}

export class NetnsSandbox {
  readonly id: string;
  readonly #namespaces: string[] = [];
  readonly #processes: SpawnedProcess[] = [];
  readonly #dirs: string[] = [];
  readonly #hooks: (() => void)[] = [];
  #closed = false;

  constructor() {
    if (process.getuid?.() !== 0) {
      throw new Error('network namespaces need root: run as root (CI and the lab do)');
    }
    sweepStale();
    installExitHooks();
    // A run's tag (src/lab/leak-check.ts) leads the id, so the run can tell its namespaces
    // from those of other runs on the same machine.
    this.id = `${process.env[RUN_TAG_ENV] ?? ''}${randomBytes(3).toString('hex')}`;
    liveSandboxes.add(this);
  }

  /** Creates `podlb-<pid>-<id>-<short>` with loopback up; returns its name. */
  async addNetns(short: string): Promise<string> {
    const name = `${NS_PREFIX}${process.pid}-${this.id}-${short}`;
    await run('ip', ['netns', 'add', name]);
    this.#namespaces.push(name);
    await this.exec(name, 'ip', ['link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * A veth pair between two namespaces, renamed to `ifA`/`ifB` inside them (names only need
   * to be unique per namespace), addresses added and links up. Address args are CIDRs.
   */
  async veth(a: { ns: string; ifname: string; addrs?: string[] }, b: { ns: string; ifname: string; addrs?: string[] }): Promise<void> {
    await this.shell(this.vethCommands(a, b));
  }

  /** veth()'s commands, for a caller that runs them in one shell() with others. */
  vethCommands(a: { ns: string; ifname: string; addrs?: string[] }, b: { ns: string; ifname: string; addrs?: string[] }): string[][] {
    const tmpA = `pv${randomBytes(5).toString('hex')}`;
    const tmpB = `pv${randomBytes(5).toString('hex')}`;
    const cmds = [['ip', 'link', 'add', tmpA, 'netns', a.ns, 'type', 'veth', 'peer', 'name', tmpB, 'netns', b.ns]];
    for (const [end, tmp] of [
      [a, tmpA],
      [b, tmpB],
    ] as const) {
      cmds.push(nsCommand(end.ns, 'ip', ['link', 'set', tmp, 'name', end.ifname]));
      for (const addr of end.addrs ?? []) {
        const args = addr.includes(':') ? ['-6', 'addr', 'add', addr, 'dev', end.ifname, 'nodad'] : ['addr', 'add', addr, 'dev', end.ifname];
        cmds.push(nsCommand(end.ns, 'ip', args));
      }
      cmds.push(nsCommand(end.ns, 'ip', ['link', 'set', end.ifname, 'up']));
    }
    return cmds;
  }

  /**
   * Commands (argv lists) in one shell, in order, stopping at the first failure: one fork of
   * this (large) process instead of one per command, which a 200-Pod lab pays per Pod.
   */
  shell(commands: readonly (readonly string[])[], opts: { timeoutMs?: number } = {}): Promise<string> {
    const quote = (a: string): string => `'${a.replaceAll("'", `'\\''`)}'`;
    return run('sh', ['-ec', commands.map((c) => c.map(quote).join(' ')).join('\n')], opts);
  }

  exec(ns: string, cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    const [bin, ...rest] = nsCommand(ns, cmd, args);
    return run(bin!, rest, opts);
  }

  async sysctl(ns: string, key: string, value: string): Promise<void> {
    await this.sysctls(ns, { [key]: value });
  }

  /** Several keys in one process. */
  async sysctls(ns: string, settings: Record<string, string>): Promise<void> {
    await this.shell([sysctlCommand(ns, settings)]);
  }

  /** A long-running process inside `ns` (or the root namespace when ns is null), killed by cleanup(). */
  spawn(ns: string | null, cmd: string, args: string[], opts: SpawnOptions & { name?: string } = {}): SpawnedProcess {
    const argv = ns === null ? [cmd, ...args] : ['ip', 'netns', 'exec', ns, cmd, ...args];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    const collect = (d: Buffer): void => {
      out += d.toString();
      if (out.length > 64 * 1024) out = out.slice(-32 * 1024);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(null));
    });
    const p: SpawnedProcess = {
      child,
      name: opts.name ?? cmd,
      output: () => out,
      exited,
      signal: (sig) => {
        try {
          child.kill(sig);
        } catch {
          /* gone */
        }
      },
    };
    this.#processes.push(p);
    return p;
  }

  /** A temp dir removed by cleanup(). */
  tempDir(label = 'tmp', base = tmpdir()): string {
    const dir = mkdtempSync(join(base, `podlb-${label}-`));
    this.#dirs.push(dir);
    return dir;
  }

  /**
   * A temp dir on tmpfs (/dev/shm, or the run's dir there, else tmpdir()), for BIRD's config
   * and socket: the DaemonSet keeps them on tmpfs too (src/util/tmpfs.ts says why).
   */
  memoryTempDir(label = 'tmp'): string {
    const base = process.env[MEMORY_TMPDIR_ENV] ?? '/dev/shm';
    return this.tempDir(label, isTmpfs(base) ? base : tmpdir());
  }

  /**
   * `fn` runs in cleanup (also on exit and signals, so synchronously), after the processes are
   * killed and the namespaces removed, before the temp dirs go: for what outlives a process,
   * such as a mounted image.
   */
  onCleanup(fn: () => void): void {
    this.#hooks.push(fn);
  }

  get namespaces(): readonly string[] {
    return this.#namespaces;
  }

  async cleanup(): Promise<void> {
    if (this.#closed) return;
    for (const p of this.#processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.signal('SIGTERM');
    }
    await Promise.race([Promise.all(this.#processes.map((p) => p.exited)), new Promise((r) => setTimeout(r, 2000))]);
    this.cleanupSync();
  }

  /** Synchronous so it can run from process 'exit'. Idempotent. */
  cleanupSync(): void {
    if (this.#closed) return;
    this.#closed = true;
    liveSandboxes.delete(this);
    for (const p of this.#processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.signal('SIGKILL');
        try {
          p.child.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (const ns of this.#namespaces) deleteNetnsSync(ns);
    for (const fn of this.#hooks.reverse()) {
      try {
        fn();
      } catch {
        /* the rest still goes */
      }
    }
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Polls `probe` until it returns a value other than undefined, or throws after timeoutMs. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

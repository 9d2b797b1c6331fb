// Starts a real BIRD 2 in a network namespace for the lab and the integration suites.
// Runs in the foreground (-f) under the sandbox, so cleanup() kills it with its namespace.
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BirdControl } from '../bgp/bird-control.js';
import { waitFor, type NetnsSandbox } from './netns.js';

export interface BirdProcess {
  ns: string;
  dir: string;
  configPath: string;
  socketPath: string;
  /** Resolves with the exit code (null: killed by a signal) when this BIRD process ends. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
  /** Sends `signal` and waits for the process to end (SIGKILL: no Cease, the kernel closes the TCP sessions). */
  kill(signal: NodeJS.Signals): Promise<void>;
  /**
   * `graceful restart` on the control socket (what the DaemonSet's preStop runs): BIRD closes
   * its BGP sessions without a Cease notification, so graceful-restart helpers keep its
   * routes, and exits. Resolves with BIRD's reply once the process has ended.
   */
  gracefulRestart(): Promise<string>;
}

export interface StartBirdOptions {
  dir: string;
  /** Written to dir/bird.conf; omitted: start on the dir/bird.conf already there (a restart). */
  initialConfig?: string;
  /** Appended to BIRD's arguments, e.g. `-R` (graceful-restart recovery after a `graceful restart`). */
  extraArgs?: string[];
}

/**
 * Writes dir/bird.conf (0600), runs `bird -f -c dir/bird.conf -s dir/bird.ctl -P dir/bird.pid`
 * in `ns` and waits until the control socket answers. Throws with BIRD's output if it exits.
 */
export async function startBird(sb: NetnsSandbox, ns: string, opts: StartBirdOptions): Promise<BirdProcess> {
  const configPath = join(opts.dir, 'bird.conf');
  const socketPath = join(opts.dir, 'bird.ctl');
  const pidPath = join(opts.dir, 'bird.pid');
  if (opts.initialConfig !== undefined) writeFileSync(configPath, opts.initialConfig, { mode: 0o600 });
  else if (!existsSync(configPath)) throw new Error(`startBird: no initialConfig and no ${configPath} to restart on`);
  chmodSync(configPath, 0o600);
  const proc = sb.spawn(ns, 'bird', ['-f', '-c', configPath, '-s', socketPath, '-P', pidPath, ...(opts.extraArgs ?? [])], { name: `bird@${ns}` });
  let exited: number | null | undefined;
  void proc.exited.then((c) => {
    exited = c;
  });
  const ctl = new BirdControl(socketPath, { timeoutMs: 2000 });
  try {
    await waitFor(
      `BIRD control socket ${socketPath}`,
      async () => {
        if (exited !== undefined) throw new Error(`bird exited (${exited}): ${proc.output().trim()}`);
        await ctl.command('show status');
        return true;
      },
      15_000,
      25,
    );
  } catch (err) {
    if (exited === undefined) proc.child.kill('SIGKILL');
    throw new Error(`BIRD did not start in ${ns}: ${err instanceof Error ? err.message : String(err)}${proc.output() ? `\n${proc.output().trim()}` : ''}`);
  } finally {
    await ctl.close();
  }
  const running = () => proc.child.exitCode === null && proc.child.signalCode === null;
  return {
    ns,
    dir: opts.dir,
    configPath,
    socketPath,
    exited: proc.exited,
    async kill(signal) {
      if (!running()) return;
      proc.child.kill(signal);
      await proc.exited;
    },
    async gracefulRestart() {
      const c = new BirdControl(socketPath, { timeoutMs: 5000 });
      let reply: string;
      try {
        reply = (await c.command('graceful restart')).lines.map((l) => l.text).join('\n');
      } finally {
        await c.close();
      }
      const t = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
      await proc.exited;
      clearTimeout(t);
      return reply;
    },
    async stop() {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      proc.child.kill('SIGTERM');
      const t = setTimeout(() => proc.child.kill('SIGKILL'), 3000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

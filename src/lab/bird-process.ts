// Starts a real BIRD 2 in a network namespace for the lab and the integration suites.
// Runs in the foreground (-f) under the sandbox, so cleanup() kills it with its namespace.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BirdControl } from '../bgp/bird-control.js';
import { waitFor, type NetnsSandbox } from './netns.js';

export interface BirdProcess {
  ns: string;
  dir: string;
  configPath: string;
  socketPath: string;
  stop(): Promise<void>;
}

/**
 * Writes dir/bird.conf (0600), runs `bird -f -c dir/bird.conf -s dir/bird.ctl -P dir/bird.pid`
 * in `ns` and waits until the control socket answers. Throws with BIRD's output if it exits.
 */
export async function startBird(sb: NetnsSandbox, ns: string, opts: { dir: string; initialConfig: string }): Promise<BirdProcess> {
  const configPath = join(opts.dir, 'bird.conf');
  const socketPath = join(opts.dir, 'bird.ctl');
  const pidPath = join(opts.dir, 'bird.pid');
  writeFileSync(configPath, opts.initialConfig, { mode: 0o600 });
  chmodSync(configPath, 0o600);
  const proc = sb.spawn(ns, 'bird', ['-f', '-c', configPath, '-s', socketPath, '-P', pidPath], { name: `bird@${ns}` });
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
  return {
    ns,
    dir: opts.dir,
    configPath,
    socketPath,
    async stop() {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      proc.child.kill('SIGTERM');
      const t = setTimeout(() => proc.child.kill('SIGKILL'), 3000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

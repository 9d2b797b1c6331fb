// Starts a real BIRD 2 in a network namespace for the lab and the integration suites: the
// host's, or the bird image's as the DaemonSet's Pod runs it (init container, then the `bird`
// container, sharing the Pod's /run/bird volume with the agent). Runs in the foreground (-f)
// under the sandbox, so cleanup() kills it with its namespace.
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BirdControl } from '../bgp/bird-control.js';
import { flagValue, hostPathOf, podContainer } from './daemonset-pod.js';
import { runContained, spawnContained, type ImageRoot } from './image-root.js';
import { waitFor, type NetnsSandbox, type SpawnedProcess } from './netns.js';

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
  /**
   * Run the DaemonSet's `bird-config` init container and then its `bird` container from this
   * mounted bird image, with `dir` as the Pod's bird-run volume (/run/bird): the init container
   * writes the initial config unless one is there, as on a node. The node's name and address
   * are what the manifest's fieldRefs read.
   */
  image?: { root: ImageRoot; nodeName: string; hostIP: string };
}

interface Launched {
  proc: SpawnedProcess;
  configPath: string;
  socketPath: string;
  signal(sig: NodeJS.Signals): void;
}

/** `bird -f -c dir/bird.conf -s dir/bird.ctl -P dir/bird.pid` from the host. */
function launchHostBird(sb: NetnsSandbox, ns: string, opts: StartBirdOptions): Launched {
  const configPath = join(opts.dir, 'bird.conf');
  const socketPath = join(opts.dir, 'bird.ctl');
  if (!existsSync(configPath)) throw new Error(`startBird: no initialConfig and no ${configPath} to restart on`);
  chmodSync(configPath, 0o600);
  const proc = sb.spawn(ns, 'bird', ['-f', '-c', configPath, '-s', socketPath, '-P', join(opts.dir, 'bird.pid'), ...(opts.extraArgs ?? [])], {
    name: `bird@${ns}`,
  });
  return { proc, configPath, socketPath, signal: (sig) => proc.child.kill(sig) };
}

/** The Pod's init container, then its `bird` container, from the bird image. */
async function launchImageBird(sb: NetnsSandbox, ns: string, opts: StartBirdOptions, image: NonNullable<StartBirdOptions['image']>): Promise<Launched> {
  const fields = { nodeName: image.nodeName, namespace: 'podlb-system', hostIP: image.hostIP };
  const volumes = { 'bird-run': opts.dir };
  const init = podContainer('bird-config', image.root, fields, volumes);
  await runContained(sb, ns, image.root, { name: `bird-config@${ns}`, user: init.user, env: init.env, binds: init.binds, cmd: init.argv });
  const bird = podContainer('bird', image.root, fields, volumes);
  const conf = flagValue(bird.argv, '-c');
  const ctl = flagValue(bird.argv, '-s');
  if (!conf || !ctl) throw new Error(`the DaemonSet's bird container names no -c or -s: ${bird.argv.join(' ')}`);
  const c = spawnContained(sb, ns, image.root, {
    name: `bird@${ns}`,
    user: bird.user,
    env: bird.env,
    binds: bird.binds,
    cmd: [...bird.argv, ...(opts.extraArgs ?? [])],
  });
  return { proc: c.proc, configPath: hostPathOf(bird, conf), socketPath: hostPathOf(bird, ctl), signal: c.signal };
}

/**
 * Writes dir/bird.conf (0600) when initialConfig is given, runs BIRD in `ns` (see
 * StartBirdOptions.image) and waits until the control socket answers. Throws with BIRD's output
 * if it exits.
 */
export async function startBird(sb: NetnsSandbox, ns: string, opts: StartBirdOptions): Promise<BirdProcess> {
  if (opts.initialConfig !== undefined) writeFileSync(join(opts.dir, 'bird.conf'), opts.initialConfig, { mode: 0o600 });
  const { proc, configPath, socketPath, signal } = opts.image ? await launchImageBird(sb, ns, opts, opts.image) : launchHostBird(sb, ns, opts);
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
    if (exited === undefined) signal('SIGKILL');
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
    async kill(sig) {
      if (!running()) return;
      signal(sig);
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
      const t = setTimeout(() => signal('SIGKILL'), 10_000);
      await proc.exited;
      clearTimeout(t);
      return reply;
    },
    async stop() {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      signal('SIGTERM');
      const t = setTimeout(() => signal('SIGKILL'), 3000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

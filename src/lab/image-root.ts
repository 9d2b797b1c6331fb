// The images `./dev images` built, run from their mounted root file systems: no container
// runtime works here (podman's crun fails on setrlimit in this VM), so scripts/contain.sh starts
// each container's command the way a runtime would (its own mount and PID namespaces, read-only
// root, the volumes bound in), in the network namespace the caller picks. The lab runs each
// node's agent and BIRD this way (--images), and the smoke test its commands.
//
// Working containers are named like the sandbox's namespaces (`podlb-<pid>-<sandbox id>-<short>`)
// and removed by the sandbox's cleanup, also on exit and on signals; mountImage() first removes
// those whose creating process is dead, so a run killed outright leaves nothing mounted for
// long, and the leak check (src/lab/leak-check.ts) can tell a run's containers from others'.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../apiserver/crds.js';
import type { NetnsSandbox, SpawnedProcess } from './netns.js';
import { buildahContainers, RUN_TAG_ENV } from './leak-check.js';

// From src/ (tests) and from dist/src/ alike.
const imagesEnv = (): string => join(repoRoot(), 'images', 'built', 'images.env');

export interface ImageRoot {
  image: string;
  /** The buildah working container holding the mount. */
  container: string;
  /** Where the image's root file system is mounted on the host. */
  root: string;
  /** The image's USER as uid:gid ('0:0' when it names none). */
  user: string;
  workdir: string;
  env: string[];
  entrypoint: string[];
  remove(): void;
}

/** The refs `./dev images` wrote; throws one line naming the command when they are missing. */
export function builtImages(): { agent: string; bird: string } {
  const file = imagesEnv();
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const get = (k: string) => new RegExp(`^(?:export )?${k}=["']?([^"'\\n]+)`, 'm').exec(text)?.[1];
  const agent = get('AGENT_IMAGE');
  const bird = get('BIRD_IMAGE');
  if (!agent || !bird) throw new Error(`no built images (${file}): run \`sudo ./dev images\` first`);
  return { agent, bird };
}

/** Why the images cannot run here, one message each (empty: both are in buildah's storage). */
export function missingImages(): string[] {
  let refs: { agent: string; bird: string };
  try {
    refs = builtImages();
  } catch (err) {
    return [(err as Error).message];
  }
  if (spawnSync('sh', ['-c', 'command -v buildah'], { stdio: 'ignore' }).status !== 0)
    return ['buildah: `sudo ./dev images` installs it and builds the images'];
  return Object.values(refs)
    .filter((ref) => spawnSync('buildah', ['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref], { stdio: 'ignore' }).status !== 0)
    .map((ref) => `image ${ref} (images/built/images.env) is not in buildah's storage: run \`sudo ./dev images\``);
}

const buildah = (args: string[]) => execFileSync('buildah', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

const CONTAINER_NAME = /^podlb-(\d+)-/;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the working containers (and their mounts) of lab runs whose process is dead. */
export function sweepStaleContainers(): string[] {
  const removed: string[] = [];
  for (const name of buildahContainers()) {
    const pid = Number(CONTAINER_NAME.exec(name)?.[1] ?? NaN);
    if (Number.isNaN(pid) || pid === process.pid || isAlive(pid)) continue;
    if (spawnSync('buildah', ['rm', name], { stdio: 'ignore' }).status === 0) removed.push(name);
  }
  return removed;
}

/** A working container of `image`, mounted; the sandbox's cleanup unmounts and deletes it. */
export function mountImage(sb: NetnsSandbox, image: string, short: string): ImageRoot {
  sweepStaleContainers();
  const name = `podlb-${process.pid}-${sb.id}-${short}`;
  let ctr: string;
  try {
    ctr = buildah(['from', '--quiet', '--pull-never', '--name', name, image]);
  } catch (err) {
    throw new Error(
      `image ${image} is not in buildah storage: run \`sudo ./dev images\` first (${
        String((err as { stderr?: string }).stderr ?? err)
          .trim()
          .split('\n')[0]
      })`,
    );
  }
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    spawnSync('buildah', ['rm', ctr], { stdio: 'ignore' });
  };
  sb.onCleanup(remove);
  const field = (f: string) => buildah(['inspect', '--type', 'image', '--format', f, image]);
  const lines = (f: string) => field(`{{range ${f}}}{{println .}}{{end}}`).split('\n').filter(Boolean);
  const user = field('{{.OCIv1.Config.User}}') || '0:0';
  return {
    image,
    container: name,
    root: buildah(['mount', ctr]),
    user: user.includes(':') ? user : `${user}:${user}`,
    workdir: field('{{.OCIv1.Config.WorkingDir}}') || '/',
    env: lines('.OCIv1.Config.Env'),
    entrypoint: lines('.OCIv1.Config.Entrypoint'),
    remove,
  };
}

export interface Contained {
  proc: SpawnedProcess;
  /** The container's command (pid 1 of its PID namespace), once it runs. */
  pid(): number | undefined;
  /** Sends `sig` to the command; to the wrapper (which then kills the command) before it runs. */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM to the command, SIGKILL after timeoutMs; resolves when it has ended. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Runs `cmd` from `img.root` (see scripts/contain.sh) in `ns`; binds are "host:container" pairs. */
export function spawnContained(
  sb: NetnsSandbox,
  ns: string | null,
  img: ImageRoot,
  o: { user: string; env: string[]; binds: string[]; cmd: string[]; name: string },
): Contained {
  const envFile = join(sb.tempDir('contain-env'), 'env');
  // contain.sh starts the command with exactly this environment: without the run's tag the
  // leak check could not tell a contained process left behind from another run's.
  const tag = process.env[RUN_TAG_ENV] ? [`${RUN_TAG_ENV}=${process.env[RUN_TAG_ENV]}`] : [];
  writeFileSync(envFile, `${[...img.env, ...o.env, ...tag].join('\n')}\n`, { mode: 0o600 });
  const script = join(repoRoot(), 'scripts', 'contain.sh');
  const proc = sb.spawn(ns, script, [img.root, o.user, img.workdir, envFile, ...o.binds, '--', ...o.cmd], { name: o.name });
  const running = () => proc.child.exitCode === null && proc.child.signalCode === null;
  // unshare does not forward signals: the contained command is its only child.
  const pid = (): number | undefined => {
    const outer = proc.child.pid;
    if (outer === undefined || !running()) return undefined;
    try {
      const kids = readFileSync(`/proc/${outer}/task/${outer}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      return kids[0];
    } catch {
      return undefined;
    }
  };
  const signal = (sig: NodeJS.Signals): void => {
    if (!running()) return;
    const inner = pid();
    try {
      if (inner !== undefined) process.kill(inner, sig);
      else proc.child.kill(sig);
    } catch {
      /* ended meanwhile */
    }
  };
  // The sandbox's cleanup then stops the command itself and waits for it (the wrapper exits
  // after it), rather than killing the wrapper and leaving the command to die on its own.
  proc.signal = signal;
  return {
    proc,
    pid,
    signal,
    async stop(timeoutMs = 5000) {
      if (!running()) return;
      signal('SIGTERM');
      const t = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

/** Runs `cmd` contained to completion; throws with its output when it fails. */
export async function runContained(sb: NetnsSandbox, ns: string | null, img: ImageRoot, o: Parameters<typeof spawnContained>[3]): Promise<string> {
  const c = spawnContained(sb, ns, img, o);
  const code = await c.proc.exited;
  if (code !== 0) throw new Error(`${o.name} (${img.image}) exited ${code}: ${c.proc.output().trim()}`);
  return c.proc.output();
}

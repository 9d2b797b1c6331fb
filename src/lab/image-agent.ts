// The lab's node agent from the agent image that `npm run images` built: the image's
// ENTRYPOINT with the DaemonSet's agent args, run from the image's mounted root by
// scripts/contain.sh (no container runtime works here), with the ServiceAccount files mounted
// where a Pod has them and BIRD's directory at /run/bird.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetnsSandbox, SpawnedProcess } from './netns.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const imagesEnv = join(repoRoot, 'images', 'built', 'images.env');

export interface ImageRoot {
  root: string;
  user: string;
  workdir: string;
  env: string[];
  entrypoint: string[];
  remove(): void;
}

/** The refs `npm run images` wrote; throws one line naming the command when they are missing. */
export function builtImages(): { agent: string; bird: string } {
  const text = existsSync(imagesEnv) ? readFileSync(imagesEnv, 'utf8') : '';
  const get = (k: string) => /^(?:export )?([A-Z_]+)=["']?([^"'\n]+)/gm.exec(text.split('\n').find((l) => l.includes(`${k}=`)) ?? '')?.[2];
  const agent = get('AGENT_IMAGE');
  const bird = get('BIRD_IMAGE');
  if (!agent || !bird) throw new Error(`no built images (${imagesEnv}): run \`sudo ./dev images\` first`);
  return { agent, bird };
}

const buildah = (args: string[]) => execFileSync('buildah', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** A working container of `image`, mounted; remove() unmounts and deletes it. */
export function mountImage(image: string): ImageRoot {
  let ctr: string;
  try {
    ctr = buildah(['from', '--quiet', '--pull-never', image]);
  } catch (err) {
    throw new Error(`image ${image} is not in buildah storage: run \`sudo ./dev images\` first (${String((err as { stderr?: string }).stderr ?? err).trim().split('\n')[0]})`);
  }
  try {
    const field = (f: string) => buildah(['inspect', '--type', 'image', '--format', f, image]);
    const lines = (f: string) => field(`{{range ${f}}}{{println .}}{{end}}`).split('\n').filter(Boolean);
    return {
      root: buildah(['mount', ctr]),
      user: field('{{.OCIv1.Config.User}}') || '0:0',
      workdir: field('{{.OCIv1.Config.WorkingDir}}') || '/',
      env: lines('.OCIv1.Config.Env'),
      entrypoint: lines('.OCIv1.Config.Entrypoint'),
      remove: () => {
        try {
          buildah(['rm', ctr]);
        } catch {
          /* already gone */
        }
      },
    };
  } catch (err) {
    buildah(['rm', ctr]);
    throw err;
  }
}

/** Runs `cmd` from `img.root` (see scripts/contain.sh); binds are "host:container" pairs. */
export function spawnContained(sb: NetnsSandbox, ns: string | null, img: ImageRoot, o: { user: string; env: string[]; binds: string[]; cmd: string[]; name: string }): { proc: SpawnedProcess; stop(): Promise<void> } {
  const envFile = join(sb.tempDir('contain-env'), 'env');
  writeFileSync(envFile, `${[...img.env, ...o.env].join('\n')}\n`, { mode: 0o600 });
  const script = join(repoRoot, 'scripts', 'contain.sh');
  const proc = sb.spawn(ns, script, [img.root, o.user, img.workdir, envFile, ...o.binds, '--', ...o.cmd], { name: o.name });
  // unshare does not forward signals: the contained command is its only child.
  const inner = (): number | undefined => {
    const pid = proc.child.pid;
    if (pid === undefined) return undefined;
    try {
      const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      return kids[0];
    } catch {
      return undefined;
    }
  };
  return {
    proc,
    async stop() {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      const pid = inner();
      if (pid !== undefined) process.kill(pid, 'SIGTERM');
      else proc.child.kill('SIGKILL');
      const t = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

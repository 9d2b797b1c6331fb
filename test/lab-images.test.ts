// `podlb lab --once --images`, checked from outside the lab: while the guided tour runs, the
// kernel's view of the lab's processes (/proc) shows each node's agent and BIRD running from the
// root file systems of the images `./dev images` built (buildah's mounts of them), as the
// DaemonSet's containers (their argv and user), BIRD in its node's network namespace, and both
// containers of a node sharing one control socket through the Pod's /run/bird volume. Then the
// lab leaves no mounted image behind. Needs root and the images; with PODLB_REQUIRE_REAL=1 (CI)
// their absence fails this file instead of skipping it.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { daemonSetContainer } from '../src/lab/daemonset-pod.js';
import { builtImages, missingImages } from '../src/lab/image-root.js';
import { buildahContainers } from '../src/lab/leak-check.js';
import { missingReal, runWithout } from '../src/lab/real-components.js';
import { runLab } from '../src/lab/tour.js';

const missing = missingReal(['root', 'bird', 'haproxy', 'frr']);
if (missing.length === 0) missing.push(...missingImages());
const canRun = runWithout(missing, process.env);

interface Seen {
  pid: number;
  comm: string;
  argv: string[];
  uid: string;
  root: string;
  exe: string;
  /** dev:ino of the executable, as the process maps it. */
  exeId: string;
  /** dev:ino of the file at `exe` on the host (while the image was mounted). */
  exePathId: string;
  /** The network namespace's name under /run/netns ('' for the root namespace's). */
  netns: string;
  /** dev:ino of /run/bird/bird.ctl as the process sees it ('' when absent). */
  socketId: string;
}

const fileId = (path: string): string => {
  const st = statSync(path);
  return `${st.dev}:${st.ino}`;
};
const tryId = (path: string): string => {
  try {
    return fileId(path);
  } catch {
    return '';
  }
};

/** Every live process below this one (the lab's daemons are its descendants). */
function descendants(): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      parent.set(Number(e), Number(/^\d+ \(.*\) \S+ (\d+)/s.exec(readFileSync(`/proc/${e}/stat`, 'utf8'))?.[1]));
    } catch {
      /* gone */
    }
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (mine.has(pid) || !mine.has(ppid)) continue;
      mine.add(pid);
      grew = true;
    }
  }
  mine.delete(process.pid);
  return [...mine];
}

function netnsNames(): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of readdirSync('/run/netns')) if (n.startsWith(`podlb-${process.pid}-`)) out.set(String(statSync(`/run/netns/${n}`).ino), n);
  return out;
}

function observe(seen: Map<number, Seen>, mounts: Map<string, string>): void {
  const names = netnsNames();
  for (const pid of descendants()) {
    const known = seen.get(pid);
    if (known) {
      // BIRD creates its socket a moment after it starts.
      if (!known.socketId) known.socketId = tryId(`/proc/${pid}/root/run/bird/bird.ctl`);
      continue;
    }
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      // By argv, not comm: Node.js 26 renames its main thread (comm `node-MainThread`).
      const isAgent = argv[0] === 'node' && argv.includes('agent') && argv.some((a) => a.endsWith('cli/podlb.js'));
      if (comm !== 'bird' && !isAgent) continue;
      // Caught inside execve: comm is already the new program's, its arguments not yet there.
      // Recorded now, it would keep an empty argv; the next look reads the real one.
      if (argv.length === 0) continue;
      const netIno = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1] ?? '';
      seen.set(pid, {
        pid,
        comm: isAgent ? 'agent' : comm,
        argv,
        uid: /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '',
        root: readlinkSync(`/proc/${pid}/root`),
        exe: readlinkSync(`/proc/${pid}/exe`),
        exeId: fileId(`/proc/${pid}/exe`),
        exePathId: tryId(readlinkSync(`/proc/${pid}/exe`)),
        netns: names.get(netIno) ?? '',
        socketId: tryId(`/proc/${pid}/root/run/bird/bird.ctl`),
      });
    } catch {
      // Ended between the listing and the reads (the init container's `bird -p`).
    }
  }
  // This run's two mounted images (container name → image and mount point). Listed only until
  // both are found: buildah takes tens of ms, and the lab shares this process's event loop.
  if (mounts.size >= 2) return;
  for (const name of buildahContainers()) {
    if (!name.startsWith(`podlb-${process.pid}-`) || mounts.has(name)) continue;
    const [image = '', mount = ''] = execFileSync('buildah', ['inspect', '--type', 'container', '--format', '{{.FromImage}}\t{{.MountPoint}}', name], {
      encoding: 'utf8',
    }).split('\t');
    if (mount) mounts.set(name, `${image}\t${mount.trim()}`);
  }
}

describe('podlb lab --images', () => {
  it('runs each node’s agent and BIRD from the images as the DaemonSet’s containers, sharing BIRD’s control socket', async (ctx) => {
    if (!canRun) ctx.skip(`needs ${missing.join('; ')}`);
    const { agent: agentRef, bird: birdRef } = builtImages();
    let output = '';
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output += chunk.toString();
      return true;
    });
    const seen = new Map<number, Seen>();
    const mounts = new Map<string, string>();
    let code: number;
    try {
      let done = false;
      const lab = runLab({ once: true, images: true }).finally(() => (done = true));
      while (!done) {
        observe(seen, mounts);
        await new Promise((r) => setTimeout(r, 200));
      }
      code = await lab;
    } finally {
      write.mockRestore();
    }
    expect(code, output).toBe(0);

    const mountOf = (ref: string): string => {
      const m = [...mounts.values()].map((v) => v.split('\t')).find(([image]) => image === ref);
      expect(m, `no mounted ${ref} among ${[...mounts.values()].join(', ')}`).toBeDefined();
      return m![1]!;
    };
    const agentRoot = mountOf(agentRef);
    const birdRoot = mountOf(birdRef);
    const procs = [...seen.values()];
    const birds = procs.filter((p) => p.comm === 'bird');
    const agents = procs.filter((p) => p.comm === 'agent');

    // Every BIRD the lab ran (the init container's `bird -p` too, when caught) is the image's
    // binary, not the host's /usr/sbin/bird.
    expect(birds.length).toBeGreaterThanOrEqual(2);
    for (const b of birds) {
      expect(b.root, `bird ${b.argv.join(' ')}`).toBe(birdRoot);
      expect(b.exe.startsWith(`${birdRoot}/`)).toBe(true);
      expect(b.exeId).toBe(b.exePathId);
      expect(b.exeId).not.toBe(fileId('/usr/sbin/bird'));
    }
    const birdSpec = daemonSetContainer('bird');
    const agentSpec = daemonSetContainer('agent');
    const uidOf = (c: typeof birdSpec) => String(c.securityContext?.runAsUser);
    for (const node of ['node1', 'node2']) {
      // The DaemonSet's bird container: its command and args, its user, the node's namespace.
      const daemon = birds.filter((b) => b.netns.endsWith(`-${node}`) && b.argv.join(' ') === [...birdSpec.command!, ...(birdSpec.args ?? [])].join(' '));
      expect(daemon, `${node}: BIRD daemons seen: ${birds.map((b) => `${b.netns} ${b.argv.join(' ')}`).join('; ')}`).toHaveLength(1);
      expect(daemon[0]!.uid).toBe(uidOf(birdSpec));
      // The agent container: the image's node, the manifest's args (BIRD under /run/bird).
      const agent = agents.filter((a) => a.argv[a.argv.indexOf('--node-name') + 1] === node);
      expect(agent, `${node}: agents seen: ${agents.map((a) => a.argv.join(' ')).join('; ')}`).toHaveLength(1);
      const a = agent[0]!;
      expect(a.root).toBe(agentRoot);
      expect(a.exe.startsWith(`${agentRoot}/`)).toBe(true);
      expect(a.exeId).toBe(a.exePathId);
      expect(a.uid).toBe(uidOf(agentSpec));
      expect(a.argv.join(' ')).toContain((agentSpec.args ?? []).join(' ').replace('$(NODE_NAME)', node));
      // One control socket, seen by both containers at /run/bird/bird.ctl: the Pod's volume.
      expect(a.socketId).not.toBe('');
      expect(a.socketId).toBe(daemon[0]!.socketId);
    }
    expect(new Set(agents.map((a) => a.socketId)).size).toBe(2);

    // Torn down: no process left, no image of this run still mounted.
    for (const p of procs) expect(() => process.kill(p.pid, 0), `pid ${p.pid} ${p.argv.join(' ')}`).toThrow();
    expect(buildahContainers().filter((n) => n.startsWith(`podlb-${process.pid}-`))).toEqual([]);
  }, 180_000);
});

// The lab's node agents, one per node, as one of (LabOptions.agentMode):
//   process    a `podlb agent` child process of dist/ (the CLI's default)
//   inProcess  Agent objects in the lab's own process (tests, benches)
//   image      the DaemonSet's `agent` container from the agent image's mounted root
// Each runs as the DaemonSet's Pod on its node (identity: the podlb-agent ServiceAccount's
// token bound to that Pod), so RBAC and the node claim apply as in a cluster.
import { createWriteStream, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Agent } from '../agent/agent.js';
import type { AgentOptions } from '../agent/options.js';
import type { PodIdentity } from '../apiserver/index.js';
import type { LbInstance } from '../lb/provider.js';
import { podContainer } from './daemonset-pod.js';
import { spawnContained, type ImageRoot } from './image-root.js';
import type { NetnsSandbox, SpawnedProcess } from './netns.js';
import type { TopologyNode } from './topology.js';
import { freePort } from '../util/free-port.js';

export type AgentMode = 'process' | 'inProcess' | 'image';

export interface LabAgent {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Prometheus text of the agent's registry ('' while it is not running). */
  metrics(): Promise<string>;
}

export interface LabAgentSetup {
  sb: NetnsSandbox;
  node: TopologyNode;
  identity: PodIdentity;
  logDir: string;
  /** Directories of the HAProxy instances' runtime sockets. */
  haproxyDirs: string[];
  /** mode 'image': the mounted agent image. */
  image?: ImageRoot;
  /** mode 'inProcess': how the agent reaches an LB instance (benches count round trips). */
  makeInstance?: (node: string, address: string) => LbInstance;
  /** mode 'inProcess': what a real cluster sets by flag and the lab needs otherwise (the Octavia heartbeat of the lab's amphora). */
  agentOptions?: Pick<AgentOptions, 'octaviaHeartbeatMs'>;
}

export function cliPath(): string {
  // Compiled: dist/src/lab/lab-agents.js → dist/src/cli/podlb.js.
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'podlb.js');
}

const logLevel = (): string => process.env.PODLB_LOG_LEVEL ?? 'info';

/**
 * How a `podlb agent` started beside other agents and a loopback API server serves itself: health
 * and metrics on one loopback port of its own (so several agents on one host do not collide), and
 * its log level. The lab's agents and the scale bench's take them from here.
 */
export const agentHttpFlags = (port: number, level: string): string[] => [
  '--health-port',
  String(port),
  '--health-address',
  '127.0.0.1',
  '--metrics-port',
  String(port),
  '--metrics-address',
  '127.0.0.1',
  '--log-level',
  level,
];

/**
 * Flags the lab adds to the DaemonSet's: the agents share the root network namespace (the API
 * server listens on its loopback), so each reaches its node through --netns.
 */
const labFlags = (n: TopologyNode, port: number): string[] => ['--netns', n.ns, ...agentHttpFlags(port, logLevel())];

/** A child agent's /metrics on its loopback port. */
const scrape = (port: number) => async (): Promise<string> => {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
  return res?.ok ? res.text() : '';
};

export async function labAgent(mode: AgentMode, s: LabAgentSetup): Promise<LabAgent> {
  const { sb, node: n, identity } = s;
  const logFile = join(s.logDir, `agent-${n.name}.log`);
  const pipeLog = (p: SpawnedProcess): void => {
    const out = createWriteStream(logFile, { flags: 'a' });
    p.child.stdout?.pipe(out);
    p.child.stderr?.pipe(out);
  };
  if (mode === 'image') {
    const img = s.image;
    if (!img) throw new Error('agent mode image needs the mounted agent image');
    const port = await freePort();
    let run: ReturnType<typeof spawnContained> | undefined;
    return {
      metrics: scrape(port),
      start: async () => {
        // The Pod's bird-run volume is this node's BIRD directory, which the bird container
        // (src/lab/bird-process.ts) mounts at the same path: the agent writes bird.conf and
        // talks to BIRD's control socket under /run/bird, as in production.
        const pc = podContainer(
          'agent',
          img,
          { nodeName: n.name, namespace: 'podlb-system', hostIP: n.address },
          { 'bird-run': n.bird.dir, tmp: sb.tempDir(`agent-tmp-${n.name}`) },
        );
        run = spawnContained(sb, null, img, {
          name: `agent-${n.name}`,
          user: pc.user,
          env: [...Object.entries(identity.env).map(([k, v]) => `${k}=${v}`), ...pc.env, `PODLB_LOG_LEVEL=${logLevel()}`],
          // The ServiceAccount files where a Pod has them; /run/netns for --netns; the HAProxy
          // runtime sockets at the paths the lab's LoadBalancerClass names.
          binds: [
            ...pc.binds,
            `${join(identity.pathPrefix, 'var/run/secrets/kubernetes.io/serviceaccount')}:/var/run/secrets/kubernetes.io/serviceaccount`,
            '/run/netns:/run/netns',
            ...s.haproxyDirs.map((d) => `${d}:${d}`),
          ],
          cmd: [...pc.argv, ...labFlags(n, port)],
        });
        pipeLog(run.proc);
      },
      stop: async () => {
        await run?.stop();
        run = undefined;
      },
    };
  }
  const bird = { socketPath: n.bird.socketPath, configPath: n.bird.configPath };
  if (mode === 'process') {
    let proc: SpawnedProcess | undefined;
    const port = await freePort();
    return {
      metrics: scrape(port),
      start: async () => {
        if (!existsSync(cliPath())) throw new Error(`${cliPath()} is missing: run \`npm run build\` first`);
        const { KUBECONFIG: _unused, ...env } = process.env;
        proc = sb.spawn(
          null,
          process.execPath,
          [cliPath(), 'agent', '--node-name', n.name, '--bird-socket', bird.socketPath, '--bird-config', bird.configPath, ...labFlags(n, port)],
          { name: `agent-${n.name}`, env: { ...env, ...identity.env, PODLB_IN_CLUSTER_ROOT: identity.pathPrefix } },
        );
        pipeLog(proc);
      },
      stop: async () => {
        if (!proc) return;
        proc.child.kill('SIGTERM');
        await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 5000))]);
        proc = undefined;
      },
    };
  }
  const agentLog = pino({ level: logLevel(), base: { node: n.name } }, createWriteStream(logFile, { flags: 'a' }));
  let agent: Agent | undefined;
  return {
    metrics: async () => (agent ? agent.metrics.registry.metrics() : ''),
    start: async () => {
      const makeInstance = s.makeInstance;
      agent = await Agent.create({
        nodeName: n.name,
        kubeConfig: identity.kubeConfig(),
        log: agentLog,
        bird,
        kernel: { netns: n.ns },
        ...(makeInstance ? { makeInstance: (address: string) => makeInstance(n.name, address) } : {}),
        ...s.agentOptions,
      });
      await agent.start();
    },
    stop: async () => {
      await agent?.stop();
      agent = undefined;
    },
  };
}

#!/usr/bin/env node
// `podlb`: binaries only wire things together; the logic lives in src/agent, src/bgp, src/lab.
// Commands and flags are declared once (flags.ts) for parsing, help, errors and completion;
// the commands' modules load only when they run, so help and usage errors answer at once.
import { CONTROLLER_COMMAND } from '../controller/flags.js';
import { errorMessage } from '../util/errors.js';
import { AGENT_COMMAND, runAgent } from './agent-main.js';
import { type CliSpec, type Handler, commonCommands, dispatch } from './dispatch.js';
import { type Command, UsageError, bool, list, str } from './flags.js';

const BIRD_FLAGS = [
  { name: 'bird-socket', type: 'string', arg: 'PATH', file: true, description: "BIRD's control socket (required)" },
  { name: 'bird-config', type: 'string', arg: 'PATH', file: true, description: 'the bird.conf to replace (required)' },
  { name: 'netns', type: 'string', arg: 'NAME', description: 'network namespace of the blackhole routes' },
] as const;

const RENDER_BIRD: Command = {
  path: 'podlb render bird',
  summary: 'Print the bird.conf a node would get from a YAML file of objects (no cluster needed)',
  usage: '--node NAME --objects FILE.yaml [flags]',
  flags: [
    { name: 'node', type: 'string', arg: 'NAME', description: 'the Node to render for (required)' },
    {
      name: 'objects',
      type: 'string',
      arg: 'FILE',
      file: true,
      description: 'multi-document YAML: Nodes, PodAddressPools, BGPPeers, Secrets, Pods, Services (required)',
    },
    { name: 'show-secrets', type: 'boolean', description: 'print BGP passwords instead of redacting them' },
    { name: 'default-gateway', type: 'strings', arg: 'IP', description: "the node's default gateway (IPv4 or IPv6), for peerAddress: Gateway" },
  ],
  examples: [
    'podlb render bird --node node1 --objects cluster-objects.yaml',
    'kubectl get nodes,podaddresspools,bgppeers -o yaml | podlb render bird --node node1 --objects /dev/stdin',
  ],
};

const PODLB: Command = {
  path: 'podlb',
  summary: 'podlb: Pod CIDRs over BGP, Pod IPs as L7 load-balancer members, readiness gates',
  flags: [{ name: 'version', type: 'boolean', description: 'print the version and exit' }],
  examples: ['podlb agent --help', 'podlb render bird --node node1 --objects cluster-objects.yaml', 'podlb version -o json'],
  subcommands: [
    AGENT_COMMAND,
    CONTROLLER_COMMAND,
    {
      path: 'podlb render',
      summary: 'Render configuration offline',
      examples: ['podlb render bird --node node1 --objects cluster-objects.yaml'],
      subcommands: [RENDER_BIRD],
    },
    {
      path: 'podlb withdraw',
      summary: 'Make BIRD advertise nothing and remove the blackhole routes (uninstall; while no agent runs)',
      usage: '--bird-socket PATH --bird-config PATH [flags]',
      flags: [...BIRD_FLAGS],
      examples: ['podlb withdraw --bird-socket /run/bird/bird.ctl --bird-config /run/bird/bird.conf'],
    },
    {
      path: 'podlb lab',
      summary: 'Run the embedded lab: FRR ToR, BIRD, agents, HAProxy and Pods in network namespaces (root)',
      flags: [
        { name: 'once', type: 'boolean', description: 'run the checks once and exit non-zero when a step fails' },
        { name: 'images', type: 'boolean', description: 'run each node’s agent and BIRD from the images built by `./dev images` (also PODLB_LAB_IMAGES=1)' },
      ],
      examples: ['sudo podlb lab --once'],
    },
    ...commonCommands('podlb'),
  ],
};

const handlers = new Map<string, Handler>([
  ['podlb agent', runAgent],
  ['podlb controller', async (p) => (await import('../controller/main.js')).runController(p)],
  [
    'podlb render bird',
    async (p, cmd) => {
      const node = str(p, 'node');
      const objects = str(p, 'objects');
      if (!node || !objects) throw new UsageError('--node NAME and --objects FILE.yaml are required', cmd.path);
      // The node's default gateways (what the agent reads via netlink), for `peerAddress: Gateway`;
      // the renderer validates them like any other input.
      const gw: { v4?: string; v6?: string } = {};
      for (const g of list(p, 'default-gateway')) {
        if (g.includes(':')) gw.v6 = g;
        else gw.v4 = g;
      }
      const { runRenderBird } = await import('./render-bird.js');
      return runRenderBird(
        { node, objectsFile: objects, showSecrets: bool(p, 'show-secrets'), ...(Object.keys(gw).length ? { defaultGateway: gw } : {}) },
        process.stdout,
        process.stderr,
      );
    },
  ],
  [
    'podlb withdraw',
    async (p, cmd) => {
      const socketPath = str(p, 'bird-socket');
      const configPath = str(p, 'bird-config');
      if (!socketPath || !configPath) throw new UsageError('--bird-socket PATH and --bird-config PATH are required', cmd.path);
      const netns = str(p, 'netns');
      const [{ withdrawAll }, { pino }] = await Promise.all([import('../agent/withdraw.js'), import('pino')]);
      const r = await withdrawAll({ bird: { socketPath, configPath }, ...(netns ? { netns } : {}), log: pino() });
      return r.bird.result === 'Failed' || r.blackholeError ? 1 : 0;
    },
  ],
  [
    'podlb lab',
    async (p) => {
      const { runLab } = await import('../lab/tour.js');
      const { withLeakCheck } = await import('../lab/leak-check.js');
      // The lab must leave this machine as it found it; what it did not is printed and fails the run.
      return withLeakCheck(
        'podlb lab',
        () => runLab({ once: bool(p, 'once'), images: bool(p, 'images') || process.env.PODLB_LAB_IMAGES === '1' }),
        process.stderr,
      );
    },
  ],
]);

const PODLB_CLI: CliSpec = { root: PODLB, completionProgram: 'podlb', handlers };

dispatch(PODLB_CLI, process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // A runtime failure (unreadable kubeconfig, API server unreachable): one line, exit 1.
    process.stderr.write(`podlb: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);

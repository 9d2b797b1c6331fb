// `podlb agent`: flags, the health and metrics server, signals. The agent itself is src/agent.
import { serveAgentHttp } from './agent-http.js';
import { parseIp } from '../net/ip.js';
import { type Command, type Flag, type Parsed, UsageError, bool, checkPort, checkPositiveInt, list, str } from './flags.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const AGENT_FLAGS: Flag[] = [
  { name: 'node-name', type: 'string', arg: 'NAME', defaultText: '$NODE_NAME', description: "this node's name; required unless NODE_NAME is set" },
  {
    name: 'kubeconfig',
    type: 'string',
    arg: 'FILE',
    defaultText: '$KUBECONFIG, else in-cluster',
    file: true,
    description: 'kubeconfig to reach the API server',
  },
  { name: 'bird-socket', type: 'string', arg: 'PATH', file: true, description: "BIRD's control socket; required unless --no-bgp" },
  { name: 'bird-config', type: 'string', arg: 'PATH', file: true, description: 'the bird.conf the agent writes (keep it on tmpfs); required unless --no-bgp' },
  { name: 'no-bgp', type: 'boolean', description: 'do not render BIRD config: members and readiness gates only' },
  { name: 'netns', type: 'string', arg: 'NAME', description: 'network namespace for kernel routes and BIRD (the lab uses it)' },
  { name: 'no-kernel-routes', type: 'boolean', description: 'do not install the blackhole routes for advertised prefixes' },
  { name: 'secrets-namespace', type: 'string', arg: 'NS', default: 'podlb-system', description: 'namespace of BGP password and Octavia credential Secrets' },
  {
    name: 'octavia-auth-url',
    type: 'strings',
    arg: 'URL',
    check: checkHttpURL,
    description: "a Keystone URL Octavia LoadBalancerClasses may send credentials to (repeatable); without it only a credentials Secret's own auth_url",
  },
  {
    name: 'octavia-heartbeat-seconds',
    type: 'string',
    arg: 'S',
    default: '10',
    check: checkPositiveInt,
    description: "the Octavia amphorae's heartbeat interval (health_manager.heartbeat_interval): how late an ONLINE report may be",
  },
  {
    name: 'api-encoding',
    type: 'string',
    arg: 'ENC',
    default: 'protobuf',
    choices: ['protobuf', 'json'],
    description: 'how Pods, Nodes, Services and EndpointSlices are listed and watched (custom resources are always JSON)',
  },
  { name: 'health-port', type: 'string', arg: 'PORT', default: '9253', check: checkPort, description: 'port for /healthz and /readyz (0: none)' },
  {
    name: 'health-address',
    type: 'string',
    arg: 'IP',
    default: '0.0.0.0',
    check: checkIp,
    description: 'address the health port listens on (the kubelet probes it)',
  },
  {
    name: 'metrics-port',
    type: 'string',
    arg: 'PORT',
    default: '9254',
    check: checkPort,
    description: 'port for /metrics (0: none; the same address and port as health: one listener)',
  },
  // hostNetwork: any other address is reachable by whatever reaches the node.
  {
    name: 'metrics-address',
    type: 'string',
    arg: 'IP',
    default: '127.0.0.1',
    check: checkIp,
    description: 'address /metrics listens on; anything but loopback exposes it unauthenticated',
  },
  {
    name: 'pending-poll-ms',
    type: 'string',
    arg: 'MS',
    default: '25',
    check: checkPositiveInt,
    description: 'how often a pending member is polled around its first check',
  },
  {
    name: 'hold-down-seconds',
    type: 'string',
    arg: 'S',
    default: '45',
    check: checkPositiveInt,
    description: 'how long a vanished default gateway or BGP password Secret keeps the running session before it is removed',
  },
  { name: 'log-level', type: 'string', arg: 'LEVEL', default: 'info', choices: LOG_LEVELS, description: 'log level' },
];

function checkIp(text: string): string | undefined {
  return parseIp(text) ? undefined : 'is not an IP address';
}

function checkHttpURL(text: string): string | undefined {
  try {
    return /^https?:$/.test(new URL(text).protocol) ? undefined : 'is not an http:// or https:// URL';
  } catch {
    return 'is not a URL';
  }
}

export const AGENT_COMMAND: Command = {
  path: 'podlb agent',
  summary: 'Run the per-node agent: BIRD config, kernel routes, load-balancer members and readiness gates of this node',
  usage: '--node-name NAME (--bird-socket PATH --bird-config PATH | --no-bgp) [flags]',
  flags: AGENT_FLAGS,
  examples: [
    '# As the DaemonSet runs it (in-cluster configuration, NODE_NAME from the downward API):',
    'podlb agent --node-name "$NODE_NAME" --bird-socket /run/bird/bird.ctl --bird-config /run/bird/bird.conf',
    '# Members and readiness gates only, against a kubeconfig:',
    'podlb agent --node-name node1 --no-bgp --kubeconfig ~/.kube/config',
  ],
};

export async function runAgent(p: Parsed): Promise<number> {
  const nodeName = str(p, 'node-name') ?? process.env.NODE_NAME;
  if (!nodeName) throw new UsageError('--node-name NAME is required (or set NODE_NAME)', AGENT_COMMAND.path);
  const bgp = !bool(p, 'no-bgp');
  const birdSocket = str(p, 'bird-socket');
  const birdConfig = str(p, 'bird-config');
  if (bgp && (!birdSocket || !birdConfig)) throw new UsageError('--bird-socket PATH and --bird-config PATH are required unless --no-bgp', AGENT_COMMAND.path);
  const netns = str(p, 'netns');
  // Loaded only now, so `--help` and flag errors answer without loading the agent.
  const [{ loadCredentials }, { pino }, { Agent }, { AgentMetrics }] = await Promise.all([
    import('../kube/credentials.js'),
    import('pino'),
    import('../agent/agent.js'),
    import('../agent/metrics.js'),
  ]);
  const log = pino({ level: str(p, 'log-level')!, base: { node: nodeName } });
  const agentInst = await Agent.create({
    nodeName,
    kubeConfig: loadCredentials(str(p, 'kubeconfig')),
    log,
    ...(bgp ? { bird: { socketPath: birdSocket!, configPath: birdConfig! } } : {}),
    secretsNamespace: str(p, 'secrets-namespace')!,
    octaviaTrust: { authURLs: list(p, 'octavia-auth-url') },
    octaviaHeartbeatMs: Number(str(p, 'octavia-heartbeat-seconds')) * 1000,
    kernel: bool(p, 'no-kernel-routes') ? false : netns ? { netns } : {},
    pendingPollMs: Number(str(p, 'pending-poll-ms')),
    holdDownMs: Number(str(p, 'hold-down-seconds')) * 1000,
    apiEncoding: str(p, 'api-encoding') === 'json' ? 'json' : 'protobuf',
    metrics: new AgentMetrics({ processMetrics: true }),
  });
  const server = serveAgentHttp({
    health: { address: str(p, 'health-address')!, port: Number(str(p, 'health-port')) },
    metrics: { address: str(p, 'metrics-address')!, port: Number(str(p, 'metrics-port')) },
    healthy: () => agentInst.healthy,
    ready: () => agentInst.synced,
    metricsText: async () => ({ contentType: agentInst.metrics.registry.contentType, text: await agentInst.metrics.registry.metrics() }),
  });
  server.listening.catch((err: unknown) => {
    // As before the split: an agent that cannot serve its probes must not run on unseen.
    log.fatal({ err }, 'cannot listen on the health or metrics port');
    process.exit(1);
  });
  let stopping = false;
  const stop = async (sig: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping; BIRD keeps running and load-balancer members stay registered');
    server.close();
    await agentInst.stop();
    // Uninstall only (see src/agent/withdraw.ts): after the loop stopped, so nothing re-renders.
    // Loaded only then: withdraw.ts brings the BIRD and netlink modules a --no-bgp agent never needs.
    if (bgp && process.env.PODLB_WITHDRAW_ON_STOP === 'true')
      await (await import('../agent/withdraw.js')).withdrawAll({
        bird: { socketPath: birdSocket!, configPath: birdConfig! },
        ...(netns ? { netns } : {}),
        log,
      });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ bgp }, 'podlb agent starting');
  await agentInst.start();
  return 0;
}

// `podlb agent`: flags, the health and metrics server, signals. The agent itself is src/agent.
import { createServer } from 'node:http';
import { parseIp } from '../net/ip.js';
import { type Command, type Flag, type Parsed, UsageError, bool, checkPort, checkPositiveInt, str } from './flags.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const AGENT_FLAGS: Flag[] = [
  { name: 'node-name', type: 'string', arg: 'NAME', defaultText: '$NODE_NAME', description: "this node's name; required unless NODE_NAME is set" },
  { name: 'kubeconfig', type: 'string', arg: 'FILE', defaultText: '$KUBECONFIG, else in-cluster', file: true, description: 'kubeconfig to reach the API server' },
  { name: 'bird-socket', type: 'string', arg: 'PATH', file: true, description: "BIRD's control socket; required unless --no-bgp" },
  { name: 'bird-config', type: 'string', arg: 'PATH', file: true, description: 'the bird.conf the agent writes (keep it on tmpfs); required unless --no-bgp' },
  { name: 'no-bgp', type: 'boolean', description: 'do not render BIRD config: members and readiness gates only' },
  { name: 'netns', type: 'string', arg: 'NAME', description: 'network namespace for kernel routes and BIRD (the lab uses it)' },
  { name: 'no-kernel-routes', type: 'boolean', description: 'do not install the blackhole routes for advertised prefixes' },
  { name: 'secrets-namespace', type: 'string', arg: 'NS', default: 'podlb-system', description: 'namespace of BGP password and Octavia credential Secrets' },
  { name: 'health-port', type: 'string', arg: 'PORT', default: '9253', check: checkPort, description: 'port for /healthz, /readyz and /metrics (0: none)' },
  { name: 'health-address', type: 'string', arg: 'IP', default: '0.0.0.0', check: (v) => (parseIp(v) ? undefined : 'is not an IP address'), description: 'address the health port listens on' },
  { name: 'pending-poll-ms', type: 'string', arg: 'MS', default: '25', check: checkPositiveInt, description: 'how often a pending member is polled around its first check' },
  { name: 'hold-down-seconds', type: 'string', arg: 'S', default: '45', check: checkPositiveInt, description: 'how long a vanished default gateway or BGP password Secret keeps the running session before it is removed' },
  { name: 'log-level', type: 'string', arg: 'LEVEL', default: 'info', choices: LOG_LEVELS, description: 'log level' },
];

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
  const [{ loadKubeConfig }, { pino }, { Agent }, { AgentMetrics }, { withdrawAll }] = await Promise.all([
    import('../kube/config.js'),
    import('pino'),
    import('../agent/agent.js'),
    import('../agent/metrics.js'),
    import('../agent/withdraw.js'),
  ]);
  const log = pino({ level: str(p, 'log-level')!, base: { node: nodeName } });
  const kc = loadKubeConfig(str(p, 'kubeconfig'));
  const agentInst = new Agent({
    nodeName,
    kubeConfig: kc,
    log,
    ...(bgp ? { bird: { socketPath: birdSocket!, configPath: birdConfig! } } : {}),
    secretsNamespace: str(p, 'secrets-namespace')!,
    kernel: bool(p, 'no-kernel-routes') ? false : netns ? { netns } : {},
    pendingPollMs: Number(str(p, 'pending-poll-ms')),
    holdDownMs: Number(str(p, 'hold-down-seconds')) * 1000,
    metrics: new AgentMetrics({ processMetrics: true }),
  });
  const port = Number(str(p, 'health-port'));
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      agentInst.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': agentInst.metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    const ok = req.url === '/healthz' ? agentInst.healthy : req.url === '/readyz' ? agentInst.synced : undefined;
    if (ok === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ok\n');
  });
  if (port > 0) server.listen(port, str(p, 'health-address'));
  let stopping = false;
  const stop = async (sig: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping; BIRD keeps running and load-balancer members stay registered');
    server.close();
    await agentInst.stop();
    // Uninstall only (see src/agent/withdraw.ts): after the loop stopped, so nothing re-renders.
    if (bgp && process.env.PODLB_WITHDRAW_ON_STOP === 'true') await withdrawAll({ bird: { socketPath: birdSocket!, configPath: birdConfig! }, ...(netns ? { netns } : {}), log });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ bgp }, 'podlb agent starting');
  await agentInst.start();
  return 0;
}
